//! Requirements in a handler's signature: [`Require<K>`] and its aliases ([`RequireScope`],
//! [`RequireRole`], …), one extractor for all of them.

use std::fmt;
use std::marker::PhantomData;

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::AuthRejection;
use crate::error::Error;
use crate::http::WardenContext;
use crate::principal::Principal;

use super::names::{AcrValues, AuthContexts, Groups, Roles, Scopes};
use super::requirement::Needs;

/// A requirement checked by its type `K`, before the handler runs. Name it by its aliases:
/// [`RequireScope`], [`RequireRole`], [`RequireGroup`], [`RequireScopeOrRole`],
/// [`RequireUserScopeOrAppRole`], [`RequireAuthContext`], [`RequireAcr`],
/// [`RequireRecentAuth`], [`RequireApp`], [`RequireUser`]. See the [module docs](super).
pub struct Require<K>(PhantomData<fn() -> K>);

impl<K: Kind> fmt::Debug for Require<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(K::EXTRACTOR)
    }
}

impl<K> Clone for Require<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Require<K> {}

/// The kinds of requirement: each turns its marker types into the [`Needs`] it checks. Sealed:
/// the trait is public only so that it can bound [`Require`]'s extractor.
mod sealed {
    pub trait Kind: Send + Sync + 'static {
        /// The extractor's name, for the 500 when no warden layer covers the route.
        const EXTRACTOR: &'static str;
        /// What the requirement asks.
        const NEEDS: super::Needs<'static, &'static str>;
    }

    /// What a route requires: every requirement of the tuple, in order.
    pub trait Route {
        fn needs() -> Vec<super::Needs<'static, &'static str>>;
    }
}
use sealed::Kind;

/// What a route requires, as [`registration`](crate::registration) documents it: a requirement
/// type ([`RequireScope<S>`], [`RequireScopeOrRole<S, R>`], …), a tuple of them when the
/// handler has several (every one must hold), or `()` when any valid token will do. Sealed.
pub trait RouteRequirement: sealed::Route {}

impl<T: sealed::Route> RouteRequirement for T {}

impl sealed::Route for () {
    fn needs() -> Vec<Needs<'static, &'static str>> {
        Vec::new()
    }
}

impl<K: Kind> sealed::Route for Require<K> {
    fn needs() -> Vec<Needs<'static, &'static str>> {
        vec![K::NEEDS]
    }
}

macro_rules! route_tuple {
    ($($k:ident),+) => {
        impl<$($k: Kind),+> sealed::Route for ($(Require<$k>,)+) {
            fn needs() -> Vec<Needs<'static, &'static str>> {
                vec![$($k::NEEDS),+]
            }
        }
    };
}

route_tuple!(A);
route_tuple!(A, B);
route_tuple!(A, B, C);
route_tuple!(A, B, C, D);

/// What the route requirement `R` asks, each part in order.
pub(crate) fn route_needs<R: RouteRequirement>() -> Vec<Needs<'static, &'static str>> {
    R::needs()
}

/// The kinds of [`Require`], one per alias. Their names appear only in the aliases' definitions.
pub mod kind {
    use std::marker::PhantomData;

    /// Delegated scopes `S`.
    pub struct Scope<S>(PhantomData<fn() -> S>);
    /// App roles `R`.
    pub struct Role<R>(PhantomData<fn() -> R>);
    /// Groups `G`.
    pub struct Group<G>(PhantomData<fn() -> G>);
    /// One of the scopes `S` or one of the roles `R`, whatever the caller.
    pub struct ScopeOrRole<S, R>(PhantomData<fn() -> (S, R)>);
    /// A user's token with one of the scopes `S`, or an app-only token with one of the roles `R`.
    pub struct UserScopeOrAppRole<S, R>(PhantomData<fn() -> (S, R)>);
    /// Entra authentication contexts `C`.
    pub struct AuthContext<C>(PhantomData<fn() -> C>);
    /// RFC 9470 `acr` values `A`.
    pub struct Acr<A>(PhantomData<fn() -> A>);
    /// An authentication no older than `MAX_AGE_SECS`.
    pub struct RecentAuth<const MAX_AGE_SECS: u64>;
    /// An app-only token.
    pub struct App;
    /// A delegated (user) token.
    pub struct User;
    /// The application's own rule `R`.
    pub struct Rule<R>(PhantomData<fn() -> R>);
}

