//! The server closing a session's WebSocket: a message over the limit
//! (1009), a login an admin's change ended (1008).

use super::*;
use crate::api::tests::{call, request};

/// Reads up to the server's close frame (within 10 s), passing each text
/// message on the way to `check`.
async fn close_frame(
    c: &mut Client,
    check: impl Fn(&Value),
) -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("a close within 10 s")
            .expect("a close frame before the socket ends")
            .unwrap();
        match msg {
            WsMessage::Close(frame) => return frame.expect("a close code and reason"),
            WsMessage::Text(t) => check(&serde_json::from_str(t.as_str()).unwrap()),
            _ => {}
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn long_messages_are_read_whole_and_over_long_ones_closed_with_1009(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let mut agent = clinic.connect("1001", None).await;
    assert_eq!(next(&mut agent).await["type"], "hello");
    // Longer than one read (8 KiB), within the limit: read and answered
    // (a check that longer messages still work, not of the buffer's size).
    let long = json!({ "type": "no_such_thing", "pad": "x".repeat(40_000) });
    let reply = say(&mut agent, long).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("not a message this server understands"),
        "{reply}"
    );
    // The session still answers.
    let reply = say(&mut agent, json!({ "type": "state", "state": "sleeping" })).await;
    assert_eq!(reply["for"], "state", "{reply}");

    let over = "y".repeat(super::MAX_CLIENT_MESSAGE + 1);
    agent.send(WsMessage::Text(over.into())).await.unwrap();
    let close = close_frame(&mut agent, |m| {
        assert!(
            m["type"] != "ok" && m["type"] != "error",
            "the over-long message was answered instead of refused: {m}"
        );
    })
    .await;
    assert_eq!(u16::from(close.code), 1009);
    assert!(
        close.reason.contains("at most 65536 bytes"),
        "{}",
        close.reason
    );
}

/// An admin disabling a user (or giving a new role or password) ends their
/// login, and their open WebSockets (the event feed, the indicators feed)
/// are closed with 1008; a change that leaves the login alone (a new name)
/// closes nothing.
#[sqlx::test(migrations = "../migrations")]
async fn a_websocket_closes_when_an_admin_ends_its_login(pool: sqlx::SqlitePool) {
    let clinic = clinic(pool).await;
    let admin = NewUser {
        extension: "9999".into(),
        name: "admin".into(),
        role: Role::Admin,
        password: "password-9999".into(),
    }
    .prepare("127.0.0.1", 8)
    .unwrap();
    clinic.state.store.insert_users(&[admin]).await.unwrap();
    let admin = clinic.token("9999").await;
    let patch = |body: &str| request("PATCH", "/api/users/1001", Some(&admin), Some(body));
    let mut agent = clinic.connect("1001", None).await;
    assert_eq!(next(&mut agent).await["type"], "hello");
    // A supervisor following the dashboard alone, whom the admin demotes.
    let supervisor = clinic.token("9001").await;
    let url = format!(
        "ws://{}/api/ws?token={supervisor}&feed=indicators",
        clinic.addr
    );
    let (mut dashboard, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_any(&mut dashboard).await["feed"], "indicators");

    let (status, _) = call(&clinic.state, patch(r#"{"name": "Anna P."}"#)).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let m = next(&mut agent).await;
    assert_eq!(
        (&m["kind"], &m["data"]["changed"]),
        (&json!("user_changed"), &json!(["name"])),
        "{m}"
    );

    let (status, _) = call(&clinic.state, patch(r#"{"disabled": true}"#)).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let close = close_frame(&mut agent, |m| {
        assert_ne!(
            m["kind"], "user_changed",
            "the ending change was sent, not acted on: {m}"
        );
    })
    .await;
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("log in again"), "{}", close.reason);

    let demote = request(
        "PATCH",
        "/api/users/9001",
        Some(&admin),
        Some(r#"{"role": "agent"}"#),
    );
    let (status, _) = call(&clinic.state, demote).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let close = close_frame(&mut dashboard, |m| {
        assert_eq!(m["type"], "indicators", "only figures on this feed: {m}");
    })
    .await;
    assert_eq!(u16::from(close.code), 1008, "the indicators feed");

    // Enabled again and logged in anew: replaying those changes from the
    // store (catch-up) checks the login too, and this one holds.
    let (status, _) = call(&clinic.state, patch(r#"{"disabled": false}"#)).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let mut again = clinic.connect("1001", Some(0)).await;
    assert_eq!(next(&mut again).await["type"], "hello");
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let m = next(&mut again).await;
        if m["kind"] == "user_changed" {
            changes.push(m["data"]["changed"][0].clone());
        }
    }
    assert_eq!(
        changes,
        [json!("name"), json!("disabled"), json!("disabled")]
    );
    let reply = say(&mut again, json!({ "type": "state", "state": "sleeping" })).await;
    assert_eq!(reply["for"], "state", "the session goes on: {reply}");
}
