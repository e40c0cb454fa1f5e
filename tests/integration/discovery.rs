//! RFC 9728 protected-resource metadata and RFC 8707 resource indicators: the challenges name the
//! metadata, the metadata is served without a token, and tokens are bound to the resource by an
//! exact audience.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use warden::WardenLayer;
use warden::authz::RequireScope;
use warden::metadata::ProtectedResource;
use warden_integration_tests::{HandlerRuns, assert_refusal, issuer_of, send, shared_issuer};

warden::scopes! {
    pub FilesRead = "files:read";
    pub FilesWrite = "files:write";
}

const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn layer() -> WardenLayer {
    WardenLayer::builder()
        .issuer(
            issuer_of(shared_issuer())
                .audience(RESOURCE)
                .jwks(shared_issuer().jwks_json())
                .build()
                .unwrap(),
        )
        .protected_resource(
            ProtectedResource::new(RESOURCE)
                .scopes::<(FilesRead, FilesWrite)>()
                .name("Files"),
        )
        .build()
        .unwrap()
}

/// `/files` needs `files:read`, `/files/write` needs `files:write`; the metadata is mounted
/// outside the layer.
fn app(layer: WardenLayer) -> (Router, HandlerRuns) {
    let runs = HandlerRuns::default();
    let (read, write) = (runs.clone(), runs.clone());
    let metadata = layer.resource_metadata().expect("configured").clone();
    let router = Router::new()
        .route(
            "/files",
            get(move |_: RequireScope<FilesRead>| async move {
                read.hit();
                "files"
            }),
        )
        .route(
            "/files/write",
            get(move |_: RequireScope<FilesWrite>| async move {
                write.hit();
                "written"
            }),
        )
        .layer(layer)
        .route_service(metadata.path(), metadata.clone());
    (router, runs)
}

fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

fn token_for(audience: serde_json::Value, scopes: &[&str]) -> String {
    shared_issuer()
        .token()
        .claim("aud", audience)
        .scopes(scopes.iter().copied())
        .sign()
}

