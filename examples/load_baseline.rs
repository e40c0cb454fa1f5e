//! The load script's baseline (scripts/load.sh): the Orders API's `GET /orders` served with no
//! warden at all (no layer, no extractor; a fixed owner), so the script can compare the protected
//! route against the same router and handler. It authenticates nobody: never serve it as an API.
//!
//! ```not_rust
//! WARDEN_BASELINE_ADDR=127.0.0.1:4402 cargo run --release --example load_baseline
//! ```

use std::process::ExitCode;

use warden_examples::{orders, startup};

#[tokio::main]
async fn main() -> ExitCode {
    let (listener, addr) = match startup::listen("WARDEN_BASELINE_ADDR", 4402).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    // It authenticates nobody: loopback only, whatever the variable says.
    if !addr.ip().is_loopback() {
        eprintln!("WARDEN_BASELINE_ADDR must be a loopback address (127.0.0.1 or ::1): {addr}");
        return ExitCode::from(2);
    }
    eprintln!("unprotected baseline on http://{addr}/orders (load tests only)");
    match axum::serve(listener, orders::unprotected_baseline()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server error: {error}");
            ExitCode::FAILURE
        }
    }
}
