//! [`Requirement`](super::Requirement): a requirement with names chosen at run time, and the one check every
//! requirement runs, marker types included ([`Needs`]).

use crate::AuthRejection;
use crate::cae;
use crate::clock;
use crate::error::{ClaimsChallenge, Error, Forbidden, StepUp};
use crate::http::WardenContext;
use crate::principal::Principal;
use crate::principal::identity::Caller;

use super::names::{Match, Scopes};

/// A requirement with names chosen at run time, for [`RequirementLayer`](super::RequirementLayer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Delegated scopes.
    Scopes {
        /// The scopes.
        names: Vec<String>,
        /// Any or all.
        matching: Match,
    },
    /// App roles.
    Roles {
        /// The roles.
        names: Vec<String>,
        /// Any or all.
        matching: Match,
    },
    /// Security groups.
    Groups {
        /// The group object ids.
        names: Vec<String>,
        /// Any or all.
        matching: Match,
    },
    /// One of the scopes or one of the roles, whatever the caller kind (Microsoft.Identity.Web's
    /// reading).
    ScopeOrRole {
        /// The scopes.
        scopes: Vec<String>,
        /// The roles.
        roles: Vec<String>,
    },
    /// A user's token with one of the scopes, or an app-only token with one of the roles.
    UserScopeOrAppRole {
        /// The scopes a delegated caller may hold.
        scopes: Vec<String>,
        /// The roles an app-only caller may hold.
        roles: Vec<String>,
    },
    /// An app-only token.
    App,
    /// A delegated (user) token.
    User,
    /// An Entra authentication context in the token's `acrs`, named at run time (its id differs
    /// per tenant); answered like [`RequireAuthContext`](super::RequireAuthContext).
    AuthContext {
        /// The authentication context id, e.g. `c1`.
        id: String,
    },
    /// One of these RFC 9470 `acr` values; answered like [`RequireAcr`](super::RequireAcr).
    Acr {
        /// The acceptable values, in order of preference.
        values: Vec<String>,
    },
    /// An authentication no older than this (RFC 9470 `max_age`, against `auth_time`); answered
    /// like [`RequireRecentAuth`](super::RequireRecentAuth).
    MaxAge {
        /// Seconds.
        secs: u64,
    },
}

