//! The tokio drivers: the only async code. Sockets are read by small tasks
//! that hand bytes to one core task; the core task owns the sans-IO
//! [`SipCore`], feeds it, drains what it wants sent, and sleeps until its next
//! deadline. The core task runs on a thread of its own with its own
//! single-threaded runtime, which also owns the SIP UDP sockets; the API,
//! the WebSockets, the event writer and the dashboards share the main
//! runtime. Registrar changes are written to the store by a batching task.

mod core_task;
mod events;
mod load;
pub use events::{EventSink, WriterGone, spawn as spawn_event_writer};
mod persist;
mod tcp;
pub mod thp;
mod udp;
mod ws;

use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use careline_shared::sip::{Message, ParseError};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::calls::acd::AcdError;
use crate::calls::agents::AgentState;

use crate::api::{self, AppState};
use crate::config::{Config, Transport};
use crate::metrics::Metrics;
use crate::sip::endpoint::{EndpointSettings, Flow};
use crate::sip::registrar::{Ha1, RegistrarSettings};
use crate::store::Store;

/// What socket tasks hand the core task.
pub(crate) enum Input {
    /// A media session's leg went silent (from the media threads).
    MediaSilence {
        session: crate::media::SessionId,
        leg: crate::media::Leg,
    },
    /// A key pressed on a media session's leg (RFC 4733).
    MediaDtmf {
        session: crate::media::SessionId,
        leg: crate::media::Leg,
        digit: char,
    },
    /// A UDP datagram.
    Datagram { flow: Flow, data: Bytes },
    /// A message framed off a stream (already parsed).
    Stream { flow: Flow, msg: Message },
    /// A framed stream message that did not parse.
    Invalid {
        flow: Flow,
        data: Bytes,
        error: ParseError,
    },
    /// A stream connection opened: where to write to it.
    Connected {
        remote: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    /// A stream connection closed.
    Closed { remote: SocketAddr },
    /// New credential table from the store.
    Credentials(HashMap<String, Ha1>),
    /// An agent's state chosen through the API.
    SetAgentState {
        extension: String,
        state: AgentState,
        reply: oneshot::Sender<Result<(), AcdError>>,
    },
    /// Every agent's state, for the API.
    AgentStates {
        reply: oneshot::Sender<Vec<(String, AgentState)>>,
    },
    /// Hold or resume through the API.
    Hold {
        call: String,
        agent: String,
        holding: bool,
        reply: oneshot::Sender<Result<(), crate::calls::b2bua::HoldError>>,
    },
    /// A blind transfer through the API.
    Transfer {
        call: String,
        agent: String,
        to: String,
        note: Option<String>,
        reply: oneshot::Sender<Result<(), crate::calls::b2bua::TransferError>>,
    },
    /// An attended transfer completed (`complete`) or called off through
    /// the API.
    Consult {
        call: String,
        agent: String,
        complete: bool,
        reply: oneshot::Sender<Result<(), crate::calls::b2bua::TransferError>>,
    },
    /// The agent's note on their call (carried to whoever it is handed to).
    Note {
        call: String,
        agent: String,
        text: String,
    },
    /// A call to place (call back now, a teleconsult).
    DialOut {
        request: crate::calls::b2bua::DialOutRequest,
        reply: oneshot::Sender<Result<String, crate::calls::b2bua::DialOutError>>,
    },
}

/// The API's way into the core task.
#[derive(Clone, Debug)]
pub struct CoreHandle(mpsc::Sender<Input>);

/// The core task is gone (shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call core is not running")]
pub struct CoreGone;

impl CoreHandle {
    /// A handle on nothing, for tests of routes that do not reach the core.
    pub fn detached() -> CoreHandle {
        CoreHandle(mpsc::channel(1).0)
    }

