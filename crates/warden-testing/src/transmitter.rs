//! The fake issuer as a Shared Signals transmitter: SSF configuration, stream management,
//! signed SETs, push delivery (RFC 8935) and a poll endpoint (RFC 8936).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::keys::{KeyError, SigningKey};
use crate::state::{Shared, Stream, StreamDelivery, Transmitter, lock};

/// The CAEP event type prefix.
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// The RISC event type prefix.
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
/// SSF's verification event.
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// How long the fake holds a long poll with nothing to deliver.
const LONG_POLL: Duration = Duration::from_secs(2);

/// What a receiver answered to a pushed SET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Content-Language` header, if any.
    pub content_language: Option<String>,
}

impl PushAnswer {
    /// The RFC 8935 `err` code of a refusal, if the body holds one.
    pub fn err(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()?
            .get("err")?
            .as_str()
            .map(str::to_owned)
    }
}

/// Builds a Security Event Token signed by the fake issuer; see [`FakeIssuer::security_event`](crate::FakeIssuer::security_event).
///
/// Defaults: `typ` `secevent+jwt`, the signing key, `iss` the transmitter, `aud` the issuer's
/// audience, a fresh `jti`, `iat` now, `sub_id` the default user as `iss_sub` of the token
/// issuer, and a CAEP `session-revoked` event at now.
#[must_use]
pub struct SetBuilder<'a> {
    state: &'a Shared,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    event_uri: String,
    event: Map<String, Value>,
}

impl<'a> SetBuilder<'a> {
    pub(crate) fn new(state: &'a Shared) -> Self {
        let jti = format!(
            "set-{}-{}",
            now(),
            state.transmitter.next_jti.fetch_add(1, Ordering::Relaxed)
        );
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(state.base));
        claims.insert("aud".into(), json!(state.audience));
        claims.insert("iat".into(), json!(now()));
        claims.insert("jti".into(), json!(jti));
        claims.insert(
            "sub_id".into(),
            json!({"format":"iss_sub","iss": state.token_issuer(),"sub": crate::DEFAULT_SUBJECT}),
        );
        let mut header = Map::new();
        header.insert("typ".into(), json!("secevent+jwt"));
        let mut event = Map::new();
        event.insert("event_timestamp".into(), json!(now()));
        SetBuilder {
            state,
            header,
            claims,
            event_uri: format!("{CAEP}session-revoked"),
            event,
        }
    }

    /// A CAEP event (`session-revoked`, `credential-change`, …), its fields replaced by `fields`
    /// (an object; `event_timestamp` stays unless `fields` sets it).
    pub fn caep(self, name: &str, fields: Value) -> Self {
        self.event(format!("{CAEP}{name}"), fields)
    }

    /// A RISC event (`account-disabled`, …).
    pub fn risc(self, name: &str, fields: Value) -> Self {
        self.event(format!("{RISC}{name}"), fields)
    }

    /// Any event type, with these fields.
    pub fn event(mut self, uri: impl Into<String>, fields: Value) -> Self {
        self.event_uri = uri.into();
        if let Value::Object(fields) = fields {
            for (name, value) in fields {
                self.event.insert(name, value);
            }
        }
        self
    }

    /// The event's `event_timestamp` (seconds since the Unix epoch).
    pub fn event_timestamp(mut self, secs: i64) -> Self {
        self.event.insert("event_timestamp".into(), json!(secs));
        self
    }

    /// Removes the event's `event_timestamp` (the SET's `iat` is then the event time).
    pub fn without_event_timestamp(mut self) -> Self {
        self.event.remove("event_timestamp");
        self
    }

    /// The subject (`sub_id`), as JSON.
    pub fn subject(mut self, sub_id: Value) -> Self {
        self.claims.insert("sub_id".into(), sub_id);
        self
    }

    /// The subject `iss_sub` of this token issuer and subject.
    pub fn user(self, sub: &str) -> Self {
        let iss = self.state.token_issuer();
        self.subject(json!({"format":"iss_sub","iss":iss,"sub":sub}))
    }

    /// The `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.claims.insert("aud".into(), json!(audience.into()));
        self
    }

    /// The `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.claims.insert("jti".into(), json!(jti.into()));
        self
    }

    /// Any claim (replacing one).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Any header parameter (replacing one; `typ` included).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// The claims the SET will carry.
    pub fn claims(&self) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        if !claims.contains_key("events") {
            let mut events = Map::new();
            events.insert(self.event_uri.clone(), Value::Object(self.event.clone()));
            claims.insert("events".into(), Value::Object(events));
        }
        claims
    }

    /// The `jti` the SET will carry.
    pub fn jti_value(&self) -> String {
        self.claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Signs the SET with the issuer's signing key.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if the key cannot sign.
    pub fn try_sign(self) -> Result<String, KeyError> {
        let key = self.state.key(None)?;
        self.sign_with(&key)
    }

    /// Signs the SET with the issuer's signing key.
    ///
    /// # Panics
    ///
    /// If the key cannot sign: a mistake in the test.
    pub fn sign(self) -> String {
        self.try_sign()
            .unwrap_or_else(|e| panic!("the fake transmitter cannot sign this SET: {e}"))
    }

    /// Signed by a fresh key that was never published, under the signing key's kid.
    ///
    /// # Panics
    ///
    /// If a key cannot be generated.
    pub fn sign_with_unpublished_key(self) -> String {
        let published = self
            .state
            .key(None)
            .unwrap_or_else(|e| panic!("the fake issuer has no signing key: {e}"));
        let attacker = SigningKey::generate(published.kid(), published.algorithm())
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
        self.sign_with(&attacker)
            .unwrap_or_else(|e| panic!("cannot sign: {e}"))
    }

    /// A validly signed SET whose payload was changed afterwards (the subject replaced).
    pub fn sign_tampered(self) -> String {
        let mut claims = self.claims();
        let set = self.sign();
        let mut parts = set.splitn(3, '.');
        let (header, _, signature) = (parts.next(), parts.next(), parts.next());
        claims.insert(
            "sub_id".into(),
            json!({"format":"opaque","id":"someone-else"}),
        );
        format!(
            "{}.{}.{}",
            header.unwrap_or_default(),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()),
            signature.unwrap_or_default()
        )
    }

    /// An unsigned SET: `alg` `none`, empty signature.
    pub fn sign_unsigned(mut self) -> String {
        self.header.insert("alg".into(), json!("none"));
        format!("{}.", self.signing_input(&self.header))
    }

    fn sign_with(self, key: &SigningKey) -> Result<String, KeyError> {
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.algorithm().as_str()));
        header.insert("kid".into(), json!(key.kid()));
        for (name, value) in &self.header {
            header.insert(name.clone(), value.clone());
        }
        let input = self.signing_input(&header);
        let signature = key.sign(key.algorithm(), input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn signing_input(&self, header: &Map<String, Value>) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header.clone()).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.claims()).to_string())
        )
    }
}

