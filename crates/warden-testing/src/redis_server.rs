//! A real `redis-server` on a free loopback port, for tests of a fleet's shared revocations.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How to get `redis-server` when it is missing.
const INSTALL_HINT: &str = "install Debian's redis-server package (as root: `apt-get install \
     redis-server`, or `scripts/install-test-deps.sh`), or set WARDEN_REDIS_SERVER to the path of a \
     redis-server (or valkey-server) binary";

/// A `redis-server` process started by a test on 127.0.0.1, with its data in a fresh directory
/// and every write persisted before it is acknowledged (`appendonly yes`, `appendfsync always`),
/// so [`kill`](Self::kill) and [`restart`](Self::restart) model a crash that loses nothing.
/// Dropping it kills the process and removes the directory.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let redis = warden_testing::RedisServer::start().await?;
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// # Ok::<(), warden_testing::RedisServerError>(())
/// # }).unwrap();
/// ```
pub struct RedisServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    /// The TLS port, when started with [`RedisServer::start_with_tls`].
    tls_port: Option<u16>,
    /// Configuration directives given on the command line (`--name value`).
    config: Vec<(String, String)>,
    child: Option<Child>,
}

/// Why a [`RedisServer`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisServerError {
    /// No `redis-server` binary was found.
    NotInstalled,
    /// The process could not be started or did not answer `PING` in time.
    DidNotStart {
        /// What went wrong, with the end of the server's log.
        reason: String,
    },
}

impl fmt::Display for RedisServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisServerError::NotInstalled => {
                write!(f, "redis-server not found: {INSTALL_HINT}")
            }
            RedisServerError::DidNotStart { reason } => {
                write!(f, "redis-server did not start: {reason}")
            }
        }
    }
}

impl std::error::Error for RedisServerError {}

impl RedisServer {
    /// Starts `redis-server` (`$WARDEN_REDIS_SERVER`, else the one on `PATH` or in `/usr/bin`
    /// or `/usr/sbin`) on a free port of 127.0.0.1 and waits until it answers.
    ///
    /// Where none is installed and the test runs as root on Debian or Ubuntu, installs Debian's
    /// `redis-server` package first (once per process), so `cargo test` works on a fresh
    /// machine; otherwise fails with [`RedisServerError::NotInstalled`], which says how to get one.
    pub async fn start() -> Result<RedisServer, RedisServerError> {
        Self::start_inner(None, &[]).await
    }

    /// Like [`start`](Self::start), with these configuration directives on its command line,
    /// kept across [`restart`](Self::restart): `[("maxmemory-policy", "volatile-lru"),
    /// ("maxmemory", "2mb")]` starts a Redis that evicts keys.
    pub async fn start_with_config(
        directives: &[(&str, &str)],
    ) -> Result<RedisServer, RedisServerError> {
        Self::start_inner(None, directives).await
    }

    /// Like [`start`](Self::start), and also listening for TLS on a second port
    /// ([`tls_url`](Self::tls_url)) with this certificate chain and private key (PEM); clients
    /// need no certificate of their own.
    pub async fn start_with_tls(
        certificate_pem: &str,
        key_pem: &str,
    ) -> Result<RedisServer, RedisServerError> {
        Self::start_inner(Some((certificate_pem, key_pem)), &[]).await
    }

