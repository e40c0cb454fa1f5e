//! Per-route requirements: delegated scopes, app roles, groups, scope-or-app-permission, and the
//! kind of caller. Least privilege: a route names exactly what it needs.
//!
//! Declare the names once, then put the requirement in the handler's signature:
//!
//! ```
//! use axum::{Router, routing::{get, delete}};
//! use warden::authz::{RequireRole, RequireScope, RequireScopeOrRole};
//!
//! warden::scopes! {
//!     /// Read the caller's orders.
//!     pub OrdersRead = "Orders.Read";
//!     pub ReportsRead = "Reports.Read";
//!     /// Either scope will do.
//!     pub OrdersAny = any("Orders.Read", "Orders.Write");
//! }
//! warden::roles! {
//!     pub OrdersAdmin = "Orders.Admin";
//!     pub ReportsReadAll = "Reports.Read.All";
//! }
//!
//! async fn list_orders(_: RequireScope<OrdersRead>) -> &'static str { "[]" }
//! async fn delete_order(_: RequireRole<OrdersAdmin>) {}
//! async fn reports(_: RequireScopeOrRole<ReportsRead, ReportsReadAll>) -> &'static str { "{}" }
//!
//! let app: Router = Router::new()
//!     .route("/orders", get(list_orders))
//!     .route("/orders/{id}", delete(delete_order))
//!     .route("/reports", get(reports));
//! ```
//!
//! Every name is checked at compile time: a scope with a space, a quote or a backslash does not
//! compile. Comparison is exact and case-sensitive (RFC 6749 §3.3).
//!
//! The same requirements guard a group of routes as layers, with runtime names
//! ([`require_role`], [`require_scope`], [`require`]) or with the marker types through axum's
//! `from_extractor`:
//!
//! ```
//! use axum::{Router, routing::delete, middleware::from_extractor};
//! use warden::authz::{RequireRole, require_role};
//! # warden::roles! { pub OrdersAdmin = "Orders.Admin"; }
//!
//! let admin: Router = Router::new()
//!     .route("/orders/{id}", delete(|| async {}))
//!     .route_layer(require_role("Orders.Admin"));
//! let same: Router = Router::new()
//!     .route("/orders/{id}", delete(|| async {}))
//!     .route_layer(from_extractor::<RequireRole<OrdersAdmin>>());
//! ```
//!
//! # Answers
//!
//! | failure | status | `WWW-Authenticate` |
//! |---|---|---|
//! | missing scope | 403 | `Bearer realm="…", error="insufficient_scope", scope="<required, space-separated>"` |
//! | missing scope or app permission | 403 | as above, with `error_description="missing scope or app permission"` |
//! | missing role, group, caller kind | 403 | `Bearer realm="…", error="insufficient_scope", error_description="…"` |
//! | group overage, no resolver | 403 | `…, error_description="group membership not in token (overage)"` |
//! | group resolver failed | 503 | none; `Retry-After` |
//! | no warden layer on the route | 500 | none, and an error log |
//!
//! Requirements read the [`Principal`] from the request and never take it out, so any number of
//! them can stand on one handler.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::extract::FromRequestParts;
use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::cae;
use crate::context::WardenContext;
use crate::error::{ClaimsChallenge, Error, Forbidden, StepUp};
use crate::extract::AuthRejection;
use crate::identity::Caller;
use crate::keys::BoxFuture;
pub use crate::membership::{GroupLookupFailed, GroupResolver};
use crate::metadata::ScopeList;
use crate::principal::Principal;

/// How a set of names is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// At least one of the names.
    Any,
    /// Every one of the names.
    All,
}

/// A set of names fixed at compile time. Made by [`scopes!`](crate::scopes),
/// [`roles!`](crate::roles) and [`groups!`](crate::groups).
pub trait NameSet: Send + Sync + 'static {
    /// The names.
    const NAMES: &'static [&'static str];
    /// Any or all of them.
    const MATCH: Match;
}

