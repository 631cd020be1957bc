//! Appointments and the teleconsult record through the API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::super::AppState;
use super::super::tests::{call as send, staff, state};
use crate::store::events::EventRecord;
use crate::store::users::Role;

fn req(method: &str, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let r = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    r.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap()
}

/// Staff (doctor 3001 and 3002, agent 1001, supervisor 9001, admin 9999)
/// and patient mis-42 with +79211234567; the tokens in that order.
async fn clinic(s: &AppState) -> Vec<String> {
    let tokens = staff(
        s,
        &[
            ("3001", Role::Doctor),
            ("3002", Role::Doctor),
            ("1001", Role::Agent),
            ("9001", Role::Supervisor),
            ("9999", Role::Admin),
        ],
    )
    .await;
    let anna = crate::patients::PatientInput {
        full_name: "Anna Petrova".into(),
        birth_date: None,
        address_as: None,
        phones: vec!["8 921 123-45-67".into()],
        notes: Default::default(),
        pathway: None,
        consent: true,
        marketing: false,
    }
    .validate("mis-42", &s.phones, 20_000)
    .unwrap();
    s.store.upsert_patients(&[anna]).await.unwrap();
    tokens
}

fn appointment(consent: bool, paid: bool) -> Value {
    json!({
        "patient": "mis-42", "doctor": "3001", "starts_at": "2026-11-24T10:00:00Z",
        "service": "Follow-up, gynaecology", "teleconsult": true,
        "consent": consent, "paid": paid
    })
}

