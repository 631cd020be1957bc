//! The indicator routes over a real event writer.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::super::AppState;
use super::super::tests::{call, staff, state};
use crate::store::events::EventRecord;
use crate::store::users::Role;

/// 2026-11-24 10:00:00 UTC.
const T0: i64 = 1_795_514_400_000;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;

fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Raw text of a response (for CSV).
async fn get_text(s: &AppState, path: &str, token: &str) -> (StatusCode, String, String) {
    use tower::ServiceExt;
    let resp = super::super::app(s.clone())
        .oneshot(get(path, token))
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

/// Follows the dashboard until a snapshot has folded in event `last`; the
/// watch (kept, the dashboard stays "watched") and that snapshot.
async fn caught_up(
    d: &crate::indicators::live::Dashboard,
    last: i64,
) -> (crate::indicators::live::Watch, std::sync::Arc<Value>) {
    let mut w = d.subscribe();
    let wait = async {
        loop {
            let snap = w.borrow_and_update().clone();
            if snap["seq"].as_i64().unwrap_or(0) >= last {
                return snap;
            }
            w.changed().await.expect("the dashboard runs");
        }
    };
    let snap = tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .expect("the dashboard caught up within 10 s");
    (w, snap)
}

fn fact(at: i64, kind: &str, call: &str, agent: Option<&str>, data: Value) -> EventRecord {
    EventRecord {
        seq: 0,
        at,
        kind: kind.into(),
        call_id: Some(call.into()),
        agent: agent.map(Into::into),
        data,
        hash: None,
    }
}

/// One call answered in time at `t`, one abandoned after the deadline at
/// `t + 20 min`, both in queue reception.
async fn two_calls(s: &AppState, t: i64) {
    let q = json!({ "queue": "reception", "caller": "+79211234567" });
    for e in [
        fact(t, "call_arrived", "c-1", None, q.clone()),
        fact(
            t,
            "agent_offered",
            "c-1",
            Some("1001"),
            json!({ "tier": "agent" }),
        ),
        fact(
            t + 4 * S,
            "answered",
            "c-1",
            Some("1001"),
            json!({ "tier": "agent", "wait_ms": 4_000, "within_deadline": true }),
        ),
        fact(
            t + 64 * S,
            "ended",
            "c-1",
            None,
            json!({ "reason": "completed" }),
        ),
        fact(t + 20 * MIN, "call_arrived", "c-2", None, q.clone()),
        fact(
            t + 20 * MIN + 30 * S,
            "abandoned",
            "c-2",
            None,
            json!({ "wait_ms": 30_000, "after_deadline": true }),
        ),
    ] {
        s.events.commit(e).await.unwrap();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn history_per_quarter_hour_and_its_csv_export(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(&s, &[("9001", Role::Supervisor)]).await;
    two_calls(&s, T0 + MIN).await;
    let path = format!("/api/indicators?from={T0}&to={}&step=15m", T0 + 60 * MIN);
    let (status, body) = call(&s, get(&path, &tokens[0])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let iv = body["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 4);
    assert_eq!(
        (iv[0]["start"].as_i64(), iv[0]["end"].as_i64()),
        (Some(T0), Some(T0 + 15 * MIN))
    );
    assert_eq!(
        (iv[0]["offered"].as_u64(), iv[0]["answered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(iv[0]["service_level"], 1.0);
    assert_eq!(iv[0]["asa_ms"], 4_000);
    assert_eq!(
        (iv[1]["offered"].as_u64(), iv[1]["abandoned"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(iv[1]["service_level"], 0.0);
    assert_eq!(iv[2]["offered"], 0);
    assert_eq!(body["total"]["service_level"], 0.5);
    assert_eq!(body["total"]["abandonment_rate"], 0.5);
    assert_eq!(body["agents"][0]["extension"], "1001");
    assert_eq!(body["agents"][0]["answered"], 1);

    // A date is the clinic's day; a queue that took no calls has none.
    let (_, day) = call(
        &s,
        get(
            "/api/indicators?from=2026-11-24&to=2026-11-25&step=1d",
            &tokens[0],
        ),
    )
    .await;
    assert_eq!(day["total"]["offered"], 2);
    let (_, other) = call(&s, get(&format!("{path}&queue=pregnancy"), &tokens[0])).await;
    assert_eq!(other["total"]["offered"], 0);

    let (status, kind, csv) = get_text(&s, &format!("{path}&format=csv"), &tokens[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1, "{csv}");
    assert!(lines[0].starts_with("start,end,offered,answered,answered_within"));
    assert!(lines[1].starts_with("2026-11-24T10:00:00"), "{}", lines[1]);
    assert!(lines[5].starts_with("total from"), "{}", lines[5]);
    assert!(lines[5].contains(",0.5000,"), "{}", lines[5]);
    // The export is in the audit trail.
    let all = s.store.events_after(0, 100).await.unwrap();
    let export = all
        .iter()
        .find(|e| e.kind == "indicators_exported")
        .expect("the export is recorded");
    assert_eq!(export.data["by"], "9001");
    assert_eq!(export.data["rows"], 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_queries_get_a_400_naming_the_field(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(&s, &[("9001", Role::Supervisor)]).await;
    for (query, field) in [
        ("step=2h", "step"),
        ("from=2026-11-25&to=2026-11-24", "from"),
        ("format=xml", "format"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-01-01&to=2026-11-01&step=15m", "step"),
        // Far outside any call's time (and past i64 arithmetic).
        ("from=0&to=9223372036854775807", "from"),
        ("from=1795514400000&to=9223372036854775807", "to"),
        ("from=1000-01-01", "from"),
    ] {
        let (status, body) = call(&s, get(&format!("/api/indicators?{query}"), &tokens[0])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn only_supervisors_read_the_indicators(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(
        &s,
        &[
            ("1001", Role::Agent),
            ("9999", Role::Admin),
            ("9001", Role::Supervisor),
        ],
    )
    .await;
    for path in ["/api/indicators", "/api/indicators/live"] {
        for t in &tokens[..2] {
            let (status, body) = call(&s, get(path, t)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        }
        let (status, _) = call(&s, get(path, &tokens[2])).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let (status, _) = call(&s, get(path, "test-token-0123456789")).await;
        assert_eq!(status, StatusCode::OK, "{path} with the operator token");
        let (status, _) = call(&s, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // The audit status is the admins' too, not the agents'.
    let (status, _) = call(&s, get("/api/audit/status", &tokens[0])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&s, get("/api/audit/status", &tokens[1])).await;
    assert_eq!(status, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_live_snapshot_and_the_history_agree_for_today(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(&s, &[("9001", Role::Supervisor), ("1001", Role::Agent)]).await;
    let now = crate::store::now_ms();
    // Two calls 20 min apart, both in the past and today when the clock
    // allows (just after midnight the second is in the future: counted by
    // neither).
    let start = (now - 25 * MIN).max(crate::indicators::Step::Day.floor(now, 0));
    two_calls(&s, start).await;
    let last = s.store.last_event_seq().await.unwrap();
    // Once the dashboard has folded them in, the route serves that snapshot.
    let _watch = caught_up(&s.dashboard, last).await;
    let (status, live) = call(&s, get("/api/indicators/live", &tokens[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(live["seq"].as_i64().unwrap() >= last, "{live}");
    let today = format!(
        "/api/indicators?from={}&to={}&step=1d",
        live["day_start"],
        live["at"].as_i64().unwrap() + 1
    );
    let (_, history) = call(&s, get(&today, &tokens[0])).await;
    assert_eq!(history["total"], live["today"]);
    assert!(live["today"]["offered"].as_u64().unwrap() >= 1, "{live}");
    // The agent board has the agent's figures for today.
    assert_eq!(live["agents"][0]["extension"], "1001");
    let mut by_agent = history["agents"][0].clone();
    assert_eq!(by_agent["extension"], "1001");
    by_agent.as_object_mut().unwrap().remove("extension");
    assert_eq!(live["agents"][0]["today"], by_agent);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_status_says_how_far_the_chain_verifies(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(&s, &[("9001", Role::Supervisor)]).await;
    two_calls(&s, T0).await;
    // (The call-back scheduler may append facts of its own meanwhile.)
    let before = s.store.last_event_seq().await.unwrap();
    let (status, body) = call(&s, get("/api/audit/status", &tokens[0])).await;
    let after = s.store.last_event_seq().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], true);
    let verified = body["verified_up_to"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&verified),
        "{verified} not in {before}..={after}"
    );
    assert_eq!(body["broken_at"], Value::Null);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_figures_survive_a_restart(pool: sqlx::SqlitePool) {
    let s = state(pool);
    staff(&s, &[("9001", Role::Supervisor), ("1001", Role::Agent)]).await;
    let now = crate::store::now_ms();
    two_calls(
        &s,
        (now - 25 * MIN).max(crate::indicators::Step::Day.floor(now, 0)),
    )
    .await;
    let last = s.store.last_event_seq().await.unwrap();
    let before = caught_up(&s.dashboard, last).await.1;
    // A new dashboard on the same database, as after a restart: it reads
    // the stored events and comes to the same figures.
    let restarted = crate::indicators::live::Dashboard::spawn(
        s.store.clone(),
        &s.live_events,
        &crate::config::DashboardConfig::default(),
        vec!["reception".into()],
    );
    let after = caught_up(&restarted, last).await.1;
    assert_eq!(after["today"], before["today"]);
    assert_eq!(after["agents"], before["agents"]);
    assert!(after["today"]["offered"].as_u64().unwrap() >= 1);
}
