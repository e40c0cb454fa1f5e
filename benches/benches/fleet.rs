//! Propagation of a revocation across a fleet: three replicas (each a `RedisRevocations` with
//! its own connections and feed) share one real `redis-server` on loopback, started here. For
//! each of 300 revocations made on replica A, the delay until replicas B and C both enforce it
//! (from the call on A), reported as p50/p99/max.
//!
//! Run with `cargo bench -p warden-benches --bench fleet` (needs `redis-server`; see README).

use std::time::{Duration, Instant};

use warden::Principal;
use warden::cae::{Revocation, RevocationStore};
use warden_benches::Fixture;
use warden_redis::RedisRevocations;
use warden_testing::RedisServer;

const REVOCATIONS: usize = 300;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let fixture = Fixture::new(&runtime);
    let layer = fixture.warden(0);
    let principals: Vec<Principal> = (0..REVOCATIONS)
        .map(|i| {
            let token = fixture
                .issuer
                .token()
                .subject(format!("user-{i}"))
                .issued_at(warden_benches::now() - 60)
                .sign();
            runtime
                .block_on(layer.validator().validate(&token))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();

    let delays = runtime.block_on(async {
        let server = RedisServer::start().await.unwrap_or_else(|e| panic!("{e}"));
        let connect = || async {
            RedisRevocations::builder(server.url())
                .prefix("bench:")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (a, b, c) = (connect().await, connect().await, connect().await);
        let mut delays = Vec::with_capacity(REVOCATIONS);
        for (i, principal) in principals.iter().enumerate() {
            let started = Instant::now();
            a.revoke(Revocation::user(format!("user-{i}")))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            loop {
                if b.revoked_since(principal).is_some() && c.revoked_since(principal).is_some() {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "revocation {i} not propagated within 2 s"
                );
                tokio::task::yield_now().await;
            }
            delays.push(started.elapsed());
            // Spaced out, as revocations are: each measures a quiet fleet.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays
    });
    let mut sorted = delays;
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "revocation propagation to 2 other replicas over loopback Redis ({REVOCATIONS} revocations): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        sorted[sorted.len() - 1].as_secs_f64() * 1e3
    );
}
