//! Test harness: a REAL relay process and real enrolled devices.
//!
//! Integration tests that care about what goes over the wire (attacks, impaired
//! networks, crashes, restarts) must not share a process with the relay: they start
//! the `cunwu-relay` binary on a loopback port, talk to it over real HTTP, and can
//! SIGKILL and restart it on the same database file. This module does the plumbing.
//!
//! # Relay
//!
//! [`RelayProcess::start`] runs the binary found at `$CUNWU_RELAY_BIN`, else
//! `<target dir>/debug/cunwu-relay` (target dir = `$CARGO_TARGET_DIR` or
//! `<workspace>/target`). When that file is missing, or older than the sources of
//! `core/` and `relay/`, it runs `cargo build -p cunwu-relay` once per test process
//! (so a fix in the relay is never tested against a stale binary). The relay runs in
//! a fresh temp dir (`relay.db`, `relay.log` with its stderr), on a free loopback
//! port, and `start` returns only once `GET /healthz` answers (bounded wait; on
//! failure the panic message carries the relay's log). The child is killed on drop.
//!
//! Admin helpers run the same binary's admin commands on the same database
//! while the server runs: [`RelayProcess::create_space`],
//! [`RelayProcess::invite`], [`RelayProcess::revoke`]. [`RelayProcess::query_i64`],
//! [`RelayProcess::execute`], [`RelayProcess::change_rows`] and
//! [`RelayProcess::has_change`] inspect the relay database (or tamper with it, e.g.
//! expiring an invite) on either backend.
//!
//! # Storage backends
//!
//! By default the relay runs on an SQLite file. With `CUNWU_TEST_POSTGRES` set to a
//! PostgreSQL URL (`scripts/postgres.sh start` prints one; `scripts/test.sh` does it),
//! every relay gets a fresh database on that server instead, so the same suites run
//! against both storage backends. [`RelayProcess::kill_hard`] (SIGKILL), [`RelayProcess::stop`] (SIGTERM,
//! graceful) and [`RelayProcess::restart`] (same db, same port, so enrolled devices
//! keep working) serve crash and restart tests.
//!
//! # Devices
//!
//! [`Device`] is a phone: a `cunwu_core::Store` in its own temp dir plus a
//! `SyncClient`. [`Device::enroll`] redeems an invite against a relay and
//! [`Device::sync`] runs one real sync. For tests that forge traffic (a tampered app),
//! [`Device::key`] exposes the device's signing key and [`signed_sync_body`] /
//! [`post_sync`] send a hand-built `SyncRequest` as raw bytes, returning the raw
//! [`HttpReply`] (status + body) to assert on.
//!
//! All helpers panic with a readable message on setup failures: they are for tests.
//!
//! ```no_run
//! # async fn demo() {
//! use cunwu_tests::harness::{Device, RelayProcess};
//! use cunwu_core::Role;
//! let relay = RelayProcess::start();
//! let (space, cadre_invite) = relay.create_space("青石村");
//! let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
//! let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
//! cadre.sync().await.unwrap();
//! resident.sync().await.unwrap();
//! # }
//! ```

use cunwu_core::identity::DeviceKey;
use cunwu_core::ids::now_ms;
use cunwu_core::store::Membership;
use cunwu_core::sync::{device_key_of, SyncClient, SyncReport};
use cunwu_core::wire::control::ErrorBody;
use cunwu_core::wire::{self, entity_bytes, SealedRequest, SignedBatch, SyncRequest, SyncResponse};
use cunwu_core::{Role, Store};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How long `start`/`restart` wait for `/healthz` before giving up.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(20);

// ---- locating (and if needed building) the relay binary ------------------------------

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn newest_mtime(dir: &Path, newest: &mut SystemTime) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_mtime(&p, newest);
        } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
            if m > *newest {
                *newest = m;
            }
        }
    }
}

