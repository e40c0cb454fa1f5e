//! Per-route authorization: scopes, roles, groups, scope-or-app-permission, caller kind. Every
//! refusal asserts status, exact `WWW-Authenticate`, body, and that the handler did not run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::middleware::from_extractor;
use axum::routing::get;
use base64::Engine as _;
use serde_json::json;
use warden::authz::{
    GroupLookupFailed, GroupResolver, Match, RequireAcr, RequireApp, RequireAuthContext,
    RequireGroup, RequireRecentAuth, RequireRole, RequireScope, RequireScopeOrRole, RequireUser,
    RequireUserScopeOrAppRole, Requirement, require, require_auth_context, require_role,
};
use warden::keys::{BoxFuture, JwksCache};
use warden::{Principal, WardenLayer};
use warden_integration_tests::{
    Answer, assert_refusal, invalid_token, issuer_of, now, send, trust,
};
use warden_testing::FakeIssuer;

warden::scopes! {
    pub OrdersRead = "Orders.Read";
    pub ReportsRead = "Reports.Read";
    pub BothScopes = all("Orders.Read", "Orders.Write");
    pub EitherScope = any("Orders.Read", "Orders.Write");
}
warden::roles! {
    pub OrdersAdmin = "Orders.Admin";
    pub ReportsReadAll = "Reports.Read.All";
}
warden::groups! {
    pub Finance = "11111111-1111-1111-1111-111111111111";
}
warden::acr_values! {
    pub MyAcr = "myACR";
}
warden::auth_contexts! {
    pub StrongAuth = "c1";
}

/// A requirement of the application's own: the caller's subject begins with `partner-`.
struct Partner;

impl warden::authz::Rule for Partner {
    const DESCRIPTION: &'static str = "partner account required";
    fn allows(principal: &Principal) -> bool {
        principal.subject().starts_with("partner-")
    }
}

struct Fixture {
    issuer: FakeIssuer,
    router: Router,
    runs: Arc<AtomicUsize>,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(|builder| builder).await
    }

    async fn with(
        configure: impl FnOnce(warden::config::WardenBuilder) -> warden::config::WardenBuilder,
    ) -> Self {
        let issuer = FakeIssuer::start().await.unwrap();
        // Keys by discovery, as in production: discovery also names the issuer's authorization
        // endpoint, where claims challenges send clients.
        let keys = JwksCache::builder(issuer.issuer_url()).build().unwrap();
        let layer = configure(
            WardenLayer::builder().issuer(issuer_of(&issuer).keys(keys).build().unwrap()),
        )
        .build()
        .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let hit = move || {
            r.fetch_add(1, Ordering::SeqCst);
        };
        macro_rules! route {
            ($ty:ty) => {{
                let hit = hit.clone();
                get(move |_: $ty| async move {
                    hit();
                    "ok"
                })
            }};
        }
        let admin = {
            let hit = hit.clone();
            Router::new()
                .route(
                    "/layer/admin",
                    get(move || async move {
                        hit();
                        "ok"
                    }),
                )
                .route_layer(require_role("Orders.Admin"))
        };
        let context_layer = {
            let hit = hit.clone();
            Router::new()
                .route(
                    "/layer/context",
                    get(move || async move {
                        hit();
                        "ok"
                    }),
                )
                .route_layer(require_auth_context("c1"))
        };
        let reports_layers = {
            let hit = hit.clone();
            let ok = move || {
                let hit = hit.clone();
                async move {
                    hit();
                    "ok"
                }
            };
            let either = Requirement::ScopeOrRole {
                scopes: vec!["Reports.Read".to_owned()],
                roles: vec!["Reports.Read.All".to_owned()],
            };
            let strict = Requirement::UserScopeOrAppRole {
                scopes: vec!["Reports.Read".to_owned()],
                roles: vec!["Reports.Read.All".to_owned()],
            };
            Router::new()
                .route("/layer/reports", get(ok.clone()))
                .route_layer(require(either))
                .merge(
                    Router::new()
                        .route("/layer/strict-reports", get(ok))
                        .route_layer(require(strict)),
                )
        };
        let step_up_layers = {
            let hit = hit.clone();
            let ok = move || {
                let hit = hit.clone();
                async move {
                    hit();
                    "ok"
                }
            };
            Router::new()
                .route("/layer/acr", get(ok.clone()))
                .route_layer(require(Requirement::acr(["myACR"])))
                .merge(
                    Router::new()
                        .route("/layer/recent", get(ok))
                        .route_layer(require(Requirement::max_age(Duration::from_secs(5)))),
                )
        };
        let admin_extractor = {
            let hit = hit.clone();
            Router::new()
                .route(
                    "/extractor-layer/admin",
                    get(move || async move {
                        hit();
                        "ok"
                    }),
                )
                .route_layer(from_extractor::<RequireRole<OrdersAdmin>>())
        };
        let rule_layer = {
            let hit = hit.clone();
            Router::new()
                .route(
                    "/layer/partner",
                    get(move || async move {
                        hit();
                        "ok"
                    }),
                )
                .route_layer(from_extractor::<warden::authz::RequireRule<Partner>>())
        };
        let several = {
            let hit = hit.clone();
            get(
                move |_: RequireScope<OrdersRead>, _: RequireUser, caller: Principal| async move {
                    hit();
                    caller.subject().to_owned()
                },
            )
        };
        let router = Router::new()
            .route("/scope", route!(RequireScope<OrdersRead>))
            .route("/all", route!(RequireScope<BothScopes>))
            .route("/any", route!(RequireScope<EitherScope>))
            .route("/role", route!(RequireRole<OrdersAdmin>))
            .route(
                "/reports",
                route!(RequireScopeOrRole<ReportsRead, ReportsReadAll>),
            )
            .route(
                "/strict-reports",
                route!(RequireUserScopeOrAppRole<ReportsRead, ReportsReadAll>),
            )
            .route("/group", route!(RequireGroup<Finance>))
            .route("/app", route!(RequireApp))
            .route("/user", route!(RequireUser))
            .route("/several", several)
            .route("/acr", route!(RequireAcr<MyAcr>))
            .route("/recent", route!(RequireRecentAuth<5>))
            .route("/context", route!(RequireAuthContext<StrongAuth>))
            .route("/partner", route!(warden::authz::RequireRule<Partner>))
            .merge(rule_layer)
            .merge(admin)
            .merge(context_layer)
            .merge(reports_layers)
            .merge(admin_extractor)
            .merge(step_up_layers)
            .layer(layer);
        Fixture {
            issuer,
            router,
            runs,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        let request = Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        send(self.router.clone(), request).await
    }

    async fn allows(&self, path: &str, token: &str) {
        let before = self.runs.load(Ordering::SeqCst);
        let answer = self.get(path, token).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(self.runs.load(Ordering::SeqCst), before + 1);
    }

    async fn refuses(
        &self,
        path: &str,
        token: &str,
        status: u16,
        challenge: Option<&str>,
        detail: &str,
    ) {
        let before = self.runs.load(Ordering::SeqCst);
        let answer = self.get(path, token).await;
        assert_refusal(&answer, status, challenge, detail);
        assert_eq!(self.runs.load(Ordering::SeqCst), before, "the handler ran");
    }

    async fn refuses_scope(&self, path: &str, token: &str, scope: &str) {
        let challenge =
            format!(r#"Bearer realm="api", error="insufficient_scope", scope="{scope}""#);
        self.refuses(path, token, 403, Some(&challenge), "missing scope")
            .await;
    }

    async fn refuses_with(&self, path: &str, token: &str, description: &str) {
        let challenge = format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="{description}""#
        );
        self.refuses(path, token, 403, Some(&challenge), description)
            .await;
    }
}