/// POSTs a SET to a receiver's push endpoint as RFC 8935 says.
pub(crate) async fn push(
    endpoint_url: &str,
    authorization: Option<&str>,
    set: &str,
) -> Result<PushAnswer, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client
        .post(endpoint_url)
        .header("content-type", "application/secevent+jwt")
        .header("accept", "application/json")
        .body(set.to_owned());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type");
    let content_language = header("content-language");
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(PushAnswer {
        status,
        body,
        www_authenticate,
        content_type,
        content_language,
    })
}

impl Transmitter {
    /// Delivers a signed SET on every stream: pushed to push streams (their answers
    /// returned), queued on poll streams.
    pub(crate) async fn deliver(&self, jti: &str, set: &str) -> Vec<PushAnswer> {
        let mut pushes = Vec::new();
        {
            let mut streams = lock(&self.streams);
            for stream in streams.values_mut() {
                match &stream.delivery {
                    StreamDelivery::Push {
                        endpoint_url,
                        authorization,
                    } => pushes.push((endpoint_url.clone(), authorization.clone())),
                    StreamDelivery::Poll => {
                        stream.queue.push_back((jti.to_owned(), set.to_owned()));
                    }
                }
            }
        }
        self.queued.notify_waiters();
        let mut answers = Vec::new();
        for (url, authorization) in pushes {
            match push(&url, authorization.as_deref(), set).await {
                Ok(answer) => answers.push(answer),
                Err(error) => tracing::warn!(%error, "the fake transmitter could not push"),
            }
        }
        answers
    }

    pub(crate) fn set_errors(&self) -> Vec<(String, String)> {
        lock(&self.set_errors).clone()
    }

    pub(crate) fn acknowledged(&self) -> Vec<String> {
        lock(&self.acknowledged).clone()
    }

    pub(crate) fn stream_ids(&self) -> Vec<String> {
        lock(&self.streams).keys().cloned().collect()
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0)
}