fn binary_is_stale(bin: &Path, package: &str) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return true;
    };
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    // the relay is built from the protocol crate (where the policy it runs lives) and
    // its own; core is not linked, but listing it keeps the check safe if that changes
    let mut dirs = vec!["protocol/src", "core/src", "relay/src"];
    let mut files = vec![
        "protocol/Cargo.toml",
        "core/Cargo.toml",
        "relay/Cargo.toml",
        "Cargo.lock",
    ];
    if package == "cunwu-cli" {
        dirs.extend(["cli/src", "core/locales"]);
        files.push("cli/Cargo.toml");
    }
    for d in dirs {
        newest_mtime(&root.join(d), &mut newest);
    }
    for f in files {
        if let Ok(m) = std::fs::metadata(root.join(f)).and_then(|m| m.modified()) {
            newest = newest.max(m);
        }
    }
    newest > built
}

/// The relay binary to run (see the module docs). Built at most once per process.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_binary("CUNWU_RELAY_BIN", "cunwu-relay", "cunwu-relay"))
        .clone()
}

/// The `cunwu` command-line binary (a device as a process: tests that kill one with
/// SIGKILL mid-transfer). `CUNWU_CLI_BIN` names another; built when stale, like the relay.
pub fn cli_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_binary("CUNWU_CLI_BIN", "cunwu-cli", "cunwu"))
        .clone()
}

fn built_binary(env: &str, package: &str, name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} is not a file", p.display());
        return p;
    }
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let bin = target
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if binary_is_stale(&bin, package) {
        eprintln!(
            "harness: building {name} ({} is missing or older than the sources)",
            bin.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", name])
            .current_dir(&root);
        // Drop what cargo sets for the running test binary: some of it reaches
        // build scripts and would make this build (and the next normal one)
        // recompile dependencies for nothing.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            let per_crate = k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || k.starts_with("CARGO_MANIFEST_")
                || matches!(
                    k.as_str(),
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if per_crate {
                cmd.env_remove(&k);
            }
        }
        let st = cmd
            .status()
            .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
        assert!(st.success(), "cargo build -p {package} failed");
    }
    assert!(
        bin.is_file(),
        "binary {} not found after building",
        bin.display()
    );
    bin
}

// ---- the relay process -------------------------------------------------------------------

/// A `cunwu-relay serve` child process on a loopback port, with its own temp dir.
pub struct RelayProcess {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The `--db` argument: a file path, or a PostgreSQL URL.
    db: PathBuf,
    /// PostgreSQL: (server URL, name of this relay's database).
    pg: Option<(String, String)>,
    /// Drop the PostgreSQL database with this process (false for a second node).
    owns_db: bool,
    port: u16,
    bin: PathBuf,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

/// A minimal blocking HTTP GET on loopback (no runtime needed): (status, body).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {buf:?}")))?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The PostgreSQL server the tests use, when `CUNWU_TEST_POSTGRES` is set.
pub fn postgres_server() -> Option<String> {
    std::env::var("CUNWU_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `url` with its database name replaced by `name`.
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[host_end..].find('/') {
        Some(slash) => &base[..host_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Run `f` on a blocking PostgreSQL connection, on a thread of its own (the tests run
/// inside tokio, where the blocking client may not start its runtime).
fn with_pg<T: Send>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
) -> Result<T, postgres::Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c = postgres::Client::connect(url, postgres::NoTls)?;
            f(&mut c)
        })
        .join()
        .expect("postgres helper thread")
    })
}

impl RelayProcess {
    /// Start a relay with default settings.
    pub fn start() -> RelayProcess {
        Self::start_with(&[])
    }

