//! The HTTP face of the relay (axum): routes, body-size limit, body-read deadline and
//! memory budget, request timeout, the bound on concurrent sync work (503 + Retry-After past it),
//! JSON error bodies and metrics. Handlers only decode and encode; the work is in
//! `service`. Connections (header-read timeout, connection cap, graceful shutdown)
//! are `crate::serve`'s.

use crate::error::RelayError;
use crate::service::Relay;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cunwu_protocol::ids::now_ms;
use cunwu_protocol::wire::control::{EnrollRequest, InviteRequest, RevokeRequest, RotateRequest};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The relay's HTTP knobs (each a flag of `cunwu-relay serve`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted (413 past it).
    pub max_body_bytes: usize,
    /// A request not answered within this is answered 408.
    pub request_timeout: Duration,
    /// A connection waiting for a request's headers, new or kept alive between
    /// requests, is closed after this: idle and slow-header connections cost a slot
    /// for this long at most.
    pub header_timeout: Duration,
    /// A request body must have arrived within this (408 otherwise): a client
    /// trickling its body holds a connection no longer.
    pub body_timeout: Duration,
    /// Connections served at once. Past the cap, new connections wait in the
    /// kernel's accept queue (in arrival order) until a slot frees, which the
    /// header timeout guarantees within seconds. Lowered at start to what the
    /// open-file limit allows.
    pub max_connections: usize,
    /// Syncs decoded and worked on at once: each may inflate up to the decoded-size
    /// limit, so this bounds the memory a flood of large bodies can take.
    pub sync_workers: usize,
    /// How long a sync waits for a worker before it is answered 503 (Retry-After).
    pub sync_queue_wait: Duration,
    /// Bytes of request bodies held in memory at once, over all connections: a flood
    /// of large bodies is slowed down, then answered 503, instead of taking the
    /// machine's memory (connections × body limit could be far more).
    pub body_memory_bytes: usize,
}

/// About twice the cores: sync work is CPU (signatures, automerge) plus fsyncs.
pub fn default_sync_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 2
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            sync_workers: default_sync_workers(),
            sync_queue_wait: Duration::from_secs(2),
            body_memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
struct AppState {
    relay: Arc<Relay>,
    /// Permits for sync work (`HttpConfig::sync_workers`).
    sync_slots: Arc<Semaphore>,
    sync_queue_wait: Duration,
}

#[derive(Clone)]
struct BodyRules {
    max_bytes: usize,
    timeout: Duration,
    /// Bytes of request bodies held in memory at once, over all connections
    /// (`HttpConfig::body_memory_bytes`); one permit per byte received.
    memory: Arc<Semaphore>,
}

pub fn router(relay: Arc<Relay>, cfg: &HttpConfig) -> Router {
    let memory = Arc::new(Semaphore::new(
        cfg.body_memory_bytes.clamp(1, Semaphore::MAX_PERMITS),
    ));
    router_with(
        relay,
        cfg,
        Arc::new(Semaphore::new(cfg.sync_workers.max(1))),
        memory,
    )
}

