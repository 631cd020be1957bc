//! The live WebSocket, `GET /api/ws?token=…[&after=SEQ]`.
//!
//! After the login token is checked, the server sends `hello`, then every
//! committed event the caller may see, in `seq` order, as `event` messages:
//! staff see the events about themselves and about the calls they were
//! offered; supervisors and the operator token see them all (admins only
//! their own: events carry patients' numbers). When
//! an agent's phone starts ringing (their `agent_offered` event) they also
//! get `call_offered` with the caller's number and card(s), or
//! `"unknown_caller": true`; each card shown is an audit event.
//!
//! Reconnecting with `after=` the last `seq` received replays what was
//! missed from the store before going live, so nothing is lost; a client
//! that falls too far behind the live feed is caught up the same way.
//!
//! Clients send `{"type":"state","state":"available"}` (also `with_patient`,
//! `paused`), `{"type":"note","call_id":…,"text":…}`,
//! `{"type":"disposition","call_id":…,"reason":…,"note":…}` and
//! `{"type":"identity","call_id":…,"patient":MIS_ID}` (the agent confirmed
//! the caller is that patient, after the date-of-birth check); notes,
//! dispositions and identity checks are recorded in the audit trail. Every client message gets
//! `ok` or `error` back with its `type`, except one over 64 KiB: that one
//! closes the socket with code 1009 and a reason naming the limit.
//!
//! Supervisors (and the operator token) also get `indicators` messages: the
//! dashboard's snapshot on connecting and again whenever it changes.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, principal_from_token, record_fact};
use super::error::ApiError;
use super::live::Interest;
use crate::calls::agents::AgentState;
use crate::store::events::EventRecord;
use crate::store::users::Role;

/// Events replayed per store query while catching up.
const REPLAY_PAGE: i64 = 1_000;
/// The largest message a client may send. Its messages are small JSON
/// (state changes, identity checks, notes and dispositions typed by hand);
/// a longer one is answered with close code 1009.
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// What the WebSocket library reads at most, as a frame or a message.
/// Above [`MAX_CLIENT_MESSAGE`] so an over-long message is read whole and
/// refused with a close frame; a longer one still ends the session (without
/// a word) before it costs more memory than this.
const MAX_READ: usize = 1024 * 1024;
/// Bytes read from a client's socket at a time. The WebSocket library
/// zero-fills this much on every read attempt, and a session's loop tries
/// a read each time it wakes for an event: at the default 128 KiB, 2,000
/// agents' screens cost the server gigabytes of `memset` a second. A larger
/// message is still read whole, this many bytes at a time.
const READ_BUFFER: usize = 8 * 1024;

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    token: Option<String>,
    after: Option<i64>,
    /// `indicators`: the dashboard's figures only, no events.
    feed: Option<String>,
}

/// `GET /api/ws`: the token from `?token=` (browsers cannot set headers on
/// a WebSocket) or `Authorization: Bearer`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_READ)
        .max_frame_size(MAX_READ);
    let token = q
        .token
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .ok_or(ApiError::Unauthorized)?;
    let who = principal_from_token(&state, &token).await?;
    let indicators_only = match q.feed.as_deref() {
        None | Some("events") => false,
        Some("indicators") => {
            who.require(&[Role::Supervisor], "the indicators")?;
            true
        }
        Some(other) => {
            return Err(ApiError::BadRequest {
                message: format!("feed: `{other}` is not events or indicators"),
                field: Some("feed"),
            });
        }
    };
    if indicators_only {
        let dashboard = state.dashboard.subscribe();
        // A user's feed also hears of changes to their account.
        let login = match &who {
            Principal::User { extension, .. } => Some((state, extension.clone(), token)),
            Principal::Operator => None,
        };
        return Ok(ws
            .on_upgrade(move |socket| async move {
                if let Err(e) = indicators_feed(socket, dashboard, login).await {
                    tracing::debug!(error = %e, "websocket closed");
                }
            })
            .into_response());
    }
    let after = match q.after {
        Some(a) if a < 0 => {
            return Err(ApiError::BadRequest {
                message: "after must be a seq (0 or more)".into(),
                field: Some("after"),
            });
        }
        Some(a) => a,
        None => state.store.last_event_seq().await?,
    };
    // Calls this agent was offered before connecting still concern them.
    let calls = match &who {
        Principal::User { extension, .. } => state
            .store
            .live_calls_of(extension, after)
            .await?
            .into_iter()
            .collect(),
        Principal::Operator => HashSet::new(),
    };
    Ok(ws
        .on_upgrade(move |socket| async move {
            let session = Session {
                state,
                token: matches!(who, Principal::User { .. }).then_some(token),
                who,
                calls,
                sent: after,
                popped: HashSet::new(),
                shown: HashSet::new(),
            };
            if let Err(e) = session.run(socket).await {
                tracing::debug!(error = %e, "websocket closed");
            }
        })
        .into_response())
}

