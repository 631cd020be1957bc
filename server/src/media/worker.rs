//! A media worker: one OS thread, one `mio` poll, the sessions assigned to it.
//!
//! Each turn of the loop waits for a socket to become readable, a command to
//! arrive (the engine wakes the poll), or the next deadline: the 20 ms tone
//! tick while anything plays, the silence check while anything relays. Then
//! it applies commands first (so a packet sent after `set_mode` returned is
//! handled in the new mode), drains every readable socket, and sends due
//! frames. After a turn that read packets it rests for [`REST`], so under
//! load a turn takes many legs' packets at once. One 64 KiB buffer serves
//! every packet. Packets the WebRTC gateway hands over in memory
//! (`media::handoff`) wait in the worker's mailbox and are taken on every
//! turn, as if read from the leg's socket.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use careline_shared::sdp::Codec;
use mio::{Events, Interest, Poll, Token, Waker};

use super::handoff::{Handed, Handoff, Mailbox};
use super::ports::LegSocket;
use super::session::{Session, Transmit};
use super::stats::SharedStats;
use super::tones::Prompts;
use super::{Leg, MediaError, MediaEvent, Mode, SessionId};

/// The packet interval of everything the server plays.
const PTIME: Duration = Duration::from_millis(20);
/// Frames sent at once to catch up after a late wake-up; later than this,
/// the stream skips ahead rather than burst.
const MAX_CATCH_UP: u32 = 5;
/// The poll token of the engine's waker (sessions use 2 × slot + leg).
const WAKE: Token = Token(usize::MAX);
/// How long a worker rests after a turn that read packets, so the next turn
/// finds the packets of many legs queued instead of waking for each one.
/// Waking per packet cost about twice the CPU per packet at 100,000
/// packets/s (`bench/rtp-relay`); the rest adds at most this much delay to
/// a relayed packet, against 20 ms between a leg's packets. A worker whose
/// poll came back full is behind and does not rest.
const REST: Duration = Duration::from_millis(1);
/// Readiness events taken per poll.
const EVENTS: usize = 256;

/// What the engine asks a worker to do.
#[derive(Debug)]
pub(crate) enum Command {
    Create {
        id: SessionId,
        sockets: Box<[LegSocket; 2]>,
        stats: Arc<SharedStats>,
    },
    SetRemote {
        id: SessionId,
        leg: Leg,
        addr: SocketAddr,
    },
    SetCodecs {
        id: SessionId,
        leg: Leg,
        codecs: Vec<Codec>,
    },
    SetMode {
        id: SessionId,
        mode: Mode,
    },
    Destroy {
        id: SessionId,
    },
    Shutdown,
}

/// What every worker of an engine shares.
pub(crate) struct Shared {
    pub(crate) latching: bool,
    pub(crate) rtp_timeout: Duration,
    pub(crate) prompts: Prompts,
    pub(crate) on_event: Box<dyn Fn(MediaEvent) + Send + Sync>,
    /// Where sessions and the WebRTC gateway hand packets over.
    pub(crate) handoff: Arc<Handoff>,
}

/// The engine's side of a worker.
pub(crate) struct WorkerHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    /// Set by the first command after the worker last looked at its
    /// queue: later commands need no wake-up of their own.
    woken: Arc<AtomicBool>,
    /// Commands were queued with [`Wake::Later`] and no wake-up sent yet.
    owed: AtomicBool,
    thread: Option<JoinHandle<()>>,
}

/// When a queued command wakes its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// At once.
    Now,
    /// At the next [`WorkerHandle::wake_owed`]: the driver queues a turn's
    /// commands and wakes each worker once at the end of it.
    Later,
}

