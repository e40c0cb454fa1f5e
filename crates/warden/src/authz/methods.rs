//! Requirements per gRPC method: [`RequireMethods`], a layer that looks the request's path
//! (`/package.Service/Method`) up and checks that method's [`Requirement`]. A method it does not
//! list is refused: a new method is closed until someone says who may call it.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::boxed::BoxFuture;
use crate::error::{Error, Forbidden};
use crate::http::{WardenContext, layer_missing};
use crate::principal::Principal;

use super::requirement::Requirement;

/// What each gRPC method requires, as a layer inside (after) the warden layer. Refusals are
/// answered in gRPC's terms (`PERMISSION_DENIED`), as the warden layer answers its own
/// (docs/grpc.md).
///
/// ```
/// use warden::authz::{RequireMethods, Requirement};
///
/// let methods = RequireMethods::new()
///     .method("/orders.v1.Orders/ListOrders", Requirement::scope("Orders.Read"))
///     .method("/orders.v1.Orders/DeleteOrder", Requirement::role("Orders.Admin"))
///     .authenticated("/grpc.health.v1.Health/Check");
/// // let routes = tonic::service::Routes::new(orders).add_service(health)
/// //     .into_axum_router().layer(methods).layer(warden);
/// # let _ = methods;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequireMethods {
    /// By path; `None`: any valid token.
    methods: Arc<HashMap<String, Option<Requirement>>>,
}

impl RequireMethods {
    /// No method listed yet: every method refused.
    pub fn new() -> Self {
        RequireMethods::default()
    }

    /// `path` (`/package.Service/Method`) requires `requirement`.
    pub fn method(mut self, path: impl Into<String>, requirement: Requirement) -> Self {
        Arc::make_mut(&mut self.methods).insert(path.into(), Some(requirement));
        self
    }

    /// `path` requires only a valid token.
    pub fn authenticated(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.methods).insert(path.into(), None);
        self
    }
}

impl<S> Layer<S> for RequireMethods {
    type Service = RequireMethodsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireMethodsService {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// Middleware checking each gRPC method's requirement; see [`RequireMethods`].
#[derive(Debug, Clone)]
pub struct RequireMethodsService<S> {
    inner: S,
    methods: Arc<HashMap<String, Option<Requirement>>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireMethodsService<S>
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
        let methods = self.methods.clone();
        Box::pin(async move {
            let extensions = req.extensions();
            let Some(context) = extensions.get::<WardenContext>() else {
                return Ok(layer_missing("RequireMethods").map(ResBody::from));
            };
            let principal = extensions.get::<Principal>();
            let outcome = match (principal, methods.get(req.uri().path())) {
                (None, _) => Err(Error::MissingToken),
                (Some(_), None) => Err(Forbidden::UnlistedMethod.into()),
                (Some(_), Some(None)) => Ok(()),
                (Some(principal), Some(Some(requirement))) => {
                    requirement.needs().check(context, principal).await
                }
            };
            match outcome {
                Ok(()) => inner.call(req).await,
                Err(error) => Ok(context.respond(&error, principal).map(ResBody::from)),
            }
        })
    }
}
