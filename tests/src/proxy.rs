//! Userspace network-impairment proxy for integration tests and benchmarks.
//!
//! # Why this exists
//!
//! Cunwu is offline-first: devices sync with a relay over whatever link a
//! village has — often 2G/EDGE, with long round trips, a few kB/s, and
//! connections that die mid-response. We need to test and benchmark the
//! device ↔ relay protocol under those conditions, but the machines that run
//! CI and benchmarks have no `tc netem` (no kernel support, no root). So this
//! module impairs traffic in userspace instead: a TCP proxy on `127.0.0.1`
//! that sits between devices and a relay on loopback and adds one-way latency,
//! bandwidth limits, mid-response cuts, stalls and "offline" periods. It is
//! protocol-agnostic (it forwards bytes; it does not parse HTTP), pure tokio,
//! and never talks to anything but loopback.
//!
//! # Model
//!
//! Each proxied connection has two directions, *up* (device → relay) and
//! *down* (relay → device). Per direction, a reader reads chunks (≤ 16 KiB,
//! smaller when bandwidth-limited so pacing stays smooth), *serialises* them
//! onto a virtual link of `bandwidth_bytes_per_sec` (pacing: the reader waits
//! until the chunk has "left" before reading more, so back-pressure reaches the
//! sender like on a real slow link), stamps each chunk with
//! `departure + latency` and hands it through a bounded channel to a writer
//! that sleeps until that time and writes it. Latency is therefore a delay
//! line: it does not serialise with bandwidth, many chunks are in flight at
//! once, and order is preserved. End-of-stream (FIN) travels the same delay
//! line, so half-closes propagate.
//!
//! * Bandwidth is **per connection, per direction** (use one proxy per
//!   simulated device; a client that opens N parallel connections gets N×).
//! * Cuts are decided per connection **per exchange**: a run of down bytes
//!   that follows new up bytes (for HTTP/1.1: one response). At the start of
//!   each exchange the connection rolls `cut_probability`; on success it
//!   forwards `cut_after_bytes_down` more response bytes (or a random number
//!   of bytes up to it, see [`Impairment::randomize_cut_point`]) and then
//!   kills the connection. This makes cuts land mid-response even on pooled
//!   keep-alive connections (reqwest reuses connections).
//! * A stall fires once per connection, after `stall_after_bytes` down bytes.
//! * `set_impairment` applies to *existing* connections too: latency and
//!   bandwidth from the next chunk on; cut/stall counters restart from the
//!   bytes already forwarded at that moment. Setting `offline: true` also
//!   severs every open connection (reset), then refuses new ones.
//! * Randomness comes from one proxy-wide RNG, seeded from `seed` at start and
//!   re-seeded on every `set_impairment`, drawn once per exchange. So a
//!   sequence of *sequential* requests sees the same cuts on every run, no
//!   matter how the client spreads them over connections (concurrent requests
//!   draw in whatever order they happen to start).
//!
//! ```no_run
//! # async fn demo(relay: std::net::SocketAddr) {
//! use cunwu_tests::proxy::{Impairment, Proxy};
//! let proxy = Proxy::start(relay, Impairment::two_g()).await;
//! let url = proxy.url(); // point the device at this instead of the relay
//! // ... sync ...
//! proxy.set_impairment(Impairment::none().with_offline(true)); // tunnel
//! println!("{:?}", proxy.stats());
//! proxy.stop().await;
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Largest chunk read/forwarded at once.
const MAX_CHUNK: usize = 16 * 1024;
/// Smallest chunk size used when pacing a slow link.
const MIN_PACED_CHUNK: usize = 256;
/// Chunks in flight per direction (the delay line's capacity). With 16 KiB
/// chunks this caps in-flight data at 4 MiB per direction, which bounds memory
/// and acts like a TCP window on very long delays.
const CHANNEL_DEPTH: usize = 256;
/// Beyond this many simultaneous connections, new ones are refused.
const MAX_CONNECTIONS: usize = 1024;
/// How long to wait for the upstream (relay) to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pacing tolerance: if the reader comes back this late (timer granularity,
/// scheduling), the link is treated as continuously busy instead of idle, so
/// timer lateness does not erode the configured bandwidth. Grants at most this
/// much "burst" credit.
const PACING_SLACK: Duration = Duration::from_millis(10);

