//! A fake token issuer and local authorization server for development with clients in any
//! language.
//!
//! ```not_rust
//! cargo run -p warden-testing --bin fake-issuer -- --port 4000 [--entra [TENANT]] [--audience AUD]
//!     [--tls] [--host ADDRESS] [--public-url URL] [--issuers ID,ID...]
//! cargo run -p warden-testing --bin fake-issuer -- --config fake-issuer.json
//! ```
//!
//! It prints each issuer's URL, its endpoints and a ready token, then serves until Ctrl-C. Its
//! pages: `/` (the token debugger) and the authorization endpoint's login page. With `--tls` it
//! serves HTTPS and writes the CA certificate to trust to a file it names. `--config` reads
//! everything from a JSON file (docs/testing.md), and takes no other option.

use std::process::ExitCode;

use warden_testing::{DEFAULT_TENANT, FakeIssuer, FakeIssuerConfig};

const USAGE: &str = "usage: fake-issuer [--port PORT] [--entra [TENANT]] [--audience AUDIENCE] \
[--tls] [--host ADDRESS] [--public-url URL] [--issuers ID,ID...] [--cors-origin ORIGIN]...\n       fake-issuer --config FILE";

#[tokio::main]
async fn main() -> ExitCode {
    let mut builder = FakeIssuer::builder();
    let mut ids: Vec<String> = Vec::new();
    let mut config: Option<FakeIssuerConfig> = None;
    let mut options = 0;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        options += 1;
        match arg.as_str() {
            "--config" => {
                let Some(path) = args.next() else {
                    return usage("--config needs a file");
                };
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) => return usage(&format!("cannot read {path}: {e}")),
                };
                match FakeIssuerConfig::from_json(&text) {
                    Ok(parsed) => config = Some(parsed),
                    Err(e) => return usage(&format!("{path}: {e}")),
                }
            }
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
            "--host" => match args.next().and_then(|h| h.parse().ok()) {
                Some(host) => builder = builder.host(host),
                None => return usage("--host needs an IP address"),
            },
            "--public-url" => match args.next() {
                Some(url) => builder = builder.public_base_url(url),
                None => return usage("--public-url needs a URL"),
            },
            "--issuers" => match args.next() {
                Some(list) => ids = list.split(',').map(str::to_owned).collect(),
                None => return usage("--issuers needs a comma-separated list"),
            },
            "--tls" => builder = builder.tls(),
            "--cors-origin" => match args.next() {
                Some(origin) => builder = builder.cors_origin(origin),
                None => return usage("--cors-origin needs an origin (http://host:port)"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    if config.is_some() && options > 1 {
        return usage("--config takes no other option: put them in the file");
    }
    if let Some(config) = &config {
        builder = config.builder();
        ids = config.issuer_ids().into_iter().map(str::to_owned).collect();
    }
    let started = if ids.is_empty() {
        builder.start().await.map(|issuer| vec![issuer])
    } else {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        builder.start_many(&ids).await
    };
    let issuers = match started {
        Ok(issuers) => issuers,
        Err(e) => {
            eprintln!("fake-issuer: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(code) = write_ca(&issuers[0]) {
        return code;
    }
    for issuer in &issuers {
        if let Some(config) = &config {
            config.apply(issuer);
        }
        describe(issuer);
    }
    println!("Serving until Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

fn describe(issuer: &FakeIssuer) {
    let token = issuer
        .token()
        .scopes(["Orders.Read", "Orders.Write"])
        .sign();
    println!("issuer:         {}", issuer.issuer_url());
    println!("discovery:      {}", issuer.discovery_url());
    println!("jwks:           {}", issuer.jwks_url());
    println!("token endpoint: {}", issuer.token_endpoint());
    println!("audience:       {}", issuer.audience());
    println!("debugger:       {}/", issuer.base_url());
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
}

/// Writes the CA the issuers share (HTTPS) to a new file, and names it.
fn write_ca(issuer: &FakeIssuer) -> Result<(), ExitCode> {
    let Some(root) = issuer.tls_root_certificate_pem() else {
        return Ok(());
    };
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
        return Err(ExitCode::FAILURE);
    }
    println!("trust this CA:  {}", path.display());
    println!();
    Ok(())
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("fake-issuer: {problem}\n{USAGE}");
    ExitCode::from(2)
}