struct Session {
    state: AppState,
    /// A user's login, checked again when their account changes.
    token: Option<String>,
    who: Principal,
    /// Calls this agent was offered (their events are theirs to see).
    calls: HashSet<String>,
    /// The last `seq` handled (sent or skipped).
    sent: i64,
    /// Offers popped (by call and time), from the notice or the committed
    /// event, whichever came first: the other pops nothing. Forgotten when
    /// the call ends.
    popped: HashSet<(String, i64)>,
    /// The cards this session showed, by call and MIS id: an identity
    /// check may follow a pop faster than its `card_viewed` is committed.
    shown: HashSet<(String, String)>,
}

type WsResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

impl Session {
    async fn run(mut self, mut socket: WebSocket) -> WsResult {
        let (extension, role) = match &self.who {
            Principal::User { extension, role } => (Some(extension.clone()), role.as_str()),
            Principal::Operator => (None, "operator"),
        };
        let hello = json!({
            "type": "hello",
            "extension": extension,
            "role": role,
            "after": self.sent,
        });
        send(&mut socket, &hello).await?;
        // Supervisors get the dashboard's figures as they change.
        let mut indicators = match &self.who {
            Principal::Operator
            | Principal::User {
                role: Role::Supervisor,
                ..
            } => Some(self.state.dashboard.subscribe()),
            Principal::User { .. } => None,
        };
        if let Some(rx) = &mut indicators {
            let first = rx.borrow_and_update().clone();
            send(&mut socket, &first).await?;
        }
        let interest = match (&self.who, self.who.sees_everything()) {
            (Principal::User { extension, .. }, false) => Interest::Agent(extension.clone()),
            _ => Interest::Everything,
        };
        loop {
            // Join first, then fill in from the store: an event committed in
            // between arrives both ways and is passed over the second time.
            let mut member = self
                .state
                .hub
                .join(interest.clone(), self.calls.iter().cloned().collect());
            if !self.catch_up(&mut socket).await? {
                return Ok(());
            }
            loop {
                tokio::select! {
                    msg = socket.recv() => match msg {
                        Some(Ok(m)) if message_len(&m) > MAX_CLIENT_MESSAGE => {
                            return refuse_long(&mut socket, message_len(&m)).await;
                        }
                        Some(Ok(Message::Text(text))) => {
                            let reply = self.client_message(text.as_str()).await;
                            send(&mut socket, &reply).await?;
                        }
                        Some(Ok(Message::Close(_))) | None => return Ok(()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e.into()),
                    },
                    snap = next_snapshot(&mut indicators) => send(&mut socket, &snap).await?,
                    ev = member.rx.recv() => match ev {
                        // An offer ahead of its commit: the pop, at once.
                        Some(e) if e.seq == 0 => self.early_pop(&mut socket, &e).await?,
                        Some(e) if e.seq <= self.sent => {}
                        Some(e) if self.login_ended_by(&e).await? => {
                            return close_ended_login(&mut socket).await;
                        }
                        Some(e) => self.deliver(&mut socket, &e).await?,
                        // Let go by the switchboard (this client fell
                        // behind): catch up from the store and join again.
                        None => break,
                    },
                }
            }
        }
    }

    /// Whether `e` changed this user's account so that their login no
    /// longer holds (disabled, a new role or password: the sessions went).
    async fn login_ended_by(&self, e: &EventRecord) -> Result<bool, ApiError> {
        let (Some(token), Principal::User { extension, .. }) = (&self.token, &self.who) else {
            return Ok(false);
        };
        login_ended_by(&self.state, extension, token, e).await
    }

    /// Sends what the store holds after `sent`; `false` when it closed the
    /// socket on the way (a change there ended this login).
    async fn catch_up(
        &mut self,
        socket: &mut WebSocket,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        loop {
            let page = self
                .state
                .store
                .events_after(self.sent, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                return Ok(true);
            };
            for e in page {
                if self.login_ended_by(&e).await? {
                    close_ended_login(socket).await?;
                    return Ok(false);
                }
                self.deliver(socket, &Arc::new(e)).await?;
            }
            debug_assert_eq!(last, self.sent);
        }
    }