    /// Sets an agent's state.
    pub async fn set_agent_state(
        &self,
        extension: String,
        state: AgentState,
    ) -> Result<Result<(), AcdError>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::SetAgentState {
                extension,
                state,
                reply,
            })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }

    /// Places a call: the staff member's phone first, then the patient.
    /// The call's id once the staff member's phone is being rung.
    pub async fn dial_out(
        &self,
        request: crate::calls::b2bua::DialOutRequest,
    ) -> Result<Result<String, crate::calls::b2bua::DialOutError>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::DialOut { request, reply })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }

    /// Puts `agent`'s caller on hold (music, reminders) or takes them off.
    pub async fn hold(
        &self,
        call: String,
        agent: String,
        holding: bool,
    ) -> Result<Result<(), crate::calls::b2bua::HoldError>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::Hold {
                call,
                agent,
                holding,
                reply,
            })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }

    /// Hands `agent`'s call to `to` (an extension, `senior`, `queue:NUMBER`).
    pub async fn transfer(
        &self,
        call: String,
        agent: String,
        to: String,
        note: Option<String>,
    ) -> Result<Result<(), crate::calls::b2bua::TransferError>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::Transfer {
                call,
                agent,
                to,
                note,
                reply,
            })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }

    /// Completes (`complete`) or calls off `agent`'s attended transfer.
    pub async fn consult(
        &self,
        call: String,
        agent: String,
        complete: bool,
    ) -> Result<Result<(), crate::calls::b2bua::TransferError>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::Consult {
                call,
                agent,
                complete,
                reply,
            })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }

    /// Tells the core `agent`'s latest note on `call`.
    pub async fn note(&self, call: String, agent: String, text: String) -> Result<(), CoreGone> {
        self.0
            .send(Input::Note { call, agent, text })
            .await
            .map_err(|_| CoreGone)
    }

    /// Every agent's state.
    pub async fn agent_states(&self) -> Result<Vec<(String, AgentState)>, CoreGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Input::AgentStates { reply })
            .await
            .map_err(|_| CoreGone)?;
        rx.await.map_err(|_| CoreGone)
    }
}

/// Called once everything listens, with the SIP sockets and the HTTP address.
pub type OnReady = Box<dyn FnOnce(&[String], &str) + Send>;

fn endpoint_settings(
    config: &Config,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    ws: Option<SocketAddr>,
) -> EndpointSettings {
    let r = &config.registrar;
    EndpointSettings {
        domain: config.sip.domain.clone(),
        server_name: config.sip.server_name.clone(),
        t1: config.sip.t1.0,
        t2: config.sip.t2.0,
        t4: config.sip.t4.0,
        registrar: RegistrarSettings {
            realm: config.sip.domain.clone(),
            min_expires: r.min_expires.0,
            max_expires: r.max_expires.0,
            default_expires: r.default_expires.0,
            max_contacts: r.max_contacts,
            lockout_after: r.lockout_after,
            lockout_time: r.lockout_time.0,
            nonce_ttl: r.nonce_ttl.0,
            algorithms: r.algorithms.iter().map(|a| a.0).collect(),
        },
        queues: config.queues.iter().map(|q| q.settings()).collect(),
        udp,
        tcp,
        ws,
        hold_reminder: config.calls.hold_reminder.0,
        trunk: config.trunks.first().map(|t| t.route()),
        inbound_trunks: config.trunks.iter().map(|t| t.inbound()).collect(),
        trunk_accounts: config
            .trunks
            .iter()
            .filter_map(|t| t.registration())
            .collect(),
        keepalive: Some(config.calls.keepalive.0).filter(|d| !d.is_zero()),
        dropped_announcement: config.calls.dropped_announcement.0,
    }
}

/// Calls the last run left going (it was killed, or the machine failed)
/// ended with it: their lines were cut. They are ended now as dropped, so
/// the dashboard stops counting them as waiting or talking and their
/// patients get call-back tasks.
async fn close_unfinished_calls(store: &Store, events: &EventSink) -> anyhow::Result<()> {
    let unfinished = store.unfinished_calls().await?;
    if unfinished.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        calls = unfinished.len(),
        "calls left unfinished by the last run: ending them as dropped"
    );
    let now = crate::store::now_ms();
    let fact =
        |call: &str, kind: &str, data: serde_json::Value| crate::store::events::EventRecord {
            seq: 0,
            at: now,
            kind: kind.into(),
            call_id: Some(call.to_string()),
            agent: None,
            data,
            hash: None,
        };
    let mut facts: Vec<_> = unfinished
        .iter()
        .flat_map(|call| {
            [
                fact(
                    call,
                    "line_dropped",
                    serde_json::json!({ "side": "server", "cause": "server_restart" }),
                ),
                fact(
                    call,
                    "ended",
                    serde_json::json!({ "reason": "dropped", "at": now }),
                ),
            ]
        })
        .collect();
    // Committed before the core starts numbering new calls.
    let last = facts.pop().expect("two facts per call");
    for f in facts {
        events.send(f)?;
    }
    events.commit(last).await?;
    Ok(())
}

