//! OpenAPI 3.1 security from the requirement types already on the handlers (feature `openapi`,
//! with [utoipa](https://docs.rs/utoipa)): the bearer security scheme, and each documented
//! route's security requirement, read from the same [`ApiPermissions`] the app registration is
//! written from. Nothing is typed a second time.
//!
//! ```
//! use http::Method;
//! use utoipa::openapi::{InfoBuilder, OpenApiBuilder};
//! use warden::authz::RequireScopeOrRole;
//! use warden::registration::ApiPermissions;
//!
//! warden::scopes! {
//!     pub OrdersRead = "Orders.Read" {
//!         consent: Admin,
//!         admin: ("Read orders", "Allows the app to read orders."),
//!     };
//! }
//! warden::roles! {
//!     pub OrdersReadAll = "Orders.Read.All" {
//!         members: Applications,
//!         display: ("Read all orders", "Allows the app to read every order."),
//!     };
//! }
//!
//! # fn main() -> Result<(), warden::error::RegistrationError> {
//! let permissions = ApiPermissions::builder("api://orders")
//!     .scopes::<(OrdersRead,)>()
//!     .roles::<(OrdersReadAll,)>()
//!     .public_route(Method::GET, "/health")
//!     .route::<RequireScopeOrRole<OrdersRead, OrdersReadAll>>(Method::GET, "/orders")
//!     .build()?;
//! let mut openapi = OpenApiBuilder::new()
//!     .info(InfoBuilder::new().title("Orders").version("1").build())
//!     .build();
//! warden::openapi::secure(&mut openapi, &permissions);
//! let json = serde_json::to_value(&openapi).unwrap();
//! assert_eq!(
//!     json["paths"]["/orders"]["get"]["security"],
//!     serde_json::json!([{"bearer": ["Orders.Read"]}, {"bearer": ["Orders.Read.All"]}])
//! );
//! assert_eq!(json["paths"]["/health"]["get"]["security"], serde_json::json!([]));
//! # Ok(())
//! # }
//! ```
//!
//! How requirements read in OpenAPI: a requirement object lists what must all hold, the
//! `security` array lists alternatives. `RequireScope<S>` with `any(a, b)` is two alternatives,
//! with `all(a, b)` one object naming both; `RequireScopeOrRole<S, R>` is an alternative per scope
//! and per role. OpenAPI 3.1 lets a non-OAuth scheme's requirement name "role names", which is
//! what scopes and app roles are to a bearer token. What OpenAPI cannot say (an authentication
//! context, an `acr`, the caller kind, groups, an application rule) is in the operation's
//! `x-warden-requires`, the permissions page's words for the route, and in its description.

use std::collections::BTreeSet;

use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, OpenApi, ResponseBuilder};

use super::ApiPermissions;
use super::page::describe;
use crate::authz::{Match, Needs};

/// The name of warden's security scheme in `components.securitySchemes`.
pub const SCHEME: &str = "bearer";

/// Adds warden's bearer security scheme to `openapi`, and to every route `permissions`
/// documents its security requirement, its 401 and 403 answers, and `x-warden-requires`.
/// Operations the document lacks are added (with only that); operations it has keep everything
/// else.
pub fn secure(openapi: &mut OpenApi, permissions: &ApiPermissions) {
    let scheme = SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(format!(
                "An OAuth 2.0 access token for {}: `Authorization: Bearer <token>`, or a \
                 DPoP-bound token with `Authorization: DPoP <token>` and its `DPoP` proof \
                 (RFC 9449). The scopes and app roles an operation lists are the token's `scp`/\
                 `scope` and `roles` values.",
                permissions.identifier_uri()
            )))
            .build(),
    );
    let components = openapi
        .components
        .get_or_insert_with(|| ComponentsBuilder::new().build());
    components.add_security_scheme(SCHEME, scheme);
    for route in &permissions.routes {
        let Some(method) = http_method(&route.method) else {
            continue;
        };
        let item = openapi
            .paths
            .paths
            .entry(route.path.clone())
            .or_insert_with(|| PathItem::new(method.clone(), OperationBuilder::new().build()));
        let operation = operation_mut(item, &method);
        let operation = operation.get_or_insert_with(|| OperationBuilder::new().build());
        apply(operation, route.needs.as_deref());
    }
}

