//! Zero Trust protection for HTTP APIs: OAuth 2.0 / OpenID Connect bearer access tokens,
//! validated on every request by a tower layer.
//!
//! warden extracts the bearer token (RFC 6750), validates the JWT access token (RFC 9068, RFC 8725)
//! against the keys of the issuer it names, and hands your handler a validated [`Principal`].
//! Every refusal is a protocol answer: the status and `WWW-Authenticate` challenge of RFC 6750
//! with an RFC 9457 problem body, or 503 with `Retry-After` when keys are unavailable.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use warden::{Issuer, Principal, WardenLayer};
//!
//! # fn jwks() -> &'static str { r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
//! #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//! #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"# }
//! async fn me(caller: Principal) -> String {
//!     format!("hello {} from {:?}", caller.subject(), caller.client_id())
//! }
//!
//! let warden = WardenLayer::builder()
//!     .issuer(
//!         Issuer::builder("https://login.example.com/tenant-a")
//!             .audience("api://orders")
//!             .jwks(jwks())
//!             .build()?,
//!     )
//!     .build()?;
//!
//! let app: Router = Router::new().route("/me", get(me)).layer(warden);
//! # Ok::<(), warden::ConfigError>(())
//! ```
//!
//! # Modules
//!
//! What you write daily is at the root: [`WardenLayer`], [`Warden`], [`Issuer`], [`Validator`], [`Principal`],
//! [`Claims`], [`AuthRejection`], [`Error`], [`ConfigError`], [`Algorithm`], [`WardenConfig`].
//! Each other concern has its module: [`authz`] (requirements per route), [`entra`] (Microsoft
//! Entra ID), [`keys`] (where signing keys come from), [`cae`] (revocation and claims
//! challenges), [`bearer`] (the `Authorization` header), [`challenge`] (how a refusal is
//! written), [`error`] (why, by category), [`config`] (builders and defaults), [`principal`]
//! (who the caller is), [`dpop`] (DPoP proofs, RFC 9449), [`mtls`] (certificate-bound tokens,
//! RFC 8705), [`metadata`] (protected-resource metadata, RFC 9728), `ssf` (Shared Signals).
//! Every type has one public path.
//!
//! Each request follows one path, from the bearer token to the route's requirements, drawn once
//! in [docs/architecture.md](https://github.com/warden-rs/warden/blob/main/docs/architecture.md#the-path-of-a-request); [`Validator`] runs its token part outside HTTP.
//!
//! # Cargo features
//!
//! - `ssf` (default): the Shared Signals receiver, `warden::ssf`.
//! - `fuzzing`: entry points for fuzz targets, test vectors and benchmarks; not a stable API.
//!
//! # What warden does not do
//!
//! - Follow or trust keys named by the token: `jku`, `x5u`, `jwk` and `x5c` headers make a token
//!   invalid, and cause no request.
//! - Take the algorithm from the token alone: `alg` must be on the issuer's allow-list and fit
//!   the key's type and JWK `alg`. `none` (in any spelling) and HMAC are never accepted.
//! - Accept encrypted (JWE), nested (`cty: JWT`) or JSON-serialized tokens, or a `crit` header.
//! - Read tokens from the query string, a form body or a cookie. A query-string token is ignored
//!   (and never logged); sent beside a header token it makes the request invalid.
//! - Log a token, a signature, or any claim value taken from an invalid token.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::await_holding_lock)]

mod algorithm;
pub mod authz;
mod base64url;
pub mod bearer;
mod binding;
mod boxed;
mod cache;
pub mod cae;
pub mod challenge;
mod clock;
mod declare;
pub mod entra;
mod env;
pub mod error;
mod fetch;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guid;
mod http;
mod issuer;
mod json;
pub mod keys;
mod membership;
pub mod metadata;
pub mod observability;
pub mod principal;
pub mod registration;
/// OpenAPI security from the requirement types (feature `openapi`); see
/// [`secure`](openapi::secure).
#[cfg(feature = "openapi")]
pub mod openapi {
    pub use crate::registration::openapi::{SCHEME, secure};
}
#[cfg(feature = "ssf")]
pub mod ssf;
mod token;
mod url;
mod validator;

pub use algorithm::Algorithm;
pub use binding::{dpop, mtls};
pub use env::WardenConfig;
pub use error::config::ConfigError;
pub use error::refusal::Error;
pub use http::extract::{AuthRejection, Claims};
pub use http::layer::{Warden, WardenLayer};
pub use issuer::Issuer;
pub use principal::verified::Principal;
pub use validator::Validator;

/// What you configure beyond the root types: the builders, their defaults, the issuer's
/// profile and DPoP policy, the clock, and the writer of refusal bodies.
pub mod config {
    pub use crate::algorithm::{DEFAULT_ALGORITHMS, UnsupportedAlgorithm};
    pub use crate::cache::DEFAULT_TOKEN_CACHE_CAPACITY;
    pub use crate::clock::{Clock, SystemClock};
    pub use crate::http::layer::{RejectionResponder, WardenBuilder};
    pub use crate::issuer::{DpopPolicy, IssuerBuilder, Profile};
    pub use crate::validator::{DEFAULT_LEEWAY, ValidatorBuilder};
}

/// The futures of warden's middleware.
pub mod future {
    pub use crate::http::layer::ResponseFuture;
}

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The Rust examples of docs/, compiled and run as doctests so they stay true (docs/testing.md's
/// example needs warden-testing, and is `tests/integration/testing_guide.rs`).
#[cfg(doctest)]
pub mod docs_doctests {
    #[doc = include_str!("../../../docs/authorization.md")]
    pub struct Authorization;
    #[doc = include_str!("../../../docs/cae.md")]
    pub struct Cae;
    #[doc = include_str!("../../../docs/entra.md")]
    pub struct Entra;
    #[doc = include_str!("../../../docs/resource-metadata.md")]
    pub struct ResourceMetadata;
}
