//! The world the soak runs in: its settings, the replicas, the tokens the load sends, and
//! what every part records. Every other module reads and writes it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warden_testing::{DpopKey, FakeIssuer};

/// Leeway the replicas are given (`WARDEN_LEEWAY_SECS`): the expiry checks are exercised
/// around it.
pub(crate) const LEEWAY_SECS: i64 = 2;
/// How long a revocation may take to reach every connected replica, by default
/// (`--propagation-bound-ms`).
pub(crate) const PROPAGATION_BOUND: Duration = Duration::from_secs(2);
/// Added to the bound for revocations acknowledged within [`RECONNECT_WINDOW`] of a Redis
/// restart: a replica's feed reconnects with back-off up to 5 s.
pub(crate) const RECONNECT_ALLOWANCE: Duration = Duration::from_secs(5);
pub(crate) const RECONNECT_WINDOW: Duration = Duration::from_secs(10);
/// Resident memory a replica that ran the whole time may gain from the end of the warm-up to the
/// end of the run.
pub(crate) const MEMORY_GROWTH_BOUND_KIB: u64 = 48 * 1024;
/// Users whose tokens the load reuses (the verified-token cache's hits).
pub(crate) const POOL: usize = 64;
/// Users revoked during the run, one after another.
pub(crate) const VICTIMS: usize = 40;
pub(crate) const PHASES: [&str; 8] = [
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
pub(crate) const PHASE_STARTS: [f64; 8] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.55, 0.7, 0.8];

pub(crate) struct Config {
    pub(crate) seconds: u64,
    pub(crate) replicas: usize,
    pub(crate) connections: usize,
    pub(crate) out: PathBuf,
    /// How long a revocation may take to reach every connected replica.
    pub(crate) propagation_bound: Duration,
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A demo replica: a process on a fixed loopback port, restartable.
pub(crate) struct Replica {
    pub(crate) index: usize,
    pub(crate) port: u16,
    pub(crate) base: String,
    pub(crate) child: Mutex<Option<Child>>,
    pub(crate) up: AtomicBool,
    pub(crate) restarted: AtomicBool,
    pub(crate) log: PathBuf,
}

/// The tokens the load sends, minted again when a key is retired.
pub(crate) struct Tokens {
    pub(crate) kid: String,
    pub(crate) pool: Vec<String>,
    pub(crate) reader: String,
    pub(crate) expired: String,
    pub(crate) forged: String,
    pub(crate) victims: Vec<String>,
    /// Bound to the world's DPoP key.
    pub(crate) dpop: String,
}

/// A victim's revocation: its first attempt, then its acknowledgement and propagation bound, in
/// ms since the start.
/// A DPoP proof accepted: (proof, token, the kid that signed the token, replica).
pub(crate) type UsedProof = (String, String, String, usize);

pub(crate) type Revoking = (u64, Option<(u64, Duration)>);

#[derive(Default)]
pub(crate) struct PhaseStats {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) answers: BTreeMap<String, u64>,
    pub(crate) requests: u64,
}

pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) issuer: FakeIssuer,
    pub(crate) start: Instant,
    /// The start in Unix seconds.
    pub(crate) start_unix: i64,
    pub(crate) end: Instant,
    pub(crate) binary: PathBuf,
    pub(crate) redis_url: String,
    pub(crate) push_token: String,
    pub(crate) replicas: Vec<Replica>,
    pub(crate) tokens: Mutex<Arc<Tokens>>,
    /// Kids retired, with when (ms since the start): answers about their tokens are not judged.
    pub(crate) retired: Mutex<Vec<(String, u64)>>,
    /// Victim index → (first attempt, acknowledgement and bound), in ms since the start.
    pub(crate) revocations: Mutex<HashMap<usize, Revoking>>,
    /// Tokens about to expire: (token, exp).
    pub(crate) expiring: Mutex<VecDeque<(String, i64)>>,
    pub(crate) phase: AtomicUsize,
    pub(crate) stats: Mutex<Vec<PhaseStats>>,
    pub(crate) violations: Mutex<Vec<String>>,
    pub(crate) violation_count: AtomicU64,
    /// When Redis was killed, was being restarted, and answered again (ms since the start; 0:
    /// not yet).
    pub(crate) redis_killed_ms: AtomicU64,
    pub(crate) redis_restarting_ms: AtomicU64,
    pub(crate) redis_restarted_ms: AtomicU64,
    /// Revocations acknowledged: by admin call, by pushed event.
    pub(crate) acknowledged_by_admin: AtomicU64,
    pub(crate) acknowledged_by_event: AtomicU64,
    /// Pushed events answered 503 (deliver again) outside a Redis outage.
    pub(crate) deliver_again: AtomicU64,
    pub(crate) propagation_ms: Mutex<Vec<u64>>,
    /// (seconds since the start, replica, resident KiB).
    pub(crate) memory: Mutex<Vec<(f64, usize, u64)>>,
    pub(crate) warm_rss: Mutex<HashMap<usize, u64>>,
    pub(crate) rng: AtomicU64,
    pub(crate) http: reqwest::Client,
    pub(crate) dpop_key: DpopKey,
    /// The last DPoP proof accepted, the token it was sent with, and the replica that took it.
    pub(crate) used_proof: Mutex<Option<UsedProof>>,
}