/// The security, answers and words of one route's operation.
fn apply(operation: &mut Operation, needs: Option<&[Needs<'static, &'static str>]>) {
    let Some(needs) = needs else {
        // Public: no security, whatever the document's global default says.
        operation.security = Some(Vec::new());
        return;
    };
    operation.security = Some(
        alternatives(needs)
            .into_iter()
            .map(|names| SecurityRequirement::new(SCHEME, names))
            .collect(),
    );
    let words = describe(needs);
    let extensions = operation.extensions.get_or_insert_with(Default::default);
    extensions.insert("x-warden-requires".to_owned(), words.clone().into());
    let note = format!("Requires {words}.");
    operation.description = Some(match operation.description.take() {
        Some(text) if !text.contains(&note) => format!("{text}\n\n{note}"),
        Some(text) => text,
        None => note,
    });
    let responses = &mut operation.responses.responses;
    responses.entry("401".to_owned()).or_insert_with(|| {
        ResponseBuilder::new()
            .description("No valid token: `WWW-Authenticate` says why (RFC 6750).")
            .build()
            .into()
    });
    if !needs.is_empty() {
        responses.entry("403".to_owned()).or_insert_with(|| {
            ResponseBuilder::new()
                .description("The token lacks what the operation requires (`insufficient_scope`).")
                .build()
                .into()
        });
    }
}

/// The scope and role sets that each open the route (alternatives), from what it requires
/// (every part must hold): the cross product of each part's alternatives. Parts OpenAPI cannot
/// express leave the sets as they are.
fn alternatives(needs: &[Needs<'static, &'static str>]) -> Vec<Vec<String>> {
    let mut sets: Vec<BTreeSet<&'static str>> = vec![BTreeSet::new()];
    for part in needs {
        let options: Vec<Vec<&'static str>> = match *part {
            Needs::Scopes(names, Match::Any) | Needs::Roles(names, Match::Any) => {
                names.iter().map(|name| vec![*name]).collect()
            }
            Needs::Scopes(names, Match::All) | Needs::Roles(names, Match::All) => {
                vec![names.to_vec()]
            }
            Needs::ScopeOrRole { scopes, roles } | Needs::UserScopeOrAppRole { scopes, roles } => {
                scopes.iter().chain(roles).map(|name| vec![*name]).collect()
            }
            Needs::Groups(..)
            | Needs::App
            | Needs::User
            | Needs::AuthContexts(..)
            | Needs::Acr(_)
            | Needs::MaxAge(_)
            | Needs::Rule { .. } => continue,
        };
        sets = sets
            .iter()
            .flat_map(|set| {
                options.iter().map(move |option| {
                    let mut next = set.clone();
                    next.extend(option.iter().copied());
                    next
                })
            })
            .collect();
    }
    sets.into_iter()
        .map(|set| set.into_iter().map(str::to_owned).collect())
        .collect()
}

fn http_method(method: &http::Method) -> Option<HttpMethod> {
    Some(match *method {
        http::Method::GET => HttpMethod::Get,
        http::Method::POST => HttpMethod::Post,
        http::Method::PUT => HttpMethod::Put,
        http::Method::DELETE => HttpMethod::Delete,
        http::Method::PATCH => HttpMethod::Patch,
        http::Method::HEAD => HttpMethod::Head,
        http::Method::OPTIONS => HttpMethod::Options,
        http::Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &HttpMethod) -> &'a mut Option<Operation> {
    match method {
        HttpMethod::Get => &mut item.get,
        HttpMethod::Post => &mut item.post,
        HttpMethod::Put => &mut item.put,
        HttpMethod::Delete => &mut item.delete,
        HttpMethod::Patch => &mut item.patch,
        HttpMethod::Head => &mut item.head,
        HttpMethod::Options => &mut item.options,
        HttpMethod::Trace => &mut item.trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &[&str] = &["a"];
    const TWO: &[&str] = &["a", "b"];
    const ROLES: &[&str] = &["r"];

    #[test]
    fn alternatives_follow_any_all_and_tuples() {
        let any = [Needs::Scopes(TWO, Match::Any)];
        assert_eq!(alternatives(&any), [vec!["a"], vec!["b"]]);
        let all = [Needs::Scopes(TWO, Match::All)];
        assert_eq!(alternatives(&all), [vec!["a", "b"]]);
        let either = [Needs::ScopeOrRole {
            scopes: ONE,
            roles: ROLES,
        }];
        assert_eq!(alternatives(&either), [vec!["a"], vec!["r"]]);
        // Every part must hold: the cross product.
        let both = [
            Needs::Scopes(TWO, Match::Any),
            Needs::Roles(ROLES, Match::Any),
        ];
        assert_eq!(alternatives(&both), [vec!["a", "r"], vec!["b", "r"]]);
        // What OpenAPI cannot say leaves the sets as they are.
        let step_up = [
            Needs::Scopes(ONE, Match::Any),
            Needs::AuthContexts(&["c1"], Match::Any),
        ];
        assert_eq!(alternatives(&step_up), [vec!["a"]]);
        // Any valid token: one alternative naming nothing.
        assert_eq!(alternatives(&[]), [Vec::<String>::new()]);
    }
}
