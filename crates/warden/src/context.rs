//! What the layer leaves in every request's extensions for the extractors and requirements that
//! run after it: proof that the layer ran, and how to answer in its name. A leaf that the layer,
//! the extractors and the requirements all read, so none of them imports another.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use crate::challenge::{Challenge, Realm};
use crate::error::Error;
use crate::membership::CachedGroups;
use crate::metadata::ResourceMetadata;
use crate::validator::Validator;

/// A function that writes the body of a refusal. See
/// [`WardenBuilder::on_rejection`](crate::WardenBuilder::on_rejection).
pub type RejectionResponder = dyn Fn(&Error, &Challenge) -> Response<Bytes> + Send + Sync;

/// What the layer leaves in every request's extensions, for the extractors: proof that the layer
/// ran, and how to answer in its name.
#[derive(Clone)]
pub(crate) struct WardenContext {
    shared: Arc<Shared>,
}

impl WardenContext {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        WardenContext { shared }
    }

    pub(crate) fn respond(&self, error: &Error) -> Response<Bytes> {
        self.shared.respond(error)
    }

    pub(crate) fn validator(&self) -> &Validator {
        &self.shared.validator
    }

    pub(crate) fn group_resolver(&self) -> Option<&CachedGroups> {
        self.shared.groups.as_ref()
    }
}

/// The layer's configuration, shared by every request it admits.
pub(crate) struct Shared {
    pub(crate) validator: Validator,
    pub(crate) realm: Realm,
    pub(crate) allow_anonymous: bool,
    pub(crate) responder: Option<Arc<RejectionResponder>>,
    pub(crate) groups: Option<CachedGroups>,
    pub(crate) resource_metadata: Option<ResourceMetadata>,
}

impl Shared {
    pub(crate) fn respond(&self, error: &Error) -> Response<Bytes> {
        let mut challenge = Challenge::from(error);
        if let Some(metadata) = &self.resource_metadata
            && matches!(
                challenge.status(),
                http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN
            )
        {
            // RFC 9728 §5.1: where a client finds how to get a token for this resource.
            challenge = challenge.with_param("resource_metadata", metadata.url().to_owned());
        }
        match &self.responder {
            Some(responder) => {
                let mut response = responder(error, &challenge);
                challenge.apply_headers(&mut response, &self.realm);
                response
            }
            None => challenge.to_response(&self.realm),
        }
    }
}
