//! Access tokens shaped as five providers issue them (docs/providers.md), each validated with
//! the configuration that document recommends, and refused by the one it warns against. The
//! headers and claims follow each provider's documentation; the fake issuer signs them, so only
//! the shape is the provider's.

use serde_json::json;
use warden::config::Profile;
use warden::error::InvalidToken;
use warden::{Error, Issuer, Validator};
use warden_testing::{FakeIssuer, TokenBuilder};

/// A validator trusting the fake issuer, for `audience`, with `profile`.
fn validator(issuer: &FakeIssuer, audience: &str, profile: Profile) -> Validator {
    Validator::builder()
        .issuer(
            Issuer::builder(issuer.issuer_url())
                .audience(audience)
                .profile(profile)
                .jwks(issuer.jwks_json())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// A token with only `claims` (and the fake issuer's `iss`, `exp`, `iat`), and `typ` as given
/// (`None`: no `typ` header).
fn shaped(issuer: &FakeIssuer, typ: Option<&str>, claims: serde_json::Value) -> String {
    let mut token: TokenBuilder<'_> = issuer.token();
    let given = claims.as_object().unwrap();
    for name in [
        "aud",
        "sub",
        "scope",
        "scp",
        "client_id",
        "jti",
        "azp",
        "roles",
        "tid",
        "oid",
    ] {
        if !given.contains_key(name) {
            token = token.without_claim(name);
        }
    }
    token = match typ {
        Some(typ) => token.header("typ", typ),
        None => token.without_header("typ"),
    };
    for (name, value) in given {
        token = token.claim(name.clone(), value.clone());
    }
    token.sign()
}

fn scopes(principal: &warden::Principal) -> Vec<String> {
    principal.scopes().map(str::to_owned).collect()
}

#[tokio::test]
async fn keycloak_with_an_audience_mapper() {
    let issuer = FakeIssuer::start().await.unwrap();
    let token = shaped(
        &issuer,
        Some("JWT"),
        json!({"sub": "7c1e0b5c-0000-4000-8000-000000000001", "aud": "orders-api",
               "azp": "orders-spa", "typ": "Bearer", "scope": "openid profile orders:read",
               "realm_access": {"roles": ["default-roles-shop"]}, "jti": "b1f3e1c2"}),
    );
    let principal = validator(&issuer, "orders-api", Profile::JwtAccessToken)
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(scopes(&principal), ["openid", "profile", "orders:read"]);
    assert_eq!(principal.client_id(), Some("orders-spa"));
    // Without the mapper Keycloak's `aud` is `account`: not this API's.
    let default_aud = shaped(
        &issuer,
        Some("JWT"),
        json!({"sub": "7c1e0b5c-0000-4000-8000-000000000001", "aud": "account", "azp": "orders-spa"}),
    );
    assert!(matches!(
        validator(&issuer, "orders-api", Profile::JwtAccessToken)
            .validate(&default_aud)
            .await,
        Err(Error::InvalidToken(InvalidToken::WrongAudience))
    ));
}

#[tokio::test]
async fn the_default_profile_refuses_jwt_typed_tokens_and_names_the_one_to_choose() {
    let issuer = FakeIssuer::start().await.unwrap();
    let token = shaped(
        &issuer,
        Some("JWT"),
        json!({"sub": "u1", "aud": "orders-api", "azp": "orders-spa", "scope": "orders:read"}),
    );
    match validator(&issuer, "orders-api", Profile::Rfc9068)
        .validate(&token)
        .await
    {
        Err(Error::InvalidToken(invalid @ InvalidToken::WrongType)) => {
            assert!(
                invalid
                    .remedy()
                    .unwrap()
                    .contains("Profile::JwtAccessToken")
            );
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
}

#[tokio::test]
async fn auth0_with_and_without_its_rfc_9068_profile() {
    let issuer = FakeIssuer::start().await.unwrap();
    let api = "https://api.orders.example";
    let userinfo = format!("{}/userinfo", issuer.issuer_url());
    // The tenant's "RFC 9068" access token profile: typ at+jwt, client_id and jti.
    let rfc9068 = shaped(
        &issuer,
        Some("at+jwt"),
        json!({"sub": "auth0|5f7c8ec7c33c6c004bbafe82", "aud": [api, userinfo],
               "client_id": "k5u3o2fiAA8XweXEEX604KCwCjzjtMU6", "jti": "6f0d1c2a",
               "scope": "openid read:orders", "permissions": ["read:orders"]}),
    );
    let principal = validator(&issuer, api, Profile::Rfc9068)
        .validate(&rfc9068)
        .await
        .unwrap();
    assert_eq!(scopes(&principal), ["openid", "read:orders"]);
    // The "Auth0" profile: typ JWT, azp instead of client_id.
    let auth0 = shaped(
        &issuer,
        Some("JWT"),
        json!({"sub": "auth0|5f7c8ec7c33c6c004bbafe82", "aud": [api, userinfo],
               "azp": "k5u3o2fiAA8XweXEEX604KCwCjzjtMU6", "scope": "openid read:orders"}),
    );
    let principal = validator(&issuer, api, Profile::JwtAccessToken)
        .validate(&auth0)
        .await
        .unwrap();
    assert_eq!(
        principal.client_id(),
        Some("k5u3o2fiAA8XweXEEX604KCwCjzjtMU6")
    );
}

#[tokio::test]
async fn okta_untyped_with_a_scope_array() {
    let issuer = FakeIssuer::start().await.unwrap();
    let token = shaped(
        &issuer,
        None,
        json!({"ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
               "aud": "api://default", "cid": "0oa1hm4cfhhfFTTSS0h8", "uid": "00u1h3vvp6u",
               "scp": ["orders.read", "openid"], "sub": "alice@example.com"}),
    );
    let principal = validator(&issuer, "api://default", Profile::JwtAccessToken)
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(scopes(&principal), ["orders.read", "openid"]);
    // RFC 9068 requires a typ: the default profile refuses it.
    assert!(matches!(
        validator(&issuer, "api://default", Profile::Rfc9068)
            .validate(&token)
            .await,
        Err(Error::InvalidToken(InvalidToken::WrongType))
    ));
}

#[tokio::test]
async fn google_identity_platform_tokens_name_the_project() {
    let issuer = FakeIssuer::start().await.unwrap();
    let token = shaped(
        &issuer,
        Some("JWT"),
        json!({"aud": "orders-prod", "sub": "Vd9aXk8tV2Q1", "user_id": "Vd9aXk8tV2Q1",
               "auth_time": 1_796_000_000, "firebase": {"sign_in_provider": "google.com"}}),
    );
    let principal = validator(&issuer, "orders-prod", Profile::JwtAccessToken)
        .validate(&token)
        .await
        .unwrap();
    assert_eq!(principal.subject(), "Vd9aXk8tV2Q1");
    assert_eq!(scopes(&principal), Vec::<String>::new());
}

#[tokio::test]
async fn amazon_cognito_access_tokens_name_their_app_client_in_place_of_an_audience() {
    let issuer = FakeIssuer::start().await.unwrap();
    let app_client = "3n4b5urk1ft4fl3mg5e62d9ado";
    let token = shaped(
        &issuer,
        None,
        json!({"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "token_use": "access",
               "client_id": app_client, "scope": "orders/read",
               "username": "alice", "jti": "2b0f7c2a", "auth_time": 1_796_000_000}),
    );
    let cognito = validator(&issuer, app_client, Profile::Cognito);
    let principal = cognito.validate(&token).await.unwrap();
    assert_eq!(scopes(&principal), ["orders/read"]);
    assert_eq!(principal.client_id(), Some(app_client));
    // Another app client of the same pool: not this API's.
    let other = validator(&issuer, "7f0e2d9c1b3a5e6f4d8c2b1a0e", Profile::Cognito);
    assert!(matches!(
        other.validate(&token).await,
        Err(Error::InvalidToken(InvalidToken::WrongAudience))
    ));
    // Its ID token: `token_use: id`.
    let id_token = shaped(
        &issuer,
        None,
        json!({"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "token_use": "id",
               "client_id": app_client, "aud": app_client}),
    );
    assert!(matches!(
        cognito.validate(&id_token).await,
        Err(Error::InvalidToken(InvalidToken::WrongTokenKind))
    ));
    // The generic JWT profile requires an audience the access token does not have.
    assert!(matches!(
        validator(&issuer, app_client, Profile::JwtAccessToken)
            .validate(&token)
            .await,
        Err(Error::InvalidToken(InvalidToken::MissingClaim {
            claim: "aud"
        }))
    ));
}

#[tokio::test]
async fn an_untyped_id_token_is_not_taken_for_an_access_token() {
    let issuer = FakeIssuer::start().await.unwrap();
    let validate = |token: String| {
        let validator = validator(&issuer, "0oa1hm4cfhhfFTTSS0h8", Profile::JwtAccessToken);
        async move { validator.validate(&token).await }
    };
    // Okta's ID token: no typ, the client as audience, a nonce.
    let okta_id = shaped(
        &issuer,
        None,
        json!({"aud": "0oa1hm4cfhhfFTTSS0h8", "sub": "00u1h3vvp6u", "nonce": "n-0S6_WzA2Mj",
               "at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}),
    );
    assert!(matches!(
        validate(okta_id).await,
        Err(Error::InvalidToken(InvalidToken::WrongTokenKind))
    ));
    // Cognito's ID token: no typ, `token_use: id`.
    let cognito_id = shaped(
        &issuer,
        None,
        json!({"aud": "0oa1hm4cfhhfFTTSS0h8", "sub": "aaaaaaaa-bbbb", "token_use": "id"}),
    );
    assert!(matches!(
        validate(cognito_id).await,
        Err(Error::InvalidToken(InvalidToken::WrongTokenKind))
    ));
}
