//! The verified-token cache when more tokens are live than it holds: a working set twice its
//! capacity, requests drawn from a skewed (Zipf) distribution, as a busy API sees them (a few
//! clients call often, a long tail rarely). Compares the hit rate of today's design (quick_cache,
//! S3-FIFO eviction: what `warden`'s token cache and group cache are built on, constructed the same
//! way) with the design it replaced (16 shards, each cleared whole when full), on the same
//! request sequence.
//!
//! Run with `cargo bench -p warden-benches --bench cache_hit_rate`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

/// warden's default token cache capacity.
const CAPACITY: usize = 16_384;
/// Distinct tokens in use: twice the capacity.
const WORKING_SET: usize = 2 * CAPACITY;
/// Requests to warm the caches, then requests measured.
const WARM_UP: usize = 200_000;
const MEASURED: usize = 2_000_000;

/// The design before: 16 shards of `capacity / 16`; a full shard drops everything it holds.
struct ClearingShards {
    shards: Vec<HashMap<u64, ()>>,
    per_shard: usize,
}

impl ClearingShards {
    fn new(capacity: usize) -> Self {
        ClearingShards {
            shards: (0..16).map(|_| HashMap::new()).collect(),
            per_shard: capacity.div_ceil(16),
        }
    }

    fn shard(&mut self, key: u64) -> &mut HashMap<u64, ()> {
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &mut self.shards[(mixed >> 60) as usize % 16]
    }

    /// Whether the key was cached; caches it if not.
    fn access(&mut self, key: u64) -> bool {
        let per_shard = self.per_shard;
        let shard = self.shard(key);
        if shard.contains_key(&key) {
            return true;
        }
        if shard.len() >= per_shard {
            shard.clear();
        }
        shard.insert(key, ());
        false
    }
}

/// Today's design: quick_cache's concurrent cache (S3-FIFO), sized the same.
struct QuickCache(quick_cache::sync::Cache<u64, ()>);

impl QuickCache {
    fn access(&self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            return true;
        }
        self.0.insert(key, ());
        false
    }
}

/// Zipf-distributed ranks over `n` items with exponent `s`, from a fixed-seed generator, so
/// every design sees the same sequence.
struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf, state: seed }
    }

    /// xorshift64*: plenty for a benchmark's sampling, and reproducible.
    fn next_unit(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A key: the sampled rank, scrambled so popular keys do not sit in one shard.
    fn next_key(&mut self) -> u64 {
        let u = self.next_unit();
        let rank = self.cdf.partition_point(|p| *p < u) as u64;
        rank.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(17)
    }
}

fn run(s: f64) -> (f64, f64, f64, f64) {
    let mut before = ClearingShards::new(CAPACITY);
    let today = QuickCache(quick_cache::sync::Cache::new(CAPACITY));
    let mut zipf = Zipf::new(WORKING_SET, s, 0x005E_ED0F_CAFE);
    let warm: Vec<u64> = (0..WARM_UP).map(|_| zipf.next_key()).collect();
    let trace: Vec<u64> = (0..MEASURED).map(|_| zipf.next_key()).collect();
    for &key in &warm {
        before.access(key);
        today.access(key);
    }
    let started = Instant::now();
    let hits_before = trace
        .iter()
        .filter(|k| before.access(black_box(**k)))
        .count();
    let ns_before = started.elapsed().as_nanos() as f64 / MEASURED as f64;
    let started = Instant::now();
    let hits_today = trace
        .iter()
        .filter(|k| today.access(black_box(**k)))
        .count();
    let ns_today = started.elapsed().as_nanos() as f64 / MEASURED as f64;
    let rate = |hits: usize| 100.0 * hits as f64 / MEASURED as f64;
    (rate(hits_before), rate(hits_today), ns_before, ns_today)
}

fn main() {
    println!(
        "\nToken cache hit rate: capacity {CAPACITY}, {WORKING_SET} distinct tokens, {MEASURED} requests after {WARM_UP} to warm up\n"
    );
    println!(
        "| distribution | before: shards cleared when full | today: quick_cache (S3-FIFO) | ns/access before | ns/access today |"
    );
    println!("|---|---|---|---|---|");
    for s in [0.8, 0.99, 1.2] {
        let (before, today, ns_before, ns_today) = run(s);
        println!(
            "| Zipf s = {s} | {before:.1} % | {today:.1} % | {ns_before:.0} | {ns_today:.0} |"
        );
    }
    // The best any cache of this size could do on the s = 0.99 trace: every request for one of
    // the CAPACITY most popular keys hits.
    let mut zipf = Zipf::new(WORKING_SET, 0.99, 1);
    let top = zipf.cdf[CAPACITY - 1];
    let _ = zipf.next_key();
    println!(
        "\nUpper bound at s = 0.99 (the {CAPACITY} most popular tokens always cached): {:.1} %",
        100.0 * top
    );
}
