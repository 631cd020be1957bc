//! The WebRTC gateway's driver: one OS thread (or more, each with its own
//! public port and peers: `[media] webrtc_threads`), each with a `mio` poll over the
//! public socket (its browsers), the mailbox the media sessions hand their
//! packets to once the gateway is attached to the engine
//! ([`WebRtcGateway::attach`], `media::handoff`) and the inner socket (the
//! same over UDP, for sessions the gateway is not attached to), feeding the
//! sans-IO [`Gateway`] and sending what it queues. The call core offers, answers and closes peers from its own
//! thread through [`WebRtcGateway`]; those calls lock the gateway briefly,
//! send what the change produced, and wake the thread so it waits on the
//! right deadline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use careline_shared::sdp::Sdp;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::handoff::{Handed, Handoff, Mailbox};
use super::webrtc::{Gateway, GatewayError, GatewayEvent, PeerId, PeerStats, Via};
use super::{MediaEngine, SessionId};

const PUBLIC: Token = Token(0);
const WAKE: Token = Token(1);
const INNER: Token = Token(2);

struct State {
    gateway: Gateway,
    public: UdpSocket,
    inner: UdpSocket,
    /// The inner socket's address: the sessions' view of this thread.
    inner_addr: SocketAddr,
    /// The media engine's sessions, once attached: their packets go in
    /// memory rather than over the inner socket.
    handoff: Option<Arc<Handoff>>,
    /// Workers' mailboxes posted to since they were last woken.
    to_wake: Vec<Arc<Mailbox>>,
}

impl State {
    /// Sends everything the gateway queued.
    fn flush(&mut self) {
        while let Some(d) = self.gateway.poll_datagram() {
            let socket = match d.via {
                Via::Public => &self.public,
                Via::Inner(_) => {
                    if let Some(h) = &self.handoff
                        && let Some(leg) = h.leg_at(d.to)
                    {
                        h.count(leg.post(d.to.port(), self.inner_addr, d.data));
                        if !self.to_wake.iter().any(|m| Arc::ptr_eq(m, &leg)) {
                            self.to_wake.push(leg);
                        }
                        continue;
                    }
                    &self.inner
                }
            };
            if let Err(e) = socket.send_to(&d.data, d.to)
                && e.kind() != io::ErrorKind::WouldBlock
            {
                tracing::debug!(to = %d.to, error = %e, "webrtc send failed");
            }
        }
        while let Some(e) = self.gateway.poll_event() {
            match e {
                GatewayEvent::Connected(id) => tracing::info!(peer = id.0, "webrtc peer connected"),
                GatewayEvent::Disconnected(id) => {
                    tracing::info!(peer = id.0, "webrtc peer disconnected")
                }
            }
        }
    }

    /// Sends what the gateway queued and wakes the workers it handed
    /// packets to: at the end of each batch, before the lock is let go.
    fn finish(&mut self) {
        self.flush();
        for m in self.to_wake.drain(..) {
            m.wake();
        }
    }
}

/// The gateway: one thread or more, each with its own public port (the
/// first at `[media] webrtc_port`, the next ones after it) and its own
/// peers. A new peer goes to the thread with the fewest; a peer's id says
/// which thread it is on.
pub struct WebRtcGateway {
    shards: Vec<Shard>,
    /// Ties between threads with as many peers go round.
    next: AtomicUsize,
}

impl WebRtcGateway {
    /// Most threads a gateway runs (a peer's id keeps its thread in 4 bits).
    pub const MAX_THREADS: usize = 16;

    /// One thread: its public socket at `bind`; browsers are told to reach
    /// it at `advertise` (with the bound port).
    pub fn start(
        bind: SocketAddr,
        advertise: IpAddr,
        prefer_opus: bool,
    ) -> io::Result<WebRtcGateway> {
        WebRtcGateway::start_threads(bind, advertise, prefer_opus, 1)
    }