/// A requirement the application defines: a check over the [`Principal`] and the description
/// its 403 carries. Use it as an extractor, [`RequireRule<R>`], or as a route layer with axum's
/// `from_extractor::<RequireRule<R>>()`, like the built-in requirements.
///
/// Reach for it when the decision reads the token in a way no scope or role says (a claim of
/// your own, a combination); when it is about what the caller may do, a scope or an app role is
/// the better tool: administrators can see, grant and revoke those in the app registration,
/// and [`registration`](crate::registration) documents them. A rule is documented only by its
/// description.
///
/// ```
/// use axum::{Router, routing::get};
/// use warden::{Principal, authz::{RequireRule, Rule}};
///
/// /// Only callers from the partner tenant.
/// struct PartnerTenant;
///
/// impl Rule for PartnerTenant {
///     const DESCRIPTION: &'static str = "partner tenant required";
///     fn allows(principal: &Principal) -> bool {
///         principal.tenant_id() == Some("3f1c0a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b")
///     }
/// }
///
/// async fn partner_report(_: RequireRule<PartnerTenant>) -> &'static str { "report" }
///
/// let app: Router = Router::new().route("/partner/report", get(partner_report));
/// ```
///
/// It fails closed like the others: a caller it does not allow gets 403
/// `insufficient_scope` with its description, no token 401, and a route with no warden layer
/// 500. `allows` runs on every request before the handler: keep it a pure, quick check of the
/// principal (no I/O), and never panic in it. The description goes into `WWW-Authenticate`:
/// printable ASCII without `"` or `\`, checked when the requirement is compiled.
///
/// ```compile_fail
/// # use warden::{Principal, authz::{RequireRule, Rule}};
/// struct Quoted;
/// impl Rule for Quoted {
///     const DESCRIPTION: &'static str = "say \"no\"";
///     fn allows(_: &Principal) -> bool { false }
/// }
/// async fn handler(_: RequireRule<Quoted>) {}
/// let _ = axum::routing::get(handler);
/// ```
pub trait Rule: Send + Sync + 'static {
    /// The `error_description` of the 403.
    const DESCRIPTION: &'static str;
    /// Whether the principal may pass.
    fn allows(principal: &Principal) -> bool;
}

/// Whether `text` may stand in an `error_description` (RFC 6750 §3: `%x20-21 / %x23-5B /
/// %x5D-7E`), checked at compile time.
const fn assert_description(text: &str) -> &str {
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty(), "a rule's description must not be empty");
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        assert!(
            b == 0x20 || b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E),
            "a rule's description may only hold printable ASCII without '\"' or '\\'"
        );
        i += 1;
    }
    text
}

impl<S: Scopes> Kind for kind::Scope<S> {
    const EXTRACTOR: &'static str = "RequireScope";
    const NEEDS: Needs<'static, &'static str> = Needs::Scopes(S::NAMES, S::MATCH);
}
impl<R: Roles> Kind for kind::Role<R> {
    const EXTRACTOR: &'static str = "RequireRole";
    const NEEDS: Needs<'static, &'static str> = Needs::Roles(R::NAMES, R::MATCH);
}
impl<G: Groups> Kind for kind::Group<G> {
    const EXTRACTOR: &'static str = "RequireGroup";
    const NEEDS: Needs<'static, &'static str> = Needs::Groups(G::NAMES, G::MATCH);
}
impl<S: Scopes, R: Roles> Kind for kind::ScopeOrRole<S, R> {
    const EXTRACTOR: &'static str = "RequireScopeOrRole";
    const NEEDS: Needs<'static, &'static str> = Needs::ScopeOrRole {
        scopes: S::NAMES,
        roles: R::NAMES,
    };
}
impl<S: Scopes, R: Roles> Kind for kind::UserScopeOrAppRole<S, R> {
    const EXTRACTOR: &'static str = "RequireUserScopeOrAppRole";
    const NEEDS: Needs<'static, &'static str> = Needs::UserScopeOrAppRole {
        scopes: S::NAMES,
        roles: R::NAMES,
    };
}
impl<C: AuthContexts> Kind for kind::AuthContext<C> {
    const EXTRACTOR: &'static str = "RequireAuthContext";
    const NEEDS: Needs<'static, &'static str> = Needs::AuthContexts(C::NAMES, C::MATCH);
}
impl<A: AcrValues> Kind for kind::Acr<A> {
    const EXTRACTOR: &'static str = "RequireAcr";
    const NEEDS: Needs<'static, &'static str> = Needs::Acr(A::NAMES);
}
impl<const MAX_AGE_SECS: u64> Kind for kind::RecentAuth<MAX_AGE_SECS> {
    const EXTRACTOR: &'static str = "RequireRecentAuth";
    const NEEDS: Needs<'static, &'static str> = Needs::MaxAge(MAX_AGE_SECS);
}
impl Kind for kind::App {
    const EXTRACTOR: &'static str = "RequireApp";
    const NEEDS: Needs<'static, &'static str> = Needs::App;
}
impl Kind for kind::User {
    const EXTRACTOR: &'static str = "RequireUser";
    const NEEDS: Needs<'static, &'static str> = Needs::User;
}
impl<R: Rule> Kind for kind::Rule<R> {
    const EXTRACTOR: &'static str = "RequireRule";
    const NEEDS: Needs<'static, &'static str> = Needs::Rule {
        allows: R::allows,
        description: assert_description(R::DESCRIPTION),
    };
}

