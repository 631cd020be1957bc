//! The gateway against a browser-like str0m peer, in virtual time: offer,
//! answer, ICE and DTLS, then RTP carried both ways between the plain side
//! and the encrypted one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careline_shared::sdp::{CodecKind, Sdp};
use careline_shared::testing::virtual_epoch;
use str0m::change::SdpOffer;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::SessionId;
use super::webrtc::{Datagram, Gateway, GatewayError, GatewayEvent, Via};

const PUBLIC: &str = "10.0.0.1:40000";
const BROWSER: &str = "10.0.0.2:50000";
const INNER: &str = "127.0.0.1:41000";
const SESSION_B: &str = "127.0.0.1:20002";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The plain offer the call core makes for an agent (the caller's, anchored
/// at our port B): A-law, μ-law and telephone-event.
fn plain_offer() -> Sdp {
    let text = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20002 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";
    Sdp::parse(text.as_bytes()).unwrap()
}

/// A browser: a full ICE agent (controlling).
struct Browser {
    /// Its address.
    at: SocketAddr,
    rtc: Rtc,
    mid: Option<Mid>,
    received: Vec<(u8, Vec<u8>)>,
    connected: bool,
    timeout: Instant,
    /// What it sent while taking input, not yet delivered.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
}

impl Browser {
    fn new(now: Instant) -> Browser {
        Browser::new_at(now, addr(BROWSER))
    }

    fn new_at(now: Instant, at: SocketAddr) -> Browser {
        // Audio codecs as Chrome offers them: Opus, G.711 both laws.
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()));
        config.codec_config().add_config(
            Pt::from(126),
            None,
            str0m::format::Codec::Tele,
            str0m::media::Frequency::EIGHT_KHZ,
            None,
            str0m::format::FormatParams::default(),
        );
        config.codec_config().add_config(
            Pt::from(110),
            None,
            str0m::format::Codec::Tele,
            str0m::media::Frequency::FORTY_EIGHT_KHZ,
            None,
            str0m::format::FormatParams::default(),
        );
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(at, "udp").unwrap());
        Browser {
            at,
            rtc,
            mid: None,
            received: Vec::new(),
            connected: false,
            timeout: now,
            outbox: Vec::new(),
        }
    }

    fn drain(&mut self, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => out.push((t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaAdded(m)) => self.mid = Some(m.mid),
                Output::Event(Event::RtpPacket(p)) => self
                    .received
                    .push((*p.header.payload_type, p.payload.to_vec())),
                Output::Event(_) => {}
            }
        }
    }

    /// Sends one RTP packet (payload type `pt`) straight to the gateway.
    fn send(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        pt: u8,
        seq: u64,
        ts: u32,
        payload: Vec<u8>,
    ) {
        let mid = self.mid.expect("media added");
        let mut api = self.rtc.direct_api();
        let stream = api.stream_tx_by_mid(mid, None).expect("a send stream");
        stream.write_rtp(RtpWrite::new(
            Pt::from(pt),
            SeqNo::from(seq),
            ts,
            now,
            payload,
        ));
        let mut out = Vec::new();
        self.drain(&mut out);
        for (_, data) in out {
            gw.handle_public(now, self.at, &data);
        }
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.at,
                contents: data.try_into().unwrap(),
            },
        );
        self.rtc.handle_input(input).unwrap();
        // str0m wants its output drained after every input.
        let mut out = std::mem::take(&mut self.outbox);
        self.drain(&mut out);
        self.outbox = out;
    }
}

