//! The request-time check of what a token is bound to (RFC 7800 `cnf`), after its signature and
//! claims: a DPoP key proven by the request's proof (RFC 9449), or the client certificate of the
//! connection (RFC 8705). A bound token without its proof is refused, whatever the scheme; an
//! unbound token under the `DPoP` scheme is refused too.

use std::sync::Arc;
use std::time::Duration;

use http::Request;

use crate::bearer::Scheme;
use crate::boxed::BoxFuture;
use crate::clock::Clock;
use crate::error::{Binding, BindingError, Dependency, Error, ProofError, Unavailable};
use crate::issuer::DpopPolicy;
use crate::principal::{Confirmation, Principal};

pub mod dpop;
pub mod mtls;

use dpop::{Dpop, ProofKey, ProofReplayCache};
use mtls::ClientCertificate;

/// How long a caller waits before retrying when the replay cache could not answer.
const REPLAY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The outcome of the binding check: decided, or waiting on the replay cache.
pub(crate) enum Bound {
    Now(Result<(), Error>),
    /// The replay cache's answer, still to come (a shared cache's round trip).
    Replay(BoxFuture<Result<(), Error>>),
}

/// A verified proof still to be checked against the replay cache (one round trip for a shared
/// cache; none of the bearer path).
struct ReplayCheck {
    cache: Arc<dyn ProofReplayCache>,
    jkt: String,
    key: ProofKey,
    now: u64,
    expires_at: u64,
}

impl ReplayCheck {
    /// Asks the cache, and decides now when it answers at once (the in-memory cache always
    /// does): the request then goes on without waiting. A cache that must wait hands its answer
    /// to the layer's waiting path, which polls the same future again with the request's waker.
    fn bound(self) -> Bound {
        let mut answer: BoxFuture<Result<(), Error>> = Box::pin(self.run());
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match answer.as_mut().poll(&mut context) {
            std::task::Poll::Ready(result) => Bound::Now(result),
            std::task::Poll::Pending => Bound::Replay(answer),
        }
    }

    async fn run(self) -> Result<(), Error> {
        match self
            .cache
            .first_use(&self.jkt, self.key, self.now, self.expires_at)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProofError::Replayed.into()),
            Err(error) => {
                tracing::warn!(%error, "DPoP replay cache could not answer; refusing the proof");
                Err(Unavailable::new(Dependency::ReplayCache, REPLAY_RETRY_AFTER).into())
            }
        }
    }
}

/// Checks `principal`'s binding against the request that presented `token` with `scheme`.
pub(crate) fn check<B>(
    dpop: Option<&Dpop>,
    policy: DpopPolicy,
    principal: &Principal,
    token: &str,
    scheme: Scheme,
    request: &Request<B>,
    clock: &dyn Clock,
) -> Bound {
    let refuse = |error: Error| Bound::Now(Err(error));
    let dpop_bound = matches!(principal.confirmation(), Some(Confirmation::DpopKey(_)));
    match policy {
        DpopPolicy::Required if !dpop_bound => {
            return refuse(Error::Binding(BindingError::DpopRequired));
        }
        DpopPolicy::Refused if dpop_bound => {
            return refuse(Error::Binding(BindingError::DpopNotAccepted));
        }
        _ => {}
    }
    match (principal.confirmation(), scheme) {
        (None, Scheme::Bearer) => Bound::Now(Ok(())),
        // The `DPoP` label must never stand for a sender constraint that is not there.
        (None | Some(Confirmation::Certificate(_)), Scheme::Dpop) => {
            refuse(Error::Binding(BindingError::NotDpopBound))
        }
        // No downgrade (RFC 9449 §7.2): a DPoP-bound token needs its proof.
        (Some(Confirmation::DpopKey(_)), Scheme::Bearer) => {
            refuse(Error::Binding(BindingError::Unverified(Binding::DpopKey)))
        }
        (Some(Confirmation::DpopKey(jkt)), Scheme::Dpop) => {
            let Some(dpop) = dpop else {
                return refuse(Error::Binding(BindingError::DpopNotAccepted));
            };
            // The time is read only here: a bearer or certificate-bound request needs none.
            let now = crate::clock::unix_secs(clock);
            let proof = match dpop.verify_for(
                request.headers(),
                request.method(),
                request.uri(),
                principal.token_hash(token),
                now,
            ) {
                Ok(proof) => proof,
                Err(error) => return refuse(error),
            };
            if proof.jkt.as_str() != &**jkt {
                return refuse(Error::Binding(BindingError::DpopKeyMismatch));
            }
            ReplayCheck {
                cache: dpop.replay_cache().clone(),
                jkt: proof.jkt,
                key: proof.replay_key,
                now,
                expires_at: proof.expires_at,
            }
            .bound()
        }
        (Some(Confirmation::Certificate(x5t)), Scheme::Bearer) => {
            match request.extensions().get::<ClientCertificate>() {
                Some(certificate) if certificate.thumbprint() == &**x5t => Bound::Now(Ok(())),
                Some(_) => refuse(Error::Binding(BindingError::CertificateMismatch)),
                None => refuse(Error::Binding(BindingError::Unverified(
                    Binding::Certificate,
                ))),
            }
        }
    }
}