/// A set of delegated scopes; see [`scopes!`](crate::scopes).
pub trait Scopes: NameSet {}
/// A set of app roles; see [`roles!`](crate::roles).
pub trait Roles: NameSet {}
/// A set of security groups (object ids); see [`groups!`](crate::groups).
pub trait Groups: NameSet {}
/// A set of Entra authentication context ids; see [`auth_contexts!`](crate::auth_contexts).
pub trait AuthContexts: NameSet {}
/// A set of RFC 9470 `acr` values; see [`acr_values!`](crate::acr_values).
pub trait AcrValues: NameSet {}

/// Checks names at compile time: non-empty, and only the characters of an RFC 6749 §3.3
/// scope-token (`%x21 / %x23-5B / %x5D-7E`: no space, quote or backslash).
#[doc(hidden)]
pub const fn assert_names(names: &[&str]) {
    assert!(!names.is_empty(), "a requirement needs at least one name");
    let mut i = 0;
    while i < names.len() {
        let bytes = names[i].as_bytes();
        assert!(
            !bytes.is_empty(),
            "a scope, role or group name must not be empty"
        );
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            assert!(
                b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E),
                "a scope, role or group name may only hold printable ASCII without space, '\"' or '\\'"
            );
            j += 1;
        }
        i += 1;
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __warden_names {
    ($kind:ident;) => {};
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = $value:literal; $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = Any [$value]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = any($($value:literal),+ $(,)?); $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = Any [$($value),+]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    ($kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = all($($value:literal),+ $(,)?); $($rest:tt)*) => {
        $crate::__warden_names!(@one $kind; $(#[$meta])* $vis $name = All [$($value),+]);
        $crate::__warden_names!($kind; $($rest)*);
    };
    (@one $kind:ident; $(#[$meta:meta])* $vis:vis $name:ident = $match:ident [$($value:literal),+]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        $vis struct $name;
        impl $crate::authz::NameSet for $name {
            const NAMES: &'static [&'static str] = &[$($value),+];
            const MATCH: $crate::authz::Match = $crate::authz::Match::$match;
        }
        impl $crate::authz::$kind for $name {}
        const _: () = $crate::authz::assert_names(&[$($value),+]);
    };
}

/// Declares delegated scopes for [`RequireScope`] and [`RequireScopeOrRole`].
///
/// `Name = "scope";` requires that scope; `Name = any("a", "b");` one of them;
/// `Name = all("a", "b");` every one. Names are checked at compile time.
///
/// ```
/// warden::scopes! {
///     pub OrdersRead = "Orders.Read";
///     pub OrdersReadWrite = all("Orders.Read", "Orders.Write");
/// }
/// ```
///
/// ```compile_fail
/// warden::scopes! { pub Bad = "Orders Read"; } // a space: two scopes, not one
/// ```
#[macro_export]
macro_rules! scopes {
    ($($tokens:tt)*) => { $crate::__warden_names!(Scopes; $($tokens)*); };
}

/// Declares app roles for [`RequireRole`] and [`RequireScopeOrRole`]; the same forms as
/// [`scopes!`](crate::scopes).
///
/// ```
/// warden::roles! { pub OrdersAdmin = "Orders.Admin"; }
/// ```
#[macro_export]
macro_rules! roles {
    ($($tokens:tt)*) => { $crate::__warden_names!(Roles; $($tokens)*); };
}

/// Declares security groups (Entra group object ids) for [`RequireGroup`]; the same forms as
/// [`scopes!`](crate::scopes).
///
/// ```
/// warden::groups! { pub Finance = "1b3a5c7e-9d2f-4a6b-8c0d-2e4f6a8b0c1d"; }
/// ```
#[macro_export]
macro_rules! groups {
    ($($tokens:tt)*) => { $crate::__warden_names!(Groups; $($tokens)*); };
}

/// Declares Entra authentication context ids (`c1` … `c99`) for [`RequireAuthContext`]; the same
/// forms as [`scopes!`](crate::scopes).
///
/// ```
/// warden::auth_contexts! { pub StrongAuth = "c1"; }
/// ```
#[macro_export]
macro_rules! auth_contexts {
    ($($tokens:tt)*) => { $crate::__warden_names!(AuthContexts; $($tokens)*); };
}

/// Declares RFC 9470 `acr` values for [`RequireAcr`]; the same forms as
/// [`scopes!`](crate::scopes), `any(..)` listing them in order of preference.
///
/// ```
/// warden::acr_values! { pub Phr = "phr"; }
/// ```
#[macro_export]
macro_rules! acr_values {
    ($($tokens:tt)*) => { $crate::__warden_names!(AcrValues; $($tokens)*); };
}

/// Requires delegated scopes `S` (from `scope` or `scp`). See the [module docs](self).
pub struct RequireScope<S>(PhantomData<fn() -> S>);
/// Requires app roles `R` (from `roles`). See the [module docs](self).
pub struct RequireRole<R>(PhantomData<fn() -> R>);
/// Requires membership of groups `G` (from `groups`, or the group resolver on overage).
pub struct RequireGroup<G>(PhantomData<fn() -> G>);
/// Microsoft's "scope or app permission", as Microsoft.Identity.Web's `RequiredScopeOrAppPermission`
/// checks it: the token holds one of the scopes `S` or one of the roles `R`, whatever the caller
/// kind (a user with a user-assigned app role of that name passes, as with Microsoft.Identity.Web).
/// For the strict reading, scopes from users and roles from applications only, use
/// [`RequireUserScopeOrAppRole`].
pub struct RequireScopeOrRole<S, R>(PhantomData<fn() -> (S, R)>);
/// The strict "scope or app permission": a user's (delegated) token with one of the scopes `S`,
/// or an application's (app-only) token with one of the roles `R`. A user holding only the role,
/// or an application holding only the scope, is refused.
pub struct RequireUserScopeOrAppRole<S, R>(PhantomData<fn() -> (S, R)>);
/// Requires an Entra authentication context `C` in the token's `acrs` (step-up). A CAE-capable
/// client gets Microsoft's claims challenge for it; any other client an RFC 9470
/// `insufficient_user_authentication` challenge with `acr_values`.
pub struct RequireAuthContext<C>(PhantomData<fn() -> C>);
/// Requires an `acr` (RFC 9470) among `A`; otherwise 401 `insufficient_user_authentication`
/// with `acr_values`.
pub struct RequireAcr<A>(PhantomData<fn() -> A>);
/// Requires an authentication no older than `MAX_AGE_SECS` (RFC 9470, against `auth_time`);
/// otherwise 401 `insufficient_user_authentication` with `max_age`.
#[derive(Debug, Clone, Copy)]
pub struct RequireRecentAuth<const MAX_AGE_SECS: u64>;
/// Requires an application acting as itself (an app-only token).
#[derive(Debug, Clone, Copy)]
pub struct RequireApp;
/// Requires a user acting through a client application (a delegated token).
#[derive(Debug, Clone, Copy)]
pub struct RequireUser;

macro_rules! marker_impls {
    ($($ty:ident<$($p:ident),+>),*) => {$(
        impl<$($p),+> fmt::Debug for $ty<$($p),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($ty))
            }
        }
        impl<$($p),+> Clone for $ty<$($p),+> {
            fn clone(&self) -> Self { *self }
        }
        impl<$($p),+> Copy for $ty<$($p),+> {}
    )*};
}
marker_impls!(
    RequireScope<S>,
    RequireRole<R>,
    RequireGroup<G>,
    RequireScopeOrRole<S, R>,
    RequireUserScopeOrAppRole<S, R>,
    RequireAuthContext<C>,
    RequireAcr<A>
);

