//! The faults a test injects into an endpoint (`set_fault`, `POST /_fake/faults/{endpoint}`),
//! applied before the endpoint answers, and its request counter.

use std::sync::atomic::Ordering;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::{Endpoint, Fault, Shared};

/// Applies the endpoint's fault, if any: `Err(response)` to answer with instead.
pub(super) async fn fault(state: &Shared, endpoint: Endpoint) -> Result<Option<Fault>, Response> {
    state.hits[endpoint.index()].fetch_add(1, Ordering::SeqCst);
    let fault = state.faults().get(&endpoint).cloned();
    match fault {
        None => Ok(None),
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err((status, "injected failure").into_response())
        }
        Some(Fault::Garbage) => Err((StatusCode::OK, "\u{1}garbage{{[").into_response()),
        Some(Fault::Html) => Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Sign in to the network</body></html>",
        )
            .into_response()),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            Ok(None)
        }
        Some(other) => Ok(Some(other)),
    }
}
