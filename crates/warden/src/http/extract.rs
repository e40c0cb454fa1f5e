//! axum extractors for the validated caller: [`Principal`], `Option<Principal>` and [`Claims<T>`].
//!
//! They read what [`Warden`](crate::Warden) stored in the request extensions and never take it
//! out, so any number of them can run on one handler. Used on a route that no warden layer covers,
//! they fail closed: 500 and an error log that says how to fix it, never an open door.
//!
//! | extractor | layer ran, token valid | layer ran, no token (anonymous mode) | no layer |
//! |---|---|---|---|
//! | `Principal` | the caller | 401 `Bearer realm="…"` | 500 |
//! | `Option<Principal>` | `Some(caller)` | `None` | 500 |
//! | `Claims<T>` | `T`, or 401 `invalid_token` if the claims do not fit `T` | 401 | 500 |

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::context::WardenContext;
use crate::error::Error;
use crate::principal::Principal;

/// Why an extractor refused a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The route is not covered by a warden layer: a programming error, answered 500.
    LayerMissing {
        /// The extractor that found no layer.
        extractor: &'static str,
    },
    /// The caller is not authenticated (or its token does not fit the route), answered in the
    /// layer's name: 401 with its challenge.
    Refused {
        /// What went wrong.
        error: Error,
        /// The response, already written by the layer's responder.
        response: Box<http::Response<bytes::Bytes>>,
    },
}

impl AuthRejection {
    pub(crate) fn refused(
        context: &WardenContext,
        error: Error,
        principal: Option<&Principal>,
    ) -> Self {
        let response = Box::new(context.respond(&error, principal));
        AuthRejection::Refused { error, response }
    }

    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthRejection::LayerMissing { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            AuthRejection::Refused { response, .. } => response.status(),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::LayerMissing { extractor } => layer_missing(extractor).map(Body::from),
            AuthRejection::Refused { response, .. } => response.map(Body::from),
        }
    }
}

/// The one answer to a warden extractor or requirement on a route that no warden layer covers:
/// a programming error, refused with 500 and an error log that says how to fix it (it fails
/// closed, never an open door).
pub(crate) fn layer_missing(extractor: &'static str) -> http::Response<bytes::Bytes> {
    tracing::error!(
        extractor,
        "warden extractor or requirement layer used on a route without a warden layer; add \
         `.layer(WardenLayer)` or `.route_layer(WardenLayer)` to the router. \
         Refusing the request."
    );
    let mut response = http::Response::new(bytes::Bytes::from_static(
        b"authentication is not configured for this route",
    ));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn context<'a>(
    parts: &'a Parts,
    extractor: &'static str,
) -> Result<&'a WardenContext, AuthRejection> {
    parts
        .extensions
        .get::<WardenContext>()
        .ok_or(AuthRejection::LayerMissing { extractor })
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts, "Principal")?;
        match parts.extensions.get::<Principal>() {
            Some(principal) => Ok(principal.clone()),
            None => Err(AuthRejection::refused(context, Error::MissingToken, None)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        context(parts, "Option<Principal>")?;
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// The validated token's claims, read into your own type.
///
/// ```
/// use serde::Deserialize;
/// use warden::Claims;
///
/// #[derive(Deserialize)]
/// struct OrderClaims { sub: String, department: Option<String> }
///
/// async fn handler(Claims(claims): Claims<OrderClaims>) -> String {
///     claims.department.unwrap_or_default()
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(handler));
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts, "Claims")?;
        let principal = parts
            .extensions
            .get::<Principal>()
            .ok_or_else(|| AuthRejection::refused(context, Error::MissingToken, None))?;
        principal
            .deserialize_claims()
            .map(Claims)
            .map_err(|error| AuthRejection::refused(context, error, Some(principal)))
    }
}