/// A requirement with names chosen at run time, for [`RequirementLayer`].
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
    /// per tenant); answered like [`RequireAuthContext`].
    AuthContext {
        /// The authentication context id, e.g. `c1`.
        id: String,
    },
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

/// The synchronous checks, shared by the extractors and the layers.
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

impl Requirement {
    /// The scopes of a type declared with [`scopes!`](crate::scopes), matched as it says (any or
    /// all): the requirement of [`RequireScope<S>`], chosen at run time.
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

    /// Checks this requirement against a request the warden layer admitted, given its
    /// extensions: for a requirement chosen from the request itself, such as the scope of the
    /// tool an MCP `tools/call` names in its body. The answers are the extractors' and the route
    /// layers' (403 `insufficient_scope` with `scope=`, step-up challenges, 401 without a
    /// principal); without a warden layer, [`AuthRejection::LayerMissing`] (500).
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
            Some(principal) => self.check(context, principal).await,
        };
        outcome.map_err(|error| AuthRejection::refused(context, error))
    }

    async fn check(&self, context: &WardenContext, p: &Principal) -> Result<(), Error> {
        let result = match self {
            Requirement::Scopes { names, matching } => check_scopes(p, names, *matching),
            Requirement::Roles { names, matching } => check_roles(p, names, *matching),
            Requirement::Groups { names, matching } => {
                return check_groups(context, p, names, *matching).await;
            }
            Requirement::ScopeOrRole { scopes, roles } => {
                check_scope_or_role(p, scopes, roles, ByCaller::Either)
            }
            Requirement::UserScopeOrAppRole { scopes, roles } => {
                check_scope_or_role(p, scopes, roles, ByCaller::Strict)
            }
            Requirement::App => check_caller(p, Caller::App),
            Requirement::User => check_caller(p, Caller::User),
            Requirement::AuthContext { id } => {
                return if p.auth_contexts().any(|a| a == id) {
                    Ok(())
                } else {
                    Err(auth_context_step_up(context, p, id))
                };
            }
        };
        result.map_err(Error::from)
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

/// The warden context and the principal, or the rejection that fails closed.
fn authenticated<'a>(
    parts: &'a Parts,
    extractor: &'static str,
) -> Result<(&'a WardenContext, &'a Principal), AuthRejection> {
    let context = parts
        .extensions
        .get::<WardenContext>()
        .ok_or(AuthRejection::LayerMissing { extractor })?;
    let principal = parts
        .extensions
        .get::<Principal>()
        .ok_or_else(|| AuthRejection::refused(context, Error::MissingToken))?;
    Ok((context, principal))
}

