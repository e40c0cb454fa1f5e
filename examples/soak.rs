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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warden_testing::{Algorithm, DpopKey, Endpoint, FakeIssuer, Fault, RedisServer};

/// Leeway the replicas are given (`WARDEN_LEEWAY_SECS`): the expiry checks are exercised
/// around it.
const LEEWAY_SECS: i64 = 2;
/// How long a revocation may take to reach every connected replica.
const PROPAGATION_BOUND: Duration = Duration::from_secs(2);
/// Added to the bound for revocations acknowledged within [`RECONNECT_WINDOW`] of a Redis
/// restart: a replica's feed reconnects with back-off up to 5 s.
const RECONNECT_ALLOWANCE: Duration = Duration::from_secs(5);
const RECONNECT_WINDOW: Duration = Duration::from_secs(10);
/// Resident memory a replica that ran the whole time may gain from the end of the warm-up to the
/// end of the run.
const MEMORY_GROWTH_BOUND_KIB: u64 = 48 * 1024;
/// Users whose tokens the load reuses (the verified-token cache's hits).
const POOL: usize = 64;
/// Users revoked during the run, one after another.
const VICTIMS: usize = 40;
const PHASES: [&str; 8] = [
    "warm-up",
    "rotation with overlap",
    "JWKS and discovery 503",
    "JWKS slow, then garbage",
    "Redis killed and restarted",
    "replica killed and restarted",
    "rotation without overlap",
    "steady",
];
/// Where each phase starts, as a fraction of the run.
const PHASE_STARTS: [f64; 8] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.55, 0.7, 0.8];

struct Config {
    seconds: u64,
    replicas: usize,
    connections: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        seconds: 600,
        replicas: 3,
        connections: 16,
        out: PathBuf::from("target/soak"),
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
            "--seconds" => config.seconds = number()?.max(20),
            "--replicas" => config.replicas = (number()? as usize).max(2),
            "--connections" => config.connections = (number()? as usize).max(1),
            "--out" => config.out = PathBuf::from(&value),
            other => {
                return Err(format!(
                    "unknown argument {other}: --seconds, --replicas, --connections, --out"
                ));
            }
        }
    }
    Ok(config)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A demo replica: a process on a fixed loopback port, restartable.
struct Replica {
    index: usize,
    port: u16,
    base: String,
    child: Mutex<Option<Child>>,
    up: AtomicBool,
    /// When it last went down (ms since the start), to excuse connection errors around it.
    down_at_ms: AtomicU64,
    restarted: AtomicBool,
    log: PathBuf,
}

/// The tokens the load sends, minted again when a key is retired.
struct Tokens {
    kid: String,
    pool: Vec<String>,
    reader: String,
    expired: String,
    forged: String,
    victims: Vec<String>,
    /// Bound to the world's DPoP key.
    dpop: String,
}

/// What the load expects of a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Kind {
    Seen,
    New,
    Forged,
    Expired,
    NoScope,
    NearExpiry,
    PastExpiry,
    Victim,
    /// A DPoP-bound token with a fresh proof.
    Dpop,
    /// A proof already used, sent again to the same replica.
    DpopReplay,
}

/// A victim's revocation: its first attempt, then its acknowledgement and propagation bound, in
/// ms since the start.
type Revoking = (u64, Option<(u64, Duration)>);

#[derive(Default)]
struct PhaseStats {
    latencies_us: Vec<u32>,
    answers: BTreeMap<String, u64>,
    requests: u64,
}

struct World {
    config: Config,
    issuer: FakeIssuer,
    start: Instant,
    /// The start in Unix seconds.
    start_unix: i64,
    end: Instant,
    binary: PathBuf,
    redis_url: String,
    push_token: String,
    replicas: Vec<Replica>,
    tokens: Mutex<Arc<Tokens>>,
    /// Kids retired, with when (ms since the start): answers about their tokens are not judged.
    retired: Mutex<Vec<(String, u64)>>,
    /// Victim index → (first attempt, acknowledgement and bound), in ms since the start.
    revocations: Mutex<HashMap<usize, Revoking>>,
    /// Tokens about to expire: (token, exp).
    expiring: Mutex<VecDeque<(String, i64)>>,
    phase: AtomicUsize,
    stats: Mutex<Vec<PhaseStats>>,
    violations: Mutex<Vec<String>>,
    violation_count: AtomicU64,
    redis_restarted_ms: AtomicU64,
    redis_killed_ms: AtomicU64,
    propagation_ms: Mutex<Vec<u64>>,
    /// (seconds since the start, replica, resident KiB).
    memory: Mutex<Vec<(f64, usize, u64)>>,
    warm_rss: Mutex<HashMap<usize, u64>>,
    rng: AtomicU64,
    http: reqwest::Client,
    dpop_key: DpopKey,
    /// The last DPoP proof accepted, and the replica it was sent to.
    used_proof: Mutex<Option<(String, usize)>>,
}