    /// One committed event: forwarded if this client may see it, with a
    /// `call_offered` pop when it rings this agent's phone.
    async fn deliver(&mut self, socket: &mut WebSocket, e: &Arc<EventRecord>) -> WsResult {
        self.sent = e.seq;
        let mine = match &self.who {
            Principal::User { extension, .. } => e.agent.as_deref() == Some(extension.as_str()),
            Principal::Operator => false,
        };
        if mine
            && e.kind == "agent_offered"
            && let Some(call) = &e.call_id
            // Not popped already from the offer's notice.
            && !self.popped.remove(&(call.clone(), e.at))
        {
            // (Should the notice come after this, say after a catch-up,
            // it pops nothing.)
            self.popped.insert((call.clone(), e.at));
            self.calls.insert(call.clone());
            let caller = e.data["caller"].as_str().map(str::to_string);
            let mut pop = self.call_offered(call, caller, e.seq).await?;
            self.remember_shown(call, &pop);
            // Handed on by a colleague: who, and their note.
            if let Some(t) = e.data.get("transfer") {
                pop["transfer"] = t.clone();
            }
            send(socket, &pop).await?;
        }
        // A call-back task is its owner's business, not that of everyone
        // who was once offered the call it came from.
        let by_call = !e.kind.starts_with("callback_")
            && e.call_id.as_ref().is_some_and(|c| self.calls.contains(c));
        let visible = self.who.sees_everything() || mine || by_call || self.queue_task(e);
        if visible {
            send(socket, &event_json(e)).await?;
        }
        if e.kind == "ended"
            && let Some(call) = &e.call_id
        {
            self.calls.remove(call);
            self.popped.retain(|(c, _)| c != call);
            // Its card views are committed by now (the end came after them).
            self.shown.retain(|(c, _)| c != call);
        }
        Ok(())
    }

    /// A call-back task any agent of a queue may take (no one agent owns
    /// it): news for every member of that queue.
    fn queue_task(&self, e: &EventRecord) -> bool {
        let Principal::User { extension, .. } = &self.who else {
            return false;
        };
        e.agent.is_none()
            && e.kind.starts_with("callback_")
            && e.data["task"]["owner"]["kind"] == "queue"
            && e.data["task"]["queue"]
                .as_str()
                .and_then(|q| self.state.queue_members.get(q))
                .is_some_and(|members| members.iter().any(|m| m == extension))
    }

    /// An offer to this agent before its commit: the pop now (without a
    /// `seq`; the committed event follows and pops nothing more).
    async fn early_pop(&mut self, socket: &mut WebSocket, e: &EventRecord) -> WsResult {
        let Principal::User { extension, .. } = &self.who else {
            return Ok(());
        };
        let (Some(call), true) = (
            &e.call_id,
            e.kind == "agent_offered" && e.agent.as_deref() == Some(extension.as_str()),
        ) else {
            return Ok(());
        };
        if !self.popped.insert((call.clone(), e.at)) {
            return Ok(());
        }
        self.calls.insert(call.clone());
        let caller = e.data["caller"].as_str().map(str::to_string);
        let mut pop = self.call_offered(call, caller, e.seq).await?;
        self.remember_shown(call, &pop);
        pop["seq"] = Value::Null;
        if let Some(t) = e.data.get("transfer") {
            pop["transfer"] = t.clone();
        }
        send(socket, &pop).await
    }

    /// The screen pop: the caller's number and every card it finds.
    fn remember_shown(&mut self, call: &str, pop: &Value) {
        for p in pop["patients"].as_array().into_iter().flatten() {
            if let Some(id) = p["mis_id"].as_str() {
                self.shown.insert((call.to_string(), id.to_string()));
            }
        }
    }

    async fn call_offered(
        &self,
        call: &str,
        caller: Option<String>,
        seq: i64,
    ) -> Result<Value, ApiError> {
        // The offer names the caller; older events do not, and then the
        // call's row does.
        let caller = match caller {
            Some(c) => c,
            None => self
                .state
                .store
                .call(call)
                .await?
                .map(|c| c.caller)
                .unwrap_or_default(),
        };
        let number = self.state.phones.caller(&caller);
        let patients = match &number {
            Some(n) => {
                self.state
                    .store
                    .cards_by_phone(n, crate::store::now_ms())
                    .await?
            }
            None => Vec::new(),
        };
        // The views are queued to the event writer ahead of the pop, so
        // they are committed with its next batch (within milliseconds);
        // waiting for that commit would hold every pop back by one more.
        for p in &patients {
            let view = EventRecord {
                seq: 0,
                at: crate::store::now_ms(),
                kind: "card_viewed".into(),
                call_id: Some(call.to_string()),
                agent: match &self.who {
                    Principal::User { extension, .. } => Some(extension.clone()),
                    Principal::Operator => None,
                },
                data: json!({ "patient": p.mis_id, "by": self.who.audit_name(), "lookup": "screen_pop" }),
                hash: None,
            };
            self.state
                .events
                .send(view)
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        }
        Ok(json!({
            "type": "call_offered",
            "seq": seq,
            "call_id": call,
            "caller": number.clone().unwrap_or(caller),
            "unknown_caller": patients.is_empty(),
            "patients": super::patients::cards(&self.state.store, &patients).await?,
            // When the server sent it (epoch ms): with the receipt time it
            // splits a pop's latency into the server's part and the network's.
            "sent_at": crate::store::now_ms(),
        }))
    }

