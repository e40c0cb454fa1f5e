//! How long a replica takes to load the fleet's rules when it connects, at 1,000,000 rules on a
//! real `redis-server` that also holds 1,000,000 keys of another application and a full stream
//! (100,000 announcements): the first load after an upgrade, which scans the whole keyspace
//! (`SCAN MATCH`) and indexes what it finds, then every later load, through the index (one sorted
//! set, `ZSCAN`) and the stream.
//!
//! Run with `cargo bench -p warden-benches --bench fleet_reload` (needs `redis-server`; see
//! README). It writes the rules directly, in pipelines, as warden-redis's script writes them.

use std::time::Instant;

use warden_redis::RedisRevocations;
use warden_testing::RedisServer;

const RULES: usize = 1_000_000;
const OTHER_KEYS: usize = 1_000_000;
const BATCH: usize = 1_000;
const STREAM: usize = 100_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let server = RedisServer::start().await.unwrap_or_else(|e| panic!("{e}"));
        let mut conn = redis::Client::open(server.url())
            .unwrap_or_else(|e| panic!("{e}"))
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let now = warden_benches::now() as u64;
        let expiry = now + 86_400;
        let written = Instant::now();
        for start in (0..RULES).step_by(BATCH) {
            let mut pipe = redis::pipe();
            for i in start..start + BATCH {
                let identity = format!(r#"["user","any","","user-{i}"]"#);
                pipe.cmd("SET")
                    .arg(format!("bench:rule:{identity}"))
                    .arg(now - 10)
                    .arg("EXAT")
                    .arg(expiry)
                    .ignore();
                pipe.cmd("ZADD")
                    .arg("bench:rules")
                    .arg(expiry)
                    .arg(identity)
                    .ignore();
                pipe.cmd("SET")
                    .arg(format!("other-app:session:{i}"))
                    .arg("x")
                    .ignore();
            }
            let _: () = pipe
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for start in (0..STREAM).step_by(BATCH) {
            let mut pipe = redis::pipe();
            for i in start..start + BATCH {
                pipe.cmd("XADD")
                    .arg("bench:revocations")
                    .arg("*")
                    .arg("rule")
                    .arg(format!(r#"["user","any","","user-{i}"]"#))
                    .arg("before")
                    .arg(now - 10)
                    .ignore();
            }
            let _: () = pipe
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        println!(
            "wrote {RULES} rules and {OTHER_KEYS} other keys in {:.1} s",
            written.elapsed().as_secs_f64()
        );
        // Finding the rules alone, without reading them: the index's cost grows with the rules,
        // the scan's with every key in the Redis.
        let started = Instant::now();
        let (mut cursor, mut found) = (0u64, 0usize);
        loop {
            let (next, pairs): (u64, Vec<String>) = redis::cmd("ZSCAN")
                .arg("bench:rules")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            found += pairs.len() / 2;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let zscan = started.elapsed();
        let started = Instant::now();
        let (mut cursor, mut matched) = (0u64, 0usize);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("bench:rule:*")
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            matched += keys.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let scan = started.elapsed();
        println!(
            "finding them: ZSCAN of the index {found} in {:.2} s, SCAN MATCH of {} keys {matched} in {:.2} s",
            zscan.as_secs_f64(),
            RULES + OTHER_KEYS,
            scan.as_secs_f64()
        );
        let load = || async {
            let started = Instant::now();
            let store = RedisRevocations::builder(server.url())
                .prefix("bench:")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let elapsed = started.elapsed();
            (elapsed, store.local().len())
        };
        // The index as an older version left it: none.
        let _: () = redis::cmd("DEL")
            .arg("bench:rules")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (first, loaded) = load().await;
        println!(
            "first load after an upgrade (SCAN MATCH of {} keys, MGET, index backfilled): {loaded} rules in {:.2} s",
            RULES + OTHER_KEYS,
            first.as_secs_f64()
        );
        assert_eq!(loaded, RULES);
        for run in 1..=2 {
            let (later, loaded) = load().await;
            println!(
                "later load {run} (ZSCAN of the index, MGET, {STREAM} stream entries): {loaded} rules in {:.2} s",
                later.as_secs_f64()
            );
            assert_eq!(loaded, RULES);
        }
    });
}
