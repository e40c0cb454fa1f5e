//! What the layer leaves in every request's extensions for the extractors and requirements that
//! run after it: proof that the layer ran, and how to answer in its name. A leaf that the layer,
//! the extractors and the requirements all read, so none of them imports another.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use crate::bearer::Scheme;
use crate::binding::dpop::Dpop;
use crate::challenge::{AnswerHasher, Challenge, FixedAnswer, Realm};
use crate::error::Error;
use crate::membership::CachedGroups;
use crate::metadata::ResourceMetadata;
use crate::observability::RefusalLog;

use super::grpc::Protocol;
use crate::principal::Principal;
use crate::validator::Validator;

/// A function that writes the body of a refusal. See
/// [`WardenBuilder::on_rejection`](crate::config::WardenBuilder::on_rejection).
pub type RejectionResponder = dyn Fn(&Error, &Challenge) -> Response<Bytes> + Send + Sync;

/// What the layer leaves in every request's extensions, for the extractors: proof that the layer
/// ran, and how to answer in its name.
#[derive(Clone)]
pub(crate) struct WardenContext {
    shared: Arc<Shared>,
    /// The scheme the request's token came with, so later refusals answer in it.
    scheme: Option<Scheme>,
    /// HTTP or gRPC: how later refusals are answered.
    protocol: Protocol,
}

impl WardenContext {
    pub(crate) fn new(shared: Arc<Shared>, scheme: Option<Scheme>, protocol: Protocol) -> Self {
        WardenContext {
            shared,
            scheme,
            protocol,
        }
    }

    /// The refusal of `error`, for a request the layer admitted as `principal` (when it did).
    pub(crate) fn respond(&self, error: &Error, principal: Option<&Principal>) -> Response<Bytes> {
        self.shared
            .respond(error, self.scheme, principal, self.protocol)
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
    /// DPoP proofs, when accepted (the default).
    pub(crate) dpop: Option<Dpop>,
    /// Refusals written once (see [`Shared::respond`]).
    pub(crate) written:
        papaya::HashMap<FixedAnswer, Written, std::hash::BuildHasherDefault<AnswerHasher>>,
    /// Refusals logged at INFO, rate-limited.
    pub(crate) refusal_log: RefusalLog,
}

/// A refusal written once: what [`Shared::respond`] answers again for the same fixed answer.
pub(crate) struct Written {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Written {
    fn of(response: &Response<Bytes>) -> Self {
        Written {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.body().clone(),
        }
    }

    fn response(&self) -> Response<Bytes> {
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

impl Shared {
    /// The refusal of `error` for a request whose token came with `scheme` (`None`: no token).
    ///
    /// Without a custom responder, a refusal whose answer depends only on the error and the
    /// scheme (an invalid token, a malformed request, no token) is written once per layer and
    /// copied afterwards: its header values and body are shared, not formatted again. The
    /// answers kept are bounded by warden's own fixed descriptions, schemes and statuses (a few
    /// hundred at most), whatever the requests.
    ///
    /// Every refusal passes here once: it is counted and logged
    /// ([`observability`](crate::observability)), `principal` naming the caller in the log when
    /// the layer had admitted it.
    pub(crate) fn respond(
        &self,
        error: &Error,
        scheme: Option<Scheme>,
        principal: Option<&Principal>,
        protocol: Protocol,
    ) -> Response<Bytes> {
        let response = self.answer(error, scheme);
        crate::observability::refused(error, response.status(), principal, &self.refusal_log);
        match protocol {
            Protocol::Http => response,
            Protocol::Grpc => super::grpc::answer(error, response),
        }
    }

    fn answer(&self, error: &Error, scheme: Option<Scheme>) -> Response<Bytes> {
        let challenge = Challenge::from(error);
        if self.responder.is_none()
            && let Some(key) = challenge.fixed_answer(scheme)
        {
            let written = self.written.pin();
            if let Some(answer) = written.get(&key) {
                return answer.response();
            }
            let response = self.write(error, challenge, scheme);
            written.insert(key, Written::of(&response));
            return response;
        }
        self.write(error, challenge, scheme)
    }

    /// Writes the refusal in full: the challenges of both schemes, the resource metadata, the
    /// body (the responder's, when one is set).
    fn write(
        &self,
        error: &Error,
        challenge: Challenge,
        scheme: Option<Scheme>,
    ) -> Response<Bytes> {
        let mut challenge = challenge.with_schemes(
            scheme,
            self.dpop
                .as_ref()
                .map(|dpop| dpop.algs_param().to_owned().into()),
        );
        if let Some(metadata) = &self.resource_metadata
            && matches!(
                challenge.status(),
                http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN
            )
        {
            // RFC 9728 §5.1: where a client finds how to get a token for this resource.
            challenge = challenge.with_resource_metadata(metadata.url().to_owned());
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
