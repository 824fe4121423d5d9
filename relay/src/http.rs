//! The HTTP face of the relay (axum): routes, body-size limit, request timeout,
//! JSON error bodies, metrics and graceful shutdown. Handlers only decode and encode;
//! the work is in `service`.

use crate::error::RelayError;
use crate::service::Relay;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cunwu_core::ids::now_ms;
use cunwu_core::wire::control::{EnrollRequest, InviteRequest, RevokeRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
        }
    }
}

type AppState = Arc<Relay>;

pub fn router(relay: Arc<Relay>, cfg: &HttpConfig) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/sync", post(sync))
        .route("/v1/enroll", post(enroll))
        .route("/v1/invites", post(invite))
        .route("/v1/revoke", post(revoke))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .with_state(relay)
}

async fn metrics(State(r): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        r.metrics.render(),
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

async fn sync(State(r): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    r.metrics.bytes_in.add(body.len() as u64);
    let relay = r.clone();
    let out = blocking(move || relay.sync(&body, now_ms())).await;
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
    State(r): State<AppState>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Response {
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
    State(r): State<AppState>,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Response {
    match json_body(body) {
        Ok(req) => match blocking(move || r.create_invite(&req, now_ms())).await {
            Ok(resp) => Json(resp).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    State(r): State<AppState>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Response {
    match json_body(body) {
        Ok(req) => match blocking(move || r.revoke(&req, now_ms())).await {
            Ok(()) => Json(serde_json::json!({"revoked": true})).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}
