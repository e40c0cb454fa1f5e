//! Requirements as tower layers, for a group of routes: [`RequirementLayer`] and its
//! constructors ([`require`], [`require_scope`], …).

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::boxed::BoxFuture;
use crate::error::Error;
use crate::http::{WardenContext, layer_missing};
use crate::principal::Principal;

use super::requirement::Requirement;

/// Guards routes with a runtime [`Requirement`]; see [`require`].
pub fn require(requirement: Requirement) -> RequirementLayer {
    RequirementLayer {
        requirement: Arc::new(requirement),
    }
}

/// Guards routes with one delegated scope.
pub fn require_scope(scope: impl Into<String>) -> RequirementLayer {
    require(Requirement::scope(scope))
}

/// Guards routes with one app role.
pub fn require_role(role: impl Into<String>) -> RequirementLayer {
    require(Requirement::role(role))
}

/// Guards routes with one Entra authentication context, named at run time.
pub fn require_auth_context(id: impl Into<String>) -> RequirementLayer {
    require(Requirement::auth_context(id))
}

/// Guards routes with one group.
pub fn require_group(group: impl Into<String>) -> RequirementLayer {
    require(Requirement::group(group))
}

/// Layer applying a [`Requirement`] to a group of routes; put it inside (after) the warden layer,
/// e.g. with `Router::route_layer`.
#[derive(Debug, Clone)]
pub struct RequirementLayer {
    requirement: Arc<Requirement>,
}

impl<S> Layer<S> for RequirementLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            requirement: self.requirement.clone(),
        }
    }
}

/// Middleware applying a [`Requirement`]; see [`RequirementLayer`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let requirement = self.requirement.clone();
        Box::pin(async move {
            let extensions = req.extensions();
            let Some(context) = extensions.get::<WardenContext>() else {
                return Ok(layer_missing("RequirementLayer").map(ResBody::from));
            };
            let outcome = match extensions.get::<Principal>() {
                None => Err(Error::MissingToken),
                Some(principal) => requirement.needs().check(context, principal).await,
            };
            match outcome {
                Ok(()) => inner.call(req).await,
                Err(error) => Ok(context
                    .respond(&error, extensions.get::<Principal>())
                    .map(ResBody::from)),
            }
        })
    }
}