    /// `threads` threads (1 to [`WebRtcGateway::MAX_THREADS`]): the first on `bind`'s port,
    /// each next one on the port after (every one on a free port when
    /// `bind`'s is 0).
    pub fn start_threads(
        bind: SocketAddr,
        advertise: IpAddr,
        prefer_opus: bool,
        threads: usize,
    ) -> io::Result<WebRtcGateway> {
        if !(1..=Self::MAX_THREADS).contains(&threads) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a gateway runs 1 to {} threads", Self::MAX_THREADS),
            ));
        }
        let shards = (0..threads)
            .map(|i| {
                let port = match bind.port() {
                    0 => 0,
                    p => p.checked_add(i as u16).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "webrtc ports past 65535")
                    })?,
                };
                let at = SocketAddr::new(bind.ip(), port);
                Shard::start(at, advertise, prefer_opus, i)
                    .map_err(|e| io::Error::new(e.kind(), format!("udp {at}: {e}")))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(WebRtcGateway {
            shards,
            next: AtomicUsize::new(0),
        })
    }

    /// Exchanges plain RTP with `engine`'s sessions in memory from now on
    /// (see `media::handoff`); false when the engine has a gateway already.
    /// Packets for anything else still go over the inner sockets.
    pub fn attach(&self, engine: &MediaEngine) -> bool {
        let handoff = engine.handoff();
        let threads = self
            .shards
            .iter()
            .map(|s| (s.inner_addr, Arc::clone(&s.mailbox)))
            .collect();
        if !handoff.attach_gateway(threads) {
            return false;
        }
        for s in &self.shards {
            lock(&s.state).handoff = Some(Arc::clone(handoff));
        }
        true
    }

    /// The thread a new peer goes to: of those still running, the one
    /// with the fewest peers (read without locking any of them).
    fn pick(&self) -> Result<&Shard, GatewayError> {
        let n = self.shards.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|k| &self.shards[(start + k) % n])
            .filter(|s| s.thread.as_ref().is_some_and(|t| !t.is_finished()))
            .min_by_key(|s| s.count.load(Ordering::Relaxed))
            .ok_or_else(|| GatewayError::Rtc("every gateway thread has stopped".into()))
    }

    /// The thread a peer is on: its id's remainder (see [`Shard::start`]).
    fn shard(&self, peer: PeerId) -> Option<&Shard> {
        self.shards
            .get((peer.0 % Self::MAX_THREADS as u64) as usize)
    }

    /// A browser peer for `session`'s leg B: its id and the browser's offer.
    pub fn offer(&self, session: SessionId, plain: &Sdp) -> Result<(PeerId, String), GatewayError> {
        self.pick()?
            .apply(|gateway, inner| gateway.offer(Instant::now(), session, plain, inner))
    }

    /// A browser's own offer for `session`'s leg A, whose port is
    /// `session_rtp`: the peer's id, the browser's answer and the plain
    /// offer for the call core.
    pub fn accept(
        &self,
        session: SessionId,
        offer: &[u8],
        session_rtp: SocketAddr,
        session_id: u64,
    ) -> Result<(PeerId, String, Sdp), GatewayError> {
        self.pick()?.apply(|gateway, inner| {
            gateway.accept(
                Instant::now(),
                session,
                offer,
                session_rtp,
                inner,
                session_id,
            )
        })
    }

    /// The browser's answer for `peer`: the plain answer for the call core.
    pub fn answer(
        &self,
        peer: PeerId,
        answer: &[u8],
        session_id: u64,
    ) -> Result<Sdp, GatewayError> {
        let shard = self.shard(peer).ok_or(GatewayError::UnknownPeer)?;
        shard.apply(|gateway, _| gateway.answer(Instant::now(), peer, answer, session_id))
    }

    /// Forgets a peer.
    pub fn close(&self, peer: PeerId) {
        if let Some(shard) = self.shard(peer) {
            shard.change(|gateway| gateway.close(peer));
        }
    }

    /// Forgets every peer of a media session.
    pub fn close_session(&self, session: SessionId) {
        for s in &self.shards {
            s.change(|gateway| {
                gateway.close_session(session);
            });
        }
    }

    /// A peer's packet counts.
    pub fn stats(&self, peer: PeerId) -> Option<PeerStats> {
        lock(&self.shard(peer)?.state).gateway.stats(peer)
    }

    /// Peers alive, on every thread.
    pub fn peers(&self) -> usize {
        self.peers_per_thread().iter().sum()
    }

    /// Peers alive on each thread.
    pub fn peers_per_thread(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for WebRtcGateway {
    /// Tells every thread to stop before waiting for any (each shard then
    /// joins its own as it drops).
    fn drop(&mut self) {
        for s in &self.shards {
            s.stopping.store(true, Ordering::Release);
            let _ = s.waker.wake();
        }
    }
}

/// One of the gateway's threads: its two sockets, its peers, its loop.
struct Shard {
    state: Arc<Mutex<State>>,
    waker: Arc<Waker>,
    /// Packets the media sessions hand over in memory.
    mailbox: Arc<Mailbox>,
    /// The inner socket's address: what the media sessions talk to.
    inner_addr: SocketAddr,
    /// Its peers, as of its last change (read by `pick` without the lock).
    count: AtomicUsize,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Receive buffer asked for on the gateway's two sockets: every browser's
/// packets arrive on one, every call's plain RTP (when not handed over in
/// memory) on the other, so a short stall of the thread at full load must
/// not drop them. Best effort (the
/// kernel caps it at `net.core.rmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

fn roomy(socket: &std::net::UdpSocket) {
    let raw = socket2::SockRef::from(socket);
    let _ = raw.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = raw.set_send_buffer_size(SOCKET_BUFFER);
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    /// Binds the public socket at `bind` and starts the thread; browsers
    /// are told to reach it at `advertise` (with the bound port). Thread
    /// `index` numbers its peers `16 + index`, `32 + index`, …: an id's
    /// remainder by [`WebRtcGateway::MAX_THREADS`] is its thread.
    fn start(
        bind: SocketAddr,
        advertise: IpAddr,
        prefer_opus: bool,
        index: usize,
    ) -> io::Result<Shard> {
        let std_socket = std::net::UdpSocket::bind(bind)?;
        std_socket.set_nonblocking(true)?;
        roomy(&std_socket);
        let local = std_socket.local_addr()?;
        let mut public = UdpSocket::from_std(std_socket);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut public, PUBLIC, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        // The inner socket sits where the media engine's sockets reach it.
        let inner_ip = match bind.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let std_inner = std::net::UdpSocket::bind(SocketAddr::new(inner_ip, 0))?;
        std_inner.set_nonblocking(true)?;
        roomy(&std_inner);
        let inner_addr = std_inner.local_addr()?;
        let mut inner = UdpSocket::from_std(std_inner);
        poll.registry()
            .register(&mut inner, INNER, Interest::READABLE)?;
        let candidate = SocketAddr::new(advertise, local.port());
        let mut gateway = Gateway::new(candidate);
        gateway.set_prefer_opus(prefer_opus);
        let step = WebRtcGateway::MAX_THREADS as u64;
        gateway.number_peers(step + index as u64, step);
        let state = Arc::new(Mutex::new(State {
            gateway,
            public,
            inner,
            inner_addr,
            handoff: None,
            to_wake: Vec::new(),
        }));
        let mailbox = Arc::new(Mailbox::new(Some(Arc::clone(&waker))));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("careline-webrtc".into())
            .spawn({
                let state = Arc::clone(&state);
                let stopping = Arc::clone(&stopping);
                let mailbox = Arc::clone(&mailbox);
                move || run(poll, state, &mailbox, stopping)
            })?;
        tracing::info!(listen = %local, candidate = %candidate, "webrtc gateway listening");
        Ok(Shard {
            state,
            waker,
            mailbox,
            inner_addr,
            count: AtomicUsize::new(0),
            stopping,
            thread: Some(thread),
        })
    }

    /// Runs `f` on this thread's gateway, given the inner socket's
    /// address (offer, accept, answer), then counts the peers, sends what
    /// the change produced and wakes the thread so it waits on the right
    /// deadline.
    fn apply<T>(
        &self,
        f: impl FnOnce(&mut Gateway, SocketAddr) -> Result<T, GatewayError>,
    ) -> Result<T, GatewayError> {
        let mut state = lock(&self.state);
        let made = f(&mut state.gateway, self.inner_addr)?;
        self.count.store(state.gateway.len(), Ordering::Relaxed);
        state.finish();
        drop(state);
        let _ = self.waker.wake();
        Ok(made)
    }

    /// Changes the peers (closes some) and counts them again.
    fn change(&self, f: impl FnOnce(&mut Gateway)) {
        let mut state = lock(&self.state);
        f(&mut state.gateway);
        self.count.store(state.gateway.len(), Ordering::Relaxed);
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Datagrams read from one socket while holding the gateway's lock: the
/// call core takes the same lock to offer, answer and close peers, and a
/// flood on the public port must not keep it out.
const BATCH: usize = 64;

/// Reads up to [`BATCH`] datagrams from the socket behind `token` into the
/// gateway; true when it may hold more (read again before waiting).
fn read_batch(state: &Mutex<State>, token: Token, buf: &mut [u8]) -> bool {
    let mut state = lock(state);
    let more = read_into(&mut state, token, buf);
    state.finish();
    more
}

fn read_into(state: &mut State, token: Token, buf: &mut [u8]) -> bool {
    for _ in 0..BATCH {
        let got = match token {
            PUBLIC => state.public.recv_from(buf),
            INNER => state.inner.recv_from(buf),
            _ => return false,
        };
        match got {
            Ok((n, from)) => {
                let now = Instant::now();
                match token {
                    PUBLIC => {
                        state.gateway.handle_public(now, from, &buf[..n]);
                    }
                    _ => state.gateway.handle_inner(now, from, &buf[..n]),
                }
                state.flush();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) => {
                tracing::debug!(error = %e, "webrtc receive failed");
                return false;
            }
        }
    }
    true
}

/// Hands the gateway up to [`BATCH`] of the packets the media sessions
/// left in `mailbox`; the rest wait in `handed` for the next turn, so the
/// browsers' socket and the timers get theirs.
fn take_handed(state: &Mutex<State>, mailbox: &Mailbox, handed: &mut Vec<Handed>) {
    mailbox.take(handed);
    if handed.is_empty() {
        return;
    }
    let mut state = lock(state);
    for h in handed.drain(..handed.len().min(BATCH)) {
        state.gateway.handle_handed(Instant::now(), h.port, &h.data);
        state.flush();
    }
    state.finish();
}

/// The gateway's thread: its loop, then (stopped, or its poll failed) no
/// more packets for it from the media sessions.
fn run(poll: Poll, state: Arc<Mutex<State>>, mailbox: &Mailbox, stopping: Arc<AtomicBool>) {
    serve(poll, &state, mailbox, &stopping);
    let state = lock(&state);
    if let Some(h) = &state.handoff {
        h.detach_gateway(state.inner_addr);
    }
}

fn serve(mut poll: Poll, state: &Mutex<State>, mailbox: &Mailbox, stopping: &AtomicBool) {
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 2048];
    let mut handed = Vec::new();
    // Sockets left with datagrams after a full batch (the poll is
    // edge-triggered: it will not say so again).
    let mut pending: Vec<Token> = Vec::new();
    loop {
        let timeout = if pending.is_empty() && handed.is_empty() {
            lock(state)
                .gateway
                .poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()))
                // Nothing to time: still look up now and then.
                .unwrap_or(Duration::from_secs(1))
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "webrtc poll failed; the gateway stops");
            return;
        }
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let mut ready: Vec<Token> = std::mem::take(&mut pending);
        for event in events.iter() {
            if event.token() != WAKE && !ready.contains(&event.token()) {
                ready.push(event.token());
            }
        }
        for token in ready {
            if read_batch(state, token, &mut buf) {
                pending.push(token);
            }
        }
        take_handed(state, mailbox, &mut handed);
        let mut state = lock(state);
        let now = Instant::now();
        if state.gateway.poll_timeout().is_some_and(|t| t <= now) {
            state.gateway.handle_timeout(now);
            state.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_offer(port: u16) -> Sdp {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        );
        Sdp::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn peers_are_spread_over_the_threads_and_found_by_their_ids() {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let gw = WebRtcGateway::start_threads(local, local.ip(), false, 2).unwrap();
        let port = |s: &Shard| lock(&s.state).public.local_addr().unwrap().port();
        assert_ne!(port(&gw.shards[0]), port(&gw.shards[1]), "a port each");
        let mut peers = Vec::new();
        for i in 0..4u16 {
            let (peer, offer) = gw
                .offer(SessionId(u64::from(i)), &plain_offer(30_000 + 2 * i))
                .unwrap();
            // The browser is sent to the thread the id names.
            let shard = gw.shard(peer).unwrap();
            assert!(
                offer.contains(&format!(" {} typ host", port(shard))),
                "{offer}"
            );
            peers.push(peer);
        }
        assert_eq!(gw.peers_per_thread(), [2, 2]);
        assert!(gw.stats(peers[1]).is_some());
        gw.close(peers[1]);
        assert!(gw.stats(peers[1]).is_none());
        assert_eq!(gw.peers(), 3);
        // The next peer goes where there are fewer.
        let (_, _) = gw.offer(SessionId(9), &plain_offer(30_020)).unwrap();
        assert_eq!(gw.peers_per_thread(), [2, 2]);
        gw.close_session(SessionId(0));
        assert_eq!(gw.peers(), 3);
        // Ids no thread gave out: on a thread that does not run, and on
        // one that does.
        for stranger in [7 * 16 + 5, 7 * 16 + 1] {
            assert!(matches!(
                gw.answer(PeerId(stranger), b"v=0\r\n", 1),
                Err(GatewayError::UnknownPeer)
            ));
        }
        assert!(WebRtcGateway::start_threads(local, local.ip(), false, 0).is_err());
        assert!(WebRtcGateway::start_threads(local, local.ip(), false, 17).is_err());
    }
}
