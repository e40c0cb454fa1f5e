//! A fake OpenID Connect and Microsoft Entra token issuer, so applications test their
//! warden-protected routes with real signed tokens and no network.
//!
//! [`FakeIssuer`] starts an HTTP server on 127.0.0.1 (a free port) inside your test and stops
//! when dropped. It serves discovery, a JWKS and a client-credentials token endpoint, and mints
//! tokens directly with [`FakeIssuer::token`].
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get, body::Body};
//! use tower::ServiceExt;
//! use warden::{Issuer, Principal, WardenLayer, keys::StaticKeys};
//! use warden_testing::FakeIssuer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let issuer = FakeIssuer::start().await?;
//! let warden = WardenLayer::builder()
//!     .issuer(
//!         Issuer::builder(issuer.issuer_url())
//!             .audience(issuer.audience())
//!             .jwks(issuer.jwks_json())
//!             .build()?,
//!     )
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|caller: Principal| async move { caller.subject().to_owned() }))
//!     .layer(warden);
//!
//! let token = issuer.token().subject("alice").scopes(["Orders.Read"]).sign();
//! let request = http::Request::get("/me")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Modes
//!
//! - Generic OIDC ([`FakeIssuer::start`]): issuer `http://127.0.0.1:PORT`, discovery at
//!   `/.well-known/openid-configuration` (and RFC 8414 `/.well-known/oauth-authorization-server`),
//!   keys at `/jwks`, `POST /token` (client credentials; `resource` (RFC 8707) becomes `aud`); tokens typed `at+jwt`
//!   with RFC 9068 claims.
//! - Microsoft Entra ([`FakeIssuerBuilder::entra`]): `/{tenant}/v2.0/.well-known/openid-configuration`
//!   (issuer `{base}/{tenant}/v2.0`), `/common/v2.0/…` with the templated issuer
//!   `{base}/{tenantid}/v2.0`, keys at `/{tenant}/discovery/v2.0/keys` carrying the templated
//!   `issuer` member, `POST /{tenant}/oauth2/v2.0/token`; v2 and v1 tokens typed `JWT`.
//!
//! # Keys, faults, attacks
//!
//! Keys are generated at start with aws-lc-rs. Rotate with [`FakeIssuer::add_key`] (published,
//! not signing), [`FakeIssuer::promote`] and [`FakeIssuer::retire`] (gone from the JWKS), or all
//! three with [`FakeIssuer::rotate`]. [`FakeIssuer::set_fault`] makes discovery, JWKS or token
//! endpoints fail ([`Fault`]); [`FakeIssuer::hits`] counts requests. Attack tokens come from the
//! token builder: [`TokenBuilder::sign_unsigned`], [`TokenBuilder::sign_hs256_with_public_key`],
//! [`TokenBuilder::sign_with_unpublished_key`], [`TokenBuilder::sign_tampered`],
//! [`TokenBuilder::sign_with_embedded_jwk`], [`TokenBuilder::sign_with_key_url`].
//!
//! # A real Redis
//!
//! `RedisServer` (cargo feature `redis`, off by default: it launches a process, unrelated to a
//! fake issuer) starts Debian's `redis-server` on a free loopback port, with a fresh data
//! directory and every write persisted, for tests of `warden-redis` (a fleet's shared
//! revocations); it can be killed and restarted mid-test. `RedisCluster` starts three or more of
//! them as a Redis Cluster.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod authorization;
mod client_metadata;
mod clients;
mod clock;
mod config;
mod dpop;
mod graph;
mod issuer;
mod keys;
#[cfg(feature = "redis")]
mod redis_server;
mod state;
mod tls;
mod token;
mod transmitter;

pub use clients::FEDERATED_AUDIENCE;
pub use clock::TestClock;
pub use config::{ConfigFileError, FakeIssuerConfig};
pub use dpop::{DpopKey, ProofBuilder};
pub use graph::{FakeGraph, GRAPH_AUDIENCE};
pub use issuer::{
    ClientRegistration, DEFAULT_AUDIENCE, DEFAULT_TENANT, Endpoint, FIRST_KID, FakeIssuer,
    FakeIssuerBuilder, Fault, IDENTITY_HEADER_SECRET, StartError,
};
pub use keys::{KeyError, SigningKey};
#[cfg(feature = "redis")]
pub use redis_server::{RedisCluster, RedisServer, RedisServerError};
pub use token::{
    DEFAULT_APP_OID, DEFAULT_CLIENT, DEFAULT_SUBJECT, DEFAULT_USER_OID, KeyEncoding, TokenBuilder,
    decode_claims_challenge,
};
pub use transmitter::{PushAnswer, SetBuilder};
pub use warden::Algorithm;

/// docs/dpop.md's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/dpop.md")]
mod dpop_doctests {}

/// docs/shared-signals.md's examples, compiled (and the runnable ones run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/shared-signals.md")]
mod shared_signals_doctests {}
