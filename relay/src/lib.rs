//! cunwu-relay: the HTTP relay that every phone of a space syncs with. It checks
//! every incoming change with the same policy the phones run (cunwu-core), keeps the
//! space log, and serves each member what they may read, in one round trip.
//!
//! `serve` runs it on a listener; `spawn` runs it in-process (the CLI demo, tests).

pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod pg;
pub mod service;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

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

/// Serve until `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    relay: Arc<Relay>,
    listener: tokio::net::TcpListener,
    cfg: HttpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(relay, &cfg);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
