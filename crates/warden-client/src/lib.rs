//! Calling onward with no secret in the code: tokens for the downstream APIs an API protected by
//! [warden](https://docs.rs/warden) calls, for itself and on its caller's behalf.
//!
//! - [`TokenClient::app_token`]: client credentials, the API acting as itself.
//! - [`TokenClient::on_behalf_of`]: the Microsoft identity platform's on-behalf-of exchange of
//!   the access token warden validated, for a token to a downstream API as the same user; with
//!   the client's capabilities (`cp1`: CAE) and a downstream challenge's claims merged into one
//!   `claims` parameter, as MSAL does ([`merge_claims`]).
//! - [`ClientCredential`]: a user-assigned managed identity used as a federated credential
//!   (feature `azure`, through the Azure SDK), a federated token file (workload identity
//!   federation), both with no secret at all; a certificate (a PS256 assertion naming it by `x5t#S256`), or a secret read from the
//!   environment or a file, never from code; [`ClientCredential::from_environment`] picks what
//!   the environment offers, in that order, and logs which.
//! - A token cache: app tokens by their scopes, on-behalf-of tokens by the SHA-256 of the
//!   incoming token and the scopes; refreshed ahead of expiry in the background, one request
//!   per token however many callers wait, bounded, bypassed by a challenge's answer.
//! - [`AcquireError`]: what went wrong, by class (a claims challenge to pass back, consent
//!   missing, the API's credential refused, throttled, unavailable).
//!
//! - CAE across two APIs: [`claims_from_challenge`] reads a downstream API's claims challenge;
//!   [`TokenClient::call_as_app`] acquires an app token again with it and retries the call
//!   once, and an on-behalf-of one goes back to the caller through warden's
//!   `authz::Challenger`. [`GraphGroups`] recovers from Graph's challenges the same way.
//!
//! - [`GraphGroups`]: warden's group resolver on Microsoft Graph, for group overage.
//!
//! docs/downstream.md is the guide; what it does not cover yet is listed there.
//!
//! Features: `azure` adds `ClientCredential::managed_identity`,
//! `ClientCredential::token_credential` and `GraphGroups::with_token_credential`, on the Azure
//! SDK for Rust (`azure_identity`, `azure_core`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use warden_client::{ClientCredential, TokenClient};
//!
//! let credential = ClientCredential::certificate_from_pem(
//!     &std::fs::read_to_string("/etc/orders/cert.pem")?,
//!     &std::fs::read_to_string("/etc/orders/key.pem")?,
//! )?;
//! let client = TokenClient::builder("contoso.onmicrosoft.com", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", credential)
//!     .audience("api://orders")
//!     .client_capabilities(["cp1"])
//!     .build();
//! # let incoming_token = "";
//! let graph = client
//!     .on_behalf_of(incoming_token, &["https://graph.microsoft.com/User.Read"], None)
//!     .await?;
//! # let _ = graph.secret();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod claims;
mod client;
mod credential;
mod error;
mod graph;

pub use claims::{claims_from_challenge, merge_claims};
pub use client::{
    AccessToken, DEFAULT_AUTHORITY, DEFAULT_CACHE_CAPACITY, DEFAULT_REFRESH_MARGIN, TokenClient,
    TokenClientBuilder,
};
pub use credential::{
    ClientCredential, CredentialError, CredentialSource, MANAGED_IDENTITY_VARIABLE,
};
pub use error::{AcquireError, CallError};
pub use graph::{DEFAULT_GRAPH_TIMEOUT, GRAPH, GraphGroups};