#[tokio::test]
async fn every_401_and_403_names_the_metadata_and_nothing_else_does() {
    let (router, runs) = app(layer());

    let answer = send(router.clone(), get_with("/files", None)).await;
    assert_refusal(
        &answer,
        401,
        Some(&format!(
            r#"Bearer realm="api", resource_metadata="{METADATA}""#
        )),
        "no bearer token",
    );

    let answer = send(router.clone(), get_with("/files", Some("not.a.token"))).await;
    assert_refusal(
        &answer,
        401,
        Some(&format!(
            r#"Bearer realm="api", error="invalid_token", error_description="malformed token", resource_metadata="{METADATA}""#
        )),
        "malformed token",
    );

    let reader = token_for(RESOURCE.into(), &["files:read"]);
    let answer = send(router.clone(), get_with("/files/write", Some(&reader))).await;
    assert_refusal(
        &answer,
        403,
        Some(&format!(
            r#"Bearer realm="api", error="insufficient_scope", scope="files:write", resource_metadata="{METADATA}""#
        )),
        "missing scope",
    );

    // A malformed request (400) carries no resource_metadata: RFC 9728 §5.1 is about obtaining
    // a token, which would not help.
    let request = Request::get("/files")
        .header("authorization", "Bearer a b")
        .body(Body::empty())
        .unwrap();
    let answer = send(router.clone(), request).await;
    assert_refusal(
        &answer,
        400,
        Some(
            r#"Bearer realm="api", error="invalid_request", error_description="malformed authorization header""#,
        ),
        "malformed authorization header",
    );
    assert_eq!(runs.count(), 0, "a handler ran");

    let answer = send(router, get_with("/files", Some(&reader))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(runs.count(), 1);
}

#[tokio::test]
async fn serves_the_metadata_without_a_token_cacheable() {
    let (router, _) = app(layer());
    let path = "/.well-known/oauth-protected-resource/mcp";
    let answer = send(router.clone(), get_with(path, None)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "public, max-age=3600");
    assert_eq!(
        answer.body,
        serde_json::json!({
            "resource": RESOURCE,
            "authorization_servers": [shared_issuer().issuer_url()],
            "scopes_supported": ["files:read", "files:write"],
            "bearer_methods_supported": ["header"],
            // DPoP is accepted (the default); not required, so that member is omitted.
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "PS256", "RS256", "EdDSA"],
            "resource_name": "Files",
        })
    );
    // An API whose issuer requires DPoP says so; a bearer-only API names no DPoP algorithm.
    let required = WardenLayer::builder()
        .issuer(
            issuer_of(shared_issuer())
                .audience(RESOURCE)
                .jwks(shared_issuer().jwks_json())
                .dpop(warden::config::DpopPolicy::Required)
                .build()
                .unwrap(),
        )
        .protected_resource(ProtectedResource::new(RESOURCE))
        .build()
        .unwrap();
    let document: serde_json::Value =
        serde_json::from_slice(required.resource_metadata().unwrap().document()).unwrap();
    assert_eq!(document["dpop_bound_access_tokens_required"], true);
    let bearer_only = WardenLayer::builder()
        .issuer(
            issuer_of(shared_issuer())
                .jwks(shared_issuer().jwks_json())
                .build()
                .unwrap(),
        )
        .protected_resource(ProtectedResource::new(RESOURCE))
        .bearer_only()
        .build()
        .unwrap();
    let document: serde_json::Value =
        serde_json::from_slice(bearer_only.resource_metadata().unwrap().document()).unwrap();
    assert!(document.get("dpop_signing_alg_values_supported").is_none());
    assert!(document.get("dpop_bound_access_tokens_required").is_none());

    let head = Request::head(path).body(Body::empty()).unwrap();
    let answer = send(router.clone(), head).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["cache-control"], "public, max-age=3600");

    let post = Request::post(path).body(Body::empty()).unwrap();
    let answer = send(router, post).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn a_token_is_for_this_resource_only_by_its_exact_audience() {
    let (router, runs) = app(layer());
    // RFC 8707: the resource URI as an accepted audience, compared exactly.
    for audience in [
        serde_json::json!("https://mcp.example.com"),
        serde_json::json!("https://mcp.example.com/mcp/"),
        serde_json::json!("HTTPS://mcp.example.com/mcp"),
        serde_json::json!(["https://other.example/mcp"]),
    ] {
        let token = token_for(audience.clone(), &["files:read"]);
        let answer = send(router.clone(), get_with("/files", Some(&token))).await;
        assert_refusal(
            &answer,
            401,
            Some(&format!(
                r#"Bearer realm="api", error="invalid_token", error_description="wrong audience", resource_metadata="{METADATA}""#
            )),
            "wrong audience",
        );
        assert_eq!(runs.count(), 0, "{audience}");
    }
    let token = token_for(
        serde_json::json!(["https://x.example", RESOURCE]),
        &["files:read"],
    );
    let answer = send(router, get_with("/files", Some(&token))).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn entra_names_each_tenants_v2_endpoint_and_multi_tenant_the_common_one() {
    use warden::entra::Entra;
    let tenant = "7a1e0b5c-3d4f-4e8a-9b2c-1d2e3f4a5b6c";
    let keys = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let servers = |entra: Entra| {
        let layer = WardenLayer::builder()
            .entra(entra)
            .protected_resource(ProtectedResource::new("https://api.contoso.com"))
            .build()
            .unwrap();
        let metadata = layer.resource_metadata().unwrap();
        let document: serde_json::Value = serde_json::from_slice(metadata.document()).unwrap();
        document["authorization_servers"].clone()
    };
    let keyed = || {
        Entra::builder()
            .audience("api://contoso-api")
            .keys(warden::keys::StaticKeys::from_jwks(keys).unwrap())
    };
    // v1 and v2 tokens of one tenant: one authorization server, the v2.0 endpoint.
    let single = keyed()
        .tenant(tenant)
        .versions([
            warden::entra::TokenVersion::V1,
            warden::entra::TokenVersion::V2,
        ])
        .build()
        .unwrap();
    assert_eq!(
        servers(single),
        serde_json::json!([format!("https://login.microsoftonline.com/{tenant}/v2.0")])
    );
    let any = keyed().any_tenant().build().unwrap();
    assert_eq!(
        servers(any),
        serde_json::json!(["https://login.microsoftonline.com/common/v2.0"])
    );
}