/// What a requirement asks, borrowed: the one form both a [`Requirement`](super::Requirement) (names chosen at run
/// time) and a marker type (names fixed at compile time, allocation-free) are checked in.
#[derive(Debug, Clone, Copy)]
pub enum Needs<'a, N> {
    Scopes(&'a [N], Match),
    Roles(&'a [N], Match),
    Groups(&'a [N], Match),
    ScopeOrRole {
        scopes: &'a [N],
        roles: &'a [N],
    },
    UserScopeOrAppRole {
        scopes: &'a [N],
        roles: &'a [N],
    },
    App,
    User,
    AuthContexts(&'a [N], Match),
    Acr(&'a [N]),
    MaxAge(u64),
    /// A requirement the application defined: its check and its 403's description.
    Rule {
        allows: fn(&Principal) -> bool,
        description: &'static str,
    },
}

impl<N: AsRef<str>> Needs<'_, N> {
    /// Checks what is needed against a principal the layer admitted.
    pub(crate) async fn check(self, context: &WardenContext, p: &Principal) -> Result<(), Error> {
        let forbidden = match self {
            Needs::Scopes(names, matching) => check_scopes(p, names, matching),
            Needs::Roles(names, matching) => check_roles(p, names, matching),
            Needs::Groups(names, matching) => {
                return check_groups(context, p, names, matching).await;
            }
            Needs::ScopeOrRole { scopes, roles } => {
                check_scope_or_role(p, scopes, roles, ByCaller::Either)
            }
            Needs::UserScopeOrAppRole { scopes, roles } => {
                check_scope_or_role(p, scopes, roles, ByCaller::Strict)
            }
            Needs::App => check_caller(p, Caller::App),
            Needs::User => check_caller(p, Caller::User),
            Needs::AuthContexts(ids, matching) => {
                return check_auth_contexts(context, p, ids, matching);
            }
            Needs::Acr(values) => return check_acr(p, values),
            Needs::MaxAge(secs) => return check_max_age(context, p, secs),
            Needs::Rule {
                allows,
                description,
            } => {
                if allows(p) {
                    Ok(())
                } else {
                    Err(Forbidden::Rule { description })
                }
            }
        };
        forbidden.map_err(Error::from)
    }
}

/// Whether `held` satisfies `needed`. An empty `needed` is never satisfied: a requirement built
/// from an empty list (a configuration slip) refuses everyone rather than admitting everyone.
fn has<'h, N: AsRef<str>>(
    held: impl Iterator<Item = &'h str> + Clone,
    needed: &[N],
    matching: Match,
) -> bool {
    if needed.is_empty() {
        return false;
    }
    // Group ids are GUIDs (Entra): the same group in any case. Names compare exactly.
    let holds = |name: &N| held.clone().any(|h| crate::guid::same_id(h, name.as_ref()));
    match matching {
        Match::Any => needed.iter().any(holds),
        Match::All => needed.iter().all(holds),
    }
}

fn check_scopes<N: AsRef<str>>(
    p: &Principal,
    names: &[N],
    matching: Match,
) -> Result<(), Forbidden> {
    if has(p.scopes(), names, matching) {
        Ok(())
    } else {
        Err(Forbidden::MissingScope {
            required: names.iter().map(|n| n.as_ref().to_owned()).collect(),
        })
    }
}

fn check_roles<N: AsRef<str>>(
    p: &Principal,
    names: &[N],
    matching: Match,
) -> Result<(), Forbidden> {
    if has(p.roles(), names, matching) {
        Ok(())
    } else {
        Err(Forbidden::MissingRole)
    }
}

/// Whether scopes count only for users and roles only for applications.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByCaller {
    /// Either, whatever the caller (Microsoft.Identity.Web).
    Either,
    /// Scopes from users, roles from applications.
    Strict,
}

fn check_scope_or_role<N: AsRef<str>>(
    p: &Principal,
    scopes: &[N],
    roles: &[N],
    by_caller: ByCaller,
) -> Result<(), Forbidden> {
    let has_scope = || has(p.scopes(), scopes, Match::Any);
    let has_role = || has(p.roles(), roles, Match::Any);
    let allowed = match (by_caller, p.caller()) {
        (ByCaller::Either, _) => has_scope() || has_role(),
        (ByCaller::Strict, Caller::User) => has_scope(),
        (ByCaller::Strict, Caller::App) => has_role(),
    };
    if allowed {
        Ok(())
    } else {
        Err(Forbidden::MissingScopeOrRole {
            scopes: scopes.iter().map(|n| n.as_ref().to_owned()).collect(),
        })
    }
}

fn check_caller(p: &Principal, wanted: Caller) -> Result<(), Forbidden> {
    match (p.caller(), wanted) {
        (Caller::App, Caller::App) | (Caller::User, Caller::User) => Ok(()),
        (_, Caller::App) => Err(Forbidden::AppOnlyRequired),
        (_, _) => Err(Forbidden::UserRequired),
    }
}

/// Group membership, asking the resolver on overage.
async fn check_groups<N: AsRef<str>>(
    context: &WardenContext,
    p: &Principal,
    names: &[N],
    matching: Match,
) -> Result<(), Error> {
    if !p.has_group_overage() {
        return if has(p.groups(), names, matching) {
            Ok(())
        } else {
            Err(Forbidden::MissingGroup.into())
        };
    }
    let Some(resolver) = context.group_resolver() else {
        return Err(Forbidden::GroupOverage.into());
    };
    let groups = resolver.resolve(p).await?;
    if has(groups.iter().map(String::as_str), names, matching) {
        Ok(())
    } else {
        Err(Forbidden::MissingGroup.into())
    }
}

/// Entra authentication contexts in `acrs`; otherwise a step-up for the first one missing.
fn check_auth_contexts<N: AsRef<str>>(
    context: &WardenContext,
    p: &Principal,
    ids: &[N],
    matching: Match,
) -> Result<(), Error> {
    let held = |id: &N| p.auth_contexts().any(|a| a == id.as_ref());
    let satisfied = !ids.is_empty()
        && match matching {
            Match::Any => ids.iter().any(held),
            Match::All => ids.iter().all(held),
        };
    if satisfied {
        return Ok(());
    }
    // Ask for the first context the token lacks.
    let id = ids
        .iter()
        .find(|id| !held(id))
        .map(AsRef::as_ref)
        .unwrap_or_default();
    Err(auth_context_step_up(context, p, id))
}

/// An RFC 9470 `acr` among `values`; otherwise `insufficient_user_authentication` naming them.
fn check_acr<N: AsRef<str>>(p: &Principal, values: &[N]) -> Result<(), Error> {
    if p.acr()
        .is_some_and(|acr| values.iter().any(|v| v.as_ref() == acr))
    {
        return Ok(());
    }
    let values = values.iter().map(|v| v.as_ref().to_owned()).collect();
    Err(StepUp::Acr { values }.into())
}

/// An authentication no older than `secs` (RFC 9470, against `auth_time`).
fn check_max_age(context: &WardenContext, p: &Principal, secs: u64) -> Result<(), Error> {
    // warden's one clock: before 1970 it reads as the far future, so nothing is recent.
    let now = clock::unix_secs(context.validator().clock()) as f64;
    // A missing `auth_time` cannot prove recency: step up (RFC 9470 §6.1).
    let recent = p.auth_time().is_some_and(|at| now - at <= secs as f64);
    if recent {
        Ok(())
    } else {
        Err(StepUp::MaxAge { secs }.into())
    }
}

impl Requirement {
    /// The scopes of a type declared with [`scopes!`](crate::scopes), matched as it says (any or
    /// all): the requirement of [`RequireScope<S>`](super::RequireScope), chosen at run time.
    pub fn scopes_of<S: Scopes>() -> Self {
        Requirement::Scopes {
            names: S::NAMES.iter().map(|name| (*name).to_owned()).collect(),
            matching: S::MATCH,
        }
    }

    /// One delegated scope.
    pub fn scope(name: impl Into<String>) -> Self {
        Requirement::Scopes {
            names: vec![name.into()],
            matching: Match::Any,
        }
    }

    /// One app role.
    pub fn role(name: impl Into<String>) -> Self {
        Requirement::Roles {
            names: vec![name.into()],
            matching: Match::Any,
        }
    }

    /// One group.
    pub fn group(name: impl Into<String>) -> Self {
        Requirement::Groups {
            names: vec![name.into()],
            matching: Match::Any,
        }
    }

    /// One Entra authentication context, by the id your tenant gave it (from configuration).
    pub fn auth_context(id: impl Into<String>) -> Self {
        Requirement::AuthContext { id: id.into() }
    }

    /// One of these RFC 9470 `acr` values, in order of preference: the requirement of
    /// [`RequireAcr<A>`](super::RequireAcr), named at run time (from configuration).
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::{Router, routing::post};
    /// use warden::authz::{Requirement, require};
    ///
    /// let payments: Router = Router::new()
    ///     .route("/payments", post(|| async {}))
    ///     .route_layer(require(Requirement::acr(["phr", "phrh"])))
    ///     .route_layer(require(Requirement::max_age(Duration::from_secs(300))));
    /// ```
    pub fn acr<I: IntoIterator<Item = V>, V: Into<String>>(values: I) -> Self {
        Requirement::Acr {
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// An authentication no older than `max_age` (RFC 9470 `max_age`, against `auth_time`), in
    /// whole seconds: the requirement of [`RequireRecentAuth`](super::RequireRecentAuth), named
    /// at run time.
    pub fn max_age(max_age: std::time::Duration) -> Self {
        Requirement::MaxAge {
            secs: max_age.as_secs(),
        }
    }

    /// Checks this requirement against a request the warden layer admitted, given its
    /// extensions: for a requirement chosen from the request itself, such as the scope of the
    /// tool an MCP `tools/call` names in its body. The answers are the extractors' and the route
    /// layers' (403 `insufficient_scope` with `scope=`, step-up challenges, 401 without a
    /// principal); without a warden layer, [`AuthRejection::LayerMissing`](crate::AuthRejection::LayerMissing) (500).
    ///
    /// ```
    /// use warden::authz::Requirement;
    ///
    /// async fn guard(request: &http::Request<axum::body::Body>) -> Result<(), warden::AuthRejection> {
    ///     Requirement::scope("notes:write").check_request(request.extensions()).await
    /// }
    /// ```
    pub async fn check_request(&self, extensions: &http::Extensions) -> Result<(), AuthRejection> {
        let Some(context) = extensions.get::<WardenContext>() else {
            return Err(AuthRejection::LayerMissing {
                extractor: "Requirement::check_request",
            });
        };
        let outcome = match extensions.get::<Principal>() {
            None => Err(Error::MissingToken),
            Some(principal) => self.needs().check(context, principal).await,
        };
        outcome
            .map_err(|error| AuthRejection::refused(context, error, extensions.get::<Principal>()))
    }

    /// What this requirement asks, in the form every requirement is checked in.
    pub(crate) fn needs(&self) -> Needs<'_, String> {
        match self {
            Requirement::Scopes { names, matching } => Needs::Scopes(names, *matching),
            Requirement::Roles { names, matching } => Needs::Roles(names, *matching),
            Requirement::Groups { names, matching } => Needs::Groups(names, *matching),
            Requirement::ScopeOrRole { scopes, roles } => Needs::ScopeOrRole { scopes, roles },
            Requirement::UserScopeOrAppRole { scopes, roles } => {
                Needs::UserScopeOrAppRole { scopes, roles }
            }
            Requirement::App => Needs::App,
            Requirement::User => Needs::User,
            Requirement::AuthContext { id } => {
                Needs::AuthContexts(std::slice::from_ref(id), Match::Any)
            }
            Requirement::Acr { values } => Needs::Acr(values),
            Requirement::MaxAge { secs } => Needs::MaxAge(*secs),
        }
    }
}

/// The step-up answer for a missing authentication context: Microsoft's claims challenge for a
/// CAE-capable client, else RFC 9470 `insufficient_user_authentication`.
fn auth_context_step_up(context: &WardenContext, principal: &Principal, id: &str) -> Error {
    let challenge = principal
        .is_cae_capable()
        .then(|| context.validator().claims_challenge_uri(principal))
        .flatten()
        .map(|authorization_uri| ClaimsChallenge {
            authorization_uri,
            claims: cae::claims_challenge(&cae::acrs_claims_request(id)),
        });
    Error::StepUpRequired(StepUp::AuthContext {
        id: id.to_owned(),
        challenge,
    })
}
