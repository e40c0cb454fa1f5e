//! A fake token issuer for local development with clients in any language.
//!
//! ```not_rust
//! cargo run -p warden-testing --bin fake-issuer -- --port 4000 [--entra [TENANT]] [--audience AUD] [--tls]
//! ```
//!
//! It prints the issuer URL, its endpoints and a ready token, then serves until Ctrl-C. With
//! `--tls` it serves HTTPS and writes the CA certificate to trust to a file it names.

use std::process::ExitCode;

use warden_testing::{DEFAULT_TENANT, FakeIssuer};

const USAGE: &str =
    "usage: fake-issuer [--port PORT] [--entra [TENANT]] [--audience AUDIENCE] [--tls]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut builder = FakeIssuer::builder();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(port) => builder = builder.port(port),
                None => return usage("--port needs a number"),
            },
            "--entra" => {
                let tenant = match args.peek() {
                    Some(next) if !next.starts_with("--") => args.next().unwrap_or_default(),
                    _ => DEFAULT_TENANT.to_owned(),
                };
                builder = builder.entra(tenant);
            }
            "--audience" => match args.next() {
                Some(audience) => builder = builder.audience(audience),
                None => return usage("--audience needs a value"),
            },
            "--tls" => builder = builder.tls(),
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let issuer = match builder.start().await {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("fake-issuer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let token = issuer
        .token()
        .scopes(["Orders.Read", "Orders.Write"])
        .sign();
    println!("issuer:         {}", issuer.issuer_url());
    println!("discovery:      {}", issuer.discovery_url());
    println!("jwks:           {}", issuer.jwks_url());
    println!("token endpoint: {}", issuer.token_endpoint());
    println!("audience:       {}", issuer.audience());
    if let Some(root) = issuer.tls_root_certificate_pem() {
        // A new file, never one planted in the shared directory under the same name.
        let path = std::env::temp_dir().join(format!(
            "fake-issuer-{}-{}-ca.pem",
            issuer.addr().port(),
            std::process::id()
        ));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, root.as_bytes()));
        if let Err(e) = written {
            eprintln!(
                "fake-issuer: cannot write the CA certificate to {}: {e}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
        println!("trust this CA:  {}", path.display());
    }
    println!();
    println!("A user token (scopes Orders.Read Orders.Write), valid for one hour:");
    println!("{token}");
    println!();
    println!("More tokens (client credentials):");
    println!(
        "  curl -s -d grant_type=client_credentials -d client_id=my-app -d 'scope={}/.default' {}",
        issuer.audience(),
        issuer.token_endpoint()
    );
    println!();
    println!("Serving until Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("fake-issuer: {problem}\n{USAGE}");
    ExitCode::from(2)
}