// Scopes

#[tokio::test]
async fn allows_a_token_with_the_scope() {
    let f = Fixture::new().await;
    f.allows("/scope", &f.issuer.token().scopes(["Orders.Read"]).sign())
        .await;
    f.allows(
        "/scope",
        &f.issuer.token().scopes(["Other", "Orders.Read"]).sign(),
    )
    .await;
}

#[tokio::test]
async fn allows_a_scope_sent_as_an_array() {
    let f = Fixture::new().await;
    f.allows(
        "/scope",
        &f.issuer
            .token()
            .claim("scope", json!(["Orders.Read"]))
            .sign(),
    )
    .await;
}

#[tokio::test]
async fn allows_entra_scp() {
    let f = Fixture::new().await;
    f.allows(
        "/scope",
        &f.issuer.token().claim("scp", "Orders.Read").sign(),
    )
    .await;
}

#[tokio::test]
async fn answers_a_missing_scope_with_403_insufficient_scope_and_the_scope() {
    let f = Fixture::new().await;
    f.refuses_scope(
        "/scope",
        &f.issuer.token().scopes(["Orders.Write"]).sign(),
        "Orders.Read",
    )
    .await;
}

#[tokio::test]
async fn refuses_a_superstring_of_the_scope() {
    let f = Fixture::new().await;
    f.refuses_scope(
        "/scope",
        &f.issuer.token().scopes(["Orders.ReadAll"]).sign(),
        "Orders.Read",
    )
    .await;
}

#[tokio::test]
async fn refuses_a_prefix_of_the_scope() {
    let f = Fixture::new().await;
    f.refuses_scope(
        "/scope",
        &f.issuer.token().scopes(["Orders"]).sign(),
        "Orders.Read",
    )
    .await;
}

#[tokio::test]
async fn refuses_the_scope_in_another_case() {
    let f = Fixture::new().await;
    f.refuses_scope(
        "/scope",
        &f.issuer.token().scopes(["orders.read"]).sign(),
        "Orders.Read",
    )
    .await;
}

#[tokio::test]
async fn refuses_comma_joined_scopes() {
    let f = Fixture::new().await;
    let token = f
        .issuer
        .token()
        .claim("scope", "Orders.Read,Orders.Write")
        .sign();
    f.refuses_scope("/scope", &token, "Orders.Read").await;
}

#[tokio::test]
async fn refuses_an_empty_scope() {
    let f = Fixture::new().await;
    f.refuses_scope(
        "/scope",
        &f.issuer.token().claim("scope", "").sign(),
        "Orders.Read",
    )
    .await;
}

#[tokio::test]
async fn refuses_an_absent_scope() {
    let f = Fixture::new().await;
    f.refuses_scope("/scope", &f.issuer.token().sign(), "Orders.Read")
        .await;
}

#[tokio::test]
async fn requires_every_scope_of_an_all_set() {
    let f = Fixture::new().await;
    f.allows(
        "/all",
        &f.issuer
            .token()
            .scopes(["Orders.Write", "Orders.Read"])
            .sign(),
    )
    .await;
    let token = f.issuer.token().scopes(["Orders.Read"]).sign();
    f.refuses_scope("/all", &token, "Orders.Read Orders.Write")
        .await;
}

#[tokio::test]
async fn requires_one_scope_of_an_any_set() {
    let f = Fixture::new().await;
    f.allows("/any", &f.issuer.token().scopes(["Orders.Write"]).sign())
        .await;
    let token = f.issuer.token().scopes(["Reports.Read"]).sign();
    f.refuses_scope("/any", &token, "Orders.Read Orders.Write")
        .await;
}

