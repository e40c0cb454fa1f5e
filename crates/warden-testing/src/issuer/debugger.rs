//! The token debugger, `GET /` of the fake issuer: mint a token from a form (profile, claims,
//! lifetime, algorithm, an attack variant), see it decoded, and check it against a
//! warden-protected URL on loopback. Server-rendered HTML and a little JavaScript, nothing
//! fetched from elsewhere: it works without internet.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::grants::oauth_error;
use super::pages::{STYLE, escape, script_string};
use crate::state::{Mode, Shared};
use crate::token::{KeyEncoding, TokenBuilder};
use warden::Algorithm;

/// The attack variants the form offers, as (value, label).
const ATTACKS: [(&str, &str); 8] = [
    ("", "none: a valid token"),
    ("expired", "expired an hour ago"),
    ("alg-none", "alg: none, no signature"),
    ("tampered", "payload changed after signing"),
    ("unpublished-key", "signed by a key not in the JWKS"),
    ("hs256-public-key", "HS256 keyed with the public key"),
    ("embedded-jwk", "its own key embedded in the header (jwk)"),
    ("wrong-audience", "another API's audience"),
];

/// `GET /`: the page.
pub(super) async fn page(State(state): State<Arc<Shared>>) -> Html<String> {
    let profiles = match state.mode {
        Mode::Oidc => r#"<option value="generic">Generic OpenID Connect (typ at+jwt)</option>"#,
        Mode::Entra { .. } => {
            r#"<option value="entra-v2">Microsoft Entra ID, v2.0 token</option><option value="entra-v1">Microsoft Entra ID, v1.0 token</option>"#
        }
    };
    let attacks: String = ATTACKS
        .iter()
        .map(|(value, label)| format!(r#"<option value="{value}">{label}</option>"#))
        .collect();
    let example = match state.mode {
        Mode::Oidc => json!({"sub": "alice", "scope": "orders.read"}),
        Mode::Entra { .. } => json!({"scp": "Orders.Read", "name": "Alice"}),
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Token debugger: warden fake issuer</title><style>{STYLE} main{{max-width:56rem}}</style></head>
<body><main>
<h1>Token debugger</h1>
<p class="hint">Issuer <code>{issuer}</code>, default audience <code>{audience}</code>.
Keys at <code>{jwks}</code>; the authorization endpoint signs people in with a login page.</p>
<form id="mint">
<fieldset><legend>Mint a token</legend>
<label for="profile">Profile</label><select id="profile" name="profile">{profiles}</select>
<label for="claims">Claims (JSON object, over the profile's defaults)</label>
<textarea id="claims" name="claims" rows="4">{example}</textarea>
<label for="lifetime">Lifetime in seconds</label><input id="lifetime" name="lifetime" type="number" value="3600" min="1">
<label for="algorithm">Algorithm</label><select id="algorithm" name="algorithm">
<option>RS256</option><option>PS256</option><option>ES256</option><option>ES384</option><option>EdDSA</option></select>
<label for="attack">Attack variant</label><select id="attack" name="attack">{attacks}</select>
</fieldset>
<button type="submit" id="mint-button">Mint</button>
</form>
<p class="error" id="mint-error" role="alert"></p>
<h2>Token</h2><pre id="token"></pre>
<h2>Decoded</h2><pre id="decoded"></pre>
<form id="check">
<fieldset><legend>Check it against a warden-protected URL (loopback only)</legend>
<label for="url">URL</label><input id="url" name="url" placeholder="http://127.0.0.1:3000/orders">
</fieldset>
<button type="submit" id="check-button">Check</button>
</form>
<pre id="result"></pre>
</main>
<script>
const root = {root};
const post = (path, body) => fetch(path, {{method: 'POST', headers: {{'content-type': 'application/json'}}, body: JSON.stringify(body)}}).then(r => r.json());
let token = '';
document.getElementById('mint').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const f = event.target.elements;
  const answer = await post(root + '/_fake/debugger/mint', {{profile: f.profile.value, claims: f.claims.value,
    lifetime_secs: Number(f.lifetime.value), algorithm: f.algorithm.value, attack: f.attack.value}});
  document.getElementById('mint-error').textContent = answer.error_description || '';
  token = answer.token || '';
  document.getElementById('token').textContent = token;
  document.getElementById('decoded').textContent = answer.token ? JSON.stringify({{header: answer.header, claims: answer.claims}}, null, 2) : '';
}});
document.getElementById('check').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const answer = await post(root + '/_fake/debugger/check', {{url: event.target.elements.url.value, token}});
  document.getElementById('result').textContent = answer.error_description
    ? answer.error_description
    : `${{answer.status}}\nWWW-Authenticate: ${{answer.www_authenticate || '(none)'}}\n\n${{answer.body}}`;
}});
</script>
</body></html>"#,
        issuer = escape(&state.token_issuer()),
        root = script_string(&state.path_prefix()),
        audience = escape(&state.audience),
        jwks = escape(&format!(
            "{}/jwks or the tenant's discovery/v2.0/keys",
            state.base
        )),
        example = escape(&serde_json::to_string_pretty(&example).unwrap_or_default()),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MintForm {
    profile: String,
    /// JSON text, as typed.
    claims: String,
    lifetime_secs: u64,
    algorithm: String,
    attack: String,
}

