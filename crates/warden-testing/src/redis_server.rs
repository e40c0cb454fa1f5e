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
