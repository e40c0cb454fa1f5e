//! The Shared Signals receiver, in one run: a new SET (verified, parsed, its event turned into a
//! rule in the embedded store), the same SET delivered again (verified, parsed, recognised), a
//! redelivery through the push endpoint (credentials, body, the same work), and the JWS layer
//! alone (strict form and the RS256 signature, the key parsed once), the floor of the work.
//!
//! Run with `cargo bench -p warden-benches --bench ssf`.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use http::Request;
use tower::ServiceExt;
use warden::cae::InMemoryRevocations;
use warden::keys::KeySet;
use warden::ssf::{Action, PushAuthorization, PushEndpoint, Receiver, TransmitterConfiguration};
use warden_benches::{Fixture, measure_all};

/// Distinct SETs signed before measuring: more than the measurement uses (asserted).
const SETS: usize = 8_000;
const SECRET: &str = "bench-push-secret-0123456789abcdef";

fn main() {
    let runtime = warden_benches::runtime();
    let fixture = Fixture::new(&runtime);
    let issuer = &fixture.issuer;
    let configuration = runtime
        .block_on(TransmitterConfiguration::discover(
            issuer.ssf_issuer(),
            &reqwest::Client::new(),
        ))
        .unwrap_or_else(|e| panic!("transmitter: {e}"));
    let store = Arc::new(InMemoryRevocations::default());
    let receiver = Receiver::builder(configuration, issuer.audience())
        .revocations(store.clone())
        .build()
        .unwrap_or_else(|e| panic!("receiver: {e}"));
    let push = PushEndpoint::new(
        receiver.clone(),
        PushAuthorization::bearer(SECRET).unwrap_or_else(|e| panic!("{e}")),
    );

    let sets: Vec<String> = (0..SETS)
        .map(|i| issuer.security_event().user(&format!("user-{i}")).sign())
        .collect();
    let again = issuer.security_event().user("again").sign();
    let receive = |set: &str| {
        runtime
            .block_on(receiver.receive(set))
            .map(|received| received.action().clone())
    };
    // Keys fetched, and `again` applied once, before measuring.
    assert!(matches!(receive(&again), Ok(Action::Revoked(_))));
    assert!(matches!(receive(&again), Ok(Action::AlreadyReceived)));
    let pushed = |set: &str| {
        let request = Request::post("/ssf/events")
            .header("authorization", format!("Bearer {SECRET}"))
            .header("content-type", "application/secevent+jwt")
            .body(Body::from(set.to_owned()))
            .unwrap_or_default();
        runtime
            .block_on(push.clone().oneshot(request))
            .map(|response| response.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(pushed(&again), 202);
    let keys = KeySet::from_jwks(
        issuer.jwks_json().as_bytes(),
        warden::config::DEFAULT_ALGORITHMS,
    )
    .unwrap_or_else(|e| panic!("keys: {e}"));
    assert!(warden::fuzzing::verify_jws(&again, &keys, warden::config::DEFAULT_ALGORITHMS).is_ok());

    let next = Cell::new(0usize);
    let wrong = Cell::new(0usize);
    let times = measure_all(&mut [
        &mut || {
            let i = next.get();
            next.set(i + 1);
            if !matches!(receive(&sets[i % SETS]), Ok(Action::Revoked(_))) {
                wrong.set(wrong.get() + 1);
            }
        },
        &mut || {
            if !matches!(receive(&again), Ok(Action::AlreadyReceived)) {
                wrong.set(wrong.get() + 1);
            }
        },
        &mut || {
            if pushed(&again) != 202 {
                wrong.set(wrong.get() + 1);
            }
        },
        &mut || {
            black_box(warden::fuzzing::verify_jws(
                black_box(&again),
                &keys,
                warden::config::DEFAULT_ALGORITHMS,
            ))
            .ok();
        },
    ]);
    assert_eq!(wrong.get(), 0, "a measured SET was not handled as expected");
    assert!(next.get() <= SETS, "SETs reused: {} receptions", next.get());
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let ratio = |d: std::time::Duration| d.as_secs_f64() / times[3].as_secs_f64();
    println!("Shared Signals receiver, median of one SET (RS256, same run):\n");
    println!("| case | time | × JWS layer |");
    println!("|---|---|---|");
    for (case, time) in [
        ("a new SET: verified, parsed, one rule added", times[0]),
        ("the same SET again: verified, parsed, recognised", times[1]),
        (
            "the same SET again through the push endpoint (credentials, body)",
            times[2],
        ),
        (
            "floor: the JWS layer alone (form, RS256 signature, key parsed once)",
            times[3],
        ),
    ] {
        println!("| {case} | {:.2} µs | {:.2} |", us(time), ratio(time));
    }
    println!(
        "\nrules in the store after the run: {} ({} SETs received)",
        store.len(),
        next.get() + 1
    );
}