impl World {
    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn random(&self, below: usize) -> usize {
        // xorshift on a shared state: good enough to mix traffic.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        (x % below as u64) as usize
    }

    fn violation(&self, what: String) {
        self.violation_count.fetch_add(1, Ordering::Relaxed);
        let mut list = self.violations.lock().unwrap();
        if list.len() < 50 {
            list.push(format!(
                "{:.1} s: {what}",
                self.start.elapsed().as_secs_f64()
            ));
        }
    }

    fn tokens(&self) -> Arc<Tokens> {
        self.tokens.lock().unwrap().clone()
    }

    fn mint_tokens(&self) -> Tokens {
        let issuer = &self.issuer;
        let iat = now() - 30;
        let user = |name: String| {
            issuer
                .token()
                .subject(name)
                .scopes(["Orders.Read"])
                .issued_at(iat)
                .lifetime(Duration::from_secs(3 * 3600))
                .sign()
        };
        Tokens {
            kid: issuer.signing_kid(),
            pool: (0..POOL).map(|i| user(format!("user-{i}"))).collect(),
            reader: user("reader".to_owned()),
            expired: issuer
                .token()
                .subject("late")
                .scopes(["Orders.Read"])
                .issued_at(now() - 7200)
                .expires_at(now() - 3600)
                .sign(),
            forged: issuer
                .token()
                .subject("mallory")
                .scopes(["Orders.Read", "Orders.Write"])
                .sign_tampered(),
            // Victims' tokens are issued before any revocation can be: always before it.
            victims: (0..VICTIMS)
                .map(|i| {
                    issuer
                        .token()
                        .subject(format!("victim-{i}"))
                        .scopes(["Orders.Read"])
                        .issued_at(self.start_unix - 30)
                        .lifetime(Duration::from_secs(3 * 3600))
                        .sign()
                })
                .collect(),
            dpop: issuer
                .token()
                .subject("dpop-user")
                .scopes(["Orders.Read"])
                .issued_at(iat)
                .lifetime(Duration::from_secs(3 * 3600))
                .dpop_bound(&self.dpop_key)
                .sign(),
        }
    }

    /// Whether Redis is down or was restarted within the feed's reconnection window: DPoP proofs
    /// cannot be checked for replay then, and are refused with 503 by design.
    fn redis_unavailable(&self, at_ms: u64) -> bool {
        let restarted = self.redis_restarted_ms.load(Ordering::Acquire);
        let killed = self.redis_killed_ms.load(Ordering::Acquire);
        killed > 0
            && at_ms + 100 >= killed
            && (restarted == 0 || at_ms <= restarted + RECONNECT_WINDOW.as_millis() as u64)
    }

    fn live_replicas(&self) -> Vec<&Replica> {
        self.replicas
            .iter()
            .filter(|r| r.up.load(Ordering::Acquire))
            .collect()
    }
}