/// Moves datagrams between the gateway's public socket and the browser,
/// and time forward in 5 ms steps, until `done` or 10 virtual seconds.
/// Datagrams for the inner side are kept in `inner`.
fn run(
    gw: &mut Gateway,
    browser: &mut Browser,
    now: &mut Instant,
    inner: &mut Vec<Datagram>,
    done: impl Fn(&Gateway, &Browser, &[Datagram]) -> bool,
) {
    let end = *now + Duration::from_secs(10);
    while *now < end {
        let mut to_gateway = std::mem::take(&mut browser.outbox);
        browser.drain(&mut to_gateway);
        for (to, data) in to_gateway {
            assert_eq!(to, addr(PUBLIC), "the browser talks to our candidate only");
            gw.handle_public(*now, addr(BROWSER), &data);
        }
        while let Some(d) = gw.poll_datagram() {
            match d.via {
                Via::Public => {
                    assert_eq!(d.to, addr(BROWSER));
                    browser.receive(*now, addr(PUBLIC), &d.data);
                }
                Via::Inner(_) => inner.push(d),
            }
        }
        if done(gw, browser, inner) {
            return;
        }
        *now += Duration::from_millis(5);
        if gw.poll_timeout().is_some_and(|t| t <= *now) {
            gw.handle_timeout(*now);
        }
        if browser.timeout <= *now {
            browser.rtc.handle_input(Input::Timeout(*now)).unwrap();
        }
    }
    panic!("not done within 10 s of virtual time");
}

/// A gateway peer offered to the browser, answered and connected.
fn connected() -> (Gateway, Browser, Instant, Sdp, super::webrtc::PeerId) {
    let t0 = virtual_epoch();
    let mut now = t0;
    let mut gw = Gateway::new(addr(PUBLIC));
    let (peer, offer) = gw
        .offer(now, SessionId(1), &plain_offer(), addr(INNER))
        .unwrap();
    // What the browser is offered: ICE-lite, DTLS, our candidate, the
    // plain side's codecs on its payload types.
    assert!(offer.contains("a=ice-lite"), "{offer}");
    assert!(offer.contains("a=fingerprint:sha-256"), "{offer}");
    assert!(offer.contains("UDP/TLS/RTP/SAVPF 8 0 101"), "{offer}");
    assert!(offer.contains("10.0.0.1 40000 typ host"), "{offer}");

    let mut browser = Browser::new(now);
    let answer = browser
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap();
    let plain = gw
        .answer(now, peer, answer.to_sdp_string().as_bytes(), 7)
        .unwrap();
    let mut inner = Vec::new();
    run(&mut gw, &mut browser, &mut now, &mut inner, |gw, b, _| {
        gw.is_connected(peer) && b.connected && b.mid.is_some()
    });
    assert_eq!(gw.poll_event(), Some(GatewayEvent::Connected(peer)));
    (gw, browser, now, plain, peer)
}

#[test]
fn a_browser_peer_connects_and_the_call_core_gets_a_plain_answer() {
    let (gw, _browser, _now, plain, peer) = connected();
    // The call core sees an ordinary RTP phone at the peer's inner address,
    // with the codecs the browser took, on the offer's payload types.
    assert_eq!(plain.remote_rtp(), Some(addr(INNER)));
    let codecs = plain.audio().unwrap().codecs();
    assert_eq!(codecs[0].kind(), CodecKind::Pcma);
    assert_eq!(codecs[0].pt, 8);
    assert!(codecs.iter().any(|c| c.kind() == CodecKind::TelephoneEvent));
    assert_eq!(gw.inner(peer), Some(addr(INNER)));
}