    /// Start a relay with extra `serve` arguments, e.g. `["--max-body-bytes", "1000000"]`.
    pub fn start_with(extra_args: &[&str]) -> RelayProcess {
        let dir = tempfile::tempdir().expect("relay temp dir");
        let (db, pg) = match postgres_server() {
            Some(server) => {
                let name = format!("cunwu_test_{}", cunwu_core::ids::new_id());
                with_pg(&server, |c| {
                    c.batch_execute(&format!("CREATE DATABASE {name}"))
                })
                .unwrap_or_else(|e| panic!("create test database on {server}: {e}"));
                (
                    PathBuf::from(database_url(&server, &name)),
                    Some((server, name)),
                )
            }
            None => (dir.path().join("relay.db"), None),
        };
        let mut r = RelayProcess {
            child: None,
            dir,
            db,
            pg,
            owns_db: true,
            port: 0,
            bin: relay_binary(),
            extra: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        r.start_on_free_port();
        r
    }

    /// Another relay process on the same PostgreSQL database (a second node behind a
    /// load balancer). Panics on SQLite, whose file has one serving process.
    pub fn second_node(&self) -> RelayProcess {
        assert!(
            self.pg.is_some(),
            "a second relay node needs PostgreSQL storage (CUNWU_TEST_POSTGRES)"
        );
        let mut r = RelayProcess {
            child: None,
            dir: tempfile::tempdir().expect("relay temp dir"),
            db: self.db.clone(),
            pg: self.pg.clone(),
            owns_db: false,
            port: 0,
            bin: self.bin.clone(),
            extra: self.extra.clone(),
        };
        r.start_on_free_port();
        r
    }

    fn start_on_free_port(&mut self) {
        let r = self;
        // Another process may grab the port between our probe and the relay's bind:
        // try a few ports.
        let mut last = String::new();
        for _ in 0..5 {
            r.port = free_port();
            match r.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => last = e,
            }
        }
        panic!("the relay did not start: {last}");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("relay log: {e}"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--db")
            .arg(&self.db)
            .arg("--plain-logs")
            .args(&self.extra)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "relay exited with {st} before answering /healthz; log:\n{}",
                    self.log()
                ));
            }
            if let Ok((200, _)) = http_get(self.addr(), "/healthz", Duration::from_millis(500)) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "relay did not answer /healthz within {HEALTH_TIMEOUT:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// CPU time (user + system) the relay process has used so far, from
    /// `/proc/PID/stat` (Linux); `None` elsewhere or when it is not running.
    pub fn cpu_time(&self) -> Option<Duration> {
        let pid = self.child.as_ref()?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // fields after the command name (which may hold spaces) start at ") "
        let rest = &stat[stat.rfind(") ")? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        let hz = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(100);
        Some(Duration::from_millis(ticks * 1000 / hz))
    }

    /// `http://127.0.0.1:PORT` (what devices enroll with).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("relay.log")
    }

    /// What the relay wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGKILL: the relay gets no chance to finish anything (crash tests).
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (bounded) for a graceful exit; SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Start again on the same database file and the same port (kills a running
    /// child first), so enrolled devices keep their relay URL.
    pub fn restart(&mut self) {
        self.kill_hard();
        let mut last = String::new();
        // the old socket may linger for a moment
        for _ in 0..20 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        panic!("the relay did not restart on port {}: {last}", self.port);
    }

    /// Run an admin subcommand of `cunwu-relay` on this relay's database (`--db` and
    /// `--json` added); its JSON output. Panics when it fails.
    pub fn admin(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.bin)
            .args(args)
            .arg("--db")
            .arg(&self.db)
            .arg("--json")
            .current_dir(self.dir.path())
            .output()
            .expect("run cunwu-relay admin command");
        assert!(
            out.status.success(),
            "cunwu-relay {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "cunwu-relay {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `space create`: (space id, first cadre invite).
    pub fn create_space(&self, name: &str) -> (String, String) {
        let v = self.admin(&["space", "create", "--name", name]);
        (
            v["space_id"].as_str().expect("space_id").to_string(),
            v["invite"].as_str().expect("invite").to_string(),
        )
    }

    /// `invite create` for `role` (no household or group).
    pub fn invite(&self, space: &str, role: Role) -> String {
        self.invite_with(space, role, "", "")
    }

    pub fn invite_with(&self, space: &str, role: Role, household: &str, group: &str) -> String {
        let v = self.admin(&[
            "invite",
            "create",
            "--space",
            space,
            "--role",
            role.as_str(),
            "--household",
            household,
            "--group",
            group,
        ]);
        v["invite"].as_str().expect("invite").to_string()
    }

    /// `invite create --person ID`: an invite that enrols a person on the space's register.
    pub fn invite_for_person(&self, space: &str, role: Role, person: &str) -> String {
        let v = self.admin(&[
            "invite",
            "create",
            "--space",
            space,
            "--role",
            role.as_str(),
            "--person",
            person,
        ]);
        v["invite"].as_str().expect("invite").to_string()
    }

    /// `revoke`: a device (hex key) or a member (id) with all their devices.
    pub fn revoke(&self, space: &str, target: &str) {
        self.admin(&["revoke", "--space", space, "--target", target]);
    }

    /// Serve from another SQLite file from the next `restart` on (a file the test put
    /// there, e.g. on a small filesystem). Panics on PostgreSQL.
    pub fn move_db(&mut self, to: PathBuf) {
        assert!(self.pg.is_none(), "move_db is for an SQLite relay");
        self.db = to;
    }

    /// Which storage the relay runs on: "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        if self.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    fn sqlite(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db).expect("open relay db");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c
    }

    fn pg_url(&self) -> Option<String> {
        self.pg
            .as_ref()
            .map(|_| self.db.to_string_lossy().into_owned())
    }

    /// One integer from a query without parameters (the SQL both backends speak).
    pub fn query_i64(&self, sql: &str) -> i64 {
        match self.pg_url() {
            Some(url) => with_pg(&url, |c| c.query_one(sql, &[]).map(|r| r.get::<_, i64>(0))),
            None => Ok(self
                .sqlite()
                .query_row(sql, [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Run a statement without parameters; the number of rows it changed.
    pub fn execute(&self, sql: &str) -> u64 {
        match self.pg_url() {
            Some(url) => with_pg(&url, |c| c.execute(sql, &[])),
            None => Ok(self
                .sqlite()
                .execute(sql, [])
                .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Whether the relay stored the change with this hash.
    pub fn has_change(&self, hash: &[u8]) -> bool {
        let h = hex::encode(hash);
        let lit = if self.pg.is_some() {
            format!("decode('{h}', 'hex')")
        } else {
            format!("X'{h}'")
        };
        self.query_i64(&format!("SELECT count(*) FROM changes WHERE hash = {lit}")) > 0
    }

    /// Rows of three columns from a query without parameters, on either backend.
    fn rows3<A, B, C>(&self, sql: &str) -> Vec<(A, B, C)>
    where
        A: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> + Send,
        B: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> + Send,
        C: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> + Send,
    {
        match self.pg_url() {
            Some(url) => with_pg(&url, |c| {
                Ok(c.query(sql, &[])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect())
            }),
            None => {
                let c = self.sqlite();
                let mut s = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                Ok(s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap())
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every stored change of a space in log order: (entity, hash, bytes).
    pub fn change_rows(&self, space: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        assert!(
            space.bytes().all(|b| b.is_ascii_hexdigit()),
            "space id {space:?}"
        );
        self.rows3(&format!("SELECT entity_id, hash, bytes FROM changes WHERE space_id = '{space}' ORDER BY seq, idx"))
    }

    /// Every entity of a space: (id, kind, audience JSON).
    pub fn entity_rows(&self, space: &str) -> Vec<(String, String, String)> {
        assert!(
            space.bytes().all(|b| b.is_ascii_hexdigit()),
            "space id {space:?}"
        );
        self.rows3(&format!(
            "SELECT id, kind, audience FROM entities WHERE space_id = '{space}'"
        ))
    }

    /// The database is consistent: SQLite's `integrity_check` (PostgreSQL keeps its own).
    pub fn integrity_ok(&self) -> bool {
        match self.pg {
            Some(_) => self.query_i64("SELECT count(*) FROM log") >= 0,
            None => {
                self.sqlite()
                    .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                    .unwrap()
                    == "ok"
            }
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill_hard();
        if let (Some((server, name)), true) = (&self.pg, self.owns_db) {
            let _ = with_pg(server, |c| {
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            });
        }
    }
}

// ---- devices -------------------------------------------------------------------------------

/// A phone: a store in its own temp dir and a sync client.
pub struct Device {
    pub name: String,
    pub store: Store,
    pub client: SyncClient,
    dir: tempfile::TempDir,
}

impl Device {
    /// A fresh, unenrolled device (its key is generated when the store is created).
    pub fn new(name: &str) -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        let store = Store::open(dir.path().join("store.db")).expect("open store");
        Device {
            name: name.into(),
            store,
            client: SyncClient::new(Duration::from_secs(30)),
            dir,
        }
    }

    /// A fresh device that redeems `invite` at `relay`; panics if enrolment fails.
    pub async fn enroll(relay: &RelayProcess, invite: &str, name: &str) -> Device {
        let d = Device::new(name);
        d.try_enroll(relay, invite)
            .await
            .unwrap_or_else(|e| panic!("enrol {name}: {e}"));
        d
    }

    /// Redeem `invite` with this device (the relay's answer, refusals included).
    pub async fn try_enroll(
        &self,
        relay: &RelayProcess,
        invite: &str,
    ) -> cunwu_core::Result<Membership> {
        self.client
            .enroll(&self.store, &relay.url(), invite, &self.name)
            .await
    }

    /// One real sync through `SyncClient::sync_once`.
    pub async fn sync(&self) -> cunwu_core::Result<SyncReport> {
        self.client.sync_once(&self.store, None).await
    }

    /// Send this device's syncs to `url` from now on (a proxy in front of the relay).
    pub fn reroute(&self, url: &str) {
        let raw: Vec<u8> = self
            .sql()
            .query_row("SELECT value FROM local WHERE key = 'roster'", [], |r| {
                r.get(0)
            })
            .expect("stored roster");
        let roster = serde_json::from_slice(&raw).expect("stored roster parses");
        let mut m = self.membership();
        m.relay_url = url.to_string();
        self.store
            .set_membership(&m, &roster)
            .expect("re-route the device");
    }

    /// The device's signing key (what a tampered app on this phone can use).
    pub fn key(&self) -> &DeviceKey {
        device_key_of(&self.store)
    }

    /// Hex of the public key: the device id and automerge actor id.
    pub fn device_id(&self) -> String {
        self.store.device_id()
    }

    pub fn member_id(&self) -> String {
        self.membership().member_id
    }

    pub fn space_id(&self) -> String {
        self.membership().space_id
    }

    pub fn membership(&self) -> Membership {
        self.store
            .membership()
            .expect("membership")
            .expect("device is enrolled")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    /// A second connection to this device's SQLite file (for tampering tests).
    pub fn sql(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.db_path()).expect("open device db");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c
    }

    /// Sign and frame a sync request from this device carrying `batches` (the relay
    /// sees exactly what a tampered app would send). Uses the store's counter.
    pub fn sync_body(&self, batches: Vec<SignedBatch>, cursor: u64) -> Vec<u8> {
        let counter = self.store.next_counter().expect("counter");
        let roster_version = self.store.roster().map(|r| r.version).unwrap_or(0);
        signed_sync_body(
            self.key(),
            &self.space_id(),
            counter,
            cursor,
            roster_version,
            batches,
        )
    }

    /// POST `batches` to the relay as this device (cursor = the store's cursor).
    pub async fn push_raw(&self, relay: &RelayProcess, batches: Vec<SignedBatch>) -> HttpReply {
        let cursor = self.store.cursor().expect("cursor");
        post_sync(&relay.url(), self.sync_body(batches, cursor)).await
    }
}

// ---- raw sync traffic -------------------------------------------------------------------------

/// A `SyncRequest` signed by `key` and framed, ready to POST to `/v1/sync`.
pub fn signed_sync_body(
    key: &DeviceKey,
    space: &str,
    counter: u64,
    cursor: u64,
    roster_version: u64,
    batches: Vec<SignedBatch>,
) -> Vec<u8> {
    let req = SyncRequest {
        space: entity_bytes(space).expect("space id"),
        device: key.public(),
        counter,
        sent_at: now_ms(),
        cursor,
        roster_version,
        max_page_bytes: cunwu_core::sync::PAGE_BYTES,
        batches,
    };
    SealedRequest::seal(&req, key)
}

/// The request inside a sealed sync body (its signature checked).
pub fn open_sync_body(body: &[u8]) -> SyncRequest {
    SealedRequest::read(body)
        .and_then(|s| s.open())
        .expect("a sealed sync request")
}

/// What the relay answered to a raw POST.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The decoded `SyncResponse` (panics unless the status is 200 and it decodes).
    pub fn sync_response(&self) -> SyncResponse {
        assert_eq!(
            self.status,
            200,
            "expected 200, got {}: {}",
            self.status,
            self.error()
        );
        SyncResponse::decode(&self.body).expect("decode SyncResponse")
    }

    /// The reason in a JSON error body (or the raw text).
    pub fn error(&self) -> String {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&self.body).into_owned())
    }
}

/// A fresh client per call: a pooled connection must not outlive the tokio runtime of
/// the test that opened it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// POST raw bytes to `<url>/v1/sync`, asking for sync responses of this build's wire
/// version, as the app does.
pub async fn post_sync(url: &str, body: Vec<u8>) -> HttpReply {
    post_sync_as(url, body, Some(wire::WIRE_VERSION)).await
}

/// POST raw bytes to `<url>/v1/sync` as an app that reads sync responses up to
/// `version` (`None`: an app from before the version header, which reads version 3).
pub async fn post_sync_as(url: &str, body: Vec<u8>, version: Option<u8>) -> HttpReply {
    let mut req = http()
        .post(format!("{url}/v1/sync"))
        .header("content-type", "application/x-cunwu");
    if let Some(v) = version {
        req = req.header(wire::RESPONSE_VERSION_HEADER, v.to_string());
    }
    let resp = req
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /v1/sync: {e}"));
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    HttpReply { status, body }
}

/// POST raw bytes to any path of the relay.
pub async fn post_raw(url: &str, path: &str, content_type: &str, body: Vec<u8>) -> HttpReply {
    let resp = http()
        .post(format!("{url}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    HttpReply { status, body }
}

/// A file of `size` bytes behind a real type's `magic` (the rest incompressible noise, as
/// photos and voice are), for attachment tests and benchmarks; the same `seed` gives the
/// same bytes.
pub fn noise_file(dir: &Path, name: &str, magic: &[u8], size: usize, seed: u64) -> PathBuf {
    let mut bytes = magic.to_vec();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size);
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write a test file");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_survives_kill_stop_and_restart_on_the_same_db_and_port() {
        let mut relay = RelayProcess::start();
        let (space, invite) = relay.create_space("测试村");
        let cadre = Device::enroll(&relay, &invite, "陈建国").await;
        let url = relay.url();
        relay.kill_hard();
        assert!(!relay.is_running());
        assert!(matches!(
            cadre.sync().await,
            Err(cunwu_core::Error::Network(_))
        ));
        relay.restart();
        assert_eq!(relay.url(), url);
        cadre.sync().await.unwrap();
        relay.stop();
        assert!(!relay.is_running());
        relay.restart();
        let resident =
            Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
        resident.sync().await.unwrap();
        assert_eq!(resident.space_id(), space);
        // a raw request round trip
        let reply = resident.push_raw(&relay, vec![]).await;
        assert!(reply.sync_response().acks.is_empty());
    }
}