/// Loads the credential table for the configured realm, warning about users
/// whose HA1 was made for another realm (their passwords must be set again).
pub(crate) async fn load_credentials(
    store: &Store,
    realm: &str,
) -> anyhow::Result<HashMap<String, Ha1>> {
    let mut table = HashMap::new();
    for c in store.digest_credentials().await? {
        if c.realm != realm {
            tracing::warn!(extension = %c.extension, stored_realm = %c.realm, realm, "password was set for another sip domain; this phone cannot register until it is set again");
            continue;
        }
        table.insert(
            c.extension,
            Ha1 {
                md5: c.ha1_md5,
                sha256: c.ha1_sha256,
            },
        );
    }
    Ok(table)
}

/// Runs SIP and HTTP until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, store: Store, on_ready: Option<OnReady>) -> anyhow::Result<()> {
    let phones = crate::patients::PhoneNormalizer::new(&config.patients.default_region)
        .map_err(|e| anyhow::anyhow!("patients.default_region: {e}"))?;
    phones.warm();
    let metrics = Arc::new(Metrics::default());
    let (input_tx, input_rx) = mpsc::channel::<Input>(65_536);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    // Bind everything first, so a busy port fails start-up with a clear error.
    let mut udp_sockets = Vec::new();
    let mut tcp_listeners = Vec::new();
    let mut ws_listeners = Vec::new();
    let mut bound = Vec::new();
    let (mut first_udp, mut first_tcp, mut first_ws) = (None, None, None);
    for l in &config.sip.listen {
        match l.transport {
            Transport::Udp => {
                let s = udp::bind(l.addr).with_context(|| format!("binding sip {l}"))?;
                let local = s.local_addr()?;
                first_udp.get_or_insert(local);
                bound.push(format!("udp://{local}"));
                udp_sockets.push(s);
            }
            Transport::Tcp => {
                let s = TcpListener::bind(l.addr)
                    .await
                    .with_context(|| format!("binding sip {l}"))?;
                first_tcp.get_or_insert(s.local_addr()?);
                bound.push(format!("tcp://{}", s.local_addr()?));
                tcp_listeners.push(s);
            }
            Transport::Ws | Transport::Wss => {
                let s = TcpListener::bind(l.addr)
                    .await
                    .with_context(|| format!("binding sip {l}"))?;
                first_ws.get_or_insert(s.local_addr()?);
                bound.push(format!("{}://{}", l.transport, s.local_addr()?));
                let tls = match (l.transport, &config.sip.tls_cert, &config.sip.tls_key) {
                    (Transport::Wss, Some(cert), Some(key)) => Some(ws::tls_acceptor(cert, key)?),
                    (Transport::Wss, _, _) => anyhow::bail!("{l} needs [sip] tls_cert and tls_key"),
                    _ => None,
                };
                ws_listeners.push((s, tls));
            }
        }
    }
    let http = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("binding http {}", config.http.listen))?;
    let http_addr = http.local_addr()?;
    for b in &bound {
        tracing::info!(listen = %b, "sip listening");
    }
    tracing::info!(listen = %http_addr, "http listening");

    let credentials = load_credentials(&store, &config.sip.domain).await?;
    let (persist_tx, persist_task) = persist::spawn(store.clone());
    if store
        .record_config(&config.fingerprint, crate::store::now_ms())
        .await?
    {
        tracing::info!(sha256 = %config.fingerprint, "configuration changed since the last start; recorded in the audit trail");
    }
    let (events_tx, live_events, events_task) = events::spawn(store.clone(), metrics.clone());
    let restored = persist::restore(&store).await?;

    let mut tasks = tokio::task::JoinSet::new();
    for l in tcp_listeners {
        tasks.spawn(tcp::accept(
            l,
            input_tx.clone(),
            shutdown_rx.clone(),
            metrics.clone(),
        ));
    }
    for (l, tls) in ws_listeners {
        tasks.spawn(ws::serve(
            l,
            tls,
            input_tx.clone(),
            shutdown_rx.clone(),
            metrics.clone(),
        ));
    }
    tasks.spawn(persist::watch_credentials(
        store.clone(),
        config.sip.domain.clone(),
        input_tx.clone(),
        shutdown_rx.clone(),
    ));
    let media_input = input_tx.clone();
    let engine = crate::media::MediaEngine::start(config.media.engine_config(), move |event| {
        // Runs on a media thread: hand silence to the call core without
        // waiting (the core decides whether the line dropped). DTMF is only
        // logged for now — without the digits, which may be a patient's date
        // of birth or card number.
        match event {
            crate::media::MediaEvent::Inactive {
                id,
                leg,
                silent_for,
            } => {
                tracing::info!(
                    session = id.0,
                    ?leg,
                    silent_ms = silent_for.as_millis() as u64,
                    "media silent"
                );
                if media_input
                    .try_send(Input::MediaSilence { session: id, leg })
                    .is_err()
                {
                    tracing::warn!(
                        session = id.0,
                        "call core busy; media silence not delivered"
                    );
                }
            }
            crate::media::MediaEvent::Dtmf { id, leg, digit } => {
                // Logged without the digit: it may be part of a patient's
                // date of birth or card number.
                tracing::debug!(session = id.0, ?leg, "dtmf key pressed");
                if media_input
                    .try_send(Input::MediaDtmf {
                        session: id,
                        leg,
                        digit,
                    })
                    .is_err()
                {
                    tracing::warn!(session = id.0, "call core busy; key press not delivered");
                }
            }
        }
    })
    .map_err(|e| anyhow::anyhow!("starting the media engine: {e}"))?;
    let engine = Arc::new(engine);
    metrics.media_handoff.set({
        let engine = Arc::downgrade(&engine);
        move || engine.upgrade().map_or((0, 0), |e| e.handed_packets())
    });
    let advertise = config
        .media
        .public_ip
        .unwrap_or(if config.media.bind_ip.is_unspecified() {
            first_udp
                .or(first_tcp)
                .map_or(config.media.bind_ip, |a| a.ip())
        } else {
            config.media.bind_ip
        });
    // Browsers reach the server only over SIP WebSocket: the gateway runs
    // when there is a ws:// listener.
    let webrtc = match first_ws {
        Some(_) => {
            let bind = SocketAddr::new(config.media.bind_ip, config.media.webrtc_port);
            let (opus, threads) = (config.media.webrtc_opus, config.media.webrtc_threads);
            let gw = crate::media::WebRtcGateway::start_threads(bind, advertise, opus, threads)
                .with_context(|| {
                    format!("binding the webrtc gateway on udp {bind} ([media] webrtc_port, webrtc_threads)")
                })?;
            // Plain RTP between the gateway and the sessions in memory.
            gw.attach(&engine);
            Some(Arc::new(gw))
        }
        None => None,
    };
    // The core task ends every turn with `flush_media`: each worker is
    // woken once per turn, not once per command.
    engine.defer_wakes();
    let media: Box<dyn crate::calls::media::MediaControl> =
        Box::new(crate::calls::media::EngineControl {
            engine,
            advertise,
            webrtc,
            bind: config.media.bind_ip,
        });
    let core = core_task::CoreTask::new(
        endpoint_settings(&config, first_udp, first_tcp, first_ws),
        credentials,
        restored,
        Some(media),
        persist_tx,
        events_tx.clone(),
        metrics.clone(),
    );
    // Call ids continue after those already stored: a reused id would make
    // every later event batch fail its insert.
    let mut core = core;
    let queue_members: crate::api::live::QueueMembers = Arc::new(
        config
            .queues
            .iter()
            .map(|q| {
                let members = q.agents.iter().chain(&q.seniors).cloned().collect();
                (q.name.clone(), members)
            })
            .collect(),
    );
    let hub = crate::api::live::Hub::spawn(&live_events, Arc::clone(&queue_members));
    core.notify_offers(hub.clone());
    close_unfinished_calls(&store, &events_tx).await?;
    core.resume_calls_after(store.last_call_number().await?);
    core.restore_agent_states(store.agent_states().await?);
    let core = core
        .start(udp_sockets, input_tx.clone(), input_rx, shutdown_rx.clone())
        .await
        .context("starting the call core's thread")?;

    let state = AppState {
        store: store.clone(),
        metrics: metrics.clone(),
        sip_listen: Arc::new(bound.clone()),
        started: Instant::now(),
        core: CoreHandle(input_tx.clone()),
        hub,
        callbacks: crate::callbacks::runner::Callbacks::spawn(
            store.clone(),
            &live_events,
            events_tx.clone(),
            config.callbacks.policy(),
            phones,
        ),
        teleconsult_refuse_missing: config.teleconsult.missing_flags == "refuse",
        scripts: Arc::new({
            let mut doc = config
                .scripts
                .document()
                .map_err(|e| anyhow::anyhow!("scripts.file: {e}"))?;
            // The clinic's clock, for greetings by the part of its day.
            doc["utc_offset_minutes"] = (config.dashboard.utc_offset_ms() / 60_000).into();
            doc
        }),
        phone: Arc::new(crate::api::phone::PhoneSettings {
            domain: config.sip.domain.clone(),
            register_expires: config
                .registrar
                .default_expires
                .0
                .min(Duration::from_secs(600))
                .clamp(
                    config.registrar.min_expires.0,
                    config.registrar.max_expires.0,
                )
                .as_secs(),
        }),
        queue_members,
        dashboard: crate::indicators::live::Dashboard::spawn(
            store.clone(),
            &live_events,
            &config.dashboard,
            config.queues.iter().map(|q| q.name.clone()).collect(),
        ),
        live_events,
        events: events_tx,
        api_token: config.http.api_token.clone(),
        min_password: config.users.min_password_length,
        config: Arc::new(config.summary()),
        phones,
    };
    let http_task = tokio::spawn(
        axum::serve(http, api::app(state))
            .with_graceful_shutdown(stopped(shutdown_rx.clone()))
            .into_future(),
    );
    if let Some(ready) = on_ready {
        ready(&bound, &http_addr.to_string());
    }

    let mut core = core;
    let core_failed = tokio::select! {
        _ = wait_for_signal() => false,
        // The core ends only when told to: ending by itself, it failed
        // (and took the SIP sockets with it).
        _ = &mut core => true,
    };
    if core_failed {
        tracing::error!("the call core stopped unexpectedly; shutting down");
    }
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    drop(input_tx);
    // Give in-flight work a bounded time to finish, then stop regardless.
    let grace = Duration::from_secs(5);
    if !core_failed {
        let _ = tokio::time::timeout(grace, core).await;
    }
    let _ = tokio::time::timeout(grace, http_task).await;
    tasks.abort_all();
    let _ = tokio::time::timeout(grace, persist_task).await;
    let _ = tokio::time::timeout(grace, events_task).await;
    tracing::info!("stopped");
    if core_failed {
        anyhow::bail!("the call core stopped unexpectedly");
    }
    Ok(())
}