impl World {
    pub(crate) fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub(crate) fn random(&self, below: usize) -> usize {
        // xorshift on a shared state: good enough to mix traffic.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        (x % below as u64) as usize
    }

    pub(crate) fn violation(&self, what: String) {
        self.violation_count.fetch_add(1, Ordering::Relaxed);
        let mut list = self.violations.lock().unwrap();
        if list.len() < 50 {
            list.push(format!(
                "{:.1} s: {what}",
                self.start.elapsed().as_secs_f64()
            ));
        }
    }

    pub(crate) fn tokens(&self) -> Arc<Tokens> {
        self.tokens.lock().unwrap().clone()
    }

    pub(crate) fn mint_tokens(&self) -> Tokens {
        let issuer = &self.issuer;
        let iat = now() - 30;
        let user = |name: String| {
            issuer
                .token()
                .subject(name)
                .scopes(["Orders.Read"])
                .issued_at(iat)
                .lifetime(self.token_lifetime())
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
                        .lifetime(self.token_lifetime())
                        .sign()
                })
                .collect(),
            dpop: issuer
                .token()
                .subject("dpop-user")
                .scopes(["Orders.Read"])
                .issued_at(iat)
                .lifetime(self.token_lifetime())
                .dpop_bound(&self.dpop_key)
                .sign(),
        }
    }

    /// Mints the load's tokens again, with the key signing now.
    pub(crate) fn remint(&self) {
        let fresh = Arc::new(self.mint_tokens());
        *self.tokens.lock().unwrap() = fresh;
    }

    /// Tokens of the load outlive the run by an hour, however long it is.
    pub(crate) fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.config.seconds + 3600)
    }

    /// Whether Redis was certainly down for the whole of `[from_ms, to_ms]`: killed (100 ms
    /// before `from_ms` at least) and not yet being restarted at `to_ms`.
    pub(crate) fn redis_down(&self, from_ms: u64, to_ms: u64) -> bool {
        let killed = self.redis_killed_ms.load(Ordering::Acquire);
        let restarting = self.redis_restarting_ms.load(Ordering::Acquire);
        killed > 0 && from_ms >= killed + 100 && (restarting == 0 || to_ms < restarting)
    }

    /// Whether Redis is down or was restarted within the feed's reconnection window: DPoP proofs
    /// cannot be checked for replay then, and are refused with 503 by design.
    pub(crate) fn redis_unavailable(&self, at_ms: u64) -> bool {
        let restarted = self.redis_restarted_ms.load(Ordering::Acquire);
        let killed = self.redis_killed_ms.load(Ordering::Acquire);
        killed > 0
            && at_ms + 100 >= killed
            && (restarted == 0 || at_ms <= restarted + RECONNECT_WINDOW.as_millis() as u64)
    }

    pub(crate) fn live_replicas(&self) -> Vec<&Replica> {
        self.replicas
            .iter()
            .filter(|r| r.up.load(Ordering::Acquire))
            .collect()
    }
}

/// A replica left running by an early return or a panic is killed with the driver.
impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Replica {
    /// Starts the process and waits until it answers `/health` (its rules loaded: the store
    /// connects before the demo listens).
    pub(crate) async fn launch(&self, world: &World) -> Result<(), String> {
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
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .map(|child| child.try_wait());
            if let Some(Ok(Some(status))) = exited {
                return Err(format!(
                    "replica {} exited with {status} before answering (log {})",
                    self.index,
                    self.log.display()
                ));
            }
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

    pub(crate) fn kill(&self) {
        self.up.store(false, Ordering::Release);
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Whether a connection error now is explained: the schedule killed this replica (the
    /// flag drops before the process is killed, and rises once it answers again).
    pub(crate) fn excused(&self) -> bool {
        !self.up.load(Ordering::Acquire)
    }
}

/// What the load expects of a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) enum Kind {
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