#[tokio::test]
async fn answers_an_invalid_token_with_401_before_any_requirement() {
    let f = Fixture::new().await;
    let token = f
        .issuer
        .token()
        .scopes(["Orders.Read"])
        .expires_at(1)
        .sign();
    f.refuses(
        "/scope",
        &token,
        401,
        Some(&invalid_token("token expired")),
        "token expired",
    )
    .await;
}

// Roles

#[tokio::test]
async fn allows_a_token_with_the_role() {
    let f = Fixture::new().await;
    f.allows("/role", &f.issuer.token().roles(["Orders.Admin"]).sign())
        .await;
}

#[tokio::test]
async fn answers_a_missing_role_with_403_without_a_scope_parameter() {
    let f = Fixture::new().await;
    f.refuses_with(
        "/role",
        &f.issuer.token().roles(["Orders.Reader"]).sign(),
        "missing app role",
    )
    .await;
}

#[tokio::test]
async fn refuses_the_role_in_another_case() {
    let f = Fixture::new().await;
    f.refuses_with(
        "/role",
        &f.issuer.token().roles(["orders.admin"]).sign(),
        "missing app role",
    )
    .await;
}

#[tokio::test]
async fn refuses_a_role_granted_only_as_a_scope() {
    let f = Fixture::new().await;
    f.refuses_with(
        "/role",
        &f.issuer.token().scopes(["Orders.Admin"]).sign(),
        "missing app role",
    )
    .await;
}

#[tokio::test]
async fn takes_a_roles_string_as_one_role_never_split_on_spaces() {
    let f = Fixture::new().await;
    // A role whose name holds a space (or a provider emitting roles as one string) cannot
    // grant the role its first word names.
    for roles in [
        "Orders.Admin Trainee",
        "Trainee Orders.Admin",
        " Orders.Admin ",
    ] {
        let token = f.issuer.token().claim("roles", roles).sign();
        f.refuses_with("/role", &token, "missing app role").await;
        f.refuses_with("/layer/admin", &token, "missing app role")
            .await;
    }
    // A single role as a string is that role (ADFS sends one value as a string).
    let single = f.issuer.token().claim("roles", "Orders.Admin").sign();
    f.allows("/role", &single).await;
    let principal = f.issuer.token().claim("roles", "Orders.Admin Trainee");
    let validator = warden::Validator::builder()
        .issuer(trust(&f.issuer).build().unwrap())
        .build()
        .unwrap();
    let principal = validator.validate(&principal.sign()).await.unwrap();
    assert_eq!(
        principal.roles().collect::<Vec<_>>(),
        ["Orders.Admin Trainee"]
    );
}

#[tokio::test]
async fn guards_a_group_of_routes_with_a_role_layer() {
    let f = Fixture::new().await;
    for path in ["/layer/admin", "/extractor-layer/admin"] {
        f.allows(path, &f.issuer.token().roles(["Orders.Admin"]).sign())
            .await;
        f.refuses_with(path, &f.issuer.token().sign(), "missing app role")
            .await;
    }
}

// Scope or app permission

#[tokio::test]
async fn allows_a_user_with_the_scope_or_an_app_with_the_role() {
    let f = Fixture::new().await;
    f.allows(
        "/reports",
        &f.issuer.token().scopes(["Reports.Read"]).sign(),
    )
    .await;
    let app = f
        .issuer
        .token()
        .app_only()
        .roles(["Reports.Read.All"])
        .sign();
    f.allows("/reports", &app).await;
    f.allows("/strict-reports", &app).await;
}

#[tokio::test]
async fn admits_either_whatever_the_caller_like_microsoft_identity_web() {
    let f = Fixture::new().await;
    // A user with a user-assigned app role of that name, and an app holding the scope:
    // Microsoft.Identity.Web's RequiredScopeOrAppPermission admits both, and so does the default.
    let user_with_role = f.issuer.token().roles(["Reports.Read.All"]).sign();
    f.allows("/reports", &user_with_role).await;
    let app_with_scope = f.issuer.token().app_only().scopes(["Reports.Read"]).sign();
    f.allows("/reports", &app_with_scope).await;
    let neither = f.issuer.token().scopes(["Orders.Read"]).sign();
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="missing scope or app permission", scope="Reports.Read""#;
    f.refuses(
        "/reports",
        &neither,
        403,
        Some(challenge),
        "missing scope or app permission",
    )
    .await;
}

#[tokio::test]
async fn route_layers_read_scope_or_role_as_the_extractors_do() {
    let f = Fixture::new().await;
    let user_with_role = f.issuer.token().roles(["Reports.Read.All"]).sign();
    f.allows("/layer/reports", &user_with_role).await;
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="missing scope or app permission", scope="Reports.Read""#;
    f.refuses(
        "/layer/strict-reports",
        &user_with_role,
        403,
        Some(challenge),
        "missing scope or app permission",
    )
    .await;
    let app_with_role = f
        .issuer
        .token()
        .app_only()
        .roles(["Reports.Read.All"])
        .sign();
    f.allows("/layer/strict-reports", &app_with_role).await;
}

#[tokio::test]
async fn the_strict_form_refuses_a_user_holding_only_the_app_permission() {
    let f = Fixture::new().await;
    let token = f.issuer.token().roles(["Reports.Read.All"]).sign();
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="missing scope or app permission", scope="Reports.Read""#;
    f.refuses(
        "/strict-reports",
        &token,
        403,
        Some(challenge),
        "missing scope or app permission",
    )
    .await;
    f.allows(
        "/strict-reports",
        &f.issuer.token().scopes(["Reports.Read"]).sign(),
    )
    .await;
}

