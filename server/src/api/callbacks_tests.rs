//! Call-back tasks through the API, over a real writer and scheduler.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::super::AppState;
use super::super::tests::{call, next_committed, staff, state};
use crate::store::events::EventRecord;
use crate::store::users::Role;

fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// A call answered by 1001 that broke off just now.
async fn dropped_call(s: &AppState, call_id: &str) {
    let now = crate::store::now_ms();
    let fact = |at: i64, kind: &str, agent: Option<&str>, data: Value| EventRecord {
        seq: 0,
        at,
        kind: kind.into(),
        call_id: Some(call_id.into()),
        agent: agent.map(Into::into),
        data,
        hash: None,
    };
    for e in [
        fact(
            now - 60_000,
            "call_arrived",
            None,
            json!({ "queue": "reception", "caller": "+79211234567" }),
        ),
        fact(
            now - 55_000,
            "answered",
            Some("1001"),
            json!({ "within_deadline": true }),
        ),
        fact(now, "ended", None, json!({ "reason": "dropped" })),
    ] {
        s.events.commit(e).await.unwrap();
    }
}

/// The task once the scheduler has written it (its `callback_created` is
/// committed with the task's row).
async fn task_written(s: &AppState, id: &str) -> crate::callbacks::Task {
    let mut feed = s.live_events.subscribe();
    if let Some(t) = s.store.callback(id).await.unwrap() {
        return t;
    }
    next_committed(&mut feed, |e| {
        e.kind == "callback_created" && e.data["task"]["id"] == id
    })
    .await;
    s.store
        .callback(id)
        .await
        .unwrap()
        .expect("written with its event")
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dropped_call_is_its_agents_task_and_attempts_are_recorded(pool: sqlx::SqlitePool) {
    let logs = crate::log_capture::Captured::start();
    let s = state(pool);
    let t = staff(
        &s,
        &[
            ("1001", Role::Agent),
            ("1002", Role::Agent),
            ("9001", Role::Supervisor),
        ],
    )
    .await;
    dropped_call(&s, "call-00000001").await;
    let task = task_written(&s, "cb-call-00000001").await;
    assert_eq!(task.agent.as_deref(), Some("1001"));
    assert_eq!(task.number, "+79211234567");

    // The agent who had the call sees it; the other agent not yet (grace
    // time); the supervisor sees everything.
    let ids = |body: &Value| -> Vec<String> {
        body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, mine) = call(&s, get("/api/callbacks", &t[0])).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(ids(&mine), ["cb-call-00000001"]);
    assert_eq!(
        mine["tasks"][0]["owner"],
        json!({ "kind": "agent", "name": "1001" })
    );
    let (_, other) = call(&s, get("/api/callbacks", &t[1])).await;
    assert!(ids(&other).is_empty(), "{other}");
    let (_, all) = call(&s, get("/api/callbacks", &t[2])).await;
    assert_eq!(ids(&all), ["cb-call-00000001"]);

    // Only the owner records attempts; supervisors read only.
    let path = "/api/callbacks/cb-call-00000001/attempts";
    let (status, body) = call(&s, post(path, &t[1], json!({ "outcome": "reached" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = call(&s, post(path, &t[2], json!({ "outcome": "reached" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&s, post(path, &t[0], json!({ "outcome": "maybe" }))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("outcome"))
    );
    let (status, body) = call(&s, post(path, &t[0], json!({ "outcome": "busy", "x": 1 }))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {body}"
    );
    let (status, _) = call(
        &s,
        post(
            "/api/callbacks/cb-nope/attempts",
            &t[0],
            json!({ "outcome": "busy" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&s, post(path, &t[0], json!({ "outcome": "no_answer" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "open");
    assert_eq!(body["attempts"][0]["outcome"], "no_answer");
    assert_eq!(body["attempts"][0]["agent"], "1001");
    // Due again after the retry spacing (10 min).
    assert_eq!(
        body["due_at"].as_i64().unwrap() - body["attempts"][0]["at"].as_i64().unwrap(),
        600_000
    );
    let (status, body) = call(&s, post(path, &t[0], json!({ "outcome": "reached" }))).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("done"))
    );
    let (status, _) = call(&s, post(path, &t[0], json!({ "outcome": "reached" }))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Durable: the table and the attempts, and the audit trail.
    let stored = s.store.callback("cb-call-00000001").await.unwrap().unwrap();
    assert_eq!(stored.status, crate::callbacks::Status::Done);
    assert_eq!(stored.attempts.len(), 2);
    let (_, done) = call(&s, get("/api/callbacks?status=done", &t[0])).await;
    assert_eq!(ids(&done), ["cb-call-00000001"]);
    let (status, _) = call(&s, get("/api/callbacks?status=maybe", &t[0])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let kinds: Vec<String> = s
        .store
        .call_events("call-00000001")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("callback_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "callback_created",
            "callback_due",
            "callback_attempted",
            "callback_attempted",
            "callback_closed"
        ]
    );
    assert_eq!(s.store.verify_chain().await.unwrap().broken, None);
    logs.assert_free_of(&["79211234567"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn tasks_survive_a_restart_of_the_scheduler(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let t = staff(&s, &[("1001", Role::Agent)]).await;
    dropped_call(&s, "call-00000002").await;
    task_written(&s, "cb-call-00000002").await;
    // A new scheduler, as after a restart: rebuilt from the store, it
    // neither opens the task again nor forgets it.
    s.callbacks.stop().await;
    let restarted = AppState {
        callbacks: crate::callbacks::runner::Callbacks::spawn(
            s.store.clone(),
            &s.live_events,
            s.events.clone(),
            crate::callbacks::Policy::default(),
            s.phones,
        ),
        ..s.clone()
    };
    let (status, body) = call(
        &restarted,
        post(
            "/api/callbacks/cb-call-00000002/attempts",
            &t[0],
            json!({ "outcome": "wrong_number" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "failed");
    let created = s
        .store
        .call_events("call-00000002")
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "callback_created")
        .count();
    assert_eq!(created, 1);
}