#[sqlx::test(migrations = "../migrations")]
async fn appointments_are_upserted_by_the_clinics_id_and_checked(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let t = clinic(&s).await;
    let admin = &t[4];
    let path = "/api/appointments/A-17";
    let (status, body) = send(&s, req("PUT", path, admin, Some(appointment(true, true)))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = send(&s, req("PUT", path, admin, Some(appointment(true, false)))).await;
    assert_eq!(status, StatusCode::OK);
    let stored = s.store.appointment("A-17").await.unwrap().unwrap();
    assert!(!stored.paid);
    assert_eq!(stored.starts_at, 1_795_514_400_000);
    // The card shows the patient's last (and next) appointment.
    let (status, card) = send(&s, req("GET", "/api/patients/mis-42", &t[3], None)).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["appointments"]["last"]["id"], "A-17", "{card}");
    assert_eq!(card["appointments"]["next"], Value::Null);

    let mut wrong = appointment(true, true);
    for (key, value, field) in [
        ("doctor", json!("1001"), "doctor"),
        ("patient", json!("mis-404"), "patient"),
        ("starts_at", json!("tomorrow"), "starts_at"),
        ("service", json!(""), "service"),
        ("phone", json!("not a number"), "phone"),
    ] {
        let mut b = appointment(true, true);
        b[key] = value;
        let (status, body) = send(&s, req("PUT", path, admin, Some(b))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    wrong["colour"] = json!("red");
    let (status, _) = send(&s, req("PUT", path, admin, Some(wrong))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let (status, _) = send(
        &s,
        req(
            "PUT",
            "/api/appointments/a%20b",
            admin,
            Some(appointment(true, true)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(&s, req("PUT", path, &t[0], Some(appointment(true, true)))).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "doctors do not write appointments"
    );

    // A doctor lists their own; another doctor's list is not theirs to read.
    let range = "from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z";
    let (status, mine) = send(
        &s,
        req("GET", &format!("/api/appointments?{range}"), &t[0], None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["appointments"][0]["id"], "A-17");
    let (_, theirs) = send(
        &s,
        req("GET", &format!("/api/appointments?{range}"), &t[1], None),
    )
    .await;
    assert_eq!(theirs["appointments"], json!([]));
    let (status, _) = send(
        &s,
        req(
            "GET",
            &format!("/api/appointments?{range}&doctor=3001"),
            &t[1],
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&s, req("GET", "/api/appointments", &t[2], None)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents have no appointment list"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_teleconsult_needs_its_doctor_a_teleconsult_slot_consent_and_payment(
    pool: sqlx::SqlitePool,
) {
    let s = state(pool);
    let t = clinic(&s).await;
    let put =
        |id: &str, body: Value| req("PUT", &format!("/api/appointments/{id}"), &t[4], Some(body));
    send(&s, put("A-1", appointment(false, true))).await;
    send(&s, put("A-2", appointment(true, false))).await;
    let mut not_remote = appointment(true, true);
    not_remote["teleconsult"] = json!(false);
    send(&s, put("A-3", not_remote)).await;
    send(&s, put("A-4", appointment(true, true))).await;

    let call =
        |id: &str, token: &str| req("POST", &format!("/api/teleconsults/{id}/call"), token, None);
    let (status, body) = send(&s, call("A-1", &t[0])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("consent"),
        "{body}"
    );
    let (status, body) = send(&s, call("A-2", &t[0])).await;
    assert!(
        body["error"].as_str().unwrap().contains("payment"),
        "{status} {body}"
    );
    let (status, _) = send(&s, call("A-3", &t[0])).await;
    assert_eq!(status, StatusCode::CONFLICT, "not a teleconsult slot");
    let (status, _) = send(&s, call("A-4", &t[1])).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another doctor's appointment"
    );
    let (status, _) = send(&s, call("A-4", &t[2])).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents do not start teleconsults"
    );
    let (status, _) = send(&s, call("A-404", &t[0])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Everything in order: on to the call core (not running in this test).
    let (status, body) = send(&s, call("A-4", &t[0])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    // With missing flags only warned about, the call goes ahead too.
    let warn = AppState {
        teleconsult_refuse_missing: false,
        ..s.clone()
    };
    let (status, body) = send(&warn, call("A-1", &t[0])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_record_has_the_calls_times_and_the_line_for_the_medical_record(
    pool: sqlx::SqlitePool,
) {
    let logs = crate::log_capture::Captured::start();
    let s = state(pool);
    let t = clinic(&s).await;
    send(
        &s,
        req(
            "PUT",
            "/api/appointments/A-17",
            &t[4],
            Some(appointment(true, true)),
        ),
    )
    .await;
    // A doctor's call as the call core records it.
    let t0 = crate::store::now_ms() - 20 * 60_000;
    let fact = |at: i64, kind: &str, data: Value| EventRecord {
        seq: 0,
        at,
        kind: kind.into(),
        call_id: Some("call-00000005".into()),
        agent: Some("3001".into()),
        data,
        hash: None,
    };
    for e in [
        fact(
            t0,
            "dialout_started",
            json!({ "number": "+79211234567", "purpose": "teleconsult", "link": "A-17" }),
        ),
        fact(t0 + 3_000, "dialout_answered", json!({ "side": "staff" })),
        fact(t0 + 9_000, "dialout_answered", json!({ "side": "patient" })),
        fact(
            t0 + 9_000 + 754_000,
            "dialout_ended",
            json!({ "outcome": "reached", "reason": "completed", "link": "A-17" }),
        ),
    ] {
        s.events.commit(e).await.unwrap();
    }
    let (status, body) = send(&s, req("GET", "/api/teleconsults", &t[0], None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = &body["calls"][0];
    assert_eq!(c["call_id"], "call-00000005");
    assert_eq!(c["doctor"], "3001");
    assert_eq!(c["doctor_name"], "user 3001");
    assert_eq!(c["number"], "+79211234567");
    assert_eq!(c["patient_id"], "mis-42");
    assert_eq!(c["patient_name"], "Anna Petrova");
    assert_eq!(c["invited_at"], t0);
    assert_eq!(c["answered_at"], t0 + 9_000);
    assert_eq!(c["ended_at"], t0 + 763_000);
    assert_eq!(c["duration_ms"], 754_000);
    assert_eq!(c["outcome"], "reached");
    let line = c["record"].as_str().unwrap();
    assert!(line.starts_with("Teleconsultation by telephone "), "{line}");
    assert!(line.contains("(12 min 34 s)"), "{line}");
    assert!(
        line.contains("user 3001 (ext. 3001) called +79211234567 for appointment A-17"),
        "{line}"
    );
    assert!(line.ends_with("outcome: reached."), "{line}");

    // The other doctor sees none of it; the supervisor all, and exports it.
    let (_, other) = send(&s, req("GET", "/api/teleconsults", &t[1], None)).await;
    assert_eq!(other["calls"], json!([]));
    let (status, _) = send(&s, req("GET", "/api/teleconsults", &t[2], None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, all) = send(&s, req("GET", "/api/teleconsults?doctor=3001", &t[3], None)).await;
    assert_eq!(all["calls"][0]["call_id"], "call-00000005");
    let resp = {
        use tower::ServiceExt;
        super::super::app(s.clone())
            .oneshot(req("GET", "/api/teleconsults?format=csv", &t[3], None))
            .await
            .unwrap()
    };
    assert_eq!(resp.status(), StatusCode::OK);
    let csv = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let csv = String::from_utf8(csv.to_vec()).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().contains(",754,reached,"),
        "{csv}"
    );
    let exported = s.store.events_after(0, 100).await.unwrap();
    assert!(
        exported
            .iter()
            .any(|e| e.kind == "teleconsults_exported" && e.data["by"] == "9001")
    );
    logs.assert_free_of(&["79211234567", "Anna Petrova"]);
}

/// Beyond the callers on their own calls: a doctor opens the cards of their
/// teleconsults' patients (a day either side), an agent those on the
/// call-back tasks they may take; each view is recorded with its call.
#[sqlx::test(migrations = "../migrations")]
async fn doctors_open_their_teleconsults_cards_and_agents_their_call_back_tasks(
    pool: sqlx::SqlitePool,
) {
    let s = state(pool);
    let t = clinic(&s).await;
    let (doctor, other_doctor, agent) = (&t[0], &t[1], &t[2]);
    let now = crate::store::now_ms();
    let card = "/api/patients/mis-42";
    for token in [doctor, other_doctor, agent] {
        assert_eq!(
            send(&s, req("GET", card, token, None)).await.0,
            StatusCode::NOT_FOUND
        );
    }

    let mut soon = appointment(true, true);
    soon["starts_at"] = (now + 3_600_000).into();
    let (status, body) = send(&s, req("PUT", "/api/appointments/ap-1", &t[4], Some(soon))).await;
    assert!(status.is_success(), "{body}");
    let (status, body) = send(&s, req("GET", card, doctor, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mis_id"], "mis-42");
    assert_eq!(
        send(&s, req("GET", card, other_doctor, None)).await.0,
        StatusCode::NOT_FOUND,
        "not 3002's teleconsult"
    );
    // Not a teleconsult slot, or next month's: no card.
    let mut visit = appointment(true, true);
    visit["doctor"] = "3002".into();
    visit["teleconsult"] = false.into();
    visit["starts_at"] = (now + 3_600_000).into();
    let (status, body) = send(&s, req("PUT", "/api/appointments/ap-2", &t[4], Some(visit))).await;
    assert!(status.is_success(), "{body}");
    let mut later = appointment(true, true);
    later["doctor"] = "3002".into();
    later["starts_at"] = (now + 30 * 86_400_000).into();
    let (status, body) = send(&s, req("PUT", "/api/appointments/ap-3", &t[4], Some(later))).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(
        send(&s, req("GET", card, other_doctor, None)).await.0,
        StatusCode::NOT_FOUND
    );

    // A call-back task for reception (1001's queue) to call her back, from
    // a call two days ago that 1001 never had.
    let task = crate::callbacks::Task {
        id: "cb-call-00000007".into(),
        call_id: "call-00000007".into(),
        queue: "reception".into(),
        number: "+79211234567".into(),
        reason: crate::callbacks::Reason::Abandoned,
        agent: None,
        owner: crate::callbacks::Owner::Queue("reception".into()),
        created_at: now - 2 * 86_400_000,
        due_at: now,
        sla_at: now + 3_600_000,
        attempts: Vec::new(),
        status: crate::callbacks::Status::Open,
        overdue: false,
        closed_at: None,
    };
    s.events
        .commit(EventRecord {
            seq: 0,
            at: now - 2 * 86_400_000,
            kind: "call_arrived".into(),
            call_id: Some(task.call_id.clone()),
            agent: None,
            data: json!({ "queue": "reception", "caller": "+79211234567" }),
            hash: None,
        })
        .await
        .unwrap();
    s.events
        .commit(EventRecord {
            seq: 0,
            at: now,
            kind: "callback_created".into(),
            call_id: Some(task.call_id.clone()),
            agent: None,
            data: json!({ "task": task.to_json() }),
            hash: None,
        })
        .await
        .unwrap();
    let (status, body) = send(&s, req("GET", card, agent, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        &s,
        req("GET", "/api/patients?phone=89211234567", agent, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["patients"][0]["mis_id"], "mis-42", "{body}");

    assert_eq!(
        super::super::tests::card_views(&s).await,
        [
            (Some("3001".into()), None),
            (Some("1001".into()), Some("call-00000007".into())),
            (Some("1001".into()), Some("call-00000007".into())),
        ]
    );
    // Opening the card for the task is no part in the call it came from.
    for path in [
        "/api/calls/call-00000007",
        "/api/calls/call-00000007/history",
    ] {
        assert_eq!(
            send(&s, req("GET", path, agent, None)).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        send(&s, req("GET", "/api/calls/call-00000007", &t[3], None))
            .await
            .0,
        StatusCode::OK
    );
    assert!(!s.store.took_part_in("1001", "call-00000007").await.unwrap());
}