impl Replica {
    /// Starts the process and waits until it answers `/health` (its rules loaded: the store
    /// connects before the demo listens).
    async fn launch(&self, world: &World) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let child = Command::new(&world.binary)
            .env("WARDEN_ISSUER", world.issuer.issuer_url())
            .env("WARDEN_AUDIENCE", world.issuer.audience())
            .env("WARDEN_DEMO_ADDR", format!("127.0.0.1:{}", self.port))
            .env("WARDEN_REDIS_URL", &world.redis_url)
            .env("WARDEN_REDIS_PREFIX", "soak:")
            // Days of key rotations compressed into minutes: key sets refreshed every 2 s, and an
            // unknown kid may cause a fetch every 5 s (60 s by default).
            .env("WARDEN_JWKS_TTL_SECS", "2")
            .env("WARDEN_JWKS_COOLDOWN_SECS", "5")
            .env("WARDEN_LEEWAY_SECS", LEEWAY_SECS.to_string())
            .env("WARDEN_SSF_TRANSMITTER", world.issuer.ssf_issuer())
            .env("WARDEN_SSF_PUSH_TOKEN", &world.push_token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", world.binary.display()))?;
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let health = world.http.get(format!("{}/health", self.base)).send().await;
            if health.is_ok_and(|answer| answer.status() == 200) {
                self.up.store(true, Ordering::Release);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "replica {} did not answer within 20 s (log {})",
            self.index,
            self.log.display()
        ))
    }

    fn kill(&self, world: &World) {
        self.up.store(false, Ordering::Release);
        self.down_at_ms.store(world.ms(), Ordering::Release);
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Whether a connection error now is explained by this replica being down (or having just
    /// come back).
    fn excused(&self, world: &World) -> bool {
        !self.up.load(Ordering::Acquire)
            || world.ms() < self.down_at_ms.load(Ordering::Acquire) + 1000
    }
}

/// One request of the load: what was sent, what came back, and whether it was right.
async fn one_request(world: &World) {
    let live = world.live_replicas();
    if live.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return;
    }
    let replica = live[world.random(live.len())];
    let tokens = world.tokens();
    let roll = world.random(100);
    let mut kind = match roll {
        0..=74 => Kind::Seen,
        75..=81 => Kind::New,
        82..=84 => Kind::Forged,
        85..=87 => Kind::Expired,
        88..=90 => Kind::NoScope,
        91..=92 => Kind::NearExpiry,
        93 => Kind::PastExpiry,
        94..=96 => Kind::Victim,
        97..=98 => Kind::Dpop,
        _ => Kind::DpopReplay,
    };
    let mut victim = None;
    // The key the token is signed with: the load's tokens', or the signing key's for those
    // minted now.
    let mut kid = tokens.kid.clone();
    if matches!(kind, Kind::New | Kind::NearExpiry) {
        kid = world.issuer.signing_kid();
    }
    let token = match kind {
        Kind::Seen => tokens.pool[world.random(POOL)].clone(),
        Kind::New => world
            .issuer
            .token()
            .subject(format!("new-{}", world.random(1_000_000)))
            .scopes(["Orders.Read"])
            .sign(),
        Kind::Forged => tokens.forged.clone(),
        Kind::Expired => tokens.expired.clone(),
        Kind::NoScope => tokens.reader.clone(),
        Kind::NearExpiry => {
            let exp = now() + 2;
            let token = world
                .issuer
                .token()
                .subject(format!("brief-{}", world.random(1_000_000)))
                .scopes(["Orders.Read"])
                .issued_at(now() - 10)
                .expires_at(exp)
                .sign();
            let mut expiring = world.expiring.lock().unwrap();
            if expiring.len() < 1000 {
                expiring.push_back((token.clone(), exp));
            }
            token
        }
        Kind::PastExpiry => {
            let ripe = {
                let mut expiring = world.expiring.lock().unwrap();
                match expiring.front() {
                    Some((_, exp)) if *exp + LEEWAY_SECS + 1 < now() => expiring.pop_front(),
                    _ => None,
                }
            };
            match ripe {
                Some((token, _)) => token,
                None => {
                    kind = Kind::Seen;
                    tokens.pool[world.random(POOL)].clone()
                }
            }
        }
        Kind::Victim => {
            let index = world.random(VICTIMS);
            victim = Some(index);
            tokens.victims[index].clone()
        }
        Kind::Dpop | Kind::DpopReplay => tokens.dpop.clone(),
    };
    // The proof: fresh, or one already accepted sent again to the replica that took it.
    let mut replica = replica;
    let proof = match kind {
        Kind::Dpop => Some(
            world
                .dpop_key
                .proof("GET", &format!("{}/orders", replica.base))
                .access_token(&token)
                .sign(),
        ),
        Kind::DpopReplay => {
            let used = world.used_proof.lock().unwrap().clone();
            match used {
                Some((proof, index)) if world.replicas[index].up.load(Ordering::Acquire) => {
                    replica = &world.replicas[index];
                    Some(proof)
                }
                _ => {
                    kind = Kind::Dpop;
                    Some(
                        world
                            .dpop_key
                            .proof("GET", &format!("{}/orders", replica.base))
                            .access_token(&token)
                            .sign(),
                    )
                }
            }
        }
        _ => None,
    };
    let request = if kind == Kind::NoScope {
        world
            .http
            .post(format!("{}/orders", replica.base))
            .header("content-type", "application/json")
            .body(r#"{"item":"soak"}"#)
    } else {
        world.http.get(format!("{}/orders", replica.base))
    };
    let request = match &proof {
        Some(proof) => request
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof),
        None => request.bearer_auth(&token),
    };
    let started_ms = world.ms();
    let started = Instant::now();
    let answer = request.send().await;
    let elapsed = started.elapsed();
    let ended_ms = world.ms();
    let phase = world.phase.load(Ordering::Relaxed);
    let (label, verdict) = match answer {
        Err(error) => {
            let label = "connection error".to_owned();
            if replica.excused(world) {
                (label, Ok(()))
            } else {
                (
                    label,
                    Err(format!(
                        "replica {}: connection error while up: {error}",
                        replica.index
                    )),
                )
            }
        }
        Ok(answer) => {
            let status = answer.status().as_u16();
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let challenge = header("www-authenticate");
            let retry_after = header("retry-after");
            let parameter = |name: &str| {
                challenge
                    .as_deref()
                    .and_then(|c| c.split(&format!("{name}=\"")).nth(1))
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_owned)
            };
            let body = answer.bytes().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let in_body = |name: &str| body[name].as_str().map(str::to_owned);
            // The most precise reason given: the challenge's description, the problem body's
            // `detail` (a realm-only challenge, a 503), then the error code.
            let reason = parameter("error_description")
                .or_else(|| in_body("detail"))
                .or_else(|| parameter("error"))
                .or_else(|| in_body("title"))
                .filter(|_| status >= 400)
                .unwrap_or_default();
            let label = if reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} {reason}")
            };
            let retired = world
                .retired
                .lock()
                .unwrap()
                .iter()
                .any(|(retired, at)| *retired == kid && *at <= ended_ms);
            (
                label.clone(),
                judge(
                    world,
                    kind,
                    victim,
                    status,
                    retry_after.is_some(),
                    started_ms,
                    ended_ms,
                    retired,
                )
                .map_err(|e| format!("replica {}: {kind:?} answered {label}: {e}", replica.index)),
            )
        }
    };
    if kind == Kind::Dpop
        && label == "200"
        && let Some(proof) = proof
    {
        *world.used_proof.lock().unwrap() = Some((proof, replica.index));
    }
    if let Err(what) = verdict {
        world.violation(what);
    }
    let mut stats = world.stats.lock().unwrap();
    let phase = &mut stats[phase];
    phase.requests += 1;
    phase
        .latencies_us
        .push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    *phase
        .answers
        .entry(format!("{kind:?}: {label}"))
        .or_default() += 1;
}

