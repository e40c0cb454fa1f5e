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
//! Requirements read the [`Principal`](crate::Principal) from the request and never take it out, so any number of
//! them can stand on one handler.

mod layer;
mod methods;
mod names;
mod onward;
pub(crate) mod permission;
pub(crate) mod require;
mod requirement;

pub use crate::membership::{GroupLookupFailed, GroupResolver};
pub use layer::{
    RequireService, RequirementLayer, require, require_auth_context, require_group, require_role,
    require_scope,
};
pub use methods::{RequireMethods, RequireMethodsService};
#[doc(hidden)]
pub use names::assert_names;
pub use names::{AcrValues, AuthContexts, Groups, Match, NameSet, Roles, Scopes};
pub use onward::Challenger;
pub use require::{
    Require, RequireAcr, RequireApp, RequireAuthContext, RequireGroup, RequireRecentAuth,
    RequireRole, RequireRule, RequireScope, RequireScopeOrRole, RequireUser,
    RequireUserScopeOrAppRole, Rule, kind,
};
pub(crate) use requirement::Needs;
pub use requirement::Requirement;