/// How the link between device and relay misbehaves. All fields are public;
/// start from a preset and adjust with the `with_*` helpers or struct update
/// syntax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay applied to each direction's data (round trip = 2×).
    pub latency: Duration,
    /// Link rate per direction, per connection. `None` = unlimited.
    /// `Some(0)` is treated as 1 B/s.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Kill the connection after forwarding this many bytes of a response
    /// (counted from the start of each exchange, see the module docs).
    pub cut_after_bytes_down: Option<u64>,
    /// Probability that a given exchange is cut (when `cut_after_bytes_down`
    /// is set). `1.0` = always.
    pub cut_probability: f64,
    /// If true, the cut point of each cut exchange is drawn log-uniformly from
    /// `0..=cut_after_bytes_down` (so small responses and headers get cut too)
    /// instead of being exactly `cut_after_bytes_down`.
    pub randomize_cut_point: bool,
    /// How the cut looks to the device. `false` (default): exactly the allowed
    /// bytes are delivered, then a FIN (the device sees an early EOF —
    /// deterministic). `true`: a TCP reset (the kernel may discard bytes not
    /// yet read by the device; the device sees "connection reset"). The relay
    /// side always gets a reset.
    pub cut_with_reset: bool,
    /// Pause forwarding down data for this long, once per connection.
    pub stall: Option<Duration>,
    /// Down bytes forwarded on a connection before the stall kicks in.
    pub stall_after_bytes: u64,
    /// Refuse (reset) new connections; setting it at runtime also severs all
    /// open connections.
    pub offline: bool,
    /// Seed for the random decisions (cut probability, random cut points);
    /// applied at start and on every `set_impairment`.
    pub seed: u64,
    /// Kill each connection once this many bytes (up and down together) have
    /// crossed it, whichever direction is moving: a link that drops every
    /// ~100 KB, in the middle of an upload as well as of a download.
    pub cut_every_bytes: Option<u64>,
}

impl Default for Impairment {
    fn default() -> Self {
        Self::none()
    }
}

impl Impairment {
    /// A perfect link: bytes pass straight through.
    pub const fn none() -> Self {
        Impairment {
            latency: Duration::ZERO,
            bandwidth_bytes_per_sec: None,
            cut_after_bytes_down: None,
            cut_probability: 1.0,
            randomize_cut_point: false,
            cut_with_reset: false,
            stall: None,
            stall_after_bytes: 0,
            offline: false,
            seed: 0,
            cut_every_bytes: None,
        }
    }

    /// A 2G/EDGE-ish link: 256 kbit/s (32 000 B/s) each way, 200 ms one-way
    /// latency (400 ms round trip).
    pub const fn two_g() -> Self {
        Impairment {
            latency: Duration::from_millis(200),
            bandwidth_bytes_per_sec: Some(32_000),
            ..Self::none()
        }
    }

    /// An unreliable link: 20 ms one-way latency and, on 25 % of exchanges, a
    /// cut at a random point within the first 16 KiB of the response
    /// (log-uniform, so headers and small bodies get cut as well). Random but
    /// reproducible for a given `seed` and connection order.
    pub const fn flaky(seed: u64) -> Self {
        Impairment {
            latency: Duration::from_millis(20),
            cut_after_bytes_down: Some(16 * 1024),
            cut_probability: 0.25,
            randomize_cut_point: true,
            seed,
            ..Self::none()
        }
    }

    /// No network at all.
    pub const fn offline() -> Self {
        Impairment {
            offline: true,
            ..Self::none()
        }
    }

    /// Set the one-way latency.
    #[must_use]
    pub const fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Set (or clear) the per-direction bandwidth in bytes per second.
    #[must_use]
    pub const fn with_bandwidth(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.bandwidth_bytes_per_sec = bytes_per_sec;
        self
    }

    /// Cut every exchange after `bytes` response bytes (probability 1).
    #[must_use]
    pub const fn with_cut_after(mut self, bytes: u64) -> Self {
        self.cut_after_bytes_down = Some(bytes);
        self.cut_probability = 1.0;
        self
    }

    /// Cut with the given probability per exchange.
    #[must_use]
    pub const fn with_cut_probability(mut self, p: f64) -> Self {
        self.cut_probability = p;
        self
    }

    /// Stall the download once per connection for `stall` after `after_bytes`.
    #[must_use]
    pub const fn with_stall(mut self, stall: Duration, after_bytes: u64) -> Self {
        self.stall = Some(stall);
        self.stall_after_bytes = after_bytes;
        self
    }

    /// Set the offline flag.
    #[must_use]
    pub const fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Kill every connection after `bytes` bytes in either direction.
    #[must_use]
    pub const fn with_cut_every(mut self, bytes: u64) -> Self {
        self.cut_every_bytes = Some(bytes);
        self
    }

