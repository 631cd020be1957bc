use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::super::tests::state;
use super::*;
use crate::store::users::NewUser;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Clinic {
    state: AppState,
    addr: std::net::SocketAddr,
    writer: crate::runtime::EventSink,
}

/// The API on a real socket, its live feed coming from the real event
/// writer; staff 1001, 1002 (agents) and 9001 (supervisor); patient
/// mis-42 with +79211234567.
async fn clinic(pool: sqlx::SqlitePool) -> Clinic {
    let s = state(pool);
    let writer = s.events.clone();
    let staff: Vec<_> = [
        ("1001", Role::Agent),
        ("1002", Role::Agent),
        ("9001", Role::Supervisor),
    ]
    .into_iter()
    .map(|(ext, role)| {
        NewUser {
            extension: ext.into(),
            name: format!("user {ext}"),
            role,
            password: format!("password-{ext}"),
        }
        .prepare("127.0.0.1", 8)
        .unwrap()
    })
    .collect();
    s.store.insert_users(&staff).await.unwrap();
    let anna = crate::patients::PatientInput {
        full_name: "Anna Petrova".into(),
        birth_date: None,
        address_as: Some("Anna Sergeevna".into()),
        phones: vec!["+7 921 123-45-67".into()],
        notes: Default::default(),
        pathway: None,
        consent: true,
        marketing: false,
    }
    .validate("mis-42", &s.phones, 20_000)
    .unwrap();
    s.store.upsert_patients(&[anna]).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = super::super::app(s.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Clinic {
        state: s,
        addr,
        writer,
    }
}

impl Clinic {
    async fn token(&self, ext: &str) -> String {
        let t = format!("token-of-{ext}-{:016x}", rand::random::<u64>());
        self.state
            .store
            .create_session(&t, ext, 0, i64::MAX)
            .await
            .unwrap();
        t
    }

    async fn connect(&self, ext: &str, after: Option<i64>) -> Client {
        let token = self.token(ext).await;
        let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let url = format!("ws://{}/api/ws?token={token}{after}", self.addr);
        let (client, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        client
    }

    fn fact(&self, kind: &str, agent: Option<&str>, data: Value) {
        self.writer
            .send(EventRecord {
                seq: 0,
                at: 1_000,
                kind: kind.into(),
                call_id: Some("call-00000001".into()),
                agent: agent.map(Into::into),
                data,
                hash: None,
            })
            .unwrap();
    }
}

/// The next message other than the dashboard's `indicators` (tested on
/// their own), as JSON.
async fn next(c: &mut Client) -> Value {
    loop {
        let m = next_any(c).await;
        if m["type"] != "indicators" {
            return m;
        }
    }
}

/// The next message, as JSON; fails the test after 10 s of silence.
async fn next_any(c: &mut Client) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let WsMessage::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Sends a client message; returns the reply to it (events the client
/// is sent meanwhile, such as its own audit facts, are passed over).
async fn say(c: &mut Client, v: Value) -> Value {
    c.send(WsMessage::Text(v.to_string().into())).await.unwrap();
    loop {
        let m = next(c).await;
        if m["type"] == "ok" || m["type"] == "error" {
            return m;
        }
        assert_eq!(m["type"], "event", "{m}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn ringing_agent_gets_the_card_others_get_nothing_and_resume_loses_nothing(
    pool: sqlx::SqlitePool,
) {
    let logs = crate::log_capture::Captured::start();
    let clinic = clinic(pool).await;
    let mut anna_agent = clinic.connect("1001", None).await;
    let mut other = clinic.connect("1002", None).await;
    let mut supervisor = clinic.connect("9001", None).await;
    for c in [&mut anna_agent, &mut other, &mut supervisor] {
        assert_eq!(next(c).await["type"], "hello");
    }

    // The patient calls from the number in another format; 1001's phone rings.
    clinic.fact(
        "call_arrived",
        None,
        json!({ "queue": "reception", "caller": "89211234567" }),
    );
    clinic.fact("agent_offered", Some("1001"), json!({ "tier": "agent" }));

    let pop = next(&mut anna_agent).await;
    assert_eq!(pop["type"], "call_offered", "{pop}");
    assert_eq!(pop["call_id"], "call-00000001");
    assert_eq!(pop["caller"], "+79211234567");
    assert_eq!(pop["unknown_caller"], false);
    assert_eq!(pop["patients"][0]["mis_id"], "mis-42");
    assert_eq!(pop["patients"][0]["address_as"], "Anna Sergeevna");
    let offered = next(&mut anna_agent).await;
    assert_eq!(
        (offered["type"].as_str(), offered["kind"].as_str()),
        (Some("event"), Some("agent_offered"))
    );
    let offered_seq = offered["seq"].as_i64().unwrap();

    // The supervisor sees every fact, the arrival included.
    let kinds = [next(&mut supervisor).await, next(&mut supervisor).await];
    assert_eq!(
        kinds.map(|k| k["kind"].clone()),
        [json!("call_arrived"), json!("agent_offered")]
    );

    // 1002 was sent nothing: the next thing it hears is the answer to its own message.
    other
        .send(WsMessage::Text(
            json!({ "type": "note", "call_id": "call-00000001", "text": "?" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let reply = next(&mut other).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("no call"));

    // 1001 writes a disposition for the call; malformed messages get an error, not a hang-up.
    let ok = say(
        &mut anna_agent,
        json!({ "type": "disposition", "call_id": "call-00000001", "reason": "booked",
                "appointment": { "date": "2026-12-01", "time": "09:30", "service": "ultrasound" },
                "form": { "type": "home_visit", "district": "Central", "symptoms": "fever since Monday" } }),
    )
    .await;
    assert_eq!(
        (ok["type"].as_str(), ok["for"].as_str()),
        (Some("ok"), Some("disposition"))
    );
    // A patient whose card this call did not show cannot be confirmed on it.
    let stranger = say(
        &mut anna_agent,
        json!({ "type": "identity", "call_id": "call-00000001", "patient": "mis-1" }),
    )
    .await;
    assert_eq!(stranger["type"], "error", "{stranger}");
    assert!(
        stranger["error"]
            .as_str()
            .unwrap()
            .contains("not among the cards")
    );
    // The card's own patient can, once its card view is committed (the
    // supervisor's feed carries every committed event).
    while next(&mut supervisor).await["kind"] != "card_viewed" {}
    let checked = say(
        &mut anna_agent,
        json!({ "type": "identity", "call_id": "call-00000001", "patient": "mis-42" }),
    )
    .await;
    assert_eq!(
        (checked["type"].as_str(), checked["for"].as_str()),
        (Some("ok"), Some("identity")),
        "{checked}"
    );
    let not_hers = say(
        &mut anna_agent,
        json!({ "type": "identity", "call_id": "call-99999999", "patient": "mis-42" }),
    )
    .await;
    assert_eq!(not_hers["type"], "error", "{not_hers}");
    let bad = say(&mut anna_agent, json!({ "type": "dance" })).await;
    assert_eq!(bad["type"], "error");

    // 1001 drops off; the call goes on; reconnecting after the last seq it saw
    // replays what it missed, once.
    drop(anna_agent);
    clinic.fact("answered", Some("1001"), json!({ "within_deadline": true }));
    clinic.fact("ended", None, json!({ "reason": "completed" }));
    // Wait until the supervisor has seen both (so they are committed).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = next(&mut supervisor).await;
        if m["kind"] == "answered" || m["kind"] == "ended" {
            seen.push(m["kind"].clone());
        }
    }
    let mut back = clinic.connect("1001", Some(offered_seq)).await;
    assert_eq!(next(&mut back).await["type"], "hello");
    // What it missed comes first and once (its own card view included),
    // in seq order, ending with the call's end.
    let mut kinds = Vec::new();
    let mut last_seq = offered_seq;
    while kinds.last().map(String::as_str) != Some("ended") {
        let m = next(&mut back).await;
        if m["type"] == "event" {
            let seq = m["seq"].as_i64().unwrap();
            assert!(
                seq > last_seq,
                "seq {seq} after {last_seq}: replayed twice or out of order"
            );
            last_seq = seq;
            kinds.push(m["kind"].as_str().unwrap().to_string());
        }
    }
    kinds.retain(|k| {
        !matches!(
            k.as_str(),
            "card_viewed" | "call_disposition" | "identity_confirmed"
        )
    });
    assert_eq!(kinds, ["answered", "ended"]);
    let reply = say(
        &mut back,
        json!({ "type": "note", "call_id": "call-00000001", "text": "called back" }),
    )
    .await;
    assert_eq!(reply["type"], "ok", "{reply}");

    // The pop and the disposition are in the audit trail.
    let all = clinic.state.store.events_after(0, 100).await.unwrap();
    assert!(all.iter().any(|e| e.kind == "card_viewed"
        && e.agent.as_deref() == Some("1001")
        && e.data["lookup"] == "screen_pop"));
    assert!(all.iter().any(|e| e.kind == "call_disposition"
        && e.data["reason"] == "booked"
        && e.data["form"]["district"] == "Central"));
    assert!(all.iter().any(|e| e.kind == "identity_confirmed"
        && e.agent.as_deref() == Some("1001")
        && e.data["patient"] == "mis-42"
        && e.data["call"] == "call-00000001"));
    assert_eq!(
        clinic.state.store.verify_chain().await.unwrap().broken,
        None
    );
    // The card and the caller's number went to the agent, never to the logs.
    logs.assert_free_of(&["Anna Petrova", "Anna Sergeevna", "79211234567", "921 123"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn supervisors_follow_the_indicators_live_and_agents_do_not(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let mut sup = clinic.connect("9001", None).await;
    let mut agent = clinic.connect("1001", None).await;
    assert_eq!(next_any(&mut sup).await["type"], "hello");
    let first = next_any(&mut sup).await;
    assert_eq!(first["type"], "indicators", "{first}");
    assert_eq!(first["waiting"], 0);
    assert_eq!(next_any(&mut agent).await["type"], "hello");

    let now = crate::store::now_ms();
    clinic
        .writer
        .send(EventRecord {
            seq: 0,
            at: now,
            kind: "call_arrived".into(),
            call_id: Some("call-00000007".into()),
            agent: None,
            data: json!({ "queue": "reception", "caller": "+79211234567" }),
            hash: None,
        })
        .unwrap();
    // Snapshots follow until one shows the call waiting.
    let snap = loop {
        let m = next_any(&mut sup).await;
        if m["type"] == "indicators" && m["waiting"] == 1 {
            break m;
        }
    };
    assert_eq!(snap["today"]["offered"], 1);
    assert_eq!(snap["last_hour"]["offered"], 1);
    assert_eq!(snap["queues"][0]["name"], "reception");
    assert_eq!(snap["queues"][0]["waiting"], 1);
    assert!(snap["longest_wait_ms"].as_i64().unwrap() >= 0);
    // The board lists the staff who take calls, the supervisor not.
    let board: Vec<&str> = snap["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["extension"].as_str().unwrap())
        .collect();
    assert_eq!(board, ["1001", "1002"]);
    assert_eq!(snap["agents"][0]["name"], "user 1001");
    assert_eq!(snap["agents"][0]["state"], "offline");

    // An agent's socket carries no indicators: up to the reply to its
    // own message it has heard only the events of its own calls (none).
    agent
        .send(WsMessage::Text(
            json!({ "type": "dance" }).to_string().into(),
        ))
        .await
        .unwrap();
    let reply = next_any(&mut agent).await;
    assert_eq!(reply["type"], "error", "{reply}");
}

#[sqlx::test(migrations = "../migrations")]
async fn call_back_tasks_reach_their_owner_and_not_others_who_were_rung(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let now = crate::store::now_ms();
    let fact = |at: i64, kind: &str, agent: Option<&str>, data: Value| EventRecord {
        seq: 0,
        at,
        kind: kind.into(),
        call_id: Some("call-00000003".into()),
        agent: agent.map(Into::into),
        data,
        hash: None,
    };
    // 1002 let it ring; 1001 answered; the line dropped.
    let mut feed = clinic.state.live_events.subscribe();
    for f in [
        fact(
            now - 60_000,
            "call_arrived",
            None,
            json!({ "queue": "reception", "caller": "+79211234567" }),
        ),
        fact(
            now - 59_000,
            "agent_offered",
            Some("1002"),
            json!({ "tier": "agent" }),
        ),
        fact(
            now - 49_000,
            "agent_ring_no_answer",
            Some("1002"),
            json!({ "misses": 1 }),
        ),
        fact(
            now - 49_000,
            "agent_offered",
            Some("1001"),
            json!({ "tier": "agent" }),
        ),
        fact(
            now - 47_000,
            "answered",
            Some("1001"),
            json!({ "within_deadline": true }),
        ),
        fact(now, "ended", None, json!({ "reason": "dropped" })),
    ] {
        clinic.state.events.commit(f).await.unwrap();
    }
    // The scheduler opens the task (and finds it due) for 1001.
    super::super::tests::next_committed(&mut feed, |e| {
        e.kind == "callback_due" && e.call_id.as_deref() == Some("call-00000003")
    })
    .await;
    let written = clinic
        .state
        .store
        .call_events("call-00000003")
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind.starts_with("callback_"))
        .count();
    assert_eq!(written, 2, "callback_created and callback_due");

    // Both agents catch up from the start of the log.
    let mut heard = Vec::new();
    for ext in ["1001", "1002"] {
        let mut c = clinic.connect(ext, Some(0)).await;
        assert_eq!(next(&mut c).await["type"], "hello");
        c.send(WsMessage::Text(
            json!({ "type": "dance" }).to_string().into(),
        ))
        .await
        .unwrap();
        let mut kinds = Vec::new();
        loop {
            let m = next(&mut c).await;
            if m["type"] == "error" {
                break;
            }
            if m["type"] == "event" {
                kinds.push(m["kind"].as_str().unwrap().to_string());
            }
        }
        heard.push(kinds);
    }
    assert!(
        heard[0].contains(&"callback_created".to_string()),
        "{:?}",
        heard[0]
    );
    assert!(heard[1].contains(&"ended".to_string()), "{:?}", heard[1]);
    assert!(
        !heard[1].iter().any(|k| k.starts_with("callback_")),
        "1002 was only rung: {:?}",
        heard[1]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_indicators_feed_is_for_supervisors_and_carries_nothing_else(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let token = clinic.token("9001").await;
    let url = format!("ws://{}/api/ws?token={token}&feed=indicators", clinic.addr);
    let (mut c, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_any(&mut c).await["feed"], "indicators");
    assert_eq!(next_any(&mut c).await["type"], "indicators");
    clinic.fact(
        "call_arrived",
        None,
        json!({ "queue": "reception", "caller": "+79211234567" }),
    );
    // The fact changes the figures; the socket carries the new snapshot,
    // never the event itself.
    let m = next_any(&mut c).await;
    assert_eq!(m["type"], "indicators", "{m}");

    let agent = clinic.token("1001").await;
    let url = format!("ws://{}/api/ws?token={agent}&feed=indicators", clinic.addr);
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "agents get a 403"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_callers_pop_as_unknown_and_bad_tokens_are_refused(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let mut agent = clinic.connect("1001", None).await;
    assert_eq!(next(&mut agent).await["type"], "hello");
    clinic.fact(
        "call_arrived",
        None,
        json!({ "queue": "reception", "caller": "+33612345678" }),
    );
    clinic.fact("agent_offered", Some("1001"), json!({ "tier": "agent" }));
    let pop = next(&mut agent).await;
    assert_eq!(pop["type"], "call_offered");
    assert_eq!(pop["unknown_caller"], true);
    assert_eq!(pop["caller"], "+33612345678");
    assert_eq!(pop["patients"], json!([]));

    let url = format!("ws://{}/api/ws?token=nope", clinic.addr);
    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(refused.is_err(), "a bad token gets no socket");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_task_any_agent_of_a_queue_may_take_reaches_that_queues_agents(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let now = crate::store::now_ms();
    let task = |queue: &str, call: &str| EventRecord {
        seq: 0,
        at: now,
        kind: "callback_to_queue".into(),
        call_id: Some(call.into()),
        agent: None,
        data: json!({ "task": {
            "id": format!("cb-{call}"),
            "queue": queue,
            "owner": { "kind": "queue", "name": queue },
        }}),
        hash: None,
    };
    let mut c = clinic.connect("1002", None).await;
    assert_eq!(next(&mut c).await["type"], "hello");
    // One for reception (1002 is one of its agents), one for a queue 1002
    // is not in.
    clinic
        .state
        .events
        .commit(task("billing", "call-00000011"))
        .await
        .unwrap();
    clinic
        .state
        .events
        .commit(task("reception", "call-00000012"))
        .await
        .unwrap();
    // Reception's task was committed after billing's: by the time it
    // arrives, billing's would have come first.
    let mut tasks = Vec::new();
    while !tasks.contains(&"call-00000012".to_string()) {
        let m = next(&mut c).await;
        if m["type"] == "event" && m["kind"] == "callback_to_queue" {
            tasks.push(m["call_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        tasks,
        ["call-00000012"],
        "only the task of 1002's own queue"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_offer_pops_the_card_before_its_commit_and_only_once(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let mut anna_agent = clinic.connect("1001", None).await;
    let mut other = clinic.connect("1002", None).await;
    for c in [&mut anna_agent, &mut other] {
        assert_eq!(next(c).await["type"], "hello");
    }
    let offer = |agent: &str| EventRecord {
        seq: 0,
        at: 1_000,
        kind: "agent_offered".into(),
        call_id: Some("call-00000001".into()),
        agent: Some(agent.into()),
        data: json!({ "tier": "agent", "caller": "89211234567" }),
        hash: None,
    };
    // The core's notice as the phone starts ringing: nothing is written yet.
    clinic.state.hub.notice(Arc::new(offer("1001")));
    let pop = next(&mut anna_agent).await;
    assert_eq!(pop["type"], "call_offered", "{pop}");
    assert_eq!(pop["patients"][0]["mis_id"], "mis-42");
    assert_eq!(
        pop["seq"],
        Value::Null,
        "not durable yet: no seq to resume from"
    );
    assert!(
        clinic
            .state
            .store
            .call_events("call-00000001")
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != "agent_offered"),
        "popped ahead of the commit"
    );
    // The committed offer follows as an event, without a second pop (the
    // card view's audit fact passes by too).
    clinic.writer.send(offer("1001")).unwrap();
    let mut m = next(&mut anna_agent).await;
    while m["kind"] == "card_viewed" {
        m = next(&mut anna_agent).await;
    }
    assert_eq!(
        (m["type"].as_str(), m["kind"].as_str()),
        (Some("event"), Some("agent_offered")),
        "{m}"
    );
    assert!(m["seq"].as_i64().unwrap() > 0);
    // Offered again later without a notice: the committed event pops.
    clinic.writer.send(offer("1001")).unwrap();
    let mut m = next(&mut anna_agent).await;
    while m["kind"] == "card_viewed" {
        m = next(&mut anna_agent).await;
    }
    assert_eq!(m["type"], "call_offered", "{m}");
    // Another agent's notice reaches nobody else.
    clinic.state.hub.notice(Arc::new(offer("1002")));
    assert_eq!(next(&mut other).await["type"], "call_offered");
    let reply = say(&mut anna_agent, json!({ "type": "dance" })).await;
    assert_eq!(
        reply["type"], "error",
        "1001 heard nothing of 1002's offer: {reply}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_offer_caught_up_from_the_store_is_not_popped_again_by_its_notice(
    pool: sqlx::SqlitePool,
) {
    let clinic = clinic(pool).await;
    let offer = EventRecord {
        seq: 0,
        at: 2_000,
        kind: "agent_offered".into(),
        call_id: Some("call-00000001".into()),
        agent: Some("1001".into()),
        data: json!({ "tier": "agent", "caller": "89211234567" }),
        hash: None,
    };
    let mut feed = clinic.state.live_events.subscribe();
    clinic.writer.send(offer.clone()).unwrap();
    super::super::tests::next_committed(&mut feed, |e| e.kind == "agent_offered").await;
    // The desktop (re)connects and catches up: the committed offer pops.
    let mut c = clinic.connect("1001", Some(0)).await;
    assert_eq!(next(&mut c).await["type"], "hello");
    let mut m = next(&mut c).await;
    while m["type"] != "call_offered" {
        m = next(&mut c).await;
    }
    assert!(m["seq"].as_i64().unwrap() > 0);
    // The notice of that same offer, late: nothing more.
    clinic.state.hub.notice(Arc::new(offer));
    let reply = say(&mut c, json!({ "type": "dance" })).await;
    assert_eq!(reply["type"], "error", "no second pop: {reply}");
}

#[path = "ws_close_tests.rs"]
mod close;
