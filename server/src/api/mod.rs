//! The HTTP side (axum): the web pages (`web/`), `/health`, `/metrics`, and
//! the API under `/api`: logins, agents' states, calls, patients, the live
//! WebSocket, the supervisors' indicators. `app(state)` builds the router so
//! tests can drive it with `oneshot`.

mod auth;
mod callbacks;
mod error;
mod indicators;
pub mod live;
mod openapi;
mod operator;
mod patients;
pub mod phone;
pub mod scripts;
mod teleconsults;
mod users;
mod web;
mod ws;

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
    /// The call core.
    pub core: crate::runtime::CoreHandle,
    /// Committed events, as they are written.
    pub live_events: tokio::sync::broadcast::Sender<Arc<crate::store::events::EventRecord>>,
    /// Where the API's own facts (logins, card views, notes) are written.
    pub events: crate::runtime::EventSink,
    /// Routes committed events to the WebSocket sessions they concern.
    pub hub: live::Hub,
    /// The operator token (`[http] api_token`).
    pub api_token: Option<String>,
    /// The shortest password a new or changed user may have
    /// (`[users] min_password_length`).
    pub min_password: usize,
    /// The running configuration without secrets (`GET /api/config`).
    pub config: Arc<serde_json::Value>,
    /// Reads patients' phone numbers (`[patients] default_region`).
    pub phones: crate::patients::PhoneNormalizer,
    /// The supervisors' live figures.
    pub dashboard: crate::indicators::live::Dashboard,
    /// The call-back scheduler.
    pub callbacks: crate::callbacks::runner::Callbacks,
    /// Each queue's agents and seniors, by queue name.
    pub queue_members: Arc<std::collections::HashMap<String, Vec<String>>>,
    /// Whether a teleconsult lacking consent or payment is refused (or
    /// only warned about).
    pub teleconsult_refuse_missing: bool,
    /// What softphones are told to register with (`GET /api/phone`).
    pub phone: Arc<phone::PhoneSettings>,
    /// The script prompts (`GET /api/scripts`).
    pub scripts: Arc<serde_json::Value>,
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/dashboard", get(web::dashboard))
        .route("/history", get(web::history))
        .route("/agent", get(web::agent))
        .route("/teleconsults", get(web::teleconsults))
        .route("/static/{*path}", get(web::file))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/login", axum::routing::post(auth::login))
        .route("/api/logout", axum::routing::post(auth::logout))
        .route("/api/session", get(auth::session))
        .route("/api/ws", get(ws::upgrade))
        .route("/api/phone", get(phone::settings))
        .route("/api/scripts", get(scripts::get))
        .route("/api/agents", get(operator::list_agents))
        .route(
            "/api/agents/{ext}/state",
            axum::routing::put(operator::set_agent_state),
        )
        .route("/api/calls/{id}", get(operator::get_call))
        .route("/api/calls/{id}/history", get(operator::call_history))
        .route("/api/calls/{id}/hold", axum::routing::put(operator::hold))
        .route(
            "/api/calls/{id}/transfer",
            axum::routing::post(operator::transfer),
        )
        .route(
            "/api/calls/{id}/transfer/complete",
            axum::routing::post(operator::consult_complete),
        )
        .route(
            "/api/calls/{id}/transfer/cancel",
            axum::routing::post(operator::consult_cancel),
        )
        .route("/api/callbacks", get(callbacks::list))
        .route(
            "/api/callbacks/{id}/attempts",
            axum::routing::post(callbacks::attempt),
        )
        .route(
            "/api/callbacks/{id}/call",
            axum::routing::post(callbacks::call_now),
        )
        .route("/api/appointments", get(teleconsults::list_appointments))
        .route(
            "/api/appointments/{id}",
            axum::routing::put(teleconsults::put_appointment),
        )
        .route("/api/teleconsults", get(teleconsults::log))
        .route(
            "/api/teleconsults/{id}/call",
            axum::routing::post(teleconsults::call),
        )
        .route("/api/indicators", get(indicators::history))
        .route("/api/indicators/live", get(indicators::live))
        .route("/api/audit/status", get(indicators::audit_status))
        .route("/api/users", get(users::list).post(users::add))
        .route("/api/users/{ext}", axum::routing::patch(users::change))
        .route("/api/config", get(users::config))
        .route("/api/patients", get(patients::find_patients))
        .route(
            "/api/patients/{mis_id}",
            get(patients::get_patient).put(patients::put_patient),
        )
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

    /// State over `pool` with a running event writer (inside a runtime).
    pub(crate) fn state(pool: sqlx::SqlitePool) -> AppState {
        let store = Store::from_pool(pool);
        let metrics = Arc::new(Metrics::default());
        let (events, live_events, _) =
            crate::runtime::spawn_event_writer(store.clone(), metrics.clone());
        let queue_members: live::QueueMembers = Arc::new(
            [(
                "reception".to_string(),
                vec!["1001".to_string(), "1002".to_string()],
            )]
            .into_iter()
            .collect(),
        );
        let hub = live::Hub::spawn(&live_events, Arc::clone(&queue_members));
        let dashboard = crate::indicators::live::Dashboard::spawn(
            store.clone(),
            &live_events,
            &crate::config::DashboardConfig::default(),
            vec!["reception".into()],
        );
        let callbacks = crate::callbacks::runner::Callbacks::spawn(
            store.clone(),
            &live_events,
            events.clone(),
            crate::callbacks::Policy::default(),
            crate::patients::PhoneNormalizer::new("RU").unwrap(),
        );
        AppState {
            dashboard,
            callbacks,
            teleconsult_refuse_missing: true,
            phone: Arc::new(phone::PhoneSettings {
                domain: "clinic.test".into(),
                register_expires: 300,
            }),
            scripts: Arc::new(scripts::default_document("Clinic on Nevsky")),
            queue_members,
            store,
            metrics,
            events,
            hub,
            sip_listen: Arc::new(vec!["udp://127.0.0.1:5060".into()]),
            started: Instant::now(),
            core: crate::runtime::CoreHandle::detached(),
            live_events,
            api_token: Some("test-token-0123456789".into()),
            min_password: 8,
            config: Arc::new(crate::config::Config::default().summary()),
            phones: crate::patients::PhoneNormalizer::new("RU").unwrap(),
        }
    }

    /// Adds staff (`user EXT`, password `password-EXT`) and gives each a
    /// session: their tokens, in order.
    pub(crate) async fn staff(
        s: &AppState,
        staff: &[(&str, crate::store::users::Role)],
    ) -> Vec<String> {
        let users: Vec<_> = staff
            .iter()
            .map(|&(ext, role)| {
                crate::store::users::NewUser {
                    extension: ext.into(),
                    name: format!("user {ext}"),
                    role,
                    password: format!("password-{ext}"),
                }
                .prepare("127.0.0.1", 8)
                .unwrap()
            })
            .collect();
        s.store.insert_users(&users).await.unwrap();
        let mut tokens = Vec::new();
        for &(ext, _) in staff {
            let t = format!("token-of-{ext}-0123456789");
            s.store.create_session(&t, ext, 0, i64::MAX).await.unwrap();
            tokens.push(t);
        }
        tokens
    }

    /// The next committed event `pred` accepts, from `feed` (subscribed
    /// before it could be written); fails the test after 10 s.
    pub(crate) async fn next_committed(
        feed: &mut tokio::sync::broadcast::Receiver<Arc<crate::store::events::EventRecord>>,
        pred: impl Fn(&crate::store::events::EventRecord) -> bool,
    ) -> Arc<crate::store::events::EventRecord> {
        let wait = async {
            loop {
                match feed.recv().await {
                    Ok(e) if pred(&e) => return e,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("the event feed ended: {e}"),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .expect("the event within 10 s")
    }

    /// A request with a JSON content type, a bearer token if given, and a
    /// body if given.
    pub(crate) fn request(
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Request<Body> {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap()
    }

    /// The committed card views: who saw a card, on which call.
    pub(crate) async fn card_views(s: &AppState) -> Vec<(Option<String>, Option<String>)> {
        s.store
            .events_after(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "card_viewed")
            .map(|e| (e.agent, e.call_id))
            .collect()
    }

    /// Sends a request through the router; the status and the JSON body
    /// (`null` when the body is not JSON).
    pub(crate) async fn call(
        state: &AppState,
        req: Request<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let resp = app(state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
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

    async fn send(app: Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn operator_routes_need_the_token(pool: sqlx::SqlitePool) {
        let (status, body) = send(
            app(state(pool.clone())),
            Request::get("/api/agents").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "missing or invalid bearer token");
        let wrong = Request::get("/api/agents")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(app(state(pool.clone())), wrong).await.0,
            StatusCode::UNAUTHORIZED
        );
        // Without a configured operator token, no token opens the API but a login's.
        let mut closed = state(pool);
        closed.api_token = None;
        let (status, body) = send(
            app(closed),
            Request::get("/api/calls/call-1")
                .header("authorization", "Bearer test-token-0123456789")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "missing or invalid bearer token");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn completing_a_transfer_is_for_the_agent_on_the_call(pool: sqlx::SqlitePool) {
        for action in ["complete", "cancel"] {
            let path = format!("/api/calls/call-00000001/transfer/{action}");
            let (status, _) = send(
                app(state(pool.clone())),
                Request::post(path.as_str()).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            // The operator token is no agent: it cannot hand a call on.
            let (status, body) = send(
                app(state(pool.clone())),
                Request::post(path.as_str())
                    .header("authorization", "Bearer test-token-0123456789")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("agent on the call"),
                "{body}"
            );
        }
        let (status, _) = send(
            app(state(pool)),
            Request::post("/api/calls/call-00000001/transfer/finish")
                .header("authorization", "Bearer test-token-0123456789")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no such action");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn bad_agent_state_bodies_get_a_clear_400(pool: sqlx::SqlitePool) {
        let put = |body: &'static str| {
            Request::put("/api/agents/1001/state")
                .header("authorization", "Bearer test-token-0123456789")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        let (status, body) = send(app(state(pool.clone())), put(r#"{"state": "napping"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["field"], "state");
        assert!(body["error"].as_str().unwrap().contains("napping"));
        let (status, body) = send(
            app(state(pool.clone())),
            put(r#"{"state": "paused", "extra": 1}"#),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("extra"), "{body}");
        let (status, _) = send(app(state(pool)), put("not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn unknown_call_is_404(pool: sqlx::SqlitePool) {
        let req = Request::get("/api/calls/call-ffffffff")
            .header("authorization", "Bearer test-token-0123456789")
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(app(state(pool)), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no call call-ffffffff");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn unknown_route_is_a_json_404(pool: sqlx::SqlitePool) {
        let (status, body) = get(app(state(pool)), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("\"error\""), "{body}");
    }
}