impl<St: Send + Sync, S: Scopes> FromRequestParts<St> for RequireScope<S> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireScope")?;
        check_scopes(principal, S::NAMES, S::MATCH)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireScope(PhantomData))
    }
}

impl<St: Send + Sync, R: Roles> FromRequestParts<St> for RequireRole<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireRole")?;
        check_roles(principal, R::NAMES, R::MATCH)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireRole(PhantomData))
    }
}

impl<St: Send + Sync, G: Groups> FromRequestParts<St> for RequireGroup<G> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireGroup")?;
        check_groups(context, principal, G::NAMES, G::MATCH)
            .await
            .map_err(|e| AuthRejection::refused(context, e))?;
        Ok(RequireGroup(PhantomData))
    }
}

impl<St: Send + Sync, S: Scopes, R: Roles> FromRequestParts<St> for RequireScopeOrRole<S, R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireScopeOrRole")?;
        check_scope_or_role(principal, S::NAMES, R::NAMES, ByCaller::Either)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireScopeOrRole(PhantomData))
    }
}

impl<St: Send + Sync, S: Scopes, R: Roles> FromRequestParts<St>
    for RequireUserScopeOrAppRole<S, R>
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireUserScopeOrAppRole")?;
        check_scope_or_role(principal, S::NAMES, R::NAMES, ByCaller::Strict)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireUserScopeOrAppRole(PhantomData))
    }
}

