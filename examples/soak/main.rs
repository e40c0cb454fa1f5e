//! The soak and chaos scenario (docs/reliability.md): several Orders demo replicas sharing one
//! Redis, the fake issuer as their provider and Shared Signals transmitter, and a load of
//! realistic traffic, while keys rotate, the issuer's endpoints fail, Redis and a replica are
//! killed and restarted, and users are revoked. Everything runs on 127.0.0.1 and stops at the
//! end; the run is bounded in time.
//!
//! ```not_rust
//! cargo build --release --example orders_api --example soak
//! target/release/examples/soak --seconds 600 --out target/soak
//! ```
//!
//! (`scripts/soak.sh [SECONDS]` does both.) The replicas are the `orders_api` binary beside this
//! one. The run fails (exit 1) on any violation of the guarantees docs/reliability.md lists, and
//! writes `report.md` and `memory.svg` to `--out`.

mod chaos;
mod load;
mod report;
mod world;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warden_testing::{DpopKey, FakeIssuer, RedisServer};

use crate::world::{Config, PHASES, PROPAGATION_BOUND, PhaseStats, Replica, Tokens, World, now};

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        seconds: 600,
        replicas: 3,
        connections: 16,
        out: PathBuf::from("target/soak"),
        propagation_bound: PROPAGATION_BOUND,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--seconds" => config.seconds = number()?.clamp(20, 86_400),
            "--replicas" => config.replicas = (number()? as usize).max(2),
            "--connections" => config.connections = (number()? as usize).max(1),
            "--out" => config.out = PathBuf::from(&value),
            "--propagation-bound-ms" => {
                config.propagation_bound = Duration::from_millis(number()?.clamp(100, 60_000));
            }
            other => {
                return Err(format!(
                    "unknown argument {other}: --seconds, --replicas, --connections, --out, \
                     --propagation-bound-ms"
                ));
            }
        }
    }
    Ok(config)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

async fn run(config: Config) -> Result<bool, String> {
    let binary = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("orders_api");
    if !binary.is_file() {
        return Err(format!(
            "{} is missing: build it first (cargo build --example orders_api, with --release for a release soak)",
            binary.display()
        ));
    }
    std::fs::create_dir_all(&config.out).map_err(|e| format!("{}: {e}", config.out.display()))?;
    let redis = RedisServer::start().await.map_err(|e| e.to_string())?;
    let issuer = FakeIssuer::builder()
        .audience("api://soak")
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let replicas = (0..config.replicas)
        .map(|index| {
            let port = free_port();
            Replica {
                index,
                port,
                base: format!("http://127.0.0.1:{port}"),
                child: Mutex::new(None),
                up: AtomicBool::new(false),
                restarted: AtomicBool::new(false),
                log: config.out.join(format!("replica-{index}.log")),
            }
        })
        .collect::<Vec<_>>();
    for replica in &replicas {
        let _ = std::fs::remove_file(&replica.log);
    }
    let seconds = config.seconds;
    let mut world = World {
        issuer,
        start,
        start_unix: now(),
        end: start + Duration::from_secs(seconds),
        binary,
        redis_url: redis.url(),
        push_token: format!("soak-push-{}", now()),
        replicas,
        tokens: Mutex::new(Arc::new(Tokens {
            kid: String::new(),
            pool: Vec::new(),
            reader: String::new(),
            expired: String::new(),
            forged: String::new(),
            victims: Vec::new(),
            dpop: String::new(),
        })),
        retired: Mutex::new(Vec::new()),
        revocations: Mutex::new(HashMap::new()),
        expiring: Mutex::new(VecDeque::new()),
        phase: AtomicUsize::new(0),
        stats: Mutex::new((0..PHASES.len()).map(|_| PhaseStats::default()).collect()),
        violations: Mutex::new(Vec::new()),
        violation_count: AtomicU64::new(0),
        redis_killed_ms: AtomicU64::new(0),
        redis_restarting_ms: AtomicU64::new(0),
        redis_restarted_ms: AtomicU64::new(0),
        acknowledged_by_admin: AtomicU64::new(0),
        acknowledged_by_event: AtomicU64::new(0),
        deliver_again: AtomicU64::new(0),
        propagation_ms: Mutex::new(Vec::new()),
        memory: Mutex::new(Vec::new()),
        warm_rss: Mutex::new(HashMap::new()),
        rng: AtomicU64::new(0x9e37_79b9_7f4a_7c15 ^ now() as u64),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| e.to_string())?,
        dpop_key: DpopKey::generate().map_err(|e| e.to_string())?,
        used_proof: Mutex::new(None),
        config,
    };
    let tokens = Arc::new(world.mint_tokens());
    world.tokens = Mutex::new(tokens);
    let world = Arc::new(world);
    for replica in &world.replicas {
        replica.launch(&world).await?;
    }
    let redis = Arc::new(tokio::sync::Mutex::new(redis));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(chaos::chaos(world.clone(), redis.clone())));
    tasks.push(tokio::spawn(chaos::revocations(world.clone())));
    tasks.push(tokio::spawn(report::memory(world.clone())));
    for _ in 0..world.config.connections {
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < world.end {
                load::one_request(&world).await;
            }
        }));
    }
    for task in tasks {
        if let Err(error) = task.await {
            world.violation(format!("a task of the soak failed: {error}"));
        }
    }
    chaos::final_sweep(&world).await;
    let report = report::report(&world);
    for replica in &world.replicas {
        replica.kill();
    }
    print!("{report}");
    let out = &world.config.out;
    std::fs::write(out.join("report.md"), &report).map_err(|e| e.to_string())?;
    std::fs::write(out.join("memory.svg"), report::memory_svg(&world))
        .map_err(|e| e.to_string())?;
    eprintln!("report and memory plot in {}", out.display());
    Ok(world.violation_count.load(Ordering::Relaxed) == 0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("soak could not run: {message}");
            ExitCode::from(2)
        }
    }
}
