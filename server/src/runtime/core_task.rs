//! The core task: owns the sans-IO endpoint, feeds it inputs and timeouts,
//! sends what it wants sent, and turns its events into logs, metrics and
//! store writes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sip::NameAddr;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use super::Input;
use crate::calls::b2bua::B2bua;
use crate::calls::event::Event as CallEvent;
use crate::config::Transport;
use crate::metrics::Metrics;
use crate::sip::endpoint::{EndpointEvent, EndpointSettings, SipCore, Transmit};
use crate::sip::registrar::{Binding, Ha1, RegistrarEvent};
use crate::store::events::EventRecord;
use crate::store::now_ms;
use crate::store::registrations::{BindingChange, StoredBinding};

/// How many queued inputs are handled before sending what they produced.
const BATCH: usize = 256;

pub(crate) struct CoreTask {
    core: SipCore,
    udp: Vec<Arc<UdpSocket>>,
    /// Whether each UDP socket is bound to IPv4 (read once: asking the
    /// socket is a system call per message).
    udp_v4: Vec<bool>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    persist: mpsc::UnboundedSender<BindingChange>,
    events: super::events::EventSink,
    /// This turn's facts, sent to the writer together at its end.
    outbox: Vec<EventRecord>,
    metrics: Arc<Metrics>,
    /// The same moment on both clocks, to turn deadlines into stored epoch times.
    epoch: (Instant, i64),
    /// How long datagrams wait in the main socket: whether to turn new
    /// calls away.
    load: super::load::LoadWatch,
    /// Where offers go the moment a phone rings, ahead of their commit
    /// (the screen pop).
    notices: Option<crate::api::live::Hub>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl CoreTask {
    /// Offers go to `hub` as soon as the phone rings (the screen pop).
    pub(crate) fn notify_offers(&mut self, hub: crate::api::live::Hub) {
        self.notices = Some(hub);
    }

    pub(crate) fn new(
        settings: EndpointSettings,
        credentials: HashMap<String, Ha1>,
        restored: Vec<StoredBinding>,
        media: Option<Box<dyn crate::calls::media::MediaControl>>,
        persist: mpsc::UnboundedSender<BindingChange>,
        events: super::events::EventSink,
        metrics: Arc<Metrics>,
    ) -> CoreTask {
        let key: [u8; 32] = rand::random();
        let start = now();
        let epoch = (start, now_ms());
        let mut core = SipCore::new(settings, key, start, media);
        core.registrar_mut().set_credentials(credentials);
        let mut task = CoreTask {
            core,
            udp: Vec::new(),
            udp_v4: Vec::new(),
            tcp: HashMap::new(),
            persist,
            events,
            outbox: Vec::new(),
            metrics,
            epoch,
            load: Default::default(),
            notices: None,
        };
        for b in restored {
            if let Some((ext, binding)) = task.to_binding(b) {
                task.core.restore_binding(start, ext, binding);
            }
        }
        let n = task.core.registrar().binding_count();
        task.metrics
            .registrations_active
            .store(n as u64, Ordering::Relaxed);
        if n > 0 {
            tracing::info!(bindings = n, "registrations restored");
        }
        task
    }

    pub(crate) fn resume_calls_after(&mut self, last: u64) {
        self.core.resume_calls_after(last);
    }

    /// Puts back the states agents chose before a restart (paused, with a
    /// patient); the states of calls in progress died with the old process.
    pub(crate) fn restore_agent_states(&mut self, states: Vec<(String, String)>) {
        use crate::calls::agents::AgentState;
        let t = now();
        let mut restored = 0;
        for (ext, state) in states {
            let Some(state) = AgentState::from_name(&state)
                .filter(|s| matches!(s, AgentState::Paused | AgentState::WithPatient))
            else {
                continue;
            };
            if self.core.set_agent_state(t, &ext, state).is_ok() {
                restored += 1;
            }
        }
        if restored > 0 {
            tracing::info!(agents = restored, "agent states restored");
        }
    }

    fn to_binding(&self, b: StoredBinding) -> Option<(String, Binding)> {
        let left = Duration::from_millis(u64::try_from(b.expires_at - self.epoch.1).ok()?);
        Some((
            b.extension,
            Binding {
                contact: b.contact.parse::<NameAddr>().ok()?,
                uri: b.contact_uri,
                expires_at: self.epoch.0 + left,
                call_id: careline_shared::sip::CallId::new(b.call_id),
                cseq: b.cseq,
                source: b.source.parse().ok()?,
                transport: match b.transport.as_str() {
                    "tcp" => "tcp",
                    // A browser's WebSocket did not survive the restart.
                    "ws" | "wss" => return None,
                    _ => "udp",
                },
                user_agent: b.user_agent,
            },
        ))
    }

    fn epoch_ms(&self, at: Instant) -> i64 {
        let since = at.saturating_duration_since(self.epoch.0).as_millis() as i64;
        self.epoch.1 + since
    }

    /// Starts the core on a thread of its own, with its own single-threaded
    /// runtime that also owns the UDP sockets (`udp`, the first read by the
    /// core itself, the others by small tasks handing datagrams to `input`).
    /// A datagram is read, handled and answered on that one thread: the
    /// core never waits for a runtime worker held by the API, the event
    /// writer or the dashboards, and no wake-up crosses threads on the way.
    /// The receiver resolves once the core has stopped.
    pub(crate) async fn start(
        mut self,
        udp: Vec<std::net::UdpSocket>,
        input: mpsc::Sender<Input>,
        rx: mpsc::Receiver<Input>,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<oneshot::Receiver<()>> {
        let (ready, started) = oneshot::channel::<std::io::Result<()>>();
        let (done, stopped) = oneshot::channel();
        std::thread::Builder::new()
            .name("careline-core".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    if let Some(main) = udp.first()
                        && let Err(e) = super::udp::stamp_arrivals(main)
                    {
                        tracing::warn!(error = %e, "no arrival stamps on the sip socket: overload is judged by the socket never emptying");
                    }
                    for s in udp {
                        match UdpSocket::from_std(s) {
                            Ok(s) => self.udp.push(Arc::new(s)),
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = ready.send(Ok(()));
                    self.udp_v4 = self
                        .udp
                        .iter()
                        .map(|s| s.local_addr().is_ok_and(|l| l.is_ipv4()))
                        .collect();
                    for s in self.udp.iter().skip(1) {
                        tokio::spawn(super::udp::receive(
                            s.clone(),
                            input.clone(),
                            shutdown.clone(),
                        ));
                    }
                    drop(input);
                    self.run(rx, shutdown).await;
                });
                let _ = done.send(());
            })?;
        match started.await {
            Ok(Ok(())) => Ok(stopped),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other(
                "the call core's thread ended at start",
            )),
        }
    }