/// Whether an answer is one the guarantees allow.
#[allow(clippy::too_many_arguments)]
fn judge(
    world: &World,
    kind: Kind,
    victim: Option<usize>,
    status: u16,
    retry_after: bool,
    started_ms: u64,
    ended_ms: u64,
    retired_key: bool,
) -> Result<(), String> {
    if status >= 500 && !(status == 503 && retry_after) {
        return Err("a 5xx other than 503 with Retry-After".to_owned());
    }
    // A DPoP proof whose replay cannot be checked (Redis down) is refused, never accepted:
    // warden's documented fail-closed answer.
    if matches!(kind, Kind::Dpop | Kind::DpopReplay)
        && status == 503
        && (world.redis_unavailable(started_ms) || world.redis_unavailable(ended_ms))
    {
        return Ok(());
    }
    // A token whose key was retired while it flew may be refused, or accepted by a replica
    // whose key set is not yet refreshed: neither is judged.
    if retired_key
        && matches!(
            kind,
            Kind::Seen
                | Kind::New
                | Kind::NoScope
                | Kind::Victim
                | Kind::NearExpiry
                | Kind::Dpop
                | Kind::DpopReplay
        )
    {
        return Ok(());
    }
    let admitted = status == 200 || status == 201;
    match kind {
        Kind::DpopReplay => {
            if status == 401 {
                Ok(())
            } else {
                Err("a replayed DPoP proof must be 401".to_owned())
            }
        }
        Kind::Seen | Kind::New | Kind::Dpop => {
            if admitted {
                Ok(())
            } else {
                Err("a valid token refused".to_owned())
            }
        }
        Kind::Forged | Kind::Expired | Kind::PastExpiry => {
            if status == 401 {
                Ok(())
            } else {
                Err("must be 401".to_owned())
            }
        }
        Kind::NoScope => {
            if status == 403 {
                Ok(())
            } else {
                Err("must be 403 (no Orders.Write)".to_owned())
            }
        }
        Kind::NearExpiry => {
            // Valid for 2 s and the leeway when sent: refused only by an answer slower than that.
            if admitted || (status == 401 && ended_ms - started_ms >= 2000) {
                Ok(())
            } else {
                Err("a token valid for 2 more seconds refused".to_owned())
            }
        }
        Kind::Victim => {
            let index = victim.unwrap_or(0);
            let revocation = world.revocations.lock().unwrap().get(&index).copied();
            match revocation {
                None if admitted => Ok(()),
                None => Err("a valid token refused before its user was revoked".to_owned()),
                // Between the first attempt and the bound either answer is right.
                Some((_, Some((ack, bound)))) if started_ms > ack + bound.as_millis() as u64 => {
                    if status == 401 {
                        Ok(())
                    } else {
                        Err(format!(
                            "a revoked token admitted {} ms after the revocation was acknowledged",
                            started_ms - ack
                        ))
                    }
                }
                Some(_) => {
                    if admitted || status == 401 {
                        Ok(())
                    } else {
                        Err("must be 200 or 401 while the revocation propagates".to_owned())
                    }
                }
            }
        }
    }
}