    /// Set the RNG seed.
    #[must_use]
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Counters since the proxy started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Bytes delivered to the relay (device → relay).
    pub bytes_up: u64,
    /// Bytes delivered to devices (relay → device).
    pub bytes_down: u64,
    /// Connections accepted and proxied (refused ones not included).
    pub connections: u64,
    /// Connections killed by the proxy: planned cuts, `cut_all`, going offline.
    pub cuts: u64,
    /// Connections refused (offline, or too many connections).
    pub refused: u64,
    /// Connections currently open.
    pub active: u64,
}

struct State {
    imp: Impairment,
    /// Bumped on every `set_impairment`, so connections notice changes.
    generation: u64,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    rng: Mutex<StdRng>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    refused: AtomicU64,
    active: AtomicU64,
    /// Bumped to sever all open connections.
    kill: watch::Sender<u64>,
}

impl Shared {
    fn current(&self) -> (Impairment, u64) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.imp, s.generation)
    }

    fn plan_cut(&self, imp: &Impairment) -> Option<u64> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        plan_cut(imp, &mut rng)
    }
}

/// A running impairment proxy. Dropping it (or [`Proxy::stop`]) closes the
/// listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    accept_task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("impairment", &self.impairment())
            .finish()
    }
}

impl Proxy {
    /// Start a proxy on `127.0.0.1:0` forwarding to `upstream`.
    ///
    /// # Panics
    /// If `upstream` is not a loopback address or the listener cannot bind.
    /// Use [`Proxy::try_start`] to get an error instead.
    pub async fn start(upstream: SocketAddr, impairment: Impairment) -> Proxy {
        Self::try_start(upstream, impairment)
            .await
            .expect("impairment proxy failed to start")
    }

