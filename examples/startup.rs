//! What every example binary does first: logging, and a listener on the address an environment
//! variable names.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;

/// Logs to stderr, `info` and warden's `debug` unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,warden=debug".into()),
        )
        .init();
}

/// Listens on the address in `variable`, or on 127.0.0.1:`default_port`; returns the listener
/// and the address it is bound to (the port the system chose, for `:0`).
///
/// # Errors
///
/// The exit code after a message on stderr: 2 for an unparsable address, 1 when the address
/// cannot be bound.
pub async fn listen(
    variable: &str,
    default_port: u16,
) -> Result<(TcpListener, SocketAddr), ExitCode> {
    let addr: SocketAddr = match std::env::var(variable) {
        Ok(addr) => addr.parse().map_err(|_| {
            eprintln!("{variable} must be an address such as 127.0.0.1:{default_port}");
            ExitCode::from(2)
        })?,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], default_port)),
    };
    let listener = TcpListener::bind(addr).await.map_err(|error| {
        eprintln!("cannot listen on {addr}: {error} (set {variable})");
        ExitCode::FAILURE
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    Ok((listener, bound))
}
