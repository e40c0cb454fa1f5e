//! The one boxed-future alias, shared by every module that returns or stores a future (a key
//! fetch, a group lookup, the layer's waiting path): a neutral leaf, so none of them imports
//! another for it.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