/// One plain 20 ms A-law packet.
fn plain_rtp(seq: u16, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

#[test]
fn rtp_is_carried_both_ways_between_the_plain_side_and_the_browser() {
    let (mut gw, mut browser, mut now, _plain, peer) = connected();
    let mut inner = Vec::new();

    // The caller's audio, from the media session's leg B, reaches the
    // browser decrypted, payload and payload type unchanged.
    for seq in 0..15 {
        gw.handle_inner(now, addr(SESSION_B), &plain_rtp(seq, 0x55));
    }
    // Handed over in memory (media::handoff), known by the leg's port.
    let port_b = addr(SESSION_B).port();
    for seq in 15..20 {
        gw.handle_handed(now, port_b, &plain_rtp(seq, 0x55));
    }
    // From anyone else it is dropped: a stranger, the leg's port at another
    // address, a port no peer talks to, or another session's leg whose
    // peer shares the inner socket.
    gw.handle_inner(now, addr("127.0.0.1:9"), &plain_rtp(99, 0x11));
    let elsewhere = SocketAddr::new("127.0.0.2".parse().unwrap(), port_b);
    gw.handle_inner(now, elsewhere, &plain_rtp(97, 0x11));
    gw.handle_handed(now, port_b + 2, &plain_rtp(96, 0x11));
    let other = String::from_utf8(plain_offer().to_bytes())
        .unwrap()
        .replace("20002", "20006");
    let other = Sdp::parse(other.as_bytes()).unwrap();
    let (_, _) = gw.offer(now, SessionId(2), &other, addr(INNER)).unwrap();
    gw.handle_inner(now, addr("127.0.0.1:20006"), &plain_rtp(98, 0x11));
    run(&mut gw, &mut browser, &mut now, &mut inner, |_, b, _| {
        b.received.len() >= 20
    });
    assert_eq!(browser.received.len(), 20);
    assert!(
        browser
            .received
            .iter()
            .all(|(pt, payload)| *pt == 8 && payload.len() == 160 && payload[0] == 0x55)
    );

    // The browser speaks: its packets come out of the inner socket as
    // plain RTP for the session's port.
    for seq in 0..15u64 {
        browser.send(
            &mut gw,
            now,
            8,
            1000 + seq,
            seq as u32 * 160,
            vec![0x2a; 160],
        );
    }
    run(
        &mut gw,
        &mut browser,
        &mut now,
        &mut inner,
        |_, _, inner| inner.len() >= 15,
    );
    assert_eq!(inner.len(), 15);
    for d in &inner {
        assert_eq!(d.via, Via::Inner(peer));
        assert_eq!(d.to, addr(SESSION_B));
        let rtp = careline_shared::rtp::RtpPacket::parse(&d.data).unwrap();
        assert_eq!(rtp.payload_type(), 8);
        assert_eq!(rtp.payload(), &[0x2a; 160][..]);
    }
    let stats = gw.stats(peer).unwrap();
    assert_eq!((stats.to_browser, stats.from_browser), (20, 15));
}

#[test]
fn strangers_and_bad_answers_are_refused_and_closing_forgets_the_peer() {
    let t0 = virtual_epoch();
    let mut gw = Gateway::new(addr(PUBLIC));
    // A datagram nobody expects is dropped, with or without peers.
    assert!(!gw.handle_public(t0, addr(BROWSER), b"\x00\x01\x00\x00garbage"));
    let (waiting, _) = gw
        .offer(t0, SessionId(9), &plain_offer(), addr(INNER))
        .unwrap();
    assert!(!gw.handle_public(t0, addr(BROWSER), b"\x00\x01\x00\x00garbage"));
    gw.close(waiting);
    // An offer with nothing a browser plays is refused.
    let video_only = Sdp::parse(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20002 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
    )
    .unwrap();
    assert_eq!(
        gw.offer(t0, SessionId(1), &video_only, addr(INNER)),
        Err(GatewayError::NoCodec)
    );
    let (peer, _) = gw
        .offer(t0, SessionId(2), &plain_offer(), addr(INNER))
        .unwrap();
    // A browser's answer that is not SDP is refused with a reason.
    assert!(matches!(
        gw.answer(t0, peer, b"hello", 1),
        Err(GatewayError::BadAnswer(_))
    ));
    assert_eq!(gw.close_session(SessionId(2)), vec![peer]);
    assert!(gw.is_empty());
    assert_eq!(
        gw.answer(t0, peer, b"v=0\r\n", 1),
        Err(GatewayError::UnknownPeer)
    );
}

/// A gateway peer transcoding for a browser on Opus, connected; the plain
/// answer for the call core, and the peer.
fn transcoded() -> (Gateway, Browser, Instant, Sdp, super::webrtc::PeerId) {
    let mut now = virtual_epoch();
    let mut gw = Gateway::new(addr(PUBLIC));
    gw.set_prefer_opus(true);
    let (peer, offer) = gw
        .offer(now, SessionId(1), &plain_offer(), addr(INNER))
        .unwrap();
    // The browser is offered Opus alone; the SIP side keeps its A-law.
    assert!(offer.contains("UDP/TLS/RTP/SAVPF 111 110\r\n"), "{offer}");
    assert!(offer.contains("opus/48000/2"), "{offer}");
    // Narrowband is all the G.711 side can use.
    assert!(
        offer.contains("a=fmtp:111 ")
            && offer.contains(";maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n"),
        "{offer}"
    );
    let mut browser = Browser::new(now);
    let answer = browser
        .rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap();
    let plain = gw
        .answer(now, peer, answer.to_sdp_string().as_bytes(), 7)
        .unwrap();
    run(
        &mut gw,
        &mut browser,
        &mut now,
        &mut Vec::new(),
        |gw, b, _| gw.is_connected(peer) && b.connected && b.mid.is_some(),
    );
    (gw, browser, now, plain, peer)
}

#[test]
fn with_opus_preferred_a_g711_caller_is_transcoded_for_the_browser() {
    let (mut gw, mut browser, mut now, plain, _) = transcoded();
    let codecs = plain.audio().unwrap().codecs();
    assert_eq!(codecs.len(), 2, "{codecs:?}");
    assert_eq!((codecs[0].kind(), codecs[0].pt), (CodecKind::Pcma, 8));
    assert_eq!(
        (codecs[1].kind(), codecs[1].pt),
        (CodecKind::TelephoneEvent, 101)
    );
    let mut inner = Vec::new();

    // The caller's A-law becomes Opus frames the browser can decode.
    for seq in 0..25 {
        gw.handle_inner(now, addr(SESSION_B), &plain_rtp(seq, 0x55));
    }
    run(&mut gw, &mut browser, &mut now, &mut inner, |_, b, _| {
        b.received.len() >= 25
    });
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut pcm = vec![0i16; 5760];
    for (pt, payload) in &browser.received {
        assert_eq!(*pt, 111);
        assert_eq!(decoder.decode(payload, &mut pcm, false).unwrap(), 960);
    }

    // The browser's Opus becomes A-law of the same length for the caller.
    let mut encoder =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    for seq in 0..10u64 {
        let tone: Vec<i16> = (0..960)
            .map(|i| ((i as f64 * 0.0576).sin() * 6000.0) as i16)
            .collect();
        let opus_frame = encoder.encode_vec(&tone, 400).unwrap();
        browser.send(&mut gw, now, 111, 500 + seq, seq as u32 * 960, opus_frame);
    }
    run(
        &mut gw,
        &mut browser,
        &mut now,
        &mut inner,
        |_, _, inner| inner.len() >= 10,
    );
    for (i, d) in inner.iter().enumerate() {
        let rtp = careline_shared::rtp::RtpPacket::parse(&d.data).unwrap();
        assert_eq!(rtp.payload_type(), 8);
        assert_eq!(rtp.payload().len(), 160);
        assert_eq!(rtp.timestamp(), i as u32 * 160);
    }

    // A key from the caller's side reaches the browser on the 48 kHz clock
    // (duration 800 → 4800), and one from the browser the caller's side on
    // 8 kHz (4800 → 800).
    let mut key = vec![0x80, 101, 0, 50, 0, 0, 0x06, 0x40, 0x12, 0x34, 0x56, 0x78];
    key.extend_from_slice(&[5, 0x0a, 0x03, 0x20]);
    let before = browser.received.len();
    gw.handle_inner(now, addr(SESSION_B), &key);
    run(&mut gw, &mut browser, &mut now, &mut inner, |_, b, _| {
        b.received.len() > before
    });
    let (pt, event) = browser.received.last().unwrap();
    assert_eq!((*pt, event.as_slice()), (110, &[5, 0x0a, 0x12, 0xc0][..]));
    browser.send(&mut gw, now, 110, 600, 9600, vec![7, 0x8a, 0x12, 0xc0]);
    let had = inner.len();
    run(
        &mut gw,
        &mut browser,
        &mut now,
        &mut inner,
        |_, _, inner| inner.len() > had,
    );
    let rtp = careline_shared::rtp::RtpPacket::parse(&inner.last().unwrap().data).unwrap();
    assert_eq!(rtp.payload_type(), 101);
    assert_eq!(rtp.timestamp(), 1600);
    assert_eq!(rtp.payload(), &[7, 0x8a, 0x03, 0x20]);
}

/// `rtc`'s offer of one send-and-receive audio section, the pending offer
/// to finish, and the section's mid.
fn audio_offer(rtc: &mut Rtc) -> (SdpOffer, str0m::change::SdpPendingOffer, Mid) {
    let mut api = rtc.sdp_api();
    let mid = api.add_media(
        str0m::media::MediaKind::Audio,
        str0m::media::Direction::SendRecv,
        None,
        None,
        None,
    );
    let (offer, pending) = api.apply().unwrap();
    (offer, pending, mid)
}

#[test]
fn a_browser_placing_a_call_is_answered_and_stands_as_a_plain_caller() {
    let t0 = virtual_epoch();
    let mut now = t0;
    let mut gw = Gateway::new(addr(PUBLIC));
    let mut browser = Browser::new(now);
    let (offer, pending, mid) = audio_offer(&mut browser.rtc);
    browser.mid = Some(mid);
    let offer = offer.to_sdp_string();
    let session_a = addr("127.0.0.1:20000");
    let (peer, answer, plain) = gw
        .accept(
            now,
            SessionId(3),
            offer.as_bytes(),
            session_a,
            addr(INNER),
            9,
        )
        .unwrap();
    // The browser is answered ICE-lite, with our fingerprint and candidate,
    // taking one G.711 law and the 8 kHz keys.
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
    assert!(answer.contains("10.0.0.1 40000 typ host"), "{answer}");
    let offered = Sdp::parse(offer.as_bytes())
        .unwrap()
        .audio()
        .unwrap()
        .codecs();
    let law = offered
        .iter()
        .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma))
        .unwrap()
        .clone();
    // The call core gets an ordinary phone's offer at the inner address:
    // that law and telephone-event, on the browser's payload types.
    assert_eq!(plain.remote_rtp(), Some(addr(INNER)));
    assert!(plain.audio().unwrap().is_plain_rtp());
    let codecs = plain.audio().unwrap().codecs();
    assert_eq!(codecs.len(), 2, "{codecs:?}");
    assert_eq!((codecs[0].kind(), codecs[0].pt), (law.kind(), law.pt));
    assert_eq!(
        (codecs[1].kind(), codecs[1].pt, codecs[1].clock_rate),
        (CodecKind::TelephoneEvent, 126, 8000)
    );
    browser
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap(),
        )
        .unwrap();
    let mut inner = Vec::new();
    run(&mut gw, &mut browser, &mut now, &mut inner, |gw, b, _| {
        gw.is_connected(peer) && b.connected && b.mid.is_some()
    });

    // Both ways, to and from the session's leg A.
    for seq in 0..12u16 {
        let mut p = plain_rtp(seq, 0x33);
        p[1] = law.pt;
        gw.handle_inner(now, session_a, &p);
    }
    run(&mut gw, &mut browser, &mut now, &mut inner, |_, b, _| {
        b.received.len() >= 12
    });
    assert!(
        browser
            .received
            .iter()
            .all(|(pt, p)| *pt == law.pt && p[0] == 0x33)
    );
    for seq in 0..8u64 {
        browser.send(
            &mut gw,
            now,
            law.pt,
            70 + seq,
            seq as u32 * 160,
            vec![0x44; 160],
        );
    }
    run(&mut gw, &mut browser, &mut now, &mut inner, |_, _, i| {
        i.len() >= 8
    });
    for d in &inner {
        assert_eq!(d.to, session_a);
        let rtp = careline_shared::rtp::RtpPacket::parse(&d.data).unwrap();
        assert_eq!(
            (rtp.payload_type(), rtp.payload()),
            (law.pt, &[0x44; 160][..])
        );
    }
    // A second answer to the same peer makes no sense: it has no offer out.
    assert!(matches!(
        gw.answer(now, peer, answer.as_bytes(), 9),
        Err(GatewayError::BadAnswer(_))
    ));
}