/// The chaos schedule: each phase's faults, at its start.
async fn chaos(world: Arc<World>, redis: Arc<tokio::sync::Mutex<RedisServer>>) {
    let total = world.end - world.start;
    let at = |fraction: f64| world.start + total.mul_f64(fraction);
    let mut old_kid = world.issuer.signing_kid();
    for (phase, start) in PHASE_STARTS.iter().enumerate() {
        tokio::time::sleep_until(at(*start).into()).await;
        world.phase.store(phase, Ordering::Relaxed);
        let next = PHASE_STARTS.get(phase + 1).copied().unwrap_or(1.0);
        let middle = at((start + next) / 2.0);
        match phase {
            0 => {}
            1 => {
                // As providers rotate: a new key is published first, signs new tokens from a
                // third of the phase, and the old one is retired at its middle.
                let new_kid = world.issuer.add_key(Algorithm::RS256).expect("a new key");
                tokio::time::sleep_until(at(start + (next - start) / 3.0).into()).await;
                world.issuer.promote(&new_kid).expect("promote");
                tokio::time::sleep_until(middle.into()).await;
                retire(&world, &old_kid);
                old_kid = new_kid;
            }
            2 => {
                world.issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
                world
                    .issuer
                    .set_fault(Endpoint::Discovery, Fault::Status(503));
                tokio::time::sleep_until(at(next - 0.01).into()).await;
                world.issuer.clear_fault(Endpoint::Jwks);
                world.issuer.clear_fault(Endpoint::Discovery);
            }
            3 => {
                world
                    .issuer
                    .set_fault(Endpoint::Jwks, Fault::Delay(Duration::from_secs(3)));
                tokio::time::sleep_until(middle.into()).await;
                world.issuer.set_fault(Endpoint::Jwks, Fault::Garbage);
                tokio::time::sleep_until(at(next - 0.01).into()).await;
                world.issuer.clear_fault(Endpoint::Jwks);
            }
            4 => {
                world.redis_killed_ms.store(world.ms(), Ordering::Release);
                redis.lock().await.kill();
                tokio::time::sleep_until(middle.into()).await;
                if let Err(error) = redis.lock().await.restart().await {
                    world.violation(format!("Redis did not restart: {error}"));
                }
                world
                    .redis_restarted_ms
                    .store(world.ms(), Ordering::Release);
            }
            5 => {
                let replica = &world.replicas[0];
                replica.kill(&world);
                tokio::time::sleep_until(middle.into()).await;
                replica.restarted.store(true, Ordering::Release);
                if let Err(error) = replica.launch(&world).await {
                    world.violation(error);
                }
            }
            6 => {
                // Published, promoted and the old key retired at once: replicas learn the new
                // kid from the first token that names it.
                let new_kid = world.issuer.rotate(Algorithm::RS256).expect("rotate");
                retire(&world, &old_kid);
                old_kid = new_kid;
            }
            _ => {}
        }
    }
}