    /// Like [`Proxy::start`] but returns an error instead of panicking.
    /// Must be called inside a tokio runtime.
    pub async fn try_start(upstream: SocketAddr, impairment: Impairment) -> io::Result<Proxy> {
        if !upstream.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("impairment proxy only forwards to loopback, got {upstream}"),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (kill, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State {
                imp: impairment,
                generation: 0,
            }),
            rng: Mutex::new(StdRng::seed_from_u64(impairment.seed)),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            active: AtomicU64::new(0),
            kill,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_rx));
        Ok(Proxy {
            addr,
            shared,
            shutdown,
            accept_task: Some(accept_task),
        })
    }

    /// The proxy's listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to hand to a device instead of the relay URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The relay address this proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The impairment currently in force.
    pub fn impairment(&self) -> Impairment {
        self.shared.current().0
    }

    /// Change the impairment at runtime. Applies to open connections too (see
    /// the module docs); `offline: true` also severs all open connections.
    pub fn set_impairment(&self, impairment: Impairment) {
        {
            let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            s.imp = impairment;
            s.generation = s.generation.wrapping_add(1);
            // Under the state lock, so no exchange sees the new rules with the
            // old RNG.
            *self.shared.rng.lock().unwrap_or_else(|e| e.into_inner()) =
                StdRng::seed_from_u64(impairment.seed);
        }
        if impairment.offline {
            self.cut_all();
        }
    }

    /// Sever every open connection now (TCP reset on both sides), e.g. to
    /// simulate a cell handover. New connections are still accepted unless
    /// offline.
    pub fn cut_all(&self) {
        self.shared
            .kill
            .send_modify(|epoch| *epoch = epoch.wrapping_add(1));
    }

    /// A snapshot of the counters. Byte counters count bytes *delivered* (after
    /// latency), so they may trail what a peer has just read by a few µs.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            bytes_up: s.bytes_up.load(Ordering::Relaxed),
            bytes_down: s.bytes_down.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
            cuts: s.cuts.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            active: s.active.load(Ordering::Relaxed),
        }
    }

    /// Close the listener and every connection, and wait until they are
    /// closed. (Dropping the proxy does the same without waiting.)
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.accept_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.accept_task.take() {
            // Aborting drops the listener and the JoinSet, which aborts every
            // connection task (closing their sockets).
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns: JoinSet<()> = JoinSet::new();
    // Bounded: ends when the proxy is stopped or dropped.
    loop {
        tokio::select! {
            // (Map away the watch::Ref, which is not Send.)
            _ = async { shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, _peer)) => {
                    // Subscribe before reading `offline`, so a concurrent
                    // `set_impairment(offline)` either refuses this connection
                    // here or kills it later — never neither.
                    let kill = shared.kill.subscribe();
                    let (imp, _) = shared.current();
                    if imp.offline || conns.len() >= MAX_CONNECTIONS {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        let _ = client.set_zero_linger();
                        drop(client);
                        continue;
                    }
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    conns.spawn(handle_conn(Arc::clone(&shared), client, kill));
                }
                // E.g. EMFILE: back off instead of spinning.
                Err(_) => sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Both directions reached EOF.
    Clean,
    /// A planned cut (`cut_after_bytes_down`).
    Cut { reset: bool },
    /// `cut_all`, going offline.
    Killed,
    /// An I/O error on either side.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

enum Msg {
    Data { bytes: Vec<u8>, at: Instant },
    Eof { at: Instant },
    Cut { at: Instant, reset: bool },
}

struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle_conn(shared: Arc<Shared>, mut client: TcpStream, mut kill: watch::Receiver<u64>) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = ActiveGuard(Arc::clone(&shared));

    let connect = timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        TcpStream::connect(shared.upstream),
    );
    let mut upstream = tokio::select! {
        r = connect => match r {
            Ok(Ok(s)) => s,
            _ => {
                // Relay unreachable: the device sees a reset, like a dead route.
                let _ = client.set_zero_linger();
                return;
            }
        },
        _ = kill.changed() => {
            shared.cuts.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let end = {
        let (client_r, client_w) = client.split();
        let (upstream_r, upstream_w) = upstream.split();
        let (up_tx, up_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (down_tx, down_rx) = mpsc::channel(CHANNEL_DEPTH);
        let up_chunks = AtomicU64::new(0);
        let both = AtomicU64::new(0);
        let pumps = async {
            tokio::try_join!(
                read_pump(&shared, client_r, up_tx, &up_chunks, &both, Dir::Up),
                write_pump(&shared, upstream_w, up_rx, Dir::Up),
                read_pump(&shared, upstream_r, down_tx, &up_chunks, &both, Dir::Down),
                write_pump(&shared, client_w, down_rx, Dir::Down),
            )
        };
        tokio::select! {
            r = pumps => match r {
                Ok(_) => End::Clean,
                Err(end) => end,
            },
            _ = kill.changed() => End::Killed,
        }
    };

    match end {
        End::Clean => {}
        End::Cut { reset } => {
            shared.cuts.fetch_add(1, Ordering::Relaxed);
            let _ = upstream.set_zero_linger();
            if reset {
                let _ = client.set_zero_linger();
            }
            // Otherwise the down writer already sent FIN after exactly the
            // allowed bytes; a plain close follows.
        }
        End::Killed => {
            shared.cuts.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
        End::Error => {
            // Propagate abruptness to the other side.
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
    }
    // Sockets close here.
}

fn chunk_cap(bandwidth: Option<u64>) -> usize {
    match bandwidth {
        // ~50 chunks per second keeps pacing smooth without a timer storm.
        Some(b) => usize::try_from(b / 50)
            .unwrap_or(MAX_CHUNK)
            .clamp(MIN_PACED_CHUNK, MAX_CHUNK),
        None => MAX_CHUNK,
    }
}

/// Decide where (bytes from now) the current exchange gets cut, if at all.
fn plan_cut(imp: &Impairment, rng: &mut StdRng) -> Option<u64> {
    let limit = imp.cut_after_bytes_down?;
    let p = imp.cut_probability;
    // Also catches NaN.
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    if p < 1.0 && !rng.gen_bool(p) {
        return None;
    }
    if imp.randomize_cut_point {
        let x = ((limit as f64 + 1.0).ln() * rng.gen::<f64>()).exp() - 1.0;
        Some((x.max(0.0) as u64).min(limit))
    } else {
        Some(limit)
    }
}

/// Serialise `bytes` onto the virtual link, then queue them for delivery
/// `latency` later.
async fn emit(
    tx: &mpsc::Sender<Msg>,
    bytes: &[u8],
    imp: &Impairment,
    link_free_at: &mut Instant,
) -> Result<(), End> {
    let at = match imp.bandwidth_bytes_per_sec {
        Some(b) => {
            let now = Instant::now();
            let start = if now <= *link_free_at + PACING_SLACK {
                *link_free_at
            } else {
                now
            };
            let done = start + Duration::from_secs_f64(bytes.len() as f64 / b.max(1) as f64);
            *link_free_at = done;
            if done > now {
                sleep_until(done).await;
            }
            done + imp.latency
        }
        None => Instant::now() + imp.latency,
    };
    tx.send(Msg::Data {
        bytes: bytes.to_vec(),
        at,
    })
    .await
    .map_err(|_| End::Error)
}

/// Reads one direction. The down direction is the one that gets cut and
/// stalled; the up direction counts its chunks in `up_chunks` so the down side
/// can tell when a new exchange (request → response) starts.
async fn read_pump<R: AsyncRead + Unpin>(
    shared: &Shared,
    mut r: R,
    tx: mpsc::Sender<Msg>,
    up_chunks: &AtomicU64,
    both: &AtomicU64,
    dir: Dir,
) -> Result<(), End> {
    let is_down = dir == Dir::Down;
    let mut buf = vec![0u8; MAX_CHUNK];
    let mut link_free_at = Instant::now();
    // Bytes read so far in this direction.
    let mut pos: u64 = 0;
    let mut generation: Option<u64> = None;
    let mut last_up_seen: Option<u64> = None;
    // Absolute `pos` at which to cut / stall.
    let mut cut_at: Option<u64> = None;
    let mut stall_at: Option<(u64, Duration)> = None;

    // Bounded: each iteration consumes ≥ 1 byte or ends the stream.
    loop {
        let cap = chunk_cap(shared.current().0.bandwidth_bytes_per_sec);
        let n = r.read(&mut buf[..cap]).await.map_err(|_| End::Error)?;
        // Re-read: the read may have waited a long time.
        let (imp, gen) = shared.current();
        if n == 0 {
            let at = Instant::now().max(link_free_at) + imp.latency;
            let _ = tx.send(Msg::Eof { at }).await;
            return Ok(());
        }
        if !is_down {
            up_chunks.fetch_add(1, Ordering::Relaxed);
        }
        if is_down {
            let gen_changed = generation != Some(gen);
            if gen_changed {
                generation = Some(gen);
                stall_at = imp
                    .stall
                    .map(|d| (pos.saturating_add(imp.stall_after_bytes), d));
            }
            let ups = up_chunks.load(Ordering::Relaxed);
            if gen_changed || last_up_seen != Some(ups) {
                // A new exchange (or new rules): roll the dice.
                last_up_seen = Some(ups);
                cut_at = shared.plan_cut(&imp).map(|k| pos.saturating_add(k));
            }
        }

        let mut data = &buf[..n];
        // Bounded: every pass forwards ≥ 1 byte, or fires (and clears) a stall,
        // or returns on a cut.
        while !data.is_empty() {
            let mut take = data.len() as u64;
            if let Some(c) = cut_at {
                take = take.min(c.saturating_sub(pos));
            }
            if let Some((s, _)) = stall_at {
                take = take.min(s.saturating_sub(pos));
            }
            let every = imp.cut_every_bytes;
            if let Some(limit) = every {
                take = take.min(limit.saturating_sub(both.load(Ordering::Relaxed)));
            }
            let take = usize::try_from(take).unwrap_or(data.len());
            if take > 0 {
                emit(&tx, &data[..take], &imp, &mut link_free_at).await?;
                pos += take as u64;
                both.fetch_add(take as u64, Ordering::Relaxed);
                data = &data[take..];
            }
            let worn_out = every.is_some_and(|l| both.load(Ordering::Relaxed) >= l);
            if worn_out || cut_at.is_some_and(|c| pos >= c) {
                let at = Instant::now().max(link_free_at) + imp.latency;
                let _ = tx
                    .send(Msg::Cut {
                        at,
                        reset: imp.cut_with_reset,
                    })
                    .await;
                return Ok(());
            }
            if let Some((s, d)) = stall_at {
                if pos >= s {
                    stall_at = None;
                    sleep(d).await;
                }
            }
        }
    }
}

/// Writes one direction: waits until each chunk's delivery time, then writes.
async fn write_pump<W: AsyncWrite + Unpin>(
    shared: &Shared,
    mut w: W,
    mut rx: mpsc::Receiver<Msg>,
    dir: Dir,
) -> Result<(), End> {
    let counter = match dir {
        Dir::Up => &shared.bytes_up,
        Dir::Down => &shared.bytes_down,
    };
    // Bounded: ends when the reader finishes (Eof/Cut) or goes away.
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Data { bytes, at } => {
                wait_until(at).await;
                w.write_all(&bytes).await.map_err(|_| End::Error)?;
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Msg::Eof { at } => {
                wait_until(at).await;
                let _ = w.shutdown().await;
                return Ok(());
            }
            Msg::Cut { at, reset } => {
                wait_until(at).await;
                if !reset {
                    // FIN right after the allowed bytes.
                    let _ = w.shutdown().await;
                }
                return Err(End::Cut { reset });
            }
        }
    }
    Ok(())
}

async fn wait_until(at: Instant) {
    if at > Instant::now() {
        sleep_until(at).await;
    }
}
