//! The control page, `GET /_fake`, and its JSON: the keys (which signs, which the JWKS
//! publishes), each endpoint's requests and fault, forms to set and clear faults and to rotate
//! the keys. It uses the same HTTP API a test in any language uses: `POST` and `DELETE
//! /_fake/faults/{endpoint}`, `POST /_fake/keys/rotate`, `GET /_fake/state`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::pages::{STYLE, escape, script_string};
use crate::state::{Endpoint, Shared, lock};

const ENDPOINTS: [(&str, Endpoint); 4] = [
    ("discovery", Endpoint::Discovery),
    ("jwks", Endpoint::Jwks),
    ("token", Endpoint::Token),
    ("managed_identity", Endpoint::ManagedIdentity),
];

/// `GET /_fake/state`.
pub(super) async fn state_json(State(state): State<Arc<Shared>>) -> Json<Value> {
    Json(snapshot(&state))
}

fn snapshot(state: &Shared) -> Value {
    let ring = state.ring();
    let keys: Vec<Value> = ring
        .keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.key.kid(),
                "algorithm": k.key.algorithm().as_str(),
                "published": k.published,
                "signing": k.key.kid() == ring.signing,
            })
        })
        .collect();
    drop(ring);
    let faults = state.faults();
    let endpoints: Vec<Value> = ENDPOINTS
        .iter()
        .map(|(name, endpoint)| {
            json!({
                "endpoint": name,
                "requests": state.hits[endpoint.index()].load(Ordering::SeqCst),
                "fault": faults.get(endpoint).map(|fault| format!("{fault:?}")),
            })
        })
        .collect();
    drop(faults);
    let clients: Vec<String> = lock(&state.clients).keys().cloned().collect();
    json!({"keys": keys, "endpoints": endpoints, "clients": clients})
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateRequest {
    algorithm: Option<String>,
}

/// `POST /_fake/keys/rotate` with `{"algorithm": "ES256"}` (default the signing key's): a new
/// key published and signing, the old one gone from the JWKS. 200 with `{"kid": …}`.
pub(super) async fn rotate(State(state): State<Arc<Shared>>, body: String) -> Response {
    let request: RotateRequest = if body.trim().is_empty() {
        RotateRequest::default()
    } else {
        match serde_json::from_str(&body) {
            Ok(request) => request,
            Err(_) => return StatusCode::UNPROCESSABLE_ENTITY.into_response(),
        }
    };
    let algorithm = match request.algorithm.as_deref() {
        None => match state.key(None) {
            Ok(key) => key.algorithm(),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Some(name) => match name.parse::<warden::Algorithm>() {
            Ok(algorithm) => algorithm,
            Err(_) => return StatusCode::UNPROCESSABLE_ENTITY.into_response(),
        },
    };
    match state.rotate(algorithm) {
        Ok(kid) => Json(json!({"kid": kid})).into_response(),
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    }
}

/// `GET /_fake`: the page.
pub(super) async fn page(State(state): State<Arc<Shared>>) -> Html<String> {
    let snapshot = snapshot(&state);
    let keys: String = snapshot["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|key| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(key["kid"].as_str().unwrap_or_default()),
                escape(key["algorithm"].as_str().unwrap_or_default()),
                if key["published"] == true {
                    "published"
                } else {
                    "retired"
                },
                if key["signing"] == true {
                    "signing"
                } else {
                    ""
                },
            )
        })
        .collect();
    let endpoints: String = snapshot["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|endpoint| {
            let name = endpoint["endpoint"].as_str().unwrap_or_default();
            format!(
                "<tr><td>{name}</td><td>{}</td><td id=\"fault-{name}\">{}</td>\
                 <td><button type=\"button\" data-clear=\"{name}\">Clear</button></td></tr>",
                endpoint["requests"],
                escape(endpoint["fault"].as_str().unwrap_or("none")),
            )
        })
        .collect();
    let options: String = ENDPOINTS
        .iter()
        .map(|(name, _)| format!(r#"<option value="{name}">{name}</option>"#))
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Faults and keys: warden fake issuer</title><style>{STYLE} main{{max-width:56rem}} table{{border-collapse:collapse;width:100%}} td,th{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d5d9e0}}</style></head>
<body><main>
<h1>Faults and keys</h1>
<p class="hint">Issuer <code>{issuer}</code>. The same as JSON: <code>GET /_fake/state</code>.</p>
<h2>Keys</h2>
<table><tr><th>kid</th><th>algorithm</th><th>JWKS</th><th></th></tr>{keys}</table>
<form id="rotate"><label for="algorithm">Rotate to a new key</label>
<select id="algorithm" name="algorithm"><option value="RS256">RS256</option><option value="PS256">PS256</option><option value="ES256">ES256</option><option value="ES384">ES384</option><option value="EdDSA">EdDSA</option></select>
<button type="submit" id="rotate-button">Rotate</button></form>
<h2>Endpoints</h2>
<table><tr><th>endpoint</th><th>requests</th><th>fault</th><th></th></tr>{endpoints}</table>
<form id="fault"><fieldset><legend>Set a fault</legend>
<label for="endpoint">Endpoint</label><select id="endpoint" name="endpoint">{options}</select>
<label for="kind">Fault</label><select id="kind" name="kind">
<option value="status">an HTTP status</option><option value="delay_ms">a delay (ms)</option>
<option value="oversized_bytes">an oversized answer (bytes)</option><option value="garbage">garbage</option>
<option value="html">an HTML page</option><option value="empty">an empty key set</option>
<option value="wrong_issuer">the wrong issuer</option><option value="hang">no answer at all</option></select>
<label for="value">Value (status, milliseconds or bytes)</label><input id="value" name="value" value="503">
</fieldset><button type="submit" id="fault-button">Set</button></form>
<p class="error" id="problem" role="alert"></p>
</main>
<script>
const root = {root};
const problem = (text) => document.getElementById('problem').textContent = text;
document.getElementById('rotate').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const r = await fetch(root + '/_fake/keys/rotate', {{method: 'POST', headers: {{'content-type': 'application/json'}},
    body: JSON.stringify({{algorithm: event.target.elements.algorithm.value}})}});
  if (r.ok) location.reload(); else problem('rotation refused: ' + r.status);
}});
document.getElementById('fault').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const f = event.target.elements;
  const numeric = ['status', 'delay_ms', 'oversized_bytes'].includes(f.kind.value);
  const body = numeric ? {{[f.kind.value]: Number(f.value.value)}} : {{kind: f.kind.value}};
  const r = await fetch(root + '/_fake/faults/' + f.endpoint.value, {{method: 'POST',
    headers: {{'content-type': 'application/json'}}, body: JSON.stringify(body)}});
  if (r.ok) location.reload(); else problem('fault refused: ' + r.status);
}});
document.querySelectorAll('[data-clear]').forEach((button) => button.addEventListener('click', async () => {{
  const r = await fetch(root + '/_fake/faults/' + button.dataset.clear, {{method: 'DELETE'}});
  if (r.ok) location.reload(); else problem('clearing refused: ' + r.status);
}}));
</script>
</body></html>"#,
        issuer = escape(&state.token_issuer()),
        root = script_string(&state.path_prefix()),
    ))
}