fn router_with(
    relay: Arc<Relay>,
    cfg: &HttpConfig,
    sync_slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
) -> Router {
    let state = AppState {
        relay,
        sync_slots,
        sync_queue_wait: cfg.sync_queue_wait,
    };
    let body = BodyRules {
        max_bytes: cfg.max_body_bytes,
        timeout: cfg.body_timeout,
        memory,
    };
    // the attachment lane reads its bodies itself, piece by piece (never whole, never
    // behind the body-read middleware), and takes no sync worker
    let blobs = Router::new()
        .route("/v1/blobs/:hash", get(blob_get).put(blob_put))
        .route(
            "/v1/blobs/:hash/pieces",
            get(blob_get_pieces).put(blob_put_pieces),
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/sync", post(sync))
        .route("/v1/enroll", post(enroll))
        .route("/v1/invites", post(invite))
        .route("/v1/revoke", post(revoke))
        .route("/v1/rotate", post(rotate))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            body,
            read_body_in_time,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .merge(blobs)
        .with_state(state)
}

/// Read the whole request body within `BodyRules::timeout` and `max_bytes` before
/// any handler runs: a body trickled byte by byte is answered 408 and its connection
/// freed, one over the limit 413 without reading the rest. Every byte read is charged
/// to the relay-wide body memory budget until the answer is made: past the budget,
/// reading waits (the client is slowed down), and a body still short of memory at its
/// deadline is answered 503.
async fn read_body_in_time(State(rules): State<BodyRules>, req: Request, next: Next) -> Response {
    let (parts, mut body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let deadline = tokio::time::Instant::now() + rules.timeout;
    if declared.is_some_and(|n| n > rules.max_bytes as u64) {
        drain(&mut body, deadline, declared).await;
        return too_large(rules.max_bytes);
    }
    let late = || {
        RelayError::Timeout(format!(
            "the request body did not arrive within {} s; send it at once",
            rules.timeout.as_secs_f32()
        ))
        .into_response()
    };
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n.min(64 * 1024) as usize));
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return late(),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return RelayError::BadRequest(format!("reading the request body: {e}"))
                    .into_response()
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > rules.max_bytes {
            drop(bytes);
            drain(&mut body, deadline, None).await;
            return too_large(rules.max_bytes);
        }
        if !data.is_empty() {
            let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
            match tokio::time::timeout_at(deadline, rules.memory.clone().acquire_many_owned(n))
                .await
            {
                Ok(Ok(p)) => match held.as_mut() {
                    Some(h) => h.merge(p),
                    None => held = Some(p),
                },
                _ => return RelayError::Unavailable(
                    "the relay holds too many request bodies in memory right now; retry shortly"
                        .into(),
                )
                .into_response(),
            }
        }
        bytes.extend_from_slice(&data);
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(held);
    resp
}

/// Most bytes of a body over the limit read and thrown away before the 413 is sent.
const DRAIN_AT_MOST: u64 = 8 * 1024 * 1024;

/// Read and discard what is left of a body over the limit, when that is at most
/// [`DRAIN_AT_MOST`] bytes and arrives before `deadline`, so the client, still writing,
/// reads the 413 and its reason instead of a connection reset. Nothing is kept; a
/// larger or slower body is cut as before.
async fn drain(body: &mut Body, deadline: tokio::time::Instant, declared: Option<u64>) {
    if declared.is_some_and(|n| n > DRAIN_AT_MOST) {
        return;
    }
    let mut seen: u64 = 0;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > DRAIN_AT_MOST {
                return;
            }
        }
    }
}

fn too_large(max: usize) -> Response {
    RelayError::TooLarge(format!(
        "request body is larger than this relay's limit of {max} bytes"
    ))
    .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.relay.metrics.render(),
    )
        .into_response()
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, RelayError> {
    body.map(|Json(t)| t)
        .map_err(|e| RelayError::BadRequest(format!("request body: {}", e.body_text())))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, RelayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RelayError::Storage(format!("worker failed: {e}")))?
}

async fn sync(State(s): State<AppState>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    // the newest sync response this device reads (an older app does not say: version 3)
    let version = headers
        .get(cunwu_protocol::wire::RESPONSE_VERSION_HEADER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u8>().ok())
        .map_or(cunwu_protocol::wire::WRITTEN_VERSION, |v| {
            v.min(cunwu_protocol::wire::WIRE_VERSION)
        });
    let started = Instant::now();
    let r = s.relay.clone();
    r.metrics.bytes_in.add(body.len() as u64);
    // a bounded number of syncs decode and work at once; the others wait briefly
    let permit =
        match tokio::time::timeout(s.sync_queue_wait, s.sync_slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                r.metrics.sync_errors.inc();
                return RelayError::Unavailable(format!(
                    "the relay is busy with other syncs (none free within {} s); retry shortly",
                    s.sync_queue_wait.as_secs_f32()
                ))
                .into_response();
            }
        };
    let relay = r.clone();
    let out = blocking(move || {
        let out = relay.sync(&body, now_ms(), version);
        drop(permit);
        out
    })
    .await;
    r.metrics.sync_latency.observe(started.elapsed());
    match out {
        Ok(bytes) => {
            r.metrics.syncs.inc();
            r.metrics.bytes_out.add(bytes.len() as u64);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-cunwu")],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            r.metrics.sync_errors.inc();
            e.into_response()
        }
    }
}