#[test]
fn a_browser_offer_without_g711_or_not_sdp_is_refused() {
    let t0 = virtual_epoch();
    let mut gw = Gateway::new(addr(PUBLIC));
    let session_a = addr("127.0.0.1:20000");
    assert!(matches!(
        gw.accept(t0, SessionId(1), b"hello", session_a, addr(INNER), 1),
        Err(GatewayError::BadOffer(_))
    ));
    // Opus alone: nothing the plain side is sure to take.
    let mut rtc = Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(t0);
    rtc.add_local_candidate(Candidate::host(addr(BROWSER), "udp").unwrap());
    let (offer, _, _) = audio_offer(&mut rtc);
    assert_eq!(
        gw.accept(
            t0,
            SessionId(2),
            offer.to_sdp_string().as_bytes(),
            session_a,
            addr(INNER),
            2
        ),
        Err(GatewayError::NoCodec)
    );
    assert!(gw.is_empty());
}

#[test]
fn a_browser_offer_spelling_out_one_channel_is_taken() {
    // webrtc-rs writes `PCMU/8000/1`, Chrome `PCMU/8000`: both are μ-law.
    let t0 = virtual_epoch();
    let mut gw = Gateway::new(addr(PUBLIC));
    let mut browser = Browser::new(t0);
    let (offer, _, _) = audio_offer(&mut browser.rtc);
    let spelled = offer
        .to_sdp_string()
        .replace("PCMU/8000\r\n", "PCMU/8000/1\r\n")
        .replace("PCMA/8000\r\n", "PCMA/8000/1\r\n");
    assert!(spelled.contains("PCMU/8000/1\r\n"), "{spelled}");
    let (_, answer, plain) = gw
        .accept(
            t0,
            SessionId(1),
            spelled.as_bytes(),
            addr("127.0.0.1:20000"),
            addr(INNER),
            1,
        )
        .unwrap();
    let law = plain.audio().unwrap().codecs()[0].clone();
    assert!(matches!(law.kind(), CodecKind::Pcmu | CodecKind::Pcma));
    // The audio section is accepted (a port, the codec), not rejected.
    assert!(!answer.contains("m=audio 0 "), "{answer}");
    assert!(
        answer.contains(&format!("a=rtpmap:{} ", law.pt)),
        "{answer}"
    );
}