    async fn start_inner(
        tls: Option<(&str, &str)>,
        directives: &[(&str, &str)],
    ) -> Result<RedisServer, RedisServerError> {
        let binary = match find_binary() {
            Some(binary) => binary,
            None => tokio::task::spawn_blocking(install_as_root)
                .await
                .ok()
                .flatten()
                .ok_or(RedisServerError::NotInstalled)?,
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("warden-redis-{}-{nanos}", std::process::id()));
        let cannot_write = |e: std::io::Error| RedisServerError::DidNotStart {
            reason: format!("cannot write in {}: {e}", dir.display()),
        };
        std::fs::create_dir_all(&dir).map_err(cannot_write)?;
        if let Some((certificate, key)) = tls {
            std::fs::write(dir.join("tls.crt"), certificate).map_err(cannot_write)?;
            std::fs::write(dir.join("tls.key"), key).map_err(cannot_write)?;
        }
        let mut last = None;
        // A free port found now may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port().map_err(|e| RedisServerError::DidNotStart {
                reason: format!("no free port: {e}"),
            })?;
            let tls_port = match tls {
                Some(_) => Some(free_port().map_err(|e| RedisServerError::DidNotStart {
                    reason: format!("no free port: {e}"),
                })?),
                None => None,
            };
            let mut server = RedisServer {
                binary: binary.clone(),
                dir: dir.clone(),
                port,
                tls_port,
                config: directives
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                    .collect(),
                child: None,
            };
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(error) => {
                    server.child = None;
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or(RedisServerError::DidNotStart {
            reason: "no attempt made".into(),
        }))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rediss://127.0.0.1:<tls port>` when started with TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}"))
    }

    /// Kills the server at once (SIGKILL), as a crash would. Acknowledged writes survive a
    /// [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub async fn restart(&mut self) -> Result<(), RedisServerError> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                // The old socket may linger a moment.
                Err(error) if Instant::now() > deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn launch(&mut self) -> Result<(), RedisServerError> {
        let log = self.dir.join("redis.log");
        let mut command = Command::new(&self.binary);
        if let Some(tls_port) = self.tls_port {
            command
                .arg("--tls-port")
                .arg(tls_port.to_string())
                .arg("--tls-cert-file")
                .arg(self.dir.join("tls.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.join("tls.key"))
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .args(
                self.config
                    .iter()
                    .flat_map(|(name, value)| [format!("--{name}"), value.clone()]),
            )
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| RedisServerError::DidNotStart {
                reason: format!("cannot run {}: {e}", self.binary.display()),
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(RedisServerError::DidNotStart {
                    reason: format!("exited with {status}; log: {}", tail(&log)),
                });
            }
            if ping(self.port).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        Err(RedisServerError::DidNotStart {
            reason: format!("no answer to PING within 10 s; log: {}", tail(&log)),
        })
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WARDEN_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// Installs Debian's `redis-server` when running as root where `apt-get` exists; once per
/// process, whatever the number of tests asking.
fn install_as_root() -> Option<PathBuf> {
    static INSTALLED: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(binary) = installed.clone().or_else(find_binary) {
        return Some(binary);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return None;
    }
    eprintln!(
        "redis-server is missing: installing Debian's package (apt-get install redis-server)"
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !apt(&["install", "-y", "-qq", "redis-server"]) {
        let _ = apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", "redis-server"]);
    }
    *installed = find_binary();
    installed.clone()
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether the server answers `PING` with `PONG` (not `LOADING` while it replays its log).
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<bool, std::io::Error>(&reply == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// A real Redis Cluster on loopback: `primaries` `redis-server` processes (at least three, as
/// Redis requires) started with `cluster-enabled yes`, each with its own data directory and
/// every write persisted, joined with `redis-cli --cluster create` (the slots split between the
/// primaries; [`start_with_replicas`](Self::start_with_replicas) adds replicas of each).
/// Dropping it stops every node.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cluster = warden_testing::RedisCluster::start(3).await?;
/// assert_eq!(cluster.urls().len(), 3);
/// # Ok::<(), warden_testing::RedisServerError>(())
/// # }).unwrap();
/// ```
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes, joins them, and waits until every node reports `cluster_state:ok`.
    pub async fn start(primaries: usize) -> Result<RedisCluster, RedisServerError> {
        Self::start_with_replicas(primaries, 0).await
    }

    /// Like [`start`](Self::start), with `replicas` replicas of each primary (so
    /// `primaries × (1 + replicas)` nodes), ready once every replica's link to its primary is up.
    pub async fn start_with_replicas(
        primaries: usize,
        replicas: usize,
    ) -> Result<RedisCluster, RedisServerError> {
        let primaries = primaries.max(3);
        let count = primaries * (1 + replicas);
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            // The bus port chosen too: by default it is the port plus 10,000, too high for a
            // node whose port the system chose above 55,535.
            let bus = free_port().map_err(|e| RedisServerError::DidNotStart {
                reason: format!("no free port: {e}"),
            })?;
            nodes.push(
                RedisServer::start_with_config(&[
                    ("cluster-enabled", "yes"),
                    ("cluster-config-file", "nodes.conf"),
                    ("cluster-node-timeout", "2000"),
                    ("cluster-port", &bus.to_string()),
                ])
                .await?,
            );
        }
        let cli = cli_beside(&nodes[0].binary).ok_or_else(|| RedisServerError::DidNotStart {
            reason: format!(
                "no redis-cli or valkey-cli beside the server or on PATH ({INSTALL_HINT})"
            ),
        })?;
        let mut create = Command::new(cli);
        create
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let created = tokio::task::spawn_blocking(move || run_for(create, Duration::from_secs(30)))
            .await
            .map_err(|e| RedisServerError::DidNotStart {
                reason: e.to_string(),
            })??;
        if !created.status.success() {
            return Err(RedisServerError::DidNotStart {
                reason: format!(
                    "redis-cli --cluster create failed: {}",
                    String::from_utf8_lossy(&created.stdout)
                        .lines()
                        .chain(String::from_utf8_lossy(&created.stderr).lines())
                        .filter(|line| line.contains("ERR"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            });
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// The nodes' URLs, `redis://127.0.0.1:<port>` each: the seed nodes a client is given.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Node `index` (in the order of [`urls`](Self::urls)), to kill or restart it.
    pub fn node(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The index of the node that serves `key`'s hash slot.
    pub async fn node_for_key(&self, key: &str) -> Option<usize> {
        let port = self.nodes.first()?.port;
        let slot: i64 = command(port, &["CLUSTER", "KEYSLOT", key])
            .await?
            .parse()
            .ok()?;
        // Each node's `CLUSTER NODES` lists `myself` with the slot ranges it serves.
        for (index, node) in self.nodes.iter().enumerate() {
            let nodes = command(node.port, &["CLUSTER", "NODES"]).await?;
            let mine = nodes.lines().find(|line| line.contains("myself"))?;
            let serves = mine.split(' ').skip(8).any(|range| {
                let mut bounds = range.split('-').filter_map(|b| b.parse::<i64>().ok());
                match (bounds.next(), bounds.next()) {
                    (Some(low), Some(high)) => (low..=high).contains(&slot),
                    (Some(single), None) => single == slot,
                    _ => false,
                }
            });
            if serves {
                return Some(index);
            }
        }
        None
    }

    /// Waits until every running node reports `cluster_state:ok` and every running replica's
    /// link to its primary is up (after a start, or a node's restart).
    pub async fn wait_until_ok(&self, limit: Duration) -> Result<(), RedisServerError> {
        let deadline = Instant::now() + limit;
        loop {
            let mut all_ok = true;
            for node in self.nodes.iter().filter(|node| node.child.is_some()) {
                let info = command(node.port, &["CLUSTER", "INFO"]).await;
                all_ok &= info.is_some_and(|info| info.contains("cluster_state:ok"));
                let replication = command(node.port, &["INFO", "replication"]).await;
                all_ok &= replication.is_some_and(|info| {
                    !info.contains("role:slave") || info.contains("master_link_status:up")
                });
            }
            if all_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(RedisServerError::DidNotStart {
                    reason: format!("the cluster did not report ok within {limit:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.nodes).finish()
    }
}

/// Runs `command` to its end, or kills it after `limit`.
fn run_for(
    mut command: Command,
    limit: Duration,
) -> Result<std::process::Output, RedisServerError> {
    let mut child = command.spawn().map_err(|e| RedisServerError::DidNotStart {
        reason: format!("cannot run redis-cli: {e}"),
    })?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                return child
                    .wait_with_output()
                    .map_err(|e| RedisServerError::DidNotStart {
                        reason: e.to_string(),
                    });
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RedisServerError::DidNotStart {
                    reason: format!("redis-cli --cluster create did not end within {limit:?}"),
                });
            }
        }
    }
}

/// `redis-cli` (or `valkey-cli`) beside the server binary, else on `PATH`.
fn cli_beside(server: &Path) -> Option<PathBuf> {
    let dirs = server.parent().map(Path::to_path_buf).into_iter().chain(
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    dirs.flat_map(|dir| [dir.join("redis-cli"), dir.join("valkey-cli")])
        .find(|candidate| candidate.is_file())
}

/// Sends one command over a fresh connection and returns its reply as text (a bulk or simple
/// string, or an integer), or `None` on any failure.
async fn command(port: u16, args: &[&str]) -> Option<String> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                return None;
            }
            reply.extend_from_slice(&buffer[..read]);
            if let Some(text) = parse_reply(&reply) {
                return Some(text);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// A complete RESP reply's text: `+text`, `:n`, `-ERR …` (the error as text), or
/// `$len\r\n…`; `None` while incomplete.
fn parse_reply(reply: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(reply).ok()?;
    let (head, rest) = text.split_once("\r\n")?;
    match head.as_bytes().first()? {
        b'+' | b':' => Some(head[1..].to_owned()),
        b'-' => Some(head.to_owned()),
        b'$' => {
            let len: usize = head[1..].parse().ok()?;
            (rest.len() >= len).then(|| rest[..len].to_owned())
        }
        _ => None,
    }
}