    async fn client_message(&mut self, text: &str) -> Value {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return json!({
                    "type": "error",
                    "error": format!("not a message this server understands: {e}"),
                });
            }
        };
        let kind = msg.kind();
        match self.handle(msg).await {
            Ok(()) => json!({ "type": "ok", "for": kind }),
            Err(e) => json!({ "type": "error", "for": kind, "error": e.to_string() }),
        }
    }

    async fn handle(&mut self, msg: ClientMessage) -> Result<(), ApiError> {
        let Principal::User { extension, role } = &self.who else {
            return Err(ApiError::Forbidden(
                "the operator token only listens on the WebSocket".into(),
            ));
        };
        match msg {
            ClientMessage::State { state } => {
                let wanted = AgentState::from_name(&state)
                    .filter(|s| {
                        matches!(
                            s,
                            AgentState::Available | AgentState::WithPatient | AgentState::Paused
                        )
                    })
                    .ok_or_else(|| ApiError::BadRequest {
                        message: format!(
                            "unknown state `{state}` (available, with_patient or paused)"
                        ),
                        field: Some("state"),
                    })?;
                self.state
                    .core
                    .set_agent_state(extension.clone(), wanted)
                    .await?
                    .map_err(|e| ApiError::Conflict(e.to_string()))
            }
            ClientMessage::Note { call_id, text } => {
                self.own_call(extension, *role, &call_id).await?;
                // The core keeps it for whoever the call is handed to (a
                // core shutting down loses nothing the audit trail keeps).
                let _ = self
                    .state
                    .core
                    .note(call_id.clone(), extension.clone(), text.clone())
                    .await;
                record_fact(
                    &self.state,
                    "call_note",
                    Some(extension.clone()),
                    json!({ "call": call_id, "text": text }),
                )
                .await
            }
            ClientMessage::Disposition {
                call_id,
                reason,
                note,
                appointment,
                form,
            } => {
                self.own_call(extension, *role, &call_id).await?;
                record_fact(
                    &self.state,
                    "call_disposition",
                    Some(extension.clone()),
                    json!({ "call": call_id, "reason": reason, "note": note, "appointment": appointment, "form": form }),
                )
                .await
            }
            ClientMessage::Identity { call_id, patient } => {
                self.own_call(extension, *role, &call_id).await?;
                // Only a patient whose card this call showed can be the
                // one confirmed on it: shown here, or (after a reconnect)
                // on file.
                let shown = self.shown.contains(&(call_id.clone(), patient.clone()))
                    || self
                        .state
                        .store
                        .call_events(&call_id)
                        .await?
                        .iter()
                        .any(|e| e.kind == "card_viewed" && e.data["patient"] == patient.as_str());
                if !shown {
                    return Err(ApiError::BadRequest {
                        message: format!(
                            "patient {patient} was not among the cards shown on {call_id}"
                        ),
                        field: Some("patient"),
                    });
                }
                // Filed under the call, so the call's own events say who
                // was confirmed on it (and the history route can check).
                let fact = EventRecord {
                    seq: 0,
                    at: crate::store::now_ms(),
                    kind: "identity_confirmed".into(),
                    call_id: Some(call_id.clone()),
                    agent: Some(extension.clone()),
                    data: json!({ "call": call_id, "patient": patient, "by": extension }),
                    hash: None,
                };
                self.state
                    .events
                    .commit(fact)
                    .await
                    .map(|_| ())
                    .map_err(|e| ApiError::Unavailable(e.to_string()))
            }
        }
    }

    async fn own_call(&self, extension: &str, _role: Role, call: &str) -> Result<(), ApiError> {
        if self.calls.contains(call) || self.state.store.took_part_in(extension, call).await? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no call {call} of yours")))
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    State {
        state: String,
    },
    Note {
        call_id: String,
        text: String,
    },
    Disposition {
        call_id: String,
        reason: String,
        #[serde(default)]
        note: String,
        /// The agreed appointment: date, time, service.
        #[serde(default)]
        appointment: Option<Value>,
        /// The call type's form: an NPS follow-up's score, comment and
        /// outcome, a home-visit request's details.
        #[serde(default)]
        form: Option<Value>,
    },
    Identity {
        call_id: String,
        /// The card's MIS id.
        patient: String,
    },
}