/// Moves datagrams between the gateway and two browsers (each datagram to
/// the one it is addressed to) until `done` or 10 virtual seconds.
fn run_two(
    gw: &mut Gateway,
    browsers: [&mut Browser; 2],
    now: &mut Instant,
    done: impl Fn(&Gateway, &[&mut Browser; 2]) -> bool,
) {
    let mut browsers = browsers;
    let end = *now + Duration::from_secs(10);
    while *now < end {
        for b in browsers.iter_mut() {
            let mut to_gateway = std::mem::take(&mut b.outbox);
            b.drain(&mut to_gateway);
            for (_, data) in to_gateway {
                gw.handle_public(*now, b.at, &data);
            }
        }
        while let Some(d) = gw.poll_datagram() {
            if d.via == Via::Public {
                let b = browsers
                    .iter_mut()
                    .find(|b| b.at == d.to)
                    .expect("sent to one of the browsers");
                b.receive(*now, addr(PUBLIC), &d.data);
            }
        }
        if done(gw, &browsers) {
            return;
        }
        *now += Duration::from_millis(5);
        if gw.poll_timeout().is_some_and(|t| t <= *now) {
            gw.handle_timeout(*now);
        }
        for b in browsers.iter_mut() {
            if b.timeout <= *now {
                b.rtc.handle_input(Input::Timeout(*now)).unwrap();
            }
        }
    }
    panic!("not done within 10 s of virtual time");
}