#[tokio::test]
async fn the_strict_form_refuses_an_app_holding_only_the_delegated_scope() {
    let f = Fixture::new().await;
    let token = f.issuer.token().app_only().scopes(["Reports.Read"]).sign();
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="missing scope or app permission", scope="Reports.Read""#;
    f.refuses(
        "/strict-reports",
        &token,
        403,
        Some(challenge),
        "missing scope or app permission",
    )
    .await;
}

// The application's own rule

#[tokio::test]
async fn an_application_rule_admits_what_it_allows_and_refuses_the_rest_with_its_description() {
    let f = Fixture::new().await;
    let partner = f.issuer.token().subject("partner-7").sign();
    let other = f.issuer.token().subject("customer-7").sign();
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="partner account required""#;
    for path in ["/partner", "/layer/partner"] {
        f.allows(path, &partner).await;
        f.refuses(
            path,
            &other,
            403,
            Some(challenge),
            "partner account required",
        )
        .await;
        // Authentication first: no token is 401, whatever the rule would say.
        let before = f.runs.load(Ordering::SeqCst);
        let answer = send(
            f.router.clone(),
            Request::get(path).body(Body::empty()).unwrap(),
        )
        .await;
        assert_refusal(
            &answer,
            401,
            Some(r#"Bearer realm="api""#),
            "no bearer token",
        );
        assert_eq!(f.runs.load(Ordering::SeqCst), before);
    }
}

// Caller kind

#[tokio::test]
async fn tells_apps_from_users() {
    let f = Fixture::new().await;
    let app = f.issuer.token().app_only().sign();
    let user = f.issuer.token().sign();
    f.allows("/app", &app).await;
    f.allows("/user", &user).await;
    f.refuses_with("/app", &user, "application token required")
        .await;
    f.refuses_with("/user", &app, "user token required").await;
    // Entra's `idtyp` is not in a generic issuer's vocabulary: it cannot make a user an app.
    let claims_app = f.issuer.token().claim("idtyp", "app").sign();
    f.refuses_with("/app", &claims_app, "application token required")
        .await;
    f.allows("/user", &claims_app).await;
}

#[tokio::test]
async fn runs_several_requirements_on_one_handler() {
    let f = Fixture::new().await;
    let token = f
        .issuer
        .token()
        .subject("dana")
        .scopes(["Orders.Read"])
        .sign();
    let answer = f.get("/several", &token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "dana");
    f.refuses_with(
        "/several",
        &f.issuer.token().app_only().scopes(["Orders.Read"]).sign(),
        "user token required",
    )
    .await;
}

// Groups

#[tokio::test]
async fn allows_a_member_and_refuses_a_non_member() {
    let f = Fixture::new().await;
    let member = f.issuer.token().claim("groups", json!([FINANCE_ID])).sign();
    f.allows("/group", &member).await;
    let other = f
        .issuer
        .token()
        .claim("groups", json!(["22222222-2222-2222-2222-222222222222"]))
        .sign();
    f.refuses_with("/group", &other, "missing group membership")
        .await;
}

const FINANCE_ID: &str = "11111111-1111-1111-1111-111111111111";

#[tokio::test]
async fn reads_hasgroups_as_an_overage_for_entra_tokens_only() {
    let f = Fixture::new().await;
    // A generic issuer's token: `hasgroups` is Entra's marker, not this profile's; the token
    // simply carries no groups.
    let token = f.issuer.token().claim("hasgroups", true).sign();
    f.refuses_with("/group", &token, "missing group membership")
        .await;
    // An Entra token: the marker means the list was left out, so membership is unknown.
    let entra = FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .start()
        .await
        .unwrap();
    let validator = warden::Validator::builder()
        .entra(
            warden::entra::Entra::builder()
                .authority(entra.base_url())
                .v1_issuer_base(format!("{}/sts", entra.base_url()))
                .tenant(warden_testing::DEFAULT_TENANT)
                .audience(entra.audience())
                .keys(warden::keys::StaticKeys::from_jwks(&entra.jwks_json()).unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let marked = entra.token().claim("hasgroups", true).sign();
    assert!(
        validator
            .validate(&marked)
            .await
            .unwrap()
            .has_group_overage()
    );
    let plain = entra.token().sign();
    assert!(
        !validator
            .validate(&plain)
            .await
            .unwrap()
            .has_group_overage()
    );
}

/// GUIDs (Entra's tenant, object, application and group ids) compare in any case wherever a
/// configured list or a revocation rule meets a token; `sub`, a case-sensitive string (RFC
/// 7519), compares exactly even when it looks like a GUID.
#[tokio::test]
async fn guids_compare_in_any_case_and_sub_exactly() {
    use warden::cae::{InMemoryRevocations, Revocation, RevocationStore};
    let entra = FakeIssuer::builder()
        .entra(warden_testing::DEFAULT_TENANT)
        .start()
        .await
        .unwrap();
    let client = "8a6b3c9d-1e2f-4a5b-9c8d-7e6f5a4b3c2d";
    let oid = "0c0c0c0c-0000-4000-8000-00000000c0c0";
    let group = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    let store = Arc::new(InMemoryRevocations::default());
    // The tenant and the allowed client as an administrator may paste them: in upper case.
    let layer = WardenLayer::builder()
        .entra(
            warden::entra::Entra::builder()
                .authority(entra.base_url())
                .v1_issuer_base(format!("{}/sts", entra.base_url()))
                .tenant(warden_testing::DEFAULT_TENANT.to_uppercase())
                .audience(entra.audience())
                .allowed_clients([client.to_uppercase()])
                .keys(warden::keys::StaticKeys::from_jwks(&entra.jwks_json()).unwrap())
                .build()
                .unwrap(),
        )
        .revocations(store.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/group",
            get(|| async { "ok" }).route_layer(warden::authz::require_group(group.to_uppercase())),
        )
        .layer(layer.clone());
    let token = |oid: &str, sub: &str| {
        entra
            .token()
            .client(client)
            .object_id(oid)
            .subject(sub)
            .claim("groups", json!([group]))
            .issued_at(now() - 30)
            .sign()
    };
    let get_group = |token: String| {
        let app = app.clone();
        async move {
            send(
                app,
                Request::get("/group")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    // Tenant list, client allow-list and group requirement, each configured in upper case.
    let answer = get_group(token(oid, "pairwise-sub")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    // A rule naming the object id in upper case, in the tenant in upper case, revokes it.
    store
        .revoke(
            Revocation::user(oid.to_uppercase())
                .in_tenant(warden_testing::DEFAULT_TENANT.to_uppercase()),
        )
        .await
        .unwrap();
    let answer = get_group(token(oid, "pairwise-sub")).await;
    assert_refusal(
        &answer,
        401,
        Some(&invalid_token("token revoked")),
        "token revoked",
    );
    // `sub` compares exactly: a rule naming a GUID-shaped `sub` in upper case does not reach a
    // token whose `sub` is that GUID in lower case (and no `oid` of it), nor "Alice" "alice".
    let sub_guid = "1d1d1d1d-0000-4000-8000-00000000d1d1";
    store
        .revoke(Revocation::user(sub_guid.to_uppercase()))
        .await
        .unwrap();
    store.revoke(Revocation::user("Alice")).await.unwrap();
    let other_oid = "2e2e2e2e-0000-4000-8000-00000000e2e2";
    assert_eq!(get_group(token(other_oid, sub_guid)).await.status, 200);
    assert_eq!(get_group(token(other_oid, "alice")).await.status, 200);
    // ... and exactly as spelled, it does.
    let answer = get_group(token(other_oid, &sub_guid.to_uppercase())).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn takes_a_groups_string_as_one_group_never_split_on_spaces() {
    let f = Fixture::new().await;
    let joined = f
        .issuer
        .token()
        .claim(
            "groups",
            format!("{FINANCE_ID} 22222222-2222-2222-2222-222222222222"),
        )
        .sign();
    f.refuses_with("/group", &joined, "missing group membership")
        .await;
    let single = f.issuer.token().claim("groups", FINANCE_ID).sign();
    f.allows("/group", &single).await;
}

fn overage(issuer: &FakeIssuer) -> String {
    issuer
        .token()
        .claim("_claim_names", json!({"groups": "src1"}))
        .claim("_claim_sources", json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}))
        .sign()
}

#[tokio::test]
async fn refuses_group_overage_without_a_resolver_instead_of_reading_no_groups() {
    let f = Fixture::new().await;
    f.refuses_with(
        "/group",
        &overage(&f.issuer),
        "group membership not in token (overage)",
    )
    .await;
}

struct Resolver {
    calls: Arc<AtomicUsize>,
    answer: Result<Vec<String>, GroupLookupFailed>,
    /// How long a lookup takes.
    takes: Duration,
}

impl GroupResolver for Resolver {
    fn groups(&self, _: &Principal) -> BoxFuture<Result<Vec<String>, GroupLookupFailed>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer.clone();
        let takes = self.takes;
        Box::pin(async move {
            tokio::time::sleep(takes).await;
            answer
        })
    }
}

#[tokio::test(start_paused = true)]
async fn resolves_a_callers_groups_once_however_many_requests_wait_for_them() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver {
        calls: calls.clone(),
        answer: Ok(vec![FINANCE_ID.to_owned()]),
        takes: Duration::from_millis(500),
    };
    let f = Fixture::with(|b| b.group_resolver(resolver, Duration::from_secs(300))).await;
    let token = overage(&f.issuer);
    let requests = (0..32).map(|_| f.get("/group", &token));
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one lookup for 32 waiting requests"
    );
    // After the TTL, one lookup again.
    tokio::time::advance(Duration::from_secs(301)).await;
    f.allows("/group", &token).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn resolves_group_overage_with_the_resolver_and_caches_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver {
        calls: calls.clone(),
        answer: Ok(vec![FINANCE_ID.to_owned()]),
        takes: Duration::ZERO,
    };
    let f = Fixture::with(|b| b.group_resolver(resolver, Duration::from_secs(300))).await;
    f.allows("/group", &overage(&f.issuer)).await;
    f.allows("/group", &overage(&f.issuer)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second lookup came from the cache"
    );
}

#[tokio::test]
async fn answers_503_when_the_group_resolver_fails() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver {
        calls,
        answer: Err(GroupLookupFailed),
        takes: Duration::ZERO,
    };
    let f = Fixture::with(|b| b.group_resolver(resolver, Duration::from_secs(300))).await;
    let before = f.runs.load(Ordering::SeqCst);
    let answer = f.get("/group", &overage(&f.issuer)).await;
    assert_refusal(&answer, 503, None, "group membership unavailable");
    assert_eq!(answer.headers["retry-after"], "30");
    assert_eq!(f.runs.load(Ordering::SeqCst), before);
}

#[tokio::test(start_paused = true)]
async fn shares_a_failed_lookup_with_every_waiting_request_then_tries_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver {
        calls: calls.clone(),
        answer: Err(GroupLookupFailed),
        takes: Duration::from_millis(500),
    };
    let f = Fixture::with(|b| b.group_resolver(resolver, Duration::from_secs(300))).await;
    let token = overage(&f.issuer);
    let requests = (0..16).map(|_| f.get("/group", &token));
    for answer in futures_util::future::join_all(requests).await {
        assert_refusal(&answer, 503, None, "group membership unavailable");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one failed lookup for 16 requests"
    );
    assert_eq!(f.runs.load(Ordering::SeqCst), 0);
    // A failure is remembered briefly, then the resolver is asked again.
    tokio::time::advance(Duration::from_secs(3)).await;
    let answer = f.get("/group", &token).await;
    assert_refusal(&answer, 503, None, "group membership unavailable");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// Fail closed

#[tokio::test]
async fn fails_closed_when_a_requirement_has_no_warden_layer() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let router = Router::new().route(
        "/scope",
        get(move |_: RequireScope<OrdersRead>| async move {
            r.fetch_add(1, Ordering::SeqCst);
        }),
    );
    let answer = send(router, Request::get("/scope").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.challenge(), None);
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let r = Arc::new(AtomicUsize::new(0));
    let r2 = r.clone();
    let router = Router::new()
        .route(
            "/admin",
            get(move || async move {
                r2.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .route_layer(require_role("Orders.Admin"));
    let answer = send(router, Request::get("/admin").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 500);
    assert_eq!(r.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn refuses_everyone_when_a_runtime_requirement_lists_nothing() {
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(trust(&issuer).build().unwrap())
        .build()
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let router = Router::new()
        .route(
            "/x",
            get(move || async move {
                r.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .route_layer(require(Requirement::Roles {
            names: vec![],
            matching: Match::All,
        }))
        .layer(layer);
    let token = issuer.token().roles(["Orders.Admin"]).sign();
    let request = Request::get("/x")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let answer = send(router, request).await;
    let challenge =
        r#"Bearer realm="api", error="insufficient_scope", error_description="missing app role""#;
    assert_refusal(&answer, 403, Some(challenge), "missing app role");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler ran");
}

// Step-up: RFC 9470 for any issuer, Entra authentication contexts

#[tokio::test]
async fn answers_a_missing_acr_with_rfc9470_acr_values() {
    let f = Fixture::new().await;
    f.allows("/acr", &f.issuer.token().claim("acr", "myACR").sign())
        .await;
    let description = "a different authentication level is required";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", acr_values="myACR""#
    );
    for token in [
        f.issuer.token().claim("acr", "basic").sign(),
        f.issuer.token().sign(),
    ] {
        f.refuses("/acr", &token, 401, Some(&challenge), description)
            .await;
    }
}

#[tokio::test]
async fn answers_an_old_authentication_with_rfc9470_max_age() {
    let f = Fixture::new().await;
    f.allows(
        "/recent",
        &f.issuer.token().claim("auth_time", now() - 1).sign(),
    )
    .await;
    let description = "more recent authentication is required";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", max_age="5""#
    );
    for token in [
        f.issuer.token().claim("auth_time", now() - 60).sign(),
        f.issuer.token().sign(),
    ] {
        f.refuses("/recent", &token, 401, Some(&challenge), description)
            .await;
    }
}

#[tokio::test]
async fn a_runtime_acr_requirement_answers_as_the_marker_type_does() {
    let f = Fixture::new().await;
    f.allows("/layer/acr", &f.issuer.token().claim("acr", "myACR").sign())
        .await;
    let description = "a different authentication level is required";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", acr_values="myACR""#
    );
    for token in [
        f.issuer.token().claim("acr", "basic").sign(),
        f.issuer.token().sign(),
    ] {
        f.refuses("/layer/acr", &token, 401, Some(&challenge), description)
            .await;
    }
}

#[tokio::test]
async fn a_runtime_max_age_requirement_answers_as_the_marker_type_does() {
    let f = Fixture::new().await;
    f.allows(
        "/layer/recent",
        &f.issuer.token().claim("auth_time", now() - 1).sign(),
    )
    .await;
    let description = "more recent authentication is required";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", max_age="5""#
    );
    for token in [
        f.issuer.token().claim("auth_time", now() - 60).sign(),
        f.issuer.token().sign(),
    ] {
        f.refuses("/layer/recent", &token, 401, Some(&challenge), description)
            .await;
    }
}

#[tokio::test]
async fn answers_a_missing_auth_context_with_a_claims_challenge_or_rfc9470() {
    let f = Fixture::new().await;
    f.allows("/context", &f.issuer.token().acrs(["c1"]).sign())
        .await;
    let description = "a different authentication level is required";
    // A CAE-capable client: Microsoft's claims challenge (default authority).
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="{}/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19""#,
        f.issuer.issuer_url()
    );
    f.refuses(
        "/context",
        &f.issuer.token().cae_capable().acrs(["c2"]).sign(),
        401,
        Some(&challenge),
        description,
    )
    .await;
    // Any other client: RFC 9470.
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", acr_values="c1""#
    );
    f.refuses(
        "/context",
        &f.issuer.token().acrs(["c2"]).sign(),
        401,
        Some(&challenge),
        description,
    )
    .await;
}

#[tokio::test]
async fn requires_an_auth_context_named_at_run_time_like_the_compile_time_one() {
    // Authentication context ids differ per tenant: a route layer takes one from configuration.
    let f = Fixture::new().await;
    f.allows("/layer/context", &f.issuer.token().acrs(["c1"]).sign())
        .await;
    let description = "a different authentication level is required";
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="{}/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19""#,
        f.issuer.issuer_url()
    );
    f.refuses(
        "/layer/context",
        &f.issuer.token().cae_capable().sign(),
        401,
        Some(&challenge),
        description,
    )
    .await;
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", acr_values="c1""#
    );
    f.refuses(
        "/layer/context",
        &f.issuer.token().acrs(["c2"]).sign(),
        401,
        Some(&challenge),
        description,
    )
    .await;
}

// Revocation (CAE), with the handler's run counter

#[tokio::test]
async fn answers_a_revoked_token_with_a_claims_challenge_or_invalid_token() {
    use warden::cae::Revocation;
    let store: Arc<dyn warden::cae::RevocationStore> =
        Arc::new(warden::cae::InMemoryRevocations::default());
    let shared = store.clone();
    let f = Fixture::with(move |b| b.revocations(shared)).await;
    let before = now() as u64;
    store
        .revoke(Revocation::user("carol").issued_before(before))
        .await
        .unwrap();
    let issued = now() - 10;
    let cae = f
        .issuer
        .token()
        .subject("carol")
        .cae_capable()
        .scopes(["Orders.Read"])
        .issued_at(issued)
        .sign();
    let claims = base64::engine::general_purpose::STANDARD.encode(format!(
        r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{before}"}}}}}}"#
    ));
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="{}/authorize", error="insufficient_claims", claims="{claims}""#,
        f.issuer.issuer_url()
    );
    f.refuses("/scope", &cae, 401, Some(&challenge), "token revoked")
        .await;
    let plain = f
        .issuer
        .token()
        .subject("carol")
        .scopes(["Orders.Read"])
        .issued_at(issued)
        .sign();
    f.refuses(
        "/scope",
        &plain,
        401,
        Some(&invalid_token("token revoked")),
        "token revoked",
    )
    .await;
    // A token issued at or after the revocation instant passes.
    let fresh = f
        .issuer
        .token()
        .subject("carol")
        .scopes(["Orders.Read"])
        .issued_at(before as i64)
        .sign();
    f.allows("/scope", &fresh).await;
}

