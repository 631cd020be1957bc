//! The engine over real UDP on 127.0.0.1: peers are plain sockets standing in
//! for phones. Every wait has a deadline and checks a condition; nothing
//! asserts on timing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use careline_shared::rtp::{RtpHeader, RtpPacket, TelephoneEvent};
use careline_shared::sdp::Codec;

use super::*;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DEADLINE: Duration = Duration::from_secs(5);

/// An engine on loopback with its own port range (tests run in parallel).
fn engine(first_port: u16, rtp_timeout: Duration) -> (MediaEngine, Receiver<MediaEvent>) {
    let (tx, rx) = channel();
    let config = MediaConfig {
        bind_ip: LOCALHOST,
        ports: first_port..=first_port + 199,
        rtp_timeout,
        ..MediaConfig::default()
    };
    let engine = MediaEngine::start(config, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    (engine, rx)
}

/// Waits until a worker has done what `condition` checks (it acts within
/// microseconds of a packet or command, a frame for played sound), giving
/// way to other threads meanwhile; fails at the deadline.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

/// A phone: one UDP socket sending RTP with its own SSRC.
struct Peer {
    socket: UdpSocket,
    ssrc: u32,
    sequence: u16,
}

impl Peer {
    fn new(ssrc: u32) -> Peer {
        let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Peer {
            socket,
            ssrc,
            sequence: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn send(&mut self, pt: u8, payload: &[u8], port: u16) {
        self.send_at(pt, payload, port, u32::from(self.sequence) * 160);
    }

    fn send_at(&mut self, pt: u8, payload: &[u8], port: u16, timestamp: u32) {
        let mut buf = [0u8; 512];
        let n = RtpHeader::new(pt, self.sequence, timestamp, self.ssrc)
            .write(payload, &mut buf)
            .unwrap();
        self.sequence = self.sequence.wrapping_add(1);
        self.socket.send_to(&buf[..n], (LOCALHOST, port)).unwrap();
    }

    /// Receives `count` datagrams, failing after the deadline.
    fn receive(&self, count: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + DEADLINE;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while out.len() < count {
            assert!(
                Instant::now() < deadline,
                "got {} of {count} packets",
                out.len()
            );
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        out
    }

    /// Whatever is already queued, without waiting.
    fn drain(&self) -> Vec<Vec<u8>> {
        self.socket.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        self.socket.set_nonblocking(false).unwrap();
        out
    }
}

/// A session in Relay with both peers' addresses set.
fn relaying(engine: &MediaEngine, pa: &Peer, pb: &Peer) -> SessionHandle {
    let h = engine.create_session().unwrap();
    engine.set_remote(h.id, Leg::A, pa.addr()).unwrap();
    engine.set_remote(h.id, Leg::B, pb.addr()).unwrap();
    engine.set_mode(h.id, Mode::Relay).unwrap();
    h
}

#[test]
fn relay_both_ways_counts_packets() {
    let (engine, _events) = engine(24000, Duration::from_secs(10));
    let (mut pa, mut pb) = (Peer::new(0xa), Peer::new(0xb));
    let h = relaying(&engine, &pa, &pb);
    assert_ne!(h.port_a, h.port_b);

    for _ in 0..10 {
        pa.send(0, &[0xff; 160], h.port_a);
    }
    let got = pb.receive(10);
    assert!(
        got.iter()
            .all(|p| RtpPacket::parse(p).unwrap().ssrc() == 0xa)
    );
    for _ in 0..5 {
        pb.send(0, &[0xff; 160], h.port_b);
    }
    pa.receive(5);

    // The worker counts a packet just after sending it.
    wait_until("sends counted", || {
        engine.stats(h.id).unwrap().a.out_packets == 5
    });
    let s = engine.stats(h.id).unwrap();
    assert_eq!((s.a.in_packets, s.b.out_packets), (10, 10));
    assert_eq!((s.b.in_packets, s.a.out_packets), (5, 5));
    assert_eq!((s.a.in_bytes, s.b.out_bytes), (1720, 1720));
    assert!(s.a.last_rx.is_some() && s.b.last_rx.is_some());
    assert_eq!(s.a.rejected + s.b.rejected, 0);
}

#[test]
fn latching_follows_an_unexpected_source_port_and_refuses_strangers() {
    let (engine, _events) = engine(24200, Duration::from_secs(10));
    let (mut pa, mut pb) = (Peer::new(0xa), Peer::new(0xb));
    // The agent's SDP names a port it never sends from (NAT).
    let sdp_only = Peer::new(0);
    let h = relaying(&engine, &pa, &sdp_only);

    pb.send(0, &[0xff; 160], h.port_b);
    wait_until("leg B latched", || {
        engine.stats(h.id).unwrap().b.in_packets == 1
    });
    let mut stranger = Peer::new(0x5);
    stranger.send(0, &[0; 160], h.port_b);
    wait_until("stranger refused", || {
        engine.stats(h.id).unwrap().b.rejected == 1
    });

    for _ in 0..5 {
        pa.send(0, &[0xff; 160], h.port_a);
    }
    pb.receive(5);
    assert!(
        sdp_only.drain().is_empty(),
        "nothing goes to the SDP address"
    );
    pb.send(0, &[0xff; 160], h.port_b);
    // The latching packet and this one, both the agent's; not the stranger's.
    let got = pa.receive(2);
    assert!(
        got.iter()
            .all(|p| RtpPacket::parse(p).unwrap().ssrc() == 0xb)
    );
    assert!(
        pa.drain().is_empty(),
        "the stranger's packet was not relayed"
    );
}

#[test]
fn ringback_is_a_steady_pcma_stream_to_leg_a() {
    let (engine, _events) = engine(24400, Duration::from_secs(10));
    let pa = Peer::new(0xa);
    let h = engine.create_session().unwrap();
    engine.set_remote(h.id, Leg::A, pa.addr()).unwrap();
    engine
        .set_mode(h.id, Mode::Ringback { codec: Codec::PCMA })
        .unwrap();

    let packets = pa.receive(25);
    let parsed: Vec<_> = packets
        .iter()
        .map(|p| RtpPacket::parse(p).unwrap())
        .collect();
    assert!(parsed[0].marker(), "the stream starts a talkspurt");
    for pair in parsed.windows(2) {
        let (p, q) = (pair[0], pair[1]);
        assert_eq!(q.payload_type(), 8);
        assert_eq!(q.ssrc(), p.ssrc());
        assert_eq!(q.sequence(), p.sequence().wrapping_add(1));
        assert_eq!(q.timestamp(), p.timestamp().wrapping_add(160));
        assert_eq!(q.payload().len(), 160);
        assert!(!q.marker());
    }
    // The first second rings: not A-law silence.
    assert!(parsed[1].payload().iter().any(|b| *b != 0xd5));
    wait_until("sends counted", || {
        engine.stats(h.id).unwrap().a.out_packets >= 25
    });
}

#[test]
fn hold_plays_to_the_held_leg_and_stops_relaying() {
    let (engine, _events) = engine(24600, Duration::from_secs(10));
    let (mut pa, mut pb) = (Peer::new(0xa), Peer::new(0xb));
    let h = relaying(&engine, &pa, &pb);
    pa.send(0, &[0xff; 160], h.port_a);
    pb.receive(1);

    engine
        .set_mode(
            h.id,
            Mode::Hold {
                held: Leg::A,
                codec: Codec::PCMU,
            },
        )
        .unwrap();
    for _ in 0..10 {
        pa.send(0, &[0xff; 160], h.port_a);
        pb.send(0, &[0x7f; 160], h.port_b);
    }
    wait_until("both legs' packets arrived", || {
        let s = engine.stats(h.id).unwrap();
        s.a.in_packets == 11 && s.b.in_packets == 10
    });
    let music = pa.receive(10);
    for p in &music {
        let p = RtpPacket::parse(p).unwrap();
        assert_eq!(p.payload_type(), 0);
        assert_ne!(p.ssrc(), 0xb, "the agent's audio is not relayed on hold");
    }
    wait_until("music counted", || {
        engine.stats(h.id).unwrap().a.out_packets >= 10
    });
    assert_eq!(
        engine.stats(h.id).unwrap().b.out_packets,
        1,
        "nothing relayed to the agent after hold"
    );
    assert!(pb.drain().is_empty());
}

#[test]
fn a_silent_leg_is_reported_while_relaying_but_not_on_hold() {
    let (engine, events) = engine(24800, Duration::from_millis(200));
    let (mut pa, pb) = (Peer::new(0xa), Peer::new(0xb));
    let relay = relaying(&engine, &pa, &pb);
    let held = engine.create_session().unwrap();
    engine
        .set_mode(
            held.id,
            Mode::Hold {
                held: Leg::A,
                codec: Codec::PCMU,
            },
        )
        .unwrap();

    // Leg A keeps talking; leg B says nothing.
    let deadline = Instant::now() + DEADLINE;
    let silent = loop {
        assert!(Instant::now() < deadline, "no inactivity event");
        pa.send(0, &[0xff; 160], relay.port_a);
        match events.recv_timeout(Duration::from_millis(20)) {
            Ok(MediaEvent::Inactive {
                id,
                leg: Leg::B,
                silent_for,
            }) => break (id, silent_for),
            Ok(MediaEvent::Inactive { id, .. }) => assert_ne!(id, held.id),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    };
    assert_eq!(silent.0, relay.id);
    assert!(silent.1 >= Duration::from_millis(200));
    let rest: Vec<_> = events.try_iter().collect();
    assert!(
        rest.iter()
            .all(|e| !matches!(e, MediaEvent::Inactive { id, .. } if *id == held.id)),
        "a session on hold is never reported: {rest:?}"
    );
}

#[test]
fn payload_types_are_renumbered_and_dtmf_is_reported_once_per_press() {
    let (engine, events) = engine(25000, Duration::from_secs(10));
    let (mut pa, pb) = (Peer::new(0xa), Peer::new(0xb));
    let h = relaying(&engine, &pa, &pb);
    engine
        .set_codecs(h.id, Leg::A, &[Codec::PCMU, Codec::TELEPHONE_EVENT])
        .unwrap();
    engine
        .set_codecs(
            h.id,
            Leg::B,
            &[Codec::PCMU, Codec::TELEPHONE_EVENT.with_pt(96)],
        )
        .unwrap();

    // Key 5: two progress packets and three end packets, one timestamp.
    for (end, duration) in [
        (false, 160),
        (false, 320),
        (true, 480),
        (true, 480),
        (true, 480),
    ] {
        let e = TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration,
        };
        pa.send_at(101, &e.to_bytes(), h.port_a, 8000);
    }
    let relayed = pb.receive(5);
    assert!(
        relayed
            .iter()
            .all(|p| RtpPacket::parse(p).unwrap().payload_type() == 96)
    );
    let event = events.recv_timeout(DEADLINE).unwrap();
    assert_eq!(
        event,
        MediaEvent::Dtmf {
            id: h.id,
            leg: Leg::A,
            digit: '5'
        }
    );
    assert!(
        events
            .try_iter()
            .all(|e| !matches!(e, MediaEvent::Dtmf { .. }))
    );
}

#[test]
fn deferred_commands_reach_the_worker_with_the_turns_one_wake_up() {
    let (engine, _events) = engine(26600, Duration::from_secs(10));
    engine.defer_wakes();
    let (mut pa, pb) = (Peer::new(0xa), Peer::new(0xb));
    // A turn's burst: create, both remotes, relay — and no wake-up yet.
    let h = relaying(&engine, &pa, &pb);
    assert_eq!(engine.wakes_owed(), 1);
    // The worker, idle with no session and no timer, has not been told:
    // a packet to leg A waits in the socket and is not relayed.
    pa.send(0, &[0xff; 160], h.port_a);
    let mut buf = [0u8; 512];
    assert!(
        pb.socket.recv_from(&mut buf).is_err(),
        "relayed before the wake-up"
    );
    engine.wake_deferred();
    assert_eq!(engine.wakes_owed(), 0);
    // Woken once, the worker has all four commands: the waiting packet and
    // the next are relayed.
    pa.send(0, &[0xff; 160], h.port_a);
    assert_eq!(pb.receive(2).len(), 2);
    // The next turn: a destroy, owed until its end, then carried out.
    assert!(engine.destroy(h.id));
    assert_eq!(engine.wakes_owed(), 1);
    engine.wake_deferred();
    wait_until("sockets closed", || engine.open_sockets() == 0);
}

#[test]
fn destroy_frees_ports_and_unknown_sessions_are_refused() {
    let (engine, _events) = engine(25200, Duration::from_secs(10));
    let h = engine.create_session().unwrap();
    assert_eq!(engine.session_count(), 1);
    assert!(engine.destroy(h.id));
    assert!(!engine.destroy(h.id));
    wait_until("sockets closed", || engine.open_sockets() == 0);
    UdpSocket::bind((LOCALHOST, h.port_a)).unwrap();
    UdpSocket::bind((LOCALHOST, h.port_b)).unwrap();
    assert_eq!(
        engine.set_mode(h.id, Mode::Relay),
        Err(MediaError::UnknownSession(h.id))
    );
    assert_eq!(engine.stats(h.id), None);
    assert_eq!(
        engine.set_mode(
            engine.create_session().unwrap().id,
            Mode::Ringback { codec: Codec::OPUS }
        ),
        Err(MediaError::ToneCodec("opus".to_owned()))
    );
}

#[test]
fn five_hundred_sessions_come_and_go_without_leaking_sockets() {
    let (engine, _events) = engine(25400, Duration::from_secs(10));
    let pa = Peer::new(0xa);
    for _round in 0..10 {
        let handles: Vec<_> = (0..50).map(|_| engine.create_session().unwrap()).collect();
        for h in &handles {
            engine.set_remote(h.id, Leg::A, pa.addr()).unwrap();
            engine
                .set_mode(h.id, Mode::Ringback { codec: Codec::PCMU })
                .unwrap();
        }
        assert_eq!(engine.session_count(), 50);
        for h in &handles {
            assert!(engine.destroy(h.id));
        }
        wait_until("every socket closed", || engine.open_sockets() == 0);
    }
    assert_eq!(engine.session_count(), 0);
    assert_eq!(engine.free_ports(), 100);
}

#[test]
fn dropping_the_engine_closes_every_socket() {
    let (engine, _events) = engine(25600, Duration::from_secs(10));
    let handles: Vec<_> = (0..5).map(|_| engine.create_session().unwrap()).collect();
    drop(engine);
    for h in handles {
        UdpSocket::bind((LOCALHOST, h.port_a)).unwrap();
        UdpSocket::bind((LOCALHOST, h.port_b)).unwrap();
    }
}

#[test]
fn running_out_of_ports_is_an_error_not_a_panic() {
    let (tx, _rx) = channel();
    let config = MediaConfig {
        bind_ip: LOCALHOST,
        ports: 25800..=25803,
        ..MediaConfig::default()
    };
    let engine = MediaEngine::start(config, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    let h = engine.create_session().unwrap();
    assert_eq!(engine.create_session(), Err(MediaError::NoFreePorts));
    assert_eq!(
        engine.open_sockets(),
        2,
        "the half-made session's socket was closed"
    );
    engine.destroy(h.id);
    wait_until("ports back", || engine.free_ports() == 2);
    engine.create_session().unwrap();
}

/// A stand-in for the WebRTC gateway: its mailbox, woken on a poll of its
/// own, and a UDP socket at its inner address (which must stay silent).
struct FakeGateway {
    socket: UdpSocket,
    mailbox: std::sync::Arc<super::handoff::Mailbox>,
    poll: mio::Poll,
}

impl FakeGateway {
    fn attach(engine: &MediaEngine) -> FakeGateway {
        let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
        socket.set_nonblocking(true).unwrap();
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let mailbox = std::sync::Arc::new(super::handoff::Mailbox::new(Some(std::sync::Arc::new(
            waker,
        ))));
        let inner = socket.local_addr().unwrap();
        assert!(
            engine
                .handoff()
                .attach_gateway(vec![(inner, std::sync::Arc::clone(&mailbox))])
        );
        FakeGateway {
            socket,
            mailbox,
            poll,
        }
    }

    /// Waits (on the poll, up to the deadline) for `count` handed packets.
    fn receive(&mut self, count: usize) -> Vec<super::handoff::Handed> {
        let deadline = Instant::now() + DEADLINE;
        let mut events = mio::Events::with_capacity(4);
        let mut got = Vec::new();
        while got.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "got {} of {count} packets", got.len());
            let mut taken = Vec::new();
            self.mailbox.take(&mut taken);
            if taken.is_empty() {
                self.poll.poll(&mut events, Some(left)).unwrap();
            }
            got.append(&mut taken);
        }
        got
    }
}

/// An RTP packet as the gateway would hand it over.
fn handed_rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut packet = [0u8; 200];
    let n = RtpHeader::new(0, seq, u32::from(seq) * 160, ssrc)
        .write(&[0x55; 160], &mut packet)
        .unwrap();
    packet[..n].to_vec()
}

#[test]
fn packets_to_and_from_an_attached_gateway_go_in_memory() {
    let (engine, _events) = engine(26400, Duration::from_secs(10));
    let mut gw = FakeGateway::attach(&engine);
    let gw_addr = gw.socket.local_addr().unwrap();
    let mut phone = Peer::new(0xa);
    let h = engine.create_session().unwrap();
    engine.set_remote(h.id, Leg::A, phone.addr()).unwrap();
    engine.set_remote(h.id, Leg::B, gw_addr).unwrap();
    // The worker registers the legs when it creates the session.
    let leg_b_at = || {
        engine
            .handoff()
            .leg_at(SocketAddr::new(LOCALHOST, h.port_b))
    };
    wait_until("leg B registered", || leg_b_at().is_some());
    let leg_b = leg_b_at().unwrap();

    // An idle session's worker has no timer to wake it: only the post's
    // wake-up gets the packets counted.
    for seq in 0..2 {
        assert!(leg_b.post(h.port_b, gw_addr, handed_rtp(seq, 0xb)));
    }
    leg_b.wake();
    wait_until("handed packets counted", || {
        engine.stats(h.id).unwrap().b.in_packets == 2
    });
    engine.set_mode(h.id, Mode::Relay).unwrap();

    // The phone's packets reach the gateway's mailbox, from leg B's port.
    for i in 0..3u8 {
        phone.send(0, &[i; 160], h.port_a);
    }
    let handed = gw.receive(3);
    for (i, p) in handed.iter().enumerate() {
        assert_eq!(p.port, h.port_b);
        let rtp = RtpPacket::parse(&p.data).unwrap();
        assert_eq!((rtp.ssrc(), rtp.payload()[0]), (0xa, i as u8));
    }
    let mut buf = [0u8; 2048];
    assert!(
        gw.socket.recv_from(&mut buf).is_err(),
        "nothing also went over UDP"
    );

    // What the gateway hands to leg B's port goes out of leg A to the phone.
    for seq in 2..4 {
        assert!(leg_b.post(h.port_b, gw_addr, handed_rtp(seq, 0xb)));
    }
    leg_b.wake();
    let got = phone.receive(2);
    assert!(
        got.iter()
            .all(|p| RtpPacket::parse(p).unwrap().ssrc() == 0xb)
    );
    // Those counted as from the gateway's inner address: leg B stays
    // latched there, and the phone's next packet goes to the gateway.
    phone.send(0, &[9; 160], h.port_a);
    let next = gw.receive(1);
    assert_eq!(next[0].port, h.port_b);
    wait_until("sends counted", || {
        engine.stats(h.id).unwrap().a.out_packets == 2
    });
    let s = engine.stats(h.id).unwrap();
    assert_eq!((s.a.in_packets, s.b.out_packets), (4, 4));
    assert_eq!((s.b.in_packets, s.b.rejected), (4, 0));
    assert_eq!(engine.handed_packets(), (4, 0), "the worker's four");

    // A destroyed session's legs are no longer handed anything.
    assert!(engine.destroy(h.id));
    wait_until("legs unregistered", || leg_b_at().is_none());
}