impl WorkerHandle {
    /// Creates the poll in the caller's thread, so failures are reported
    /// from `MediaEngine::start`, then starts the thread.
    pub(crate) fn spawn(index: usize, shared: Arc<Shared>) -> io::Result<WorkerHandle> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = std::sync::mpsc::channel();
        let woken = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            poll,
            rx,
            woken: Arc::clone(&woken),
            mailbox: Arc::new(Mailbox::new(Some(Arc::clone(&waker)))),
            handed: Vec::new(),
            by_port: HashMap::new(),
            shared,
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_id: HashMap::new(),
            buf: vec![0; 65536].into_boxed_slice(),
            next_tick: None,
            next_check: None,
            stopping: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("careline-media-{index}"))
            .spawn(move || worker.run())?;
        Ok(WorkerHandle {
            tx,
            waker,
            woken,
            owed: AtomicBool::new(false),
            thread: Some(thread),
        })
    }

    /// Queues a command and wakes the worker now or owes it a wake-up.
    pub(crate) fn send(&self, command: Command, wake: Wake) -> Result<(), MediaError> {
        self.tx.send(command).map_err(|_| MediaError::Stopped)?;
        match wake {
            Wake::Now => self.wake(),
            Wake::Later => {
                self.owed.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

    /// Sends the wake-up that commands queued with [`Wake::Later`] are owed.
    pub(crate) fn wake_owed(&self) {
        if self.owed.swap(false, Ordering::AcqRel) {
            let _ = self.wake();
        }
    }

    /// Whether commands are waiting for [`WorkerHandle::wake_owed`].
    #[cfg(test)]
    pub(crate) fn owes_wake(&self) -> bool {
        self.owed.load(Ordering::Acquire)
    }

    /// Wakes the worker unless a wake-up is already on its way (the worker
    /// clears `woken` before it drains the queue, so a command queued after
    /// that always wakes it again).
    fn wake(&self) -> Result<(), MediaError> {
        if self.woken.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.waker.wake().map_err(|_| MediaError::Stopped)
    }

    /// Stops the thread and waits for it; its sessions are closed on the way out.
    pub(crate) fn stop(&mut self) {
        let _ = self.send(Command::Shutdown, Wake::Now);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    poll: Poll,
    rx: Receiver<Command>,
    woken: Arc<AtomicBool>,
    /// Packets the WebRTC gateway handed over for this worker's legs.
    mailbox: Arc<Mailbox>,
    handed: Vec<Handed>,
    /// Each leg's slot and side by its port (for handed packets).
    by_port: HashMap<u16, (usize, Leg)>,
    shared: Arc<Shared>,
    /// Sessions by slot; a slot's tokens are 2 × slot (leg A) and 2 × slot + 1.
    slots: Vec<Option<Session>>,
    free_slots: Vec<usize>,
    by_id: HashMap<SessionId, usize>,
    buf: Box<[u8]>,
    next_tick: Option<Instant>,
    next_check: Option<Instant>,
    /// A shutdown command was seen while draining a socket.
    stopping: bool,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = [self.next_tick, self.next_check]
                .into_iter()
                .flatten()
                .min()
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media poll failed; worker stops");
                return;
            }
            if !self.commands() {
                return;
            }
            let now = Instant::now();
            self.take_handed(now);
            if self.stopping {
                return;
            }
            let (mut read, mut taken) = (false, 0);
            for event in events.iter() {
                taken += 1;
                if event.token() != WAKE {
                    self.readable(event.token(), now);
                    read = true;
                }
            }
            if self.stopping {
                return;
            }
            let now = Instant::now();
            self.tick(now);
            self.check(now);
            // One wake-up for whatever this turn handed the gateway.
            self.shared.handoff.wake_gateway();
            if read && taken < EVENTS {
                std::thread::sleep(REST);
            }
        }
    }

    /// Applies every queued command; false when the worker must stop.
    fn commands(&mut self) -> bool {
        self.woken.store(false, Ordering::Release);
        loop {
            match self.rx.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(command) => self.command(command),
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Create { id, sockets, stats } => self.create(id, *sockets, stats),
            Command::SetRemote { id, leg, addr } => {
                if let Some(s) = self.session(id) {
                    s.leg(leg).latch.set_sdp(addr);
                }
            }
            Command::SetCodecs { id, leg, codecs } => {
                if let Some(s) = self.session(id) {
                    s.set_codecs(leg, codecs);
                }
            }
            Command::SetMode { id, mode } => {
                let shared = Arc::clone(&self.shared);
                let Some(s) = self.session(id) else { return };
                s.set_mode(mode, &shared.prompts, now);
                let (playing, relaying) = (s.is_playing(), s.is_relaying());
                if playing && self.next_tick.is_none() {
                    self.next_tick = Some(now);
                }
                if relaying && self.next_check.is_none() {
                    self.next_check = Some(now + self.check_interval());
                }
            }
            Command::Destroy { id } => self.destroy(id),
            Command::Shutdown => {}
        }
    }

    fn session(&mut self, id: SessionId) -> Option<&mut Session> {
        let slot = *self.by_id.get(&id)?;
        self.slots[slot].as_mut()
    }

    fn create(&mut self, id: SessionId, sockets: [LegSocket; 2], stats: Arc<SharedStats>) {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let mut session = Session::new(id, sockets, stats);
        for leg in [Leg::A, Leg::B] {
            let token = Token(2 * slot + leg.index());
            let socket = &mut session.leg(leg).socket.socket;
            if let Err(e) = self
                .poll
                .registry()
                .register(socket, token, Interest::READABLE)
            {
                // Dropping the session closes both sockets and frees the ports.
                tracing::error!(session = %id, error = %e, "cannot watch rtp socket");
                self.free_slots.push(slot);
                return;
            }
        }
        for leg in [Leg::A, Leg::B] {
            let socket = &session.leg(leg).socket;
            if let Ok(local) = socket.socket.local_addr() {
                self.shared.handoff.add_leg(local, &self.mailbox);
                self.by_port.insert(local.port(), (slot, leg));
            }
        }
        tracing::debug!(session = %id, port_a = session.legs[0].socket.port(), port_b = session.legs[1].socket.port(), "media session created");
        self.slots[slot] = Some(session);
        self.by_id.insert(id, slot);
    }

    fn destroy(&mut self, id: SessionId) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        if let Some(mut session) = self.slots[slot].take() {
            for leg in &mut session.legs {
                let _ = self.poll.registry().deregister(&mut leg.socket.socket);
                let port = leg.socket.port();
                if self.by_port.remove(&port).is_some() {
                    self.shared.handoff.remove_leg(port);
                }
            }
            tracing::debug!(session = %id, "media session destroyed");
        }
        self.free_slots.push(slot);
    }

    /// Reads one socket until it has nothing more (the poll is edge-triggered).
    /// Commands are applied between packets, so a mode change applies to every
    /// packet that arrives after `set_mode` returned, even mid-drain.
    fn readable(&mut self, token: Token, now: Instant) {
        let mut errors = 0;
        loop {
            if !self.commands() {
                self.stopping = true;
                return;
            }
            if !self.read_one(token, now, &mut errors) {
                return;
            }
        }
    }

    /// Reads and handles one packet; false when the socket has no more.
    fn read_one(&mut self, token: Token, now: Instant, errors: &mut u32) -> bool {
        let (slot, leg) = (token.0 / 2, if token.0 & 1 == 0 { Leg::A } else { Leg::B });
        let Some(Some(session)) = self.slots.get_mut(slot) else {
            return false;
        };
        let shared = &*self.shared;
        let received = session.legs[leg.index()]
            .socket
            .socket
            .recv_from(&mut self.buf);
        let (len, src) = match received {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(_) => {
                // Errors such as ICMP reports are consumed by the read; a
                // socket that only fails is given up until its next event.
                *errors += 1;
                return *errors <= 64;
            }
        };
        let packet = &mut self.buf[..len];
        if let Some(t) =
            session.on_packet(leg, src, packet, now, shared.latching, &*shared.on_event)
        {
            send(session, &self.buf, t, &shared.handoff);
        }
        true
    }

    /// Handles the packets the gateway handed over since the last turn, as
    /// if each had come from its gateway thread's inner address to its leg.
    /// Commands queued before the take are applied first, as between reads
    /// of a socket: a packet posted after `set_mode` returned is handled in
    /// the new mode.
    fn take_handed(&mut self, now: Instant) {
        self.mailbox.take(&mut self.handed);
        if self.handed.is_empty() {
            return;
        }
        if !self.commands() {
            self.stopping = true;
            self.handed.clear();
            return;
        }
        let shared = &*self.shared;
        for mut h in self.handed.drain(..) {
            let Some(&(slot, leg)) = self.by_port.get(&h.port) else {
                continue;
            };
            let Some(Some(session)) = self.slots.get_mut(slot) else {
                continue;
            };
            let packet = &mut h.data[..];
            if let Some(t) =
                session.on_packet(leg, h.from, packet, now, shared.latching, &*shared.on_event)
            {
                send(session, &h.data, t, &shared.handoff);
            }
        }
    }

    /// Sends the frames that are due to every session that plays.
    fn tick(&mut self, now: Instant) {
        let Some(mut at) = self.next_tick else {
            return;
        };
        let latching = self.shared.latching;
        let mut frames = 0;
        while at <= now && frames < MAX_CATCH_UP {
            for session in self.slots.iter_mut().flatten() {
                if let Some(t) = session.next_frame(&mut self.buf, at, latching) {
                    send(session, &self.buf, t, &self.shared.handoff);
                }
            }
            at += PTIME;
            frames += 1;
        }
        if at <= now {
            at = now + PTIME;
        }
        let playing = self.slots.iter().flatten().any(Session::is_playing);
        self.next_tick = playing.then_some(at);
    }

    /// Reports relaying legs that have gone silent.
    fn check(&mut self, now: Instant) {
        match self.next_check {
            Some(at) if at <= now => {}
            _ => return,
        }
        let shared = &*self.shared;
        for session in self.slots.iter_mut().flatten() {
            session.check_silence(now, shared.rtp_timeout, &*shared.on_event);
        }
        let relaying = self.slots.iter().flatten().any(Session::is_relaying);
        self.next_check = relaying.then(|| now + self.check_interval());
    }

    /// A quarter of the timeout, within 10 ms – 1 s: reports come at most
    /// a quarter late, and an idle engine does not spin.
    fn check_interval(&self) -> Duration {
        (self.shared.rtp_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

impl Drop for Worker {
    /// Takes the legs out of the handoff's registry before their sockets
    /// close (the sessions are dropped after this), so the gateway stops
    /// posting to a mailbox nobody takes and their ports can be reused.
    fn drop(&mut self) {
        for port in self.by_port.keys() {
            self.shared.handoff.remove_leg(*port);
        }
    }
}

/// Sends a prepared packet and counts it; a full socket buffer (or the
/// gateway's full mailbox) drops it, as the network would. A packet for
/// the attached WebRTC gateway is handed over in memory.
fn send(session: &Session, buf: &[u8], t: Transmit, handoff: &Handoff) {
    let leg = &session.legs[t.via.index()].socket;
    let sent = match handoff.gateway_at(t.to) {
        Some(gateway) => {
            let posted = gateway.post(leg.port(), t.to, buf[..t.len].to_vec());
            handoff.count(posted);
            posted
        }
        None => leg.socket.send_to(&buf[..t.len], t.to).is_ok(),
    };
    if sent {
        session.stats.sent(t.via, t.len);
    }
}
