//! The request path, written once for the synchronous fast path and the path that waits: the
//! bearer token from the request, its validation, then its binding to the request (a DPoP
//! proof or the connection's certificate). The steps and their order are described in
//! docs/architecture.md ("The request path").

use http::Request;

use crate::bearer::{self, Scheme};
use crate::binding::{self, Bound};
use crate::boxed::BoxFuture;
use crate::error::Error;
use crate::principal::Principal;
use crate::validator::Step;

use super::context::Shared;

/// How far a request got without waiting.
pub(super) enum Authentication {
    /// No token, and the layer admits anonymous callers.
    Anonymous,
    /// The token is valid and bound as it must be: admit the caller.
    Admitted {
        principal: Principal,
        scheme: Scheme,
    },
    /// Refused, in the scheme the client used (`None`: no credentials, or unreadable ones).
    Refused {
        error: Error,
        scheme: Option<Scheme>,
    },
    /// The rest needs a key fetch or the replay cache; [`Wait::finish`] completes it.
    Waiting { wait: Wait, scheme: Scheme },
}

/// What is left to do once something answers.
pub(super) enum Wait {
    /// The key source is fetching: then the signature, the claims and the binding.
    Keys {
        validation: BoxFuture<Result<Principal, Error>>,
        /// Kept for the binding check (the request moves into the waiting future).
        token: String,
    },
    /// The binding held; the replay cache has yet to say whether the DPoP proof is new.
    Replay {
        principal: Principal,
        replay: BoxFuture<Result<(), Error>>,
    },
}

impl Shared {
    /// Authenticates `request` as far as it can without waiting. It allocates nothing of its
    /// own on this path, and nothing at all for a bearer token seen before.
    pub(super) fn authenticate<B>(&self, request: &Request<B>) -> Authentication {
        let validator = &self.validator;
        let token = match bearer::extract(
            request.headers(),
            request.uri(),
            validator.max_token_bytes(),
        ) {
            Ok(Some(token)) => token,
            Ok(None) if self.allow_anonymous => return Authentication::Anonymous,
            Ok(None) => {
                return Authentication::Refused {
                    error: Error::MissingToken,
                    scheme: None,
                };
            }
            Err(error) => {
                return Authentication::Refused {
                    error,
                    scheme: bearer::scheme_of(request.headers()),
                };
            }
        };
        let scheme = token.scheme();
        match validator.validate_now(token.as_str()) {
            Step::Done(Ok(principal)) => {
                match self.bind(&principal, token.as_str(), scheme, request) {
                    Bound::Now(Ok(())) => Authentication::Admitted { principal, scheme },
                    Bound::Now(Err(error)) => Authentication::Refused {
                        error,
                        scheme: Some(scheme),
                    },
                    Bound::Replay(replay) => Authentication::Waiting {
                        wait: Wait::Replay { principal, replay },
                        scheme,
                    },
                }
            }
            Step::Done(Err(error)) => Authentication::Refused {
                error,
                scheme: Some(scheme),
            },
            Step::NeedKeys(validation) => Authentication::Waiting {
                wait: Wait::Keys {
                    validation,
                    token: token.as_str().to_owned(),
                },
                scheme,
            },
        }
    }

    /// The validated token's binding to `request` (its `cnf` against the DPoP proof or the
    /// connection's certificate, and the issuer's DPoP policy).
    fn bind<B>(
        &self,
        principal: &Principal,
        token: &str,
        scheme: Scheme,
        request: &Request<B>,
    ) -> Bound {
        let policy = self.validator.dpop_policy(principal);
        binding::check(
            self.dpop.as_ref(),
            policy,
            principal,
            token,
            scheme,
            request,
            self.validator.clock(),
        )
    }
}

impl Wait {
    /// Finishes the authentication of `request` that [`Shared::authenticate`] started. The
    /// request is only read; it is borrowed mutably so that the waiting future is `Send` for
    /// any `Send` body (a shared borrow held across an await would need a `Sync` body).
    pub(super) async fn finish<B>(
        self,
        shared: &Shared,
        scheme: Scheme,
        request: &mut Request<B>,
    ) -> Result<Principal, Error> {
        let (principal, replay) = match self {
            Wait::Keys { validation, token } => {
                let principal = validation.await?;
                match shared.bind(&principal, &token, scheme, request) {
                    Bound::Now(result) => return result.map(|()| principal),
                    Bound::Replay(replay) => (principal, replay),
                }
            }
            Wait::Replay { principal, replay } => (principal, replay),
        };
        replay.await.map(|()| principal)
    }
}