#[test]
fn two_calls_share_the_inner_socket_and_each_browser_hears_only_its_own() {
    let t0 = virtual_epoch();
    let mut now = t0;
    let mut gw = Gateway::new(addr(PUBLIC));
    let other_b = "127.0.0.1:20006";
    let second = String::from_utf8(plain_offer().to_bytes())
        .unwrap()
        .replace("20002", "20006");
    let second = Sdp::parse(second.as_bytes()).unwrap();
    let mut b1 = Browser::new_at(now, addr(BROWSER));
    let mut b2 = Browser::new_at(now, addr("10.0.0.3:50000"));
    let mut peers = Vec::new();
    for (session, plain, b) in [(1, plain_offer(), &mut b1), (2, second, &mut b2)] {
        let (peer, offer) = gw
            .offer(now, SessionId(session), &plain, addr(INNER))
            .unwrap();
        let answer = b
            .rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap();
        gw.answer(now, peer, answer.to_sdp_string().as_bytes(), session)
            .unwrap();
        peers.push(peer);
    }
    run_two(&mut gw, [&mut b1, &mut b2], &mut now, |gw, b| {
        peers.iter().all(|p| gw.is_connected(*p))
            && b.iter().all(|b| b.connected && b.mid.is_some())
    });
    // Each session's leg speaks on the one inner socket; each browser
    // hears its own call only.
    for seq in 0..10 {
        gw.handle_inner(now, addr(SESSION_B), &plain_rtp(seq, 0x11));
        gw.handle_inner(now, addr(other_b), &plain_rtp(seq, 0x22));
    }
    run_two(&mut gw, [&mut b1, &mut b2], &mut now, |_, b| {
        b.iter().all(|b| b.received.len() >= 10)
    });
    assert!(
        b1.received.iter().all(|(_, p)| p[0] == 0x11),
        "{:?}",
        b1.received.len()
    );
    assert!(b2.received.iter().all(|(_, p)| p[0] == 0x22));
    assert_eq!((b1.received.len(), b2.received.len()), (10, 10));
    // Closed, the first call's leg reaches nobody; the second goes on.
    gw.close(peers[0]);
    for seq in 10..15 {
        gw.handle_inner(now, addr(SESSION_B), &plain_rtp(seq, 0x11));
        gw.handle_inner(now, addr(other_b), &plain_rtp(seq, 0x22));
    }
    run_two(&mut gw, [&mut b1, &mut b2], &mut now, |_, b| {
        b[1].received.len() >= 15
    });
    assert_eq!(b1.received.len(), 10);
    assert!(b2.received.iter().all(|(_, p)| p[0] == 0x22));
    // The second session ends: its peer goes with it.
    assert_eq!(gw.close_session(SessionId(2)), vec![peers[1]]);
    assert!(gw.is_empty());
}

#[test]
fn a_packet_from_the_session_leaves_for_the_browser_at_once() {
    let (mut gw, _browser, now, _plain, _peer) = connected();
    while gw.poll_datagram().is_some() {}
    gw.handle_inner(now, addr(SESSION_B), &plain_rtp(1, 0x55));
    // Sent in the same call, not on a later turn of the timers.
    let d = gw.poll_datagram().expect("the packet, encrypted");
    assert_eq!((d.via, d.to), (Via::Public, addr(BROWSER)));
    // The pacer's housekeeping after it waits for the next packet, 100 ms
    // at most; when none comes, that tick sends nothing and asks for no
    // more at once.
    let next = gw.poll_timeout().expect("a timer");
    assert!(next > now && next <= now + Duration::from_millis(100));
    gw.handle_timeout(next);
    assert!(gw.poll_datagram().is_none());
    assert!(gw.poll_timeout().is_some_and(|t| t > next));
}

#[path = "webrtc_link_tests.rs"]
mod link;
