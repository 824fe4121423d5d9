//! cunwu-relay: the HTTP relay that every phone of a space syncs with. It checks
//! every incoming change with the same policy the phones run (cunwu-protocol), keeps the
//! space log, and serves each member what they may read, in one round trip.
//!
//! `serve` runs it on a listener with bounded connections; `spawn` runs it
//! in-process (the CLI demo, tests).

pub mod db;
pub mod error;
mod group;
pub mod http;
pub mod metrics;
pub mod pg;
pub mod service;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::RelayError;
pub use http::HttpConfig;
pub use service::{Limits, Relay};

/// Open the relay on `db`: an SQLite file (created when missing), or a PostgreSQL
/// database when `db` is a `postgres://` URL (tables created when missing).
pub fn open(db: &Path, limits: Limits) -> Result<Arc<Relay>, RelayError> {
    let storage: Arc<dyn db::Storage> = match db.to_str().filter(|s| pg::is_url(s)) {
        Some(url) => Arc::new(pg::PgStorage::open(url)?),
        None => Arc::new(db::SqliteStorage::open(db)?),
    };
    Ok(Arc::new(Relay::new(storage, limits)))
}

/// Serve until `shutdown` resolves; requests in flight finish first (for at most the
/// request timeout), idle connections are closed at once.
///
/// Connections are bounded: at most `cfg.max_connections` are served at once (the
/// rest wait in the kernel's accept queue, in arrival order), and a connection
/// waiting for a request's headers (new, or idle between keep-alive requests) is
/// closed after `cfg.header_timeout`, so idle and slow-header connections from
/// nobody in particular free their slot within seconds and honest syncs get in.
pub async fn serve(
    relay: Arc<Relay>,
    listener: tokio::net::TcpListener,
    cfg: HttpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    // a relay serves for months: the nonces of old control requests are forgotten hourly
    let pruner = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
            hourly.tick().await;
            loop {
                hourly.tick().await;
                let r = relay.clone();
                match tokio::task::spawn_blocking(move || {
                    r.prune_nonces(cunwu_protocol::ids::now_ms())
                })
                .await
                {
                    Ok(Ok(n)) if n > 0 => {
                        tracing::info!(rows = n, "pruned the nonces of old control requests")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not prune nonces"),
                    _ => {}
                }
            }
        })
    };
    let app = http::router(relay, &cfg);
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // take a slot before accepting: past the cap, connections wait in the backlog
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the connection semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // out of file descriptors, a connection reset before accept, ...:
                    // keep serving the connections already open
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    pruner.abort();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(cfg.request_timeout + Duration::from_secs(1)) => {
            tracing::warn!("shutdown: connections still open after the request timeout are dropped");
        }
    }
    Ok(())
}

/// Raise this process's open-file limit (RLIMIT_NOFILE) to its hard limit, so the
/// connection cap, not the default soft limit (often 1024), bounds what the relay
/// serves. Returns the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The connection cap that the open-file limit `nofile` allows: what is asked for,
/// less a reserve for the database, logs and the blocking pool's files.
pub fn connection_cap(asked: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(128).max(16);
    asked
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

/// A relay running inside this process on a loopback port.
pub struct RunningRelay {
    pub addr: SocketAddr,
    pub relay: Arc<Relay>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningRelay {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

pub async fn spawn(db: &Path) -> Result<RunningRelay, RelayError> {
    let relay = open(db, Limits::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RelayError::Storage(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RelayError::Storage(e.to_string()))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let r = relay.clone();
    let handle = tokio::spawn(serve(r, listener, HttpConfig::default(), async {
        let _ = rx.await;
    }));
    Ok(RunningRelay {
        addr,
        relay,
        stop: Some(tx),
        handle: Some(handle),
    })
}
