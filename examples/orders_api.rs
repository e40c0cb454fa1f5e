//! The Orders API, protected by warden.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example orders_api
//! ```
//!
//! With no configuration it starts an embedded fake Microsoft Entra issuer on 127.0.0.1, listens
//! on 127.0.0.1:3000 (`WARDEN_DEMO_ADDR` overrides) and prints ready-to-paste curl commands with
//! fresh tokens for each kind of caller. With `WARDEN_ISSUER` (or `WARDEN_ENTRA_TENANTS`) and
//! `WARDEN_AUDIENCE` set, it protects the API with that real issuer instead:
//!
//! ```not_rust
//! WARDEN_ISSUER=https://login.example.com WARDEN_AUDIENCE=api://orders cargo run --example orders_api
//! ```
//!
//! `WARDEN_RESOURCE` (the URL clients call, such as `http://127.0.0.1:3000`) serves RFC 9728
//! metadata at `/.well-known/oauth-protected-resource` and names it in every 401; the embedded
//! demo sets it to its own address.
//!
//! DPoP-bound tokens (RFC 9449) work on every route with their proof, beside bearer tokens;
//! `WARDEN_DPOP_PUBLIC_URL` (the URL clients call, behind a proxy) is what proofs' `htu` must name.
//!
//! With `WARDEN_REDIS_URL` set (and optionally `WARDEN_REDIS_PREFIX`, and
//! `WARDEN_REDIS_FAIL_CLOSED_AFTER_SECS`), revocations are shared through Redis with every replica
//! using the same URL and prefix (docs/fleet.md).
//!
//! Shared Signals (docs/shared-signals.md): with `WARDEN_SSF_TRANSMITTER` (the transmitter's
//! issuer URL), `WARDEN_SSF_PUSH_TOKEN` (what it sends as `Authorization: Bearer …`) and
//! optionally `WARDEN_SSF_AUDIENCE` (default the API's first audience), the demo accepts security
//! events at `POST /ssf/events`. The embedded demo wires its fake issuer as the transmitter, with
//! a fresh push credential unless `WARDEN_SSF_PUSH_TOKEN` is set, and prints the lines that
//! revoke a user through an event.
//!
//! `--print-manifest` writes the demo's Microsoft Entra manifest fragment (its scopes and app
//! roles, from the types its routes require) as JSON to stdout and exits; `--print-permissions`
//! writes its permissions page (Markdown). The Application ID URI is `WARDEN_AUDIENCE`'s first
//! value, or `api://orders-demo` (docs/registration.md).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use warden::WardenConfig;
use warden::dpop::Dpop;