/// `GET /.well-known/ssf-configuration`.
pub(crate) async fn configuration(State(state): State<Arc<Shared>>) -> Response {
    let base = &state.base;
    Json(json!({
        "issuer": base,
        "jwks_uri": state.jwks_url(),
        "spec_version": "1_0",
        "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
        "configuration_endpoint": format!("{base}/ssf/streams"),
        "status_endpoint": format!("{base}/ssf/status"),
        "verification_endpoint": format!("{base}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "NONE",
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct CreateStream {
    delivery: Value,
    #[serde(default)]
    events_requested: Vec<String>,
}

fn stream_json(state: &Shared, stream: &Stream) -> Value {
    let base = &state.base;
    let delivery = match &stream.delivery {
        StreamDelivery::Push { endpoint_url, .. } => {
            json!({"method":"urn:ietf:rfc:8935","endpoint_url": endpoint_url})
        }
        StreamDelivery::Poll => json!({
            "method":"urn:ietf:rfc:8936",
            "endpoint_url": format!("{base}/ssf/poll/{}", stream.id),
        }),
    };
    let supported = [
        "session-revoked",
        "credential-change",
        "token-claims-change",
        "assurance-level-change",
        "device-compliance-change",
    ]
    .map(|name| format!("{CAEP}{name}"))
    .into_iter()
    .chain(
        [
            "account-disabled",
            "account-purged",
            "credential-compromise",
        ]
        .map(|n| format!("{RISC}{n}")),
    )
    .chain([VERIFICATION.to_owned()])
    .collect::<Vec<_>>();
    let delivered: Vec<&String> = supported
        .iter()
        .filter(|uri| stream.events_requested.contains(uri))
        .collect();
    json!({
        "stream_id": stream.id,
        "iss": base,
        "aud": stream.audience,
        "events_supported": supported,
        "events_requested": stream.events_requested,
        "events_delivered": delivered,
        "delivery": delivery,
        "min_verification_interval": 15,
    })
}

/// `POST /ssf/streams`: creates a stream.
pub(crate) async fn create_stream(
    State(state): State<Arc<Shared>>,
    Json(request): Json<CreateStream>,
) -> Response {
    let method = request.delivery.get("method").and_then(Value::as_str);
    let delivery = match method {
        Some("urn:ietf:rfc:8935") => {
            let Some(endpoint_url) = request.delivery.get("endpoint_url").and_then(Value::as_str)
            else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            StreamDelivery::Push {
                endpoint_url: endpoint_url.to_owned(),
                authorization: request
                    .delivery
                    .get("authorization_header")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
        Some("urn:ietf:rfc:8936") => StreamDelivery::Poll,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let transmitter = &state.transmitter;
    let id = format!(
        "stream-{}",
        transmitter.next_stream.fetch_add(1, Ordering::Relaxed) + 1
    );
    let stream = Stream {
        id: id.clone(),
        delivery,
        events_requested: request.events_requested,
        audience: state.audience.clone(),
        queue: VecDeque::new(),
    };
    let body = stream_json(&state, &stream);
    lock(&transmitter.streams).insert(id, stream);
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct StreamQuery {
    stream_id: String,
}

/// `GET /ssf/streams?stream_id=`.
pub(crate) async fn get_stream(
    State(state): State<Arc<Shared>>,
    Query(query): Query<StreamQuery>,
) -> Response {
    let stream = lock(&state.transmitter.streams)
        .get(&query.stream_id)
        .cloned();
    match stream {
        Some(stream) => Json(stream_json(&state, &stream)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /ssf/status?stream_id=`.
pub(crate) async fn stream_status(
    State(state): State<Arc<Shared>>,
    Query(query): Query<StreamQuery>,
) -> Response {
    if lock(&state.transmitter.streams).contains_key(&query.stream_id) {
        Json(json!({"stream_id": query.stream_id, "status": "enabled"})).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[derive(Deserialize)]
pub(crate) struct VerifyRequest {
    stream_id: String,
    state: Option<String>,
}

/// `POST /ssf/verify`: answers 204, then sends a verification event on the stream.
pub(crate) async fn verify(
    State(state): State<Arc<Shared>>,
    Json(request): Json<VerifyRequest>,
) -> Response {
    if !lock(&state.transmitter.streams).contains_key(&request.stream_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut fields = json!({});
    if let Some(verification_state) = request.state {
        fields["state"] = json!(verification_state);
    }
    let builder = SetBuilder::new(&state)
        .event(VERIFICATION, fields)
        .without_event_timestamp()
        .subject(json!({"format":"opaque","id": request.stream_id}));
    let jti = builder.jti_value();
    let Ok(set) = builder.try_sign() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let state = state.clone();
    tokio::spawn(async move {
        state.transmitter.deliver(&jti, &set).await;
    });
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /ssf/poll/{stream_id}`: RFC 8936 polling, with acknowledgements and errors recorded.
pub(crate) async fn poll(
    State(state): State<Arc<Shared>>,
    Path(stream_id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let transmitter = &state.transmitter;
    let acks: Vec<String> = request
        .get("ack")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let errors: Vec<(String, String)> = request
        .get("setErrs")
        .and_then(Value::as_object)
        .map(|errors| {
            errors
                .iter()
                .map(|(jti, error)| {
                    let code = error.get("err").and_then(Value::as_str).unwrap_or_default();
                    (jti.clone(), code.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let max_events = request
        .get("maxEvents")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let return_immediately = request
        .get("returnImmediately")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    {
        let mut streams = lock(&transmitter.streams);
        let Some(stream) = streams.get_mut(&stream_id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        stream
            .queue
            .retain(|(jti, _)| !acks.contains(jti) && !errors.iter().any(|(e, _)| e == jti));
    }
    lock(&transmitter.acknowledged).extend(acks);
    lock(&transmitter.set_errors).extend(errors);
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let notified = transmitter.queued.notified();
        let (sets, more) = {
            let streams = lock(&transmitter.streams);
            let Some(stream) = streams.get(&stream_id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let sets: Map<String, Value> = stream
                .queue
                .iter()
                .take(max_events)
                .map(|(jti, set)| (jti.clone(), json!(set)))
                .collect();
            (sets, stream.queue.len() > max_events)
        };
        if !sets.is_empty() || return_immediately || max_events == 0 {
            return Json(json!({"sets": sets, "moreAvailable": more})).into_response();
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Json(json!({"sets": {}})).into_response();
        }
    }
}