/// Resolves once shutdown is signalled (or the signaller is gone).
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    loop {
        let done = *rx.borrow_and_update();
        if done || rx.changed().await.is_err() {
            return;
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::events::EventRecord;

    #[sqlx::test(migrations = "../migrations")]
    async fn calls_a_stopped_run_left_going_are_ended_as_dropped_at_start(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let (events, _, _) = spawn_event_writer(store.clone(), Arc::new(Metrics::default()));
        let fact = |call: &str, kind: &str, data: serde_json::Value| EventRecord {
            seq: 0,
            at: 1_000,
            kind: kind.into(),
            call_id: Some(call.into()),
            agent: None,
            data,
            hash: None,
        };
        let arrived = json!({ "queue": "reception", "caller": "+79210000000" });
        for f in [
            fact("call-00000001", "call_arrived", arrived.clone()),
            fact("call-00000002", "call_arrived", arrived),
            fact("call-00000002", "ended", json!({ "reason": "completed" })),
        ] {
            events.commit(f).await.unwrap();
        }
        close_unfinished_calls(&store, &events).await.unwrap();
        let cut = store.call("call-00000001").await.unwrap().unwrap();
        assert_eq!(cut.end_reason.as_deref(), Some("dropped"));
        let done = store.call("call-00000002").await.unwrap().unwrap();
        assert_eq!(done.end_reason.as_deref(), Some("completed"));
        let kinds: Vec<String> = store
            .call_events("call-00000001")
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.kind, e.data["cause"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            ["call_arrived ", "line_dropped server_restart", "ended "]
        );
        // Nothing left to close the next time.
        assert!(store.unfinished_calls().await.unwrap().is_empty());
    }
}