use warden::config::WardenBuilder;
use warden_examples::{orders, startup, walkthrough};
use warden_testing::FakeIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(flag) = std::env::args().nth(1) {
        return print_registration(&flag);
    }
    startup::init_tracing();
    let (listener, addr) = match startup::listen("WARDEN_DEMO_ADDR", 3000).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    let base = format!("http://{}", addr);

    let fleet = match orders::fleet_store(|name| std::env::var(name).ok()).await {
        Ok(fleet) => fleet,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let configured = std::env::var_os("WARDEN_ISSUER").is_some()
        || std::env::var_os("WARDEN_ENTRA_TENANTS").is_some();
    // RFC 9728: WARDEN_RESOURCE names the resource; the embedded demo defaults it to the
    // address it listens on.
    // (Plain http is only a valid resource on a loopback host: listening elsewhere, set
    // WARDEN_RESOURCE to the https URL clients use.)
    let loopback = addr.ip().is_loopback();
    let resource = std::env::var("WARDEN_RESOURCE")
        .ok()
        .or_else(|| (!configured && loopback).then(|| base.clone()));
    // DPoP is on by default; behind a proxy, proofs name the public URL (WARDEN_DPOP_PUBLIC_URL);
    // in a fleet, a proof used at one replica is a replay at the others.
    let public_url = std::env::var("WARDEN_DPOP_PUBLIC_URL").ok();
    let dpop = if public_url.is_some() || fleet.is_some() {
        let mut builder = Dpop::builder();
        if let Some(url) = public_url {
            builder = builder.public_url(url);
        }
        if let Some(store) = &fleet {
            builder = builder.replay_cache(Arc::new(store.proof_replay()));
        }
        match builder.build() {
            Ok(dpop) => Some(dpop),
            Err(error) => {
                eprintln!("WARDEN_DPOP_PUBLIC_URL: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let with_fleet = |builder: WardenBuilder| {
        let builder = match &dpop {
            Some(dpop) => builder.dpop(dpop.clone()),
            None => builder,
        };
        let builder = match &fleet {
            Some(store) => builder.revocations(Arc::new(store.clone())),
            None => builder,
        };
        match &resource {
            Some(resource) => builder.protected_resource(orders::protected_resource(resource)),
            None => builder,
        }
    };

    // Keeps the fake issuer alive while the API serves.
    let mut fake = None;
    let warden = if configured {
        match WardenConfig::from_env()
            .and_then(|config| config.builder())
            .and_then(|builder| with_fleet(builder).build())
        {
            Ok(layer) => layer,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::from(2);
            }
        }
    } else {
        let built = match orders::embedded_issuer_builder().await {
            Ok((issuer, builder)) => with_fleet(builder).build().map(|layer| (issuer, layer)),
            Err(error) => {
                eprintln!("cannot start the embedded issuer: {error}");
                return ExitCode::FAILURE;
            }
        };
        match built {
            Ok((issuer, layer)) => {
                fake = Some(issuer);
                layer
            }
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::from(2);
            }
        }
    };

    // Keys loaded now: a wrong issuer URL shows at start, and /health/keys is true at once. A
    // provider down at start is not fatal: requests are answered 503 until its keys arrive.
    if let Err(error) = warden.validator().load_keys().await {
        eprintln!("warning: {error}");
    }

    let signals = match shared_signals_settings(fake.as_ref(), &warden) {
        Ok(signals) => signals,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let push = match &signals {
        Some(signals) => match orders::shared_signals(signals, &warden).await {
            Ok(push) => Some(push),
            Err(error) => {
                eprintln!("WARDEN_SSF_TRANSMITTER: {error}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    match &fake {
        Some(issuer) => print!(
            "{}",
            walkthrough::text(
                issuer,
                &base,
                signals.as_ref().map(|s| s.push_token.as_str())
            )
        ),
        None => println!("Orders API on {base}, protected by the configured issuer."),
    }
    if let Some(signals) = &signals {
        println!(
            "Security events from {} accepted at POST {base}/ssf/events.",
            signals.transmitter
        );
    }
    let app = match fleet {
        Some(store) => {
            println!(
                "Revocations shared through Redis (GET {base}/health/ready reports the feed)."
            );
            orders::fleet_app(warden.clone(), store)
        }
        None => orders::app(warden.clone()),
    };
    let app = match push {
        Some(push) => orders::with_shared_signals(app, push),
        None => app,
    };
    // The embedded demo's second service, Shipping, called on the caller's behalf with no
    // secret (a federated token file): GET /orders/shipping.
    let app = match fake.as_ref() {
        Some(issuer) => match orders::embedded_onward(issuer).await {
            Ok(onward) => {
                println!(
                    "GET {base}/orders/shipping calls the Shipping service on the caller's behalf (on-behalf-of, no secret)."
                );
                orders::with_onward(app, warden.clone(), onward)
            }
            Err(error) => {
                eprintln!("cannot start the Shipping service: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => app,
    };
    // Metrics: Prometheus text at GET /metrics (docs/observability.md).
    let app = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            });
            app.merge(orders::metrics_route(handle))
        }
        Err(error) => {
            eprintln!("metrics recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The Shared Signals settings: from `WARDEN_SSF_*`, or the embedded issuer as transmitter.
fn shared_signals_settings(
    fake: Option<&FakeIssuer>,
    warden: &warden::WardenLayer,
) -> Result<Option<orders::SharedSignals>, String> {
    let transmitter = match (std::env::var("WARDEN_SSF_TRANSMITTER"), fake) {
        (Ok(transmitter), _) => transmitter,
        (Err(_), Some(issuer)) => issuer.ssf_issuer().to_owned(),
        (Err(_), None) => return Ok(None),
    };
    let push_token = match (std::env::var("WARDEN_SSF_PUSH_TOKEN"), fake) {
        (Ok(token), _) if !token.is_empty() => token,
        (_, Some(_)) => random_secret(),
        _ => {
            return Err(
                "WARDEN_SSF_TRANSMITTER needs WARDEN_SSF_PUSH_TOKEN, the value the transmitter sends as Authorization: Bearer".to_owned(),
            );
        }
    };
    let audience = match std::env::var("WARDEN_SSF_AUDIENCE") {
        Ok(audience) => audience,
        Err(_) => warden
            .validator()
            .issuers()
            .find_map(|issuer| issuer.audiences().first().cloned())
            .or_else(|| fake.map(|issuer| issuer.audience().to_owned()))
            .ok_or("WARDEN_SSF_AUDIENCE is needed: the API has no configured audience")?,
    };
    let tenants = match (std::env::var("WARDEN_ENTRA_TENANTS"), fake) {
        (Ok(tenants), _) => tenants
            .split(',')
            .map(str::trim)
            .filter(|tenant| !tenant.is_empty() && *tenant != "*")
            .map(str::to_owned)
            .collect(),
        (Err(_), Some(issuer)) => issuer.tenant_id().map(str::to_owned).into_iter().collect(),
        (Err(_), None) => Vec::new(),
    };
    Ok(Some(orders::SharedSignals {
        transmitter,
        audience,
        push_token,
        tenants,
    }))
}

/// 32 random bytes from the operating system (aws-lc-rs), hex: the embedded demo's push
/// credential.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        eprintln!("no randomness for the push credential");
        std::process::exit(1);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `--print-manifest` and `--print-permissions`: the registration, from the routes' types.
fn print_registration(flag: &str) -> ExitCode {
    let audience = std::env::var("WARDEN_AUDIENCE").ok();
    let identifier_uri = audience
        .as_deref()
        .and_then(|list| list.split(',').map(str::trim).find(|a| !a.is_empty()))
        .unwrap_or(orders::DEMO_AUDIENCE);
    let permissions = match orders::permissions(identifier_uri) {
        Ok(permissions) => permissions,
        Err(error) => {
            eprintln!("the demo's permissions: {error}");
            return ExitCode::from(2);
        }
    };
    match flag {
        "--print-manifest" => print!("{}", permissions.entra_manifest().to_json()),
        "--print-permissions" => print!("{}", permissions.markdown()),
        other => {
            eprintln!("unknown argument {other:?}: --print-manifest or --print-permissions");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