fn bad(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// `POST /_fake/debugger/mint`: the token, its header and its claims.
pub(super) async fn mint(State(state): State<Arc<Shared>>, body: String) -> Response {
    let Ok(form) = serde_json::from_str::<MintForm>(&body) else {
        return bad("the form is not what the page sends");
    };
    let claims = match serde_json::from_str::<Value>(&form.claims) {
        Ok(Value::Object(claims)) => claims,
        _ => return bad("the claims must be a JSON object"),
    };
    let algorithm = match form.algorithm.as_str() {
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return bad("unknown algorithm"),
    };
    let mut builder = TokenBuilder::new(&state).lifetime(Duration::from_secs(
        form.lifetime_secs.clamp(1, 86_400 * 30),
    ));
    if form.profile == "entra-v1" {
        builder = builder.v1();
    }
    // A key of the algorithm, published, unless the issuer signs with it already.
    if state.key(None).map(|k| k.algorithm()) != Ok(algorithm) {
        let kid = format!("debugger-{}", algorithm.as_str().to_ascii_lowercase());
        if state.add_key(&kid, algorithm).is_err() {
            return bad("the fake issuer cannot make a key for this algorithm");
        }
        builder = builder.key(kid).algorithm(algorithm);
    }
    for (name, value) in claims {
        builder = builder.claim(name, value);
    }
    let token = match form.attack.as_str() {
        "" => builder.try_sign().ok(),
        "expired" => builder
            .expires_at(crate::clock::unix_now() - 3600)
            .try_sign()
            .ok(),
        "alg-none" => Some(builder.sign_unsigned("none")),
        "tampered" => Some(builder.sign_tampered()),
        "unpublished-key" => Some(builder.sign_with_unpublished_key()),
        "hs256-public-key" => Some(builder.sign_hs256_with_public_key(KeyEncoding::SpkiPem)),
        "embedded-jwk" => Some(builder.sign_with_embedded_jwk()),
        "wrong-audience" => builder.audience("api://someone-else").try_sign().ok(),
        _ => return bad("unknown attack variant"),
    };
    let Some(token) = token else {
        return bad("the fake issuer cannot sign this token");
    };
    let part = |index: usize| -> Value {
        token
            .split('.')
            .nth(index)
            .and_then(|part| {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    Json(json!({"token": token, "header": part(0), "claims": part(1)})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckForm {
    url: String,
    token: String,
}

/// `POST /_fake/debugger/check`: calls `url` (loopback only) with the token, and reports the
/// status, `WWW-Authenticate` and the start of the body.
pub(super) async fn check(headers: axum::http::HeaderMap, body: String) -> Response {
    // JSON only: a cross-site form cannot send it without a preflight.
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return bad("the check takes application/json");
    }
    let Ok(form) = serde_json::from_str::<CheckForm>(&body) else {
        return bad("the form is not what the page sends");
    };
    let loopback = reqwest::Url::parse(&form.url).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    });
    if !loopback {
        return bad("only a loopback URL (127.0.0.1, localhost, [::1]) is checked");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let Ok(response) = client.get(&form.url).bearer_auth(&form.token).send().await else {
        return bad("the URL did not answer");
    };
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // At most 8 KB read, 2,000 characters shown.
    let mut response = response;
    let mut bytes = Vec::new();
    while bytes.len() < 8192 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let body: String = String::from_utf8_lossy(&bytes).chars().take(2000).collect();
    let mut answer = Map::new();
    answer.insert("status".into(), json!(status));
    answer.insert("www_authenticate".into(), json!(challenge));
    answer.insert("body".into(), json!(body));
    Json(Value::Object(answer)).into_response()
}