impl ClientMessage {
    fn kind(&self) -> &'static str {
        match self {
            ClientMessage::State { .. } => "state",
            ClientMessage::Note { .. } => "note",
            ClientMessage::Disposition { .. } => "disposition",
            ClientMessage::Identity { .. } => "identity",
        }
    }
}

/// `feed=indicators`: the snapshot now and each one after, nothing else
/// (a wall display has no use for the events, nor for replaying them);
/// closed (1008) when a change to the user's account ends the login it was
/// opened with.
async fn indicators_feed(
    mut socket: WebSocket,
    rx: crate::indicators::live::Watch,
    login: Option<(AppState, String, String)>,
) -> WsResult {
    let mut account = login.as_ref().map(|(state, extension, _)| {
        state
            .hub
            .join(Interest::Agent(extension.clone()), Vec::new())
    });
    send(
        &mut socket,
        &json!({ "type": "hello", "feed": "indicators" }),
    )
    .await?;
    let mut rx = Some(rx);
    if let Some(r) = &mut rx {
        let first = r.borrow_and_update().clone();
        send(&mut socket, &first).await?;
    }
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(m)) if message_len(&m) > MAX_CLIENT_MESSAGE => {
                    return refuse_long(&mut socket, message_len(&m)).await;
                }
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            },
            snap = next_snapshot(&mut rx) => send(&mut socket, &snap).await?,
            ev = next_event(&mut account) => {
                let Some((state, extension, token)) = &login else { continue };
                let ended = match ev {
                    Some(e) => login_ended_by(state, extension, token, &e).await?,
                    // Let go by the switchboard: ask the store instead, and
                    // join again.
                    None => {
                        account = Some(state.hub.join(Interest::Agent(extension.clone()), Vec::new()));
                        state.store.session(token, crate::store::now_ms()).await?.is_none()
                    }
                };
                if ended {
                    return close_ended_login(&mut socket).await;
                }
            }
        }
    }
}

/// The next event for an account being watched; never, when none is.
async fn next_event(member: &mut Option<super::live::Membership>) -> Option<Arc<EventRecord>> {
    match member {
        Some(m) => m.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The dashboard's next snapshot; never, for sessions that do not follow it.
async fn next_snapshot(rx: &mut Option<crate::indicators::live::Watch>) -> Arc<Value> {
    if let Some(r) = rx {
        if r.changed().await.is_ok() {
            return r.borrow_and_update().clone();
        }
        // The dashboard stopped (the server is shutting down).
        *rx = None;
    }
    std::future::pending().await
}

fn event_json(e: &EventRecord) -> Value {
    json!({
        "type": "event",
        "seq": e.seq,
        "at": e.at,
        "kind": e.kind,
        "call_id": e.call_id,
        "agent": e.agent,
        "data": e.data,
    })
}

fn message_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// A message over [`MAX_CLIENT_MESSAGE`]: the client is told so with close
/// code 1009, and the session ends. The close frame gets two seconds to go
/// out, so a client that no longer reads does not hold the session.
async fn refuse_long(socket: &mut WebSocket, len: usize) -> WsResult {
    let frame = axum::extract::ws::CloseFrame {
        code: axum::extract::ws::close_code::SIZE,
        reason: format!(
            "a message of {len} bytes; a message may be at most {MAX_CLIENT_MESSAGE} bytes"
        )
        .into(),
    };
    let close = socket.send(Message::Close(Some(frame)));
    // Gone or not reading: the session ends all the same.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
    Ok(())
}

/// Whether `e` changed `extension`'s account so that the login `token` no
/// longer holds.
async fn login_ended_by(
    state: &AppState,
    extension: &str,
    token: &str,
    e: &EventRecord,
) -> Result<bool, ApiError> {
    if e.kind != "user_changed" || e.agent.as_deref() != Some(extension) {
        return Ok(false);
    }
    Ok(state
        .store
        .session(token, crate::store::now_ms())
        .await?
        .is_none())
}

/// Closes a session whose login an admin ended (policy violation, 1008,
/// with the reason): the client must log in again.
async fn close_ended_login(socket: &mut WebSocket) -> WsResult {
    let frame = axum::extract::ws::CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: "your account changed: log in again".into(),
    };
    let close = socket.send(Message::Close(Some(frame)));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
    Ok(())
}

async fn send(socket: &mut WebSocket, v: &Value) -> WsResult {
    socket.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