/// Requires delegated scopes `S` (from `scope` or `scp`). See the [module docs](super).
pub type RequireScope<S> = Require<kind::Scope<S>>;
/// Requires app roles `R` (from `roles`). See the [module docs](super).
pub type RequireRole<R> = Require<kind::Role<R>>;
/// Requires membership of groups `G` (from `groups`, or the group resolver on overage).
pub type RequireGroup<G> = Require<kind::Group<G>>;
/// Microsoft's "scope or app permission", as Microsoft.Identity.Web's `RequiredScopeOrAppPermission`
/// checks it: the token holds one of the scopes `S` or one of the roles `R`, whatever the caller
/// kind (a user with a user-assigned app role of that name passes, as with Microsoft.Identity.Web).
/// For the strict reading, scopes from users and roles from applications only, use
/// [`RequireUserScopeOrAppRole`].
pub type RequireScopeOrRole<S, R> = Require<kind::ScopeOrRole<S, R>>;
/// The strict "scope or app permission": a user's (delegated) token with one of the scopes `S`,
/// or an application's (app-only) token with one of the roles `R`. A user holding only the role,
/// or an application holding only the scope, is refused.
pub type RequireUserScopeOrAppRole<S, R> = Require<kind::UserScopeOrAppRole<S, R>>;
/// Requires an Entra authentication context `C` in the token's `acrs` (step-up). A CAE-capable
/// client gets Microsoft's claims challenge for it; any other client an RFC 9470
/// `insufficient_user_authentication` challenge with `acr_values`.
pub type RequireAuthContext<C> = Require<kind::AuthContext<C>>;
/// Requires an `acr` (RFC 9470) among `A`; otherwise 401 `insufficient_user_authentication`
/// with `acr_values`.
pub type RequireAcr<A> = Require<kind::Acr<A>>;
/// Requires an authentication no older than `MAX_AGE_SECS` (RFC 9470, against `auth_time`);
/// otherwise 401 `insufficient_user_authentication` with `max_age`.
pub type RequireRecentAuth<const MAX_AGE_SECS: u64> = Require<kind::RecentAuth<MAX_AGE_SECS>>;
/// Requires an application acting as itself (an app-only token).
pub type RequireApp = Require<kind::App>;
/// Requires a user acting through a client application (a delegated token).
pub type RequireUser = Require<kind::User>;
/// Requires what the application's [`Rule`] `R` allows; otherwise 403 with its description.
pub type RequireRule<R> = Require<kind::Rule<R>>;

impl<St: Send + Sync, K: Kind> FromRequestParts<St> for Require<K> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, AuthRejection> {
        let context =
            parts
                .extensions
                .get::<WardenContext>()
                .ok_or(AuthRejection::LayerMissing {
                    extractor: K::EXTRACTOR,
                })?;
        let outcome = match parts.extensions.get::<Principal>() {
            None => Err(Error::MissingToken),
            Some(principal) => K::NEEDS.check(context, principal).await,
        };
        match outcome {
            Ok(()) => Ok(Require(PhantomData)),
            Err(error) => Err(AuthRejection::refused(
                context,
                error,
                parts.extensions.get::<Principal>(),
            )),
        }
    }
}
