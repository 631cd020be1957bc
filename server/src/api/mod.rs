//! The HTTP side (axum): `/health` and `/metrics` now; the REST API, the
//! WebSocket and the web pages arrive with later issues. `app(state)` builds
//! the router so tests can drive it with `oneshot`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::Metrics;
use crate::store::Store;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The SIP sockets actually bound (`udp://127.0.0.1:5060` …).
    pub sip_listen: Arc<Vec<String>>,
    /// When the process started.
    pub started: Instant,
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Response {
    let db = state.store.ping().await;
    let body = json!({
        "status": if db { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "database": db,
        "sip": *state.sip_listen,
        "registrations": state.metrics.registrations_active.load(Ordering::Relaxed),
        "uptime_seconds": state.started.elapsed().as_secs(),
    });
    let status = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "no such route" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn state(pool: sqlx::SqlitePool) -> AppState {
        AppState {
            store: Store::from_pool(pool),
            metrics: Arc::new(Metrics::default()),
            sip_listen: Arc::new(vec!["udp://127.0.0.1:5060".into()]),
            started: Instant::now(),
        }
    }

    async fn get(app: Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn health_reports_database_and_sockets(pool: sqlx::SqlitePool) {
        let (status, body) = get(app(state(pool)), "/health").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["database"], true);
        assert_eq!(v["sip"][0], "udp://127.0.0.1:5060");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn metrics_are_prometheus_text(pool: sqlx::SqlitePool) {
        let s = state(pool);
        s.metrics.auth_failures.fetch_add(3, Ordering::Relaxed);
        let (status, body) = get(app(s), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("careline_auth_failures_total 3\n"), "{body}");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn unknown_route_is_a_json_404(pool: sqlx::SqlitePool) {
        let (status, body) = get(app(state(pool)), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("\"error\""), "{body}");
    }
}
