//! The complete example test of docs/testing.md, compiled and run so the guide stays true.

use axum::{Router, body::Body, routing::get};
use http::Request;
use tower::ServiceExt;
use warden::{Issuer, WardenLayer, authz::RequireScope, keys::JwksCache};
use warden_testing::FakeIssuer;

warden::scopes! { pub OrdersRead = "Orders.Read"; }

fn app(warden: WardenLayer) -> Router {
    Router::new()
        .route("/orders", get(|_: RequireScope<OrdersRead>| async { "[]" }))
        .layer(warden)
}

#[tokio::test]
async fn orders_need_the_read_scope() {
    let issuer = FakeIssuer::start().await.unwrap();
    // The same wiring as production: discovery + JWKS, over HTTP to the fake.
    let keys = JwksCache::builder(issuer.issuer_url()).build().unwrap();
    let warden = WardenLayer::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(issuer.audience())
                .keys(keys)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let call = |token: String| {
        app(warden.clone()).oneshot(
            Request::get("/orders")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
    };

    let ok = call(issuer.token().scopes(["Orders.Read"]).sign())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let denied = call(issuer.token().scopes(["Orders.Write"]).sign())
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(
        denied.headers()["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", scope="Orders.Read""#
    );
}
