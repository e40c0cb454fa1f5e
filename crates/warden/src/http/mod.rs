//! warden over HTTP: the tower layer ([`layer`]), the request path it runs once per request
//! ([`authenticate`]), what it leaves in the request for later extractors ([`context`]), and the
//! extractors themselves ([`extract`]).
//!
//! Dependencies point down: `layer` and `extract` read `context`; nothing here is imported by
//! the validation modules below it.

mod authenticate;
pub(crate) mod context;
pub(crate) mod extract;
pub(crate) mod grpc;
pub(crate) mod layer;

pub(crate) use context::WardenContext;
pub(crate) use extract::layer_missing;