    /// The loop. The first UDP socket is read here directly, not through a
    /// channel: a datagram goes from the socket to the core and its answer
    /// back out without waking another thread. Other sockets, TCP and the
    /// API come in through `rx`.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        shutdown: watch::Receiver<bool>,
    ) {
        let stop = super::stopped(shutdown);
        tokio::pin!(stop);
        let main_udp = self.udp.first().cloned();
        let local = main_udp.as_ref().and_then(|s| s.local_addr().ok());
        let mut buf = vec![0u8; super::udp::MAX_DATAGRAM];
        // What start-up produced (restored states) goes out first.
        self.flush().await;
        loop {
            let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                input = rx.recv() => {
                    let Some(input) = input else { break };
                    self.input(input);
                    for _ in 0..BATCH {
                        match rx.try_recv() {
                            Ok(input) => self.input(input),
                            Err(_) => break,
                        }
                    }
                }
                r = recv_stamped(main_udp.as_deref(), &mut buf) => {
                    if let Ok(r) = r {
                        self.received(local, r, &buf);
                    }
                    // Take what else has arrived before answering any of it.
                    if let Some(socket) = main_udp.as_deref() {
                        for _ in 0..BATCH {
                            match super::udp::try_recv_stamped(socket, &mut buf) {
                                Ok(r) => self.received(local, r, &buf),
                                Err(e) => {
                                    if e.kind() == std::io::ErrorKind::WouldBlock {
                                        self.load.drained();
                                    } else {
                                        tracing::debug!(error = %e, "udp receive error");
                                    }
                                    break;
                                }
                            }
                        }
                    }
                }
                _ = sleep_until(deadline) => self.core.handle_timeout(now()),
                _ = &mut stop => break,
            }
            self.flush().await;
        }
        self.flush().await;
        // Leaving: the providers drop our registrations (for at most two
        // seconds; a silent provider lets them lapse by themselves).
        self.core.leave_trunks(now());
        self.flush().await;
        let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while !self.core.trunks_idle() && tokio::time::Instant::now() < give_up {
            let deadline = self
                .core
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .map_or(give_up, |d| d.min(give_up));
            tokio::select! {
                r = recv_stamped(main_udp.as_deref(), &mut buf) => {
                    if let Ok(r) = r {
                        self.received(local, r, &buf);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => self.core.handle_timeout(now()),
            }
            self.flush().await;
        }
    }

    /// Turns new calls away (503) while datagrams stand in the socket
    /// (`LoadWatch`), and lets them in again as soon as they do not:
    /// decided before each datagram is handled.
    fn watch_load(&mut self, t: Instant, waited: Option<Duration>) {
        let overloaded = self.load.overloaded(t);
        if overloaded != self.core.overloaded() {
            if overloaded {
                // How long the datagram that tipped it waited: 400 ms or
                // more is the near-T1 rule, less a queue that stood.
                tracing::warn!(
                    waited_ms = waited.map(|w| w.as_millis() as u64),
                    "overloaded: new calls are answered 503 until the backlog clears"
                );
            } else {
                tracing::warn!("load back to normal: accepting new calls again");
            }
            self.core.set_overloaded(overloaded);
            self.metrics
                .overloaded
                .store(u64::from(overloaded), Ordering::Relaxed);
        }
    }

    /// A datagram read from the main socket into `buf`.
    fn received(&mut self, local: Option<SocketAddr>, r: super::udp::Received, buf: &[u8]) {
        let t = now();
        self.load.read(t, r.waited);
        self.watch_load(t, r.waited);
        let flow = crate::sip::endpoint::Flow {
            transport: Transport::Udp,
            remote: r.from,
            local,
        };
        self.core
            .handle_datagram(t, flow, Bytes::copy_from_slice(&buf[..r.len]));
    }

    fn input(&mut self, input: Input) {
        let t = now();
        match input {
            Input::Datagram { flow, data } => self.core.handle_datagram(t, flow, data),
            Input::MediaSilence { session, leg } => self.core.handle_media_silence(t, session, leg),
            Input::MediaDtmf {
                session,
                leg,
                digit,
            } => self.core.handle_media_dtmf(t, session, leg, digit),
            Input::Stream { flow, msg } => self.core.handle_message(t, flow, msg),
            Input::Invalid { flow, data, error } => self.core.handle_invalid(flow, &data, error),
            Input::Connected { remote, writer } => {
                self.tcp.insert(remote, writer);
            }
            Input::Closed { remote } => {
                self.tcp.remove(&remote);
                self.core.handle_flow_closed(t, remote);
            }
            Input::SetAgentState {
                extension,
                state,
                reply,
            } => {
                let _ = reply.send(self.core.set_agent_state(t, &extension, state));
            }
            Input::Hold {
                call,
                agent,
                holding,
                reply,
            } => {
                let _ = reply.send(self.core.hold_by_request(t, &call, &agent, holding));
            }
            Input::Transfer {
                call,
                agent,
                to,
                note,
                reply,
            } => {
                let _ = reply.send(self.core.transfer_by_request(t, &call, &agent, &to, note));
            }
            Input::Consult {
                call,
                agent,
                complete,
                reply,
            } => {
                let _ = reply.send(self.core.consult_by_request(t, &call, &agent, complete));
            }
            Input::Note { call, agent, text } => self.core.remember_note(&call, &agent, &text),
            Input::DialOut { request, reply } => {
                let _ = reply.send(self.core.dial_out(t, request));
            }
            Input::AgentStates { reply } => {
                let states = self
                    .core
                    .calls()
                    .acd()
                    .agent_states()
                    .map(|(e, s)| (e.to_string(), s))
                    .collect();
                let _ = reply.send(states);
            }
            Input::Credentials(table) => {
                tracing::info!(users = table.len(), "credentials reloaded");
                self.core.registrar_mut().set_credentials(table);
            }
        }
    }

    async fn flush(&mut self) {
        // Media first: a 183 or 200 going out makes the peer send RTP.
        self.core.flush_media();
        while let Some(t) = self.core.poll_transmit() {
            self.send(t).await;
        }
        while let Some(event) = self.core.poll_event() {
            self.event(event);
        }
        let _ = self.events.send_all(std::mem::take(&mut self.outbox));
        self.metrics
            .transactions_active
            .store(self.core.transactions() as u64, Ordering::Relaxed);
    }

    async fn send(&mut self, t: Transmit) {
        match t.transport {
            Transport::Udp => {
                let socket = self
                    .udp_v4
                    .iter()
                    .position(|&v4| v4 == t.destination.is_ipv4())
                    .and_then(|i| self.udp.get(i))
                    .or_else(|| self.udp.first());
                if let Some(s) = socket
                    && let Err(e) = s.send_to(&t.data, t.destination).await
                {
                    tracing::debug!(destination = %t.destination, error = %e, "udp send failed");
                }
            }
            Transport::Tcp | Transport::Ws | Transport::Wss => match self.tcp.get(&t.destination) {
                Some(writer) => {
                    if writer.try_send(t.data).is_err() {
                        tracing::debug!(destination = %t.destination, "tcp connection busy or closed; message dropped");
                    }
                }
                None => {
                    tracing::debug!(destination = %t.destination, "no tcp connection to answer on")
                }
            },
        }
    }

    fn event(&mut self, event: EndpointEvent) {
        let m = &self.metrics;
        match event {
            EndpointEvent::Answered { method, status } => {
                m.sip_requests.fetch_add(1, Ordering::Relaxed);
                m.response_sent(status.as_u16());
                tracing::debug!(%method, status = status.as_u16(), "answered");
            }
            EndpointEvent::Invalid {
                source,
                error,
                answered,
            } => {
                m.sip_parse_errors.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%source, %error, answered, "malformed sip message");
            }
            EndpointEvent::Discarded { source, reason } => {
                tracing::debug!(%source, %reason, "sip message discarded");
            }
            EndpointEvent::Shed { .. } => {
                m.calls_shed.fetch_add(1, Ordering::Relaxed);
            }
            EndpointEvent::Registrar(e) => self.registrar_event(e),
            EndpointEvent::Call(e) => self.call_event(e),
            EndpointEvent::Trunk(e) => self.trunk_event(e),
        }
    }

    /// A call fact: logged by kind and ids only (its data may hold the
    /// caller's number), then queued for the event log.
    fn call_event(&mut self, e: CallEvent) {
        let m = &self.metrics;
        match &e {
            CallEvent::CallArrived { .. } => {
                m.calls_arrived.fetch_add(1, Ordering::Relaxed);
            }
            CallEvent::Answered {
                wait,
                within_deadline,
                ..
            } => {
                m.calls_answered.fetch_add(1, Ordering::Relaxed);
                if *within_deadline {
                    m.calls_answered_in_deadline.fetch_add(1, Ordering::Relaxed);
                }
                m.queue_wait_ms_sum
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            }
            CallEvent::Abandoned { .. } => {
                m.calls_abandoned.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let call = e.call().map(B2bua::call_ref);
        tracing::info!(
            kind = e.kind(),
            call = call.as_deref().unwrap_or("-"),
            agent = e.agent().unwrap_or("-"),
            "call event"
        );
        let mut data = e.data(|i| self.epoch_ms(i));
        if let (CallEvent::AnswerDeadlinePassed { at, .. }, Some(fields)) =
            (&e, data.as_object_mut())
        {
            // `at` is when the deadline was due; how much later the runtime
            // actually fired it is the timer's error under load.
            let late = now().saturating_duration_since(*at);
            fields.insert("fired_late_us".into(), (late.as_micros() as u64).into());
        }
        let record = EventRecord {
            seq: 0,
            at: self.epoch_ms(e.at()),
            kind: e.kind().to_string(),
            call_id: call,
            agent: e.agent().map(str::to_string),
            data,
            hash: None,
        };
        if let (CallEvent::AgentOffered { .. }, Some(hub)) = (&e, &self.notices) {
            hub.notice(std::sync::Arc::new(record.clone()));
        }
        self.outbox.push(record);
    }

    /// A trunk registration's news: logged, and kept in the audit trail.
    fn trunk_event(&mut self, e: crate::sip::trunk_registration::TrunkEvent) {
        use crate::sip::trunk_registration::TrunkEvent;
        let (kind, data) = match &e {
            TrunkEvent::Registered {
                name: trunk,
                expires,
            } => {
                tracing::info!(
                    trunk,
                    expires_s = expires.as_secs(),
                    "registered to the trunk"
                );
                (
                    "trunk_registered",
                    serde_json::json!({ "trunk": trunk, "expires_s": expires.as_secs() }),
                )
            }
            // At shutdown (leave_trunks): the provider removed us.
            TrunkEvent::Unregistered { name: trunk } => {
                tracing::info!(trunk, "unregistered from the trunk");
                ("trunk_unregistered", serde_json::json!({ "trunk": trunk }))
            }
            TrunkEvent::Failed {
                name: trunk,
                status,
                retry_in,
            } => {
                tracing::warn!(
                    trunk,
                    ?status,
                    retry_in_s = retry_in.as_secs(),
                    "registration to the trunk failed"
                );
                (
                    "trunk_registration_failed",
                    serde_json::json!({ "trunk": trunk, "status": status, "retry_in_s": retry_in.as_secs() }),
                )
            }
        };
        self.outbox.push(EventRecord {
            seq: 0,
            at: crate::store::now_ms(),
            kind: kind.into(),
            call_id: None,
            agent: None,
            data,
            hash: None,
        });
    }

    fn registrar_event(&mut self, e: RegistrarEvent) {
        let m = &self.metrics;
        match e {
            RegistrarEvent::Bound {
                extension,
                binding,
                refreshed,
            } => {
                m.registrations.fetch_add(1, Ordering::Relaxed);
                if !refreshed {
                    tracing::info!(%extension, contact = %binding.uri, source = %binding.source, "registered");
                }
                let stored = StoredBinding {
                    extension,
                    contact_uri: binding.uri.clone(),
                    contact: binding.contact.to_string(),
                    call_id: binding.call_id.to_string(),
                    cseq: binding.cseq,
                    transport: binding.transport.to_string(),
                    source: binding.source.to_string(),
                    user_agent: binding.user_agent.clone(),
                    expires_at: self.epoch_ms(binding.expires_at),
                };
                let _ = self.persist.send(BindingChange::Upsert(stored));
            }
            RegistrarEvent::Unbound {
                extension,
                uri,
                reason,
            } => {
                tracing::info!(%extension, contact = %uri, ?reason, "unregistered");
                let _ = self.persist.send(BindingChange::Remove {
                    extension,
                    contact_uri: uri,
                });
            }
            RegistrarEvent::AuthFailed { claimed, source } => {
                m.auth_failures.fetch_add(1, Ordering::Relaxed);
                // The claimed name is attacker input: logged escaped and cut short.
                let claimed: String = claimed.chars().take(32).collect();
                tracing::info!(claimed = ?claimed, %source, "digest authentication failed");
            }
            RegistrarEvent::LockedOut { source, until } => {
                m.lockouts.fetch_add(1, Ordering::Relaxed);
                let secs = until.saturating_duration_since(now()).as_secs();
                tracing::warn!(%source, seconds = secs, "source locked out after repeated authentication failures");
            }
        }
        self.metrics.registrations_active.store(
            self.core.registrar().binding_count() as u64,
            Ordering::Relaxed,
        );
    }
}

/// Reads the core's own UDP socket; never resolves when there is none.
async fn recv_stamped(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<super::udp::Received> {
    match socket {
        Some(s) => super::udp::recv_stamped(s, buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