/// Records a retired key and mints the load's tokens with the current one.
fn retire(world: &World, kid: &str) {
    if kid != world.issuer.signing_kid() {
        let _ = world.issuer.retire(kid);
    }
    world
        .retired
        .lock()
        .unwrap()
        .push((kid.to_owned(), world.ms()));
    let fresh = Arc::new(world.mint_tokens());
    *world.tokens.lock().unwrap() = fresh;
}

/// Revokes the victims one after another, alternating the admin call and a pushed Shared
/// Signals event, each at a random live replica, retrying until acknowledged; then measures how
/// long each other replica takes to refuse the victim's token.
async fn revocations(world: Arc<World>) {
    let interval = (world.end - world.start).div_f64(VICTIMS as f64 + 2.0);
    // Signed at each attempt, by the key signing then.
    let admin = || {
        world
            .issuer
            .token()
            .app_only()
            .client("soak-admin")
            .roles(["Revocations.Write"])
            .sign()
    };
    for victim in 0..VICTIMS {
        tokio::time::sleep(interval).await;
        if Instant::now() + Duration::from_secs(5) > world.end {
            return;
        }
        let user = format!("victim-{victim}");
        world
            .revocations
            .lock()
            .unwrap()
            .insert(victim, (world.ms(), None));
        let by_event = victim % 2 == 1;
        let acknowledged_by = loop {
            if Instant::now() + Duration::from_secs(3) > world.end {
                return;
            }
            let live = world.live_replicas();
            if let Some(replica) = live.get(world.random(live.len().max(1))) {
                let acknowledged = if by_event {
                    let set = world.issuer.security_event().user(&user).sign();
                    world
                        .issuer
                        .push_set(
                            &format!("{}/ssf/events", replica.base),
                            Some(&format!("Bearer {}", world.push_token)),
                            &set,
                        )
                        .await
                        .is_ok_and(|answer| answer.status == 202)
                } else {
                    let answer = world
                        .http
                        .post(format!("{}/admin/revocations", replica.base))
                        .bearer_auth(admin())
                        .header("content-type", "application/json")
                        .body(serde_json::json!({ "subject": user }).to_string())
                        .send()
                        .await;
                    match answer {
                        Ok(answer) if answer.status() == 204 => true,
                        // Redis is down: not shared, and said so; retried.
                        Ok(answer) if answer.status() == 503 => false,
                        Ok(answer) => {
                            let challenge = answer
                                .headers()
                                .get("www-authenticate")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            world.violation(format!(
                                "the admin call answered {} for {user} ({challenge})",
                                answer.status()
                            ));
                            false
                        }
                        Err(_) => false,
                    }
                };
                if acknowledged {
                    break replica.index;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let ack = world.ms();
        let restarted = world.redis_restarted_ms.load(Ordering::Acquire);
        let bound = if restarted > 0 && ack < restarted + RECONNECT_WINDOW.as_millis() as u64 {
            PROPAGATION_BOUND + RECONNECT_ALLOWANCE
        } else {
            PROPAGATION_BOUND
        };
        if let Some(entry) = world.revocations.lock().unwrap().get_mut(&victim) {
            entry.1 = Some((ack, bound));
        }
        let token = world.tokens().victims[victim].clone();
        for replica in world.live_replicas() {
            if replica.index == acknowledged_by {
                continue;
            }
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                let answer = world
                    .http
                    .get(format!("{}/orders", replica.base))
                    .bearer_auth(&token)
                    .send()
                    .await;
                if answer.is_ok_and(|a| a.status() == 401) {
                    world
                        .propagation_ms
                        .lock()
                        .unwrap()
                        .push(started.elapsed().as_millis() as u64);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Samples each replica's resident memory once a second.
async fn memory(world: Arc<World>) {
    let warm_end = world.start + (world.end - world.start).mul_f64(PHASE_STARTS[1]);
    let mut warm_recorded = false;
    while Instant::now() < world.end {
        let t = world.start.elapsed().as_secs_f64();
        for replica in &world.replicas {
            if let Some(kib) = replica.pid().and_then(resident_kib) {
                world.memory.lock().unwrap().push((t, replica.index, kib));
                if !warm_recorded && Instant::now() >= warm_end {
                    world.warm_rss.lock().unwrap().insert(replica.index, kib);
                }
            }
        }
        if Instant::now() >= warm_end {
            warm_recorded = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// After the run: every acknowledged revocation is enforced by every replica (the restarted
/// ones included), with tokens signed by the current key.
async fn final_sweep(world: &World) {
    let revoked: Vec<usize> = world
        .revocations
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, (_, ack))| ack.is_some())
        .map(|(victim, _)| *victim)
        .collect();
    let tokens = world.tokens();
    for victim in revoked {
        for replica in &world.replicas {
            let answer = world
                .http
                .get(format!("{}/orders", replica.base))
                .bearer_auth(&tokens.victims[victim])
                .send()
                .await;
            let status = answer.map(|a| a.status().as_u16()).unwrap_or(0);
            if status != 401 {
                world.violation(format!(
                    "final sweep: replica {} answered {status} for victim-{victim}, revoked and acknowledged",
                    replica.index
                ));
            }
        }
    }
    for replica in &world.replicas {
        let log = std::fs::read_to_string(&replica.log).unwrap_or_default();
        if log.contains("panicked") {
            world.violation(format!(
                "replica {} panicked (log {})",
                replica.index,
                replica.log.display()
            ));
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// The report (Markdown) and whether the memory bound held.
fn report(world: &World) -> String {
    let total = (world.end - world.start).as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Soak run: {} s, {} replicas, {} connections\n",
        world.config.seconds, world.config.replicas, world.config.connections
    );
    let _ = writeln!(
        out,
        "| phase | seconds | requests | req/s | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut stats = world.stats.lock().unwrap();
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    for (phase, name) in PHASES.iter().enumerate() {
        let start = PHASE_STARTS[phase];
        let end = PHASE_STARTS.get(phase + 1).copied().unwrap_or(1.0);
        let seconds = (end - start) * total;
        let stats = &mut stats[phase];
        stats.latencies_us.sort_unstable();
        let _ = writeln!(
            out,
            "| {name} | {seconds:.0} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} |",
            stats.requests,
            stats.requests as f64 / seconds,
            percentile(&stats.latencies_us, 0.5),
            percentile(&stats.latencies_us, 0.99),
            percentile(&stats.latencies_us, 0.999),
            percentile(&stats.latencies_us, 1.0),
        );
        for (answer, count) in &stats.answers {
            *answers.entry(answer.clone()).or_default() += count;
        }
    }
    let _ = writeln!(out, "\n| request kind: answer | count |\n|---|---|");
    for (answer, count) in &answers {
        let _ = writeln!(out, "| {answer} | {count} |");
    }
    let mut delays = world.propagation_ms.lock().unwrap().clone();
    delays.sort_unstable();
    let acknowledged = world
        .revocations
        .lock()
        .unwrap()
        .values()
        .filter(|(_, ack)| ack.is_some())
        .count();
    let pick = |p: f64| {
        delays
            .get(((delays.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "\nRevocations acknowledged: {acknowledged} (half by admin call, half by a pushed Shared Signals event). \
         Propagation to each other replica, measured by polling it every 5 ms: {} samples, \
         p50 {} ms, p99 {} ms, max {} ms.",
        delays.len(),
        pick(0.5),
        pick(0.99),
        delays.last().copied().unwrap_or(0),
    );
    let _ = writeln!(
        out,
        "\n| replica | RSS after warm-up (MiB) | RSS at the end (MiB) | growth (MiB) |\n|---|---|---|---|"
    );
    let memory = world.memory.lock().unwrap();
    let warm = world.warm_rss.lock().unwrap();
    for replica in &world.replicas {
        let last: Vec<u64> = memory
            .iter()
            .filter(|(t, index, _)| *index == replica.index && *t >= total * 0.9)
            .map(|(_, _, kib)| *kib)
            .collect();
        let end = last.iter().copied().max().unwrap_or(0);
        let note = if replica.restarted.load(Ordering::Acquire) {
            " (restarted mid-run: not compared)"
        } else {
            ""
        };
        match warm.get(&replica.index) {
            Some(&start) => {
                let growth = end.saturating_sub(start);
                let _ = writeln!(
                    out,
                    "| {}{note} | {:.1} | {:.1} | {:.1} |",
                    replica.index,
                    start as f64 / 1024.0,
                    end as f64 / 1024.0,
                    growth as f64 / 1024.0
                );
                if note.is_empty() && growth > MEMORY_GROWTH_BOUND_KIB {
                    world.violation(format!(
                        "replica {} grew by {} MiB after warm-up (bound {} MiB)",
                        replica.index,
                        growth / 1024,
                        MEMORY_GROWTH_BOUND_KIB / 1024
                    ));
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {}{note} | - | {:.1} | - |",
                    replica.index,
                    end as f64 / 1024.0
                );
            }
        }
    }
    let violations = world.violations.lock().unwrap();
    let _ = writeln!(
        out,
        "\nViolations: {}",
        world.violation_count.load(Ordering::Relaxed)
    );
    for violation in violations.iter() {
        let _ = writeln!(out, "- {violation}");
    }
    out
}

/// Resident memory over time, one line per replica, as a small SVG.
fn memory_svg(world: &World) -> String {
    let memory = world.memory.lock().unwrap();
    let total = (world.end - world.start).as_secs_f64().max(1.0);
    let max_kib = memory
        .iter()
        .map(|(_, _, kib)| *kib)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (width, height, left, bottom) = (640.0, 240.0, 50.0, 30.0);
    let x = |t: f64| left + t / total * (width - left - 10.0);
    let y = |kib: f64| height - bottom - kib / (max_kib * 1.1) * (height - bottom - 10.0);
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">
<rect width="100%" height="100%" fill="white"/>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="10" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">seconds (phases 1 to {} marked)</text>
<text x="5" y="12">MiB</text>
<text x="{}" y="{}" text-anchor="end">{:.0}</text>
"#,
        height - bottom,
        width - 10.0,
        height - bottom,
        height - bottom,
        width / 2.0,
        height - 5.0,
        PHASES.len(),
        left - 4.0,
        y(max_kib) + 4.0,
        max_kib / 1024.0,
    );
    for (phase, start) in PHASE_STARTS.iter().enumerate() {
        let px = x(start * total);
        if phase > 0 {
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="10" x2="{px:.1}" y2="{}" stroke="#ccc" stroke-dasharray="3,3"/>"##,
                height - bottom
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{}" fill="#888">{}</text>"##,
            px + 3.0,
            height - bottom - 4.0,
            phase + 1
        );
    }
    for fraction in [0.0, 0.5] {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
            left - 4.0,
            y(max_kib * fraction) + 4.0,
            max_kib * fraction / 1024.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end">{total:.0}</text>"#,
        width - 10.0,
        height - bottom + 12.0
    );
    for replica in &world.replicas {
        let color = colors[replica.index % colors.len()];
        // One line per stretch the process ran: a gap of more than 2 s is a restart.
        let mut segments: Vec<Vec<String>> = Vec::new();
        let mut last_t = f64::NEG_INFINITY;
        for (t, _, kib) in memory
            .iter()
            .filter(|(_, index, _)| *index == replica.index)
        {
            if *t - last_t > 2.0 {
                segments.push(Vec::new());
            }
            last_t = *t;
            if let Some(segment) = segments.last_mut() {
                segment.push(format!("{:.1},{:.1}", x(*t), y(*kib as f64)));
            }
        }
        for points in segments {
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                points.join(" ")
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{color}">replica {}</text>"#,
            left + 10.0 + 70.0 * replica.index as f64,
            20.0,
            replica.index
        );
    }
    svg.push_str("</svg>\n");
    svg
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
                down_at_ms: AtomicU64::new(0),
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
        redis_restarted_ms: AtomicU64::new(0),
        redis_killed_ms: AtomicU64::new(0),
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
    tasks.push(tokio::spawn(chaos(world.clone(), redis.clone())));
    tasks.push(tokio::spawn(revocations(world.clone())));
    tasks.push(tokio::spawn(memory(world.clone())));
    for _ in 0..world.config.connections {
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < world.end {
                one_request(&world).await;
            }
        }));
    }
    for task in tasks {
        if let Err(error) = task.await {
            world.violation(format!("a task of the soak failed: {error}"));
        }
    }
    final_sweep(&world).await;
    let report = report(&world);
    for replica in &world.replicas {
        replica.kill(&world);
    }
    print!("{report}");
    let out = &world.config.out;
    std::fs::write(out.join("report.md"), &report).map_err(|e| e.to_string())?;
    std::fs::write(out.join("memory.svg"), memory_svg(&world)).map_err(|e| e.to_string())?;
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