/// A revocation made now reaches the tokens of its own second (`iat` has whole seconds: one of
/// that second may have come first), and the claims challenge's loop still ends: a CAE client
/// asks the issuer for a token valid from the instant the challenge names, and it passes.
#[tokio::test]
async fn a_revocation_reaches_its_own_second_and_the_claims_challenge_loop_ends() {
    use warden::cae::{InMemoryRevocations, Revocation, RevocationStore};
    let issuer = FakeIssuer::start().await.unwrap();
    let store = Arc::new(InMemoryRevocations::default());
    // Keys by discovery, so the challenge names the issuer's authorization endpoint.
    let keys = JwksCache::builder(issuer.issuer_url()).build().unwrap();
    let app = warden_integration_tests::App::new(
        WardenLayer::builder()
            .issuer(
                warden_integration_tests::issuer_of(&issuer)
                    .keys(keys)
                    .build()
                    .unwrap(),
            )
            .revocations(store.clone())
            .build()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let token_endpoint = issuer.token_endpoint();
    // MSAL's token request: the client's capabilities, and the challenge's claims once it has
    // one, merged into one claims request.
    let fetch = |claims: serde_json::Value| {
        let http = http.clone();
        let token_endpoint = token_endpoint.clone();
        async move {
            let answer: serde_json::Value = http
                .post(&token_endpoint)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "loop-app"),
                    ("claims", &claims.to_string()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["access_token"].as_str().unwrap().to_owned()
        }
    };
    let capabilities = json!({"access_token":{"xms_cc":{"values":["cp1"]}}});
    let first = fetch(capabilities.clone()).await;
    assert_eq!(app.get_me_with(&first).await.status, 200);

    // The client's credentials leak: revoked now. Its token, issued in this second or before,
    // is refused with a claims challenge naming the next second.
    let second = now() as u64;
    store.revoke(Revocation::client("loop-app")).await.unwrap();
    let rule_instant = store
        .revoked_since(&app_principal(&issuer, second as i64).await)
        .expect("a token of the revocation's own second is revoked");
    assert!(
        (second + 1..=second + 2).contains(&rule_instant),
        "the instant {rule_instant} is the second after {second}"
    );
    let refused = app.get_me_with(&first).await;
    assert_eq!(refused.status, 401);
    let claims = base64::engine::general_purpose::STANDARD.encode(format!(
        r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{rule_instant}"}}}}}}"#
    ));
    assert_eq!(
        refused.challenge(),
        Some(
            format!(
                r#"Bearer realm="", authorization_uri="{}/authorize", error="insufficient_claims", claims="{claims}""#,
                issuer.issuer_url()
            )
            .as_str()
        )
    );

    // The client answers the challenge: its claims request, merged with its capabilities,
    // gets a token valid from that instant, which passes at once.
    let challenge: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&claims)
            .unwrap(),
    )
    .unwrap();
    let mut answer = capabilities.clone();
    answer["access_token"]["nbf"] = challenge["access_token"]["nbf"].clone();
    let renewed = fetch(answer).await;
    assert_eq!(app.get_me_with(&renewed).await.status, 200);

    // A client that ignores the challenge and simply asks again is refused only until the
    // revocation's second is over: the loop ends (bounded here at 50 tries, 5 s).
    let mut tries = 0;
    loop {
        tries += 1;
        let plain = fetch(capabilities.clone()).await;
        if app.get_me_with(&plain).await.status == 200 {
            break;
        }
        assert!(tries < 50, "a fresh token was refused for 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The principal of a `loop-app` token issued at `iat`, as the validator sees it.
async fn app_principal(issuer: &FakeIssuer, iat: i64) -> Principal {
    let validator = warden::Validator::builder()
        .issuer(
            warden_integration_tests::issuer_of(issuer)
                .jwks(issuer.jwks_json())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    validator
        .validate(
            &issuer
                .token()
                .app_only()
                .client("loop-app")
                .issued_at(iat)
                .sign(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn sends_no_claims_challenge_for_an_issuer_whose_authorization_endpoint_is_unknown() {
    // Static keys: no discovery, so no authorization endpoint to name. A CAE-capable client of
    // this (non-Entra) issuer gets the plain answers, never Microsoft's authority.
    use warden::cae::Revocation;
    let issuer = FakeIssuer::start().await.unwrap();
    let layer = WardenLayer::builder()
        .issuer(trust(&issuer).build().unwrap())
        .build()
        .unwrap();
    let before = now() as u64;
    layer
        .validator()
        .revocations()
        .revoke(Revocation::user("carol").issued_before(before))
        .await
        .unwrap();
    // A step-up on a route of this issuer: the RFC 9470 answer, not a claims challenge.
    let router = Router::new()
        .route(
            "/context",
            get(|_: RequireAuthContext<StrongAuth>| async { "ok" }),
        )
        .layer(layer.clone());
    let request = Request::get("/context")
        .header(
            "authorization",
            format!("Bearer {}", issuer.token().cae_capable().sign()),
        )
        .body(Body::empty())
        .unwrap();
    let answer = send(router, request).await;
    let description = "a different authentication level is required";
    let challenge = format!(
        r#"Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", acr_values="c1""#
    );
    assert_refusal(&answer, 401, Some(&challenge), description);
    let app = warden_integration_tests::App::new(layer);
    let revoked = issuer
        .token()
        .subject("carol")
        .cae_capable()
        .issued_at(now() - 10)
        .sign();
    app.assert_refused(
        &revoked,
        401,
        &invalid_token("token revoked"),
        "token revoked",
    )
    .await;
}

#[tokio::test]
async fn a_revocation_catches_every_token_of_its_target_whatever_else_the_token_carries() {
    use warden::cae::Revocation;
    let store: Arc<dyn warden::cae::RevocationStore> =
        Arc::new(warden::cae::InMemoryRevocations::default());
    let shared = store.clone();
    let f = Fixture::with(move |b| b.revocations(shared)).await;
    let before = now() as u64;
    let issued = now() - 10;
    store
        .revoke(Revocation::user("dave").issued_before(before))
        .await
        .unwrap();
    store
        .revoke(Revocation::token("token-7").issued_before(before))
        .await
        .unwrap();
    store
        .revoke(Revocation::client("leaky-app").issued_before(before))
        .await
        .unwrap();
    store
        .revoke(Revocation::email("Gail@Example.com").issued_before(before))
        .await
        .unwrap();
    let token = || f.issuer.token().scopes(["Orders.Read"]).issued_at(issued);
    let revoked = Some(invalid_token("token revoked"));
    for (case, token) in [
        // The user, by `sub`, whatever `oid` the generic token also carries; and by `oid`.
        (
            "sub beside an oid",
            token().subject("dave").claim("oid", "someone-else").sign(),
        ),
        (
            "oid beside a sub",
            token().subject("x").claim("oid", "dave").sign(),
        ),
        // The token, by `jti` or by `uti`.
        (
            "jti beside a uti",
            token().claim("jti", "token-7").claim("uti", "u").sign(),
        ),
        ("uti beside a jti", token().claim("uti", "token-7").sign()),
        // The client, by any of `client_id`, `azp`, `appid`.
        (
            "client_id",
            token().client("leaky-app").claim("azp", "other").sign(),
        ),
        (
            "azp beside a client_id",
            token().claim("azp", "leaky-app").sign(),
        ),
        (
            "appid beside a client_id",
            token().claim("appid", "leaky-app").sign(),
        ),
        // The verified email, in any case: OIDC's email_verified, or Entra's xms_edov.
        (
            "email_verified",
            token()
                .claim("email", "GAIL@example.COM")
                .claim("email_verified", true)
                .sign(),
        ),
        (
            "xms_edov",
            token()
                .claim("email", "gail@example.com")
                .claim("xms_edov", true)
                .sign(),
        ),
    ] {
        let before_runs = f.runs.load(Ordering::SeqCst);
        let answer = f.get("/scope", &token).await;
        assert_refusal(&answer, 401, revoked.as_deref(), "token revoked");
        assert_eq!(
            f.runs.load(Ordering::SeqCst),
            before_runs,
            "{case}: the handler ran"
        );
    }
    f.allows("/scope", &token().subject("erin").sign()).await;
    // An address its issuer did not verify names nobody: such a token is not caught.
    for unverified in [
        token().claim("email", "gail@example.com").sign(),
        token()
            .claim("email", "gail@example.com")
            .claim("email_verified", false)
            .sign(),
        token()
            .claim("email", "gail@example.com")
            .claim("email_verified", "yes")
            .sign(),
    ] {
        f.allows("/scope", &unverified).await;
    }
    // A tenant-scoped rule: the token's `tid`, compared without regard to case, whatever the
    // issuer's profile; another tenant's token of the same user passes.
    store
        .revoke(
            Revocation::user("frank")
                .in_tenant("7A1E0B5C-3D4F-4E8A-9B2C-1D2E3F4A5B6C")
                .issued_before(before),
        )
        .await
        .unwrap();
    let in_tenant = token()
        .subject("frank")
        .claim("tid", "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c")
        .sign();
    f.refuses(
        "/scope",
        &in_tenant,
        401,
        revoked.as_deref(),
        "token revoked",
    )
    .await;
    let elsewhere = token()
        .subject("frank")
        .claim("tid", "0c9d8e7f-6a5b-4c3d-8e1f-2a3b4c5d6e7f")
        .sign();
    f.allows("/scope", &elsewhere).await;
}