async fn enroll(
    State(s): State<AppState>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Response {
    let r = s.relay;
    let out = match json_body(body) {
        Ok(req) => {
            let relay = r.clone();
            blocking(move || relay.enroll(&req, now_ms())).await
        }
        Err(e) => Err(e),
    };
    match out {
        Ok(resp) => {
            r.metrics.enrollments.inc();
            Json(resp).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn invite(
    State(s): State<AppState>,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Response {
    let r = s.relay;
    match json_body(body) {
        Ok(req) => match blocking(move || r.create_invite(&req, now_ms())).await {
            Ok(resp) => Json(resp).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    State(s): State<AppState>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Response {
    let r = s.relay;
    match json_body(body) {
        Ok(req) => match blocking(move || r.revoke(&req, now_ms())).await {
            Ok(()) => Json(serde_json::json!({"revoked": true})).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn rotate(
    State(s): State<AppState>,
    body: Result<Json<RotateRequest>, JsonRejection>,
) -> Response {
    let r = s.relay;
    match json_body(body) {
        Ok(req) => match blocking(move || r.rotate(&req, now_ms())).await {
            Ok(resp) => Json(resp).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

// ---- the attachment lane (`service/blobs.rs`, `wire::blob`) ------------------------------

/// The signed header of a blob request (a header that is not text reads as malformed).
fn blob_auth(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(cunwu_protocol::wire::blob::AUTH_HEADER)
        .map(|v| v.to_str().unwrap_or("").to_string())
}

/// `offset` and `len` of a blob request's query.
fn blob_query(q: Option<&str>) -> Result<(Option<u64>, Option<u64>), RelayError> {
    let (mut offset, mut len) = (None, None);
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || {
            v.parse::<u64>().map_err(|_| {
                RelayError::BadRequest(format!(
                    "the query's {k} must be a number of bytes, not {v:?}"
                ))
            })
        };
        match k {
            "offset" => offset = Some(n()?),
            "len" => len = Some(n()?),
            _ => {
                return Err(RelayError::BadRequest(format!(
                    "a blob request takes only offset and len in its query, not {k:?}"
                )))
            }
        }
    }
    Ok((offset, len))
}

fn json_or_error<T: serde::Serialize>(r: Result<T, RelayError>) -> Response {
    match r {
        Ok(t) => Json(t).into_response(),
        Err(e) => e.into_response(),
    }
}

fn bytes_or_error(r: Result<Vec<u8>, RelayError>) -> Response {
    match r {
        Ok(b) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            b,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/blobs/{hash}` (status) and `GET /v1/blobs/{hash}?offset=N&len=L` (bytes).
async fn blob_get(
    State(s): State<AppState>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    use cunwu_protocol::wire::blob::Op;
    let auth = blob_auth(&headers);
    let (offset, len) = match blob_query(q.as_deref()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let r = s.relay;
    match offset {
        None => json_or_error(
            blocking(move || {
                let c = r.blob_caller(auth.as_deref(), Op::Status, &hash, 0, now_ms())?;
                r.blob_status(&c, &hash)
            })
            .await,
        ),
        Some(offset) => bytes_or_error(
            blocking(move || {
                let c = r.blob_caller(auth.as_deref(), Op::Get, &hash, offset, now_ms())?;
                let len =
                    len.unwrap_or(cunwu_protocol::model::attachment::MAX_TRANSFER_BYTES as u64);
                r.blob_get(&c, &hash, offset, len)
            })
            .await,
        ),
    }
}

/// `GET /v1/blobs/{hash}/pieces`.
async fn blob_get_pieces(
    State(s): State<AppState>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    use cunwu_protocol::wire::blob::Op;
    let auth = blob_auth(&headers);
    let r = s.relay;
    bytes_or_error(
        blocking(move || {
            let c = r.blob_caller(auth.as_deref(), Op::GetPieces, &hash, 0, now_ms())?;
            r.blob_get_pieces(&c, &hash)
        })
        .await,
    )
}

/// The most bytes a piece list has (`MAX_PIECES` hashes of 32 bytes).
const MAX_PIECE_LIST_BYTES: usize = cunwu_protocol::model::attachment::MAX_PIECES * 32;

/// `PUT /v1/blobs/{hash}/pieces`: authenticated before the body is read, which is
/// bounded by the longest piece list.
async fn blob_put_pieces(
    State(s): State<AppState>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    mut body: Body,
) -> Response {
    let resp = blob_put_pieces_body(s, hash, &headers, &mut body).await;
    drain_after_refusal(resp, &headers, &mut body).await
}

async fn blob_put_pieces_body(
    s: AppState,
    hash: String,
    headers: &axum::http::HeaderMap,
    body: &mut Body,
) -> Response {
    use cunwu_protocol::wire::blob::Op;
    let auth = blob_auth(headers);
    let r = s.relay.clone();
    let h = hash.clone();
    let caller = match blocking(move || {
        r.blob_caller(auth.as_deref(), Op::PutPieces, &h, 0, now_ms())
    })
    .await
    {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut list = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map(|f| f.into_data()) else {
            return RelayError::BadRequest("the piece list's body was cut".into()).into_response();
        };
        let Ok(data) = data else { continue };
        if list.len() + data.len() > MAX_PIECE_LIST_BYTES {
            return RelayError::TooLarge(format!(
                "a piece list has at most {MAX_PIECE_LIST_BYTES} bytes (32 per piece)"
            ))
            .into_response();
        }
        list.extend_from_slice(&data);
    }
    let r = s.relay;
    json_or_error(blocking(move || r.blob_put_pieces(&caller, &hash, &list)).await)
}

/// `PUT /v1/blobs/{hash}?offset=N`: authenticated and checked (the caller's resume
/// point) before the body is read; the body is cut into pieces as it streams in, each
/// verified and stored durably on its own, so a body cut mid-way keeps every whole
/// piece it delivered. At most one piece and one frame are held in memory.
async fn blob_put(
    State(s): State<AppState>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
    mut body: Body,
) -> Response {
    let resp = blob_put_body(s, hash, q, &headers, &mut body).await;
    drain_after_refusal(resp, &headers, &mut body).await
}

/// After a refusal (a wrong offset, a corrupt piece, a body over the limit, …) read and
/// discard what is left of the body (bounded: [`drain`]), so the device, still writing,
/// reads the answer and its reason (the right offset to resume from) instead of a
/// connection reset.
async fn drain_after_refusal(
    resp: Response,
    headers: &axum::http::HeaderMap,
    body: &mut Body,
) -> Response {
    if !resp.status().is_success() {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        drain(
            body,
            tokio::time::Instant::now() + BLOB_DRAIN_WAIT,
            declared,
        )
        .await;
    }
    resp
}

/// How long a refused blob upload's body is read and thrown away, at most.
const BLOB_DRAIN_WAIT: Duration = Duration::from_secs(10);

async fn blob_put_body(
    s: AppState,
    hash: String,
    q: Option<String>,
    headers: &axum::http::HeaderMap,
    body: &mut Body,
) -> Response {
    use crate::service::blobs::{upload_piece_len, PutPlan};
    use cunwu_protocol::model::attachment::{MAX_TRANSFER_BYTES, PIECE_BYTES};
    use cunwu_protocol::wire::blob::Op;
    let auth = blob_auth(headers);
    let offset = match blob_query(q.as_deref()) {
        Ok((Some(o), None)) => o,
        Ok(_) => {
            return RelayError::BadRequest(
                "an upload names where its bytes start: PUT /v1/blobs/{hash}?offset=N".into(),
            )
            .into_response()
        }
        Err(e) => return e.into_response(),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let r = s.relay.clone();
    let h = hash.clone();
    let start = blocking(move || {
        let c = r.blob_caller(auth.as_deref(), Op::Put, &h, offset, now_ms())?;
        let plan = r.blob_begin_put(&c, &h, offset)?;
        Ok((c, plan))
    })
    .await;
    let (caller, up) = match start {
        Ok((_, PutPlan::Done(status))) => return Json(status).into_response(),
        Ok((c, PutPlan::Take(up))) => (Arc::new(c), Arc::new(up)),
        Err(e) => return e.into_response(),
    };
    if declared.is_some_and(|n| n > MAX_TRANSFER_BYTES as u64) {
        return RelayError::TooLarge(format!(
            "a blob upload carries at most {MAX_TRANSFER_BYTES} bytes; send the rest in further requests"
        ))
        .into_response();
    }
    let mut piece: Vec<u8> = Vec::with_capacity(PIECE_BYTES);
    let mut i = up.first_piece;
    let mut total = 0usize;
    loop {
        let data = match body.frame().await {
            None => break,
            Some(Err(e)) => {
                // the pieces before the cut are kept; the device resumes from its `have`
                return RelayError::BadRequest(format!(
                    "the upload was cut after {total} bytes ({e}); the whole pieces before the cut are kept"
                ))
                .into_response();
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        total += data.len();
        if total > MAX_TRANSFER_BYTES {
            return RelayError::TooLarge(format!(
                "a blob upload carries at most {MAX_TRANSFER_BYTES} bytes; the pieces before the limit are kept, send the rest in further requests"
            ))
            .into_response();
        }
        let mut rest = &data[..];
        while !rest.is_empty() {
            let Some(need) = upload_piece_len(&up, i) else {
                return RelayError::BadRequest(format!(
                    "the upload runs past the end of {hash} ({} bytes)",
                    up.list.size
                ))
                .into_response();
            };
            let take = (need - piece.len()).min(rest.len());
            piece.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if piece.len() == need {
                let bytes = std::mem::replace(&mut piece, Vec::with_capacity(PIECE_BYTES));
                let (r, c, u) = (s.relay.clone(), caller.clone(), up.clone());
                if let Err(e) = blocking(move || r.blob_take_piece(&c, &u, i, &bytes)).await {
                    return e.into_response();
                }
                i += 1;
            }
        }
    }
    // a partial piece at the end is dropped: it cannot be verified on its own
    let r = s.relay;
    json_or_error(blocking(move || r.blob_status_after(&caller, &hash)).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SqliteStorage;
    use crate::service::Limits;
    use tower::Service;

    async fn call(
        app: &Router,
        req: axum::http::Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let resp = app.clone().call(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn relay(dir: &tempfile::TempDir) -> Arc<Relay> {
        Arc::new(Relay::new(
            Arc::new(SqliteStorage::open(&dir.path().join("r.db")).unwrap()),
            Limits::default(),
        ))
    }

    fn post_sync(body: &'static [u8]) -> axum::http::Request<Body> {
        axum::http::Request::post("/v1/sync")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn syncs_past_the_work_bound_wait_briefly_then_get_503_with_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = HttpConfig {
            sync_workers: 1,
            sync_queue_wait: Duration::from_millis(100),
            ..HttpConfig::default()
        };
        let slots = Arc::new(Semaphore::new(1));
        let app = router_with(
            relay(&dir),
            &cfg,
            slots.clone(),
            Arc::new(Semaphore::new(1 << 20)),
        );
        // the only worker is busy
        let busy = slots.clone().try_acquire_owned().unwrap();
        let started = Instant::now();
        let (status, headers, body) = call(&app, post_sync(b"not a frame")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "it waited for a worker first"
        );
        assert_eq!(
            headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        assert!(body.contains("busy"), "{body}");
        // the health check never waits for sync workers
        let (status, _, _) = call(
            &app,
            axum::http::Request::get("/healthz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // once the worker is free, the same request is worked on (and refused for what it is)
        drop(busy);
        let (status, _, body) = call(&app, post_sync(b"not a frame")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    #[tokio::test]
    async fn a_body_declared_over_the_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(
            relay(&dir),
            &HttpConfig {
                max_body_bytes: 1000,
                ..HttpConfig::default()
            },
        );
        let req = axum::http::Request::post("/v1/sync")
            .header(header::CONTENT_LENGTH, "5000000")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body.contains("limit of 1000 bytes"), "{body}");
        // a body over the limit without a declared length is cut off at the limit
        let big = axum::http::Request::post("/v1/sync")
            .body(Body::from(vec![0u8; 5000]))
            .unwrap();
        let (status, _, body) = call(&app, big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    }

    #[tokio::test]
    async fn bodies_past_the_memory_budget_wait_then_get_503_and_the_budget_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let relay = relay(&dir);
        let cfg = HttpConfig {
            body_timeout: Duration::from_millis(300),
            ..HttpConfig::default()
        };
        let memory = Arc::new(Semaphore::new(10_000));
        let app = router_with(relay, &cfg, Arc::new(Semaphore::new(4)), memory.clone());
        let post = |n: usize| {
            axum::http::Request::post("/v1/sync")
                .body(Body::from(vec![7u8; n]))
                .unwrap()
        };
        // other bodies hold 8000 of the 10000 bytes: a 5000-byte body cannot be held
        let others = memory.clone().try_acquire_many_owned(8000).unwrap();
        let resp = app.clone().call(post(5000)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        assert_eq!(
            memory.available_permits(),
            2000,
            "nothing of the refused body stays charged"
        );
        // once memory is free the same body is read (and refused for what it is)
        drop(others);
        let resp = app.clone().call(post(5000)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            memory.available_permits(),
            10_000,
            "released after the answer"
        );
    }
}