impl<St: Send + Sync, C: AuthContexts> FromRequestParts<St> for RequireAuthContext<C> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireAuthContext")?;
        let satisfied = match C::MATCH {
            Match::Any => C::NAMES
                .iter()
                .any(|id| principal.auth_contexts().any(|a| a == *id)),
            Match::All => C::NAMES
                .iter()
                .all(|id| principal.auth_contexts().any(|a| a == *id)),
        };
        if satisfied {
            return Ok(RequireAuthContext(PhantomData));
        }
        // Ask for the first context the token lacks.
        let id = C::NAMES
            .iter()
            .find(|id| !principal.auth_contexts().any(|a| a == **id))
            .copied()
            .unwrap_or_default();
        Err(AuthRejection::refused(
            context,
            auth_context_step_up(context, principal, id),
        ))
    }
}

impl<St: Send + Sync, A: AcrValues> FromRequestParts<St> for RequireAcr<A> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireAcr")?;
        if principal.acr().is_some_and(|acr| A::NAMES.contains(&acr)) {
            return Ok(RequireAcr(PhantomData));
        }
        let values = A::NAMES.iter().map(|v| (*v).to_owned()).collect();
        Err(AuthRejection::refused(
            context,
            Error::StepUpRequired(StepUp::Acr { values }),
        ))
    }
}

impl<St: Send + Sync, const MAX_AGE_SECS: u64> FromRequestParts<St>
    for RequireRecentAuth<MAX_AGE_SECS>
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireRecentAuth")?;
        // warden's one clock: before 1970 it reads as the far future, so nothing is recent.
        let now = crate::clock::unix_secs(context.validator().clock()) as f64;
        // A missing `auth_time` cannot prove recency: step up (RFC 9470 §6.1).
        let recent = principal
            .auth_time()
            .is_some_and(|at| now - at <= MAX_AGE_SECS as f64);
        if recent {
            return Ok(RequireRecentAuth);
        }
        Err(AuthRejection::refused(
            context,
            Error::StepUpRequired(StepUp::MaxAge { secs: MAX_AGE_SECS }),
        ))
    }
}

impl<St: Send + Sync> FromRequestParts<St> for RequireApp {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireApp")?;
        check_caller(principal, Caller::App)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireApp)
    }
}

impl<St: Send + Sync> FromRequestParts<St> for RequireUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let (context, principal) = authenticated(parts, "RequireUser")?;
        check_caller(principal, Caller::User)
            .map_err(|f| AuthRejection::refused(context, f.into()))?;
        Ok(RequireUser)
    }
}

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
                tracing::error!(
                    "warden requirement layer on a route without a warden layer; refusing the request"
                );
                let mut response = Response::new(ResBody::from(Bytes::from_static(
                    b"authentication is not configured for this route",
                )));
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return Ok(response);
            };
            let outcome = match extensions.get::<Principal>() {
                None => Err(Error::MissingToken),
                Some(principal) => requirement.check(context, principal).await,
            };
            match outcome {
                Ok(()) => inner.call(req).await,
                Err(error) => Ok(context.respond(&error).map(ResBody::from)),
            }
        })
    }
}

// Tuples of scope types name the scopes of RFC 9728 metadata (`ProtectedResource::scopes`).
macro_rules! scope_list {
    ($($t:ident),+) => {
        impl<$($t: Scopes),+> ScopeList for ($($t,)+) {
            fn names() -> Vec<&'static str> {
                let mut names = Vec::new();
                $(names.extend_from_slice($t::NAMES);)+
                names
            }
        }
    };
}

scope_list!(A);
scope_list!(A, B);
scope_list!(A, B, C);
scope_list!(A, B, C, D);
scope_list!(A, B, C, D, E);
scope_list!(A, B, C, D, E, F);
scope_list!(A, B, C, D, E, F, G);
scope_list!(A, B, C, D, E, F, G, H);
scope_list!(A, B, C, D, E, F, G, H, I);
scope_list!(A, B, C, D, E, F, G, H, I, J);
scope_list!(A, B, C, D, E, F, G, H, I, J, K);
scope_list!(A, B, C, D, E, F, G, H, I, J, K, L);
