//! The transmitter's HTTP handlers: SSF configuration, stream management, verification and
//! the poll endpoint.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::state::{Shared, Stream, StreamDelivery, lock};

use super::{CAEP, LONG_POLL, RISC, SetBuilder, VERIFICATION};

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
