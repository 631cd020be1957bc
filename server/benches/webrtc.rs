//! The WebRTC gateway's figures (run by `bench/webrtc`):
//!
//! 1. **Sessions**: open and close browser sessions against the real
//!    gateway (its thread and sockets, on loopback), each one a full ICE +
//!    DTLS handshake with webrtc-rs (the `webrtc` crate) playing the
//!    browser, `SESSIONS` in all, `BATCH` at a time; the gateway runs in a
//!    child process of its own, whose resident memory is read before, at
//!    the peak, and after they are all closed.
//! 2. **Transcoded calls**: `CALLS` concurrent calls, each the whole path a
//!    browser agent's call takes through the server: a SIP phone's PCMU to
//!    a media session (the real engine, relaying), from there to the
//!    gateway, which bridges it to Opus for the browser, and back; 20 ms
//!    packets both ways for `SECONDS`. The CPU time (from /proc) of the
//!    gateway's thread(s) and of the media engine's worker thread, per call,
//!    and what arrived each way.
//!
//! For the calls, the load generators (the browsers' str0m peers with their
//! SRTP, and the SIP phones' RTP senders) run in this process on other
//! threads; only the server's threads are counted (`BENCH_THREADS=N`: a gateway of N threads). The session and the
//! gateway hand packets over in memory, as in the server
//! (`media::handoff`); with `BENCH_HANDOFF=0` they talk over loopback UDP
//! instead, for comparison.
//!
//!   cargo bench -p careline-server --bench webrtc -- SESSIONS BATCH CALLS SECONDS
//!
//! With `BENCH_LOSS=P` the browsers lose P % of the gateway's datagrams and
//! say so in their receiver reports: the gateway's Opus then carries FEC
//! (see `media::transcode`); on a clean link it carries none.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careline_server::media::transcode::carries_fec;
use careline_server::media::{Leg, MediaConfig, MediaEngine, Mode, SessionId, WebRtcGateway};
use careline_shared::sdp::Sdp;
use str0m::change::SdpOffer;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A browser: a str0m peer on its own non-blocking socket.
struct Browser {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Option<Mid>,
    connected: bool,
    received: u64,
    /// Of `received`, Opus packets carrying FEC.
    fec: u64,
    timeout: Instant,
    seq: u64,
    /// A lossy link: this percentage of the gateway's datagrams is lost.
    loss: u64,
    datagrams: u64,
}

impl Browser {
    fn answer(offer: &str) -> (Browser, String) {
        let socket = UdpSocket::bind((LOCAL, 0)).unwrap();
        socket.set_nonblocking(true).unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .enable_pcmu(true, false)
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let answer = rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(offer).unwrap())
            .unwrap()
            .to_sdp_string();
        let b = Browser {
            rtc,
            socket,
            local,
            mid: None,
            connected: false,
            received: 0,
            fec: 0,
            timeout: Instant::now(),
            seq: 0,
            loss: 0,
            datagrams: 0,
        };
        (b, answer)
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::MediaAdded(m))) => self.mid = Some(m.mid),
                Ok(Output::Event(Event::RtpPacket(p))) => {
                    self.received += 1;
                    if carries_fec(&p.payload) {
                        self.fec += 1;
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads what has arrived and runs the timers.
    fn poll(&mut self, buf: &mut [u8]) {
        while let Ok((n, source)) = self.socket.recv_from(buf) {
            // Lost when the running count of losses steps up: `loss` in
            // every hundred, evenly spread.
            let lost = |d: u64| d * self.loss / 100;
            self.datagrams += 1;
            if lost(self.datagrams) > lost(self.datagrams - 1) {
                continue;
            }
            let Ok(contents) = buf[..n].try_into() else {
                continue;
            };
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.local,
                    contents,
                },
            );
            if self.rtc.handle_input(input).is_ok() {
                self.drain();
            }
        }
        let now = Instant::now();
        if self.timeout <= now && self.rtc.handle_input(Input::Timeout(now)).is_ok() {
            self.drain();
        }
    }

    fn speak(&mut self, pt: u8, samples: u32, payload: &[u8]) {
        let (Some(mid), true) = (self.mid, self.connected) else {
            return;
        };
        let mut api = self.rtc.direct_api();
        if let Some(stream) = api.stream_tx_by_mid(mid, None) {
            stream.write_rtp(RtpWrite::new(
                Pt::from(pt),
                SeqNo::from(self.seq),
                (self.seq as u32).wrapping_mul(samples),
                Instant::now(),
                payload.to_vec(),
            ));
            self.seq += 1;
        }
        self.drain();
    }
}

/// The plain side of a call: a SIP phone's socket, talking to its media
/// session's leg A.
struct Plain {
    socket: UdpSocket,
    leg_a: SocketAddr,
    seq: u16,
    received: u64,
}

fn plain_offer(port: u16) -> Sdp {
    let text = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    );
    Sdp::parse(text.as_bytes()).unwrap()
}

/// A call through the gateway: its peer and both ends.
struct Call {
    browser: Browser,
    plain: Plain,
}

/// Opens a call as the call core does: a media session, the browser's
/// peer for its leg B (offer, answer), the phone on leg A, relaying.
fn open(gw: &WebRtcGateway, engine: &MediaEngine, id: u64) -> Call {
    let plain = UdpSocket::bind((LOCAL, 0)).unwrap();
    plain.set_nonblocking(true).unwrap();
    let session = engine.create_session().unwrap();
    let (peer, offer) = gw
        .offer(session.id, &plain_offer(session.port(Leg::B)))
        .unwrap();
    let (browser, answer) = Browser::answer(&offer);
    let plain_answer = gw.answer(peer, answer.as_bytes(), id).unwrap();
    let codecs = plain_answer.audio().unwrap().codecs();
    for leg in [Leg::A, Leg::B] {
        engine.set_codecs(session.id, leg, &codecs).unwrap();
    }
    let phone = plain.local_addr().unwrap();
    engine.set_remote(session.id, Leg::A, phone).unwrap();
    let inner = plain_answer.remote_rtp().unwrap();
    engine.set_remote(session.id, Leg::B, inner).unwrap();
    engine.set_mode(session.id, Mode::Relay).unwrap();
    Call {
        browser,
        plain: Plain {
            socket: plain,
            leg_a: SocketAddr::new(LOCAL.into(), session.port(Leg::A)),
            seq: 0,
            received: 0,
        },
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system, in clock ticks of 10 ms) of this process's
/// threads whose names start with `prefix`, together.
fn thread_ticks(prefix: &str) -> u64 {
    let ticks = |dir: std::path::PathBuf| -> Option<u64> {
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if !comm.starts_with(prefix) {
            return None;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the ")" that ends the name: utime is the 12th, stime the 13th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    };
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .filter_map(|task| ticks(task.ok()?.path()))
        .sum()
}

/// Drives the browsers until every one is connected, or 20 s.
fn connect_all(calls: &mut [Call], buf: &mut [u8]) -> usize {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && calls.iter().any(|c| !c.browser.connected) {
        for c in calls.iter_mut() {
            c.browser.poll(buf);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    calls.iter().filter(|c| c.browser.connected).count()
}

/// The gateway alone in a child process (this bench run again with
/// `CARELINE_BENCH_GATEWAY=1`), driven over its stdin and stdout one JSON
/// line at a time, so that its resident memory is the gateway's and not the
/// browsers'.
struct Child {
    process: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::BufReader<std::process::ChildStdout>,
}

impl Child {
    fn start() -> Child {
        let mut process = std::process::Command::new(std::env::current_exe().unwrap())
            .env("CARELINE_BENCH_GATEWAY", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let to = process.stdin.take().unwrap();
        let from = std::io::BufReader::new(process.stdout.take().unwrap());
        Child { process, to, from }
    }

    fn ask(&mut self, request: serde_json::Value) -> serde_json::Value {
        use std::io::{BufRead, Write};
        writeln!(self.to, "{request}").unwrap();
        let mut line = String::new();
        self.from.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("gateway child: {e}: {line:?}"))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Never panics (it may run while a panic unwinds): the child is
        // ended, asked politely or not.
        use std::io::Write;
        let _ = writeln!(self.to, "{}", serde_json::json!({"op": "quit"}));
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The child's side: a gateway on loopback, answering requests until
/// `quit` or the end of its input.
fn gateway_child() {
    use std::io::{BufRead, Write};
    let gw = WebRtcGateway::start((LOCAL, 0).into(), LOCAL.into(), false).unwrap();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let req: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let peer = || careline_server::media::webrtc::PeerId(req["peer"].as_u64().unwrap_or(0));
        let answer = match req["op"].as_str().unwrap_or("") {
            "offer" => {
                let port = req["port"].as_u64().unwrap_or(9) as u16;
                let id = req["id"].as_u64().unwrap_or(0);
                match gw.offer(SessionId(id), &plain_offer(port)) {
                    Ok((peer, sdp)) => serde_json::json!({"peer": peer.0, "sdp": sdp}),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                }
            }
            "answer" => {
                let sdp = req["sdp"].as_str().unwrap_or("");
                match gw.answer(peer(), sdp.as_bytes(), req["peer"].as_u64().unwrap_or(0)) {
                    Ok(_) => serde_json::json!({"ok": true}),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                }
            }
            "close" => {
                gw.close(peer());
                serde_json::json!({"ok": true})
            }
            "rss" => serde_json::json!({"rss": rss_kib(), "peers": gw.peers()}),
            "quit" => break,
            other => serde_json::json!({"error": format!("unknown op {other:?}")}),
        };
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
}

/// A browser played by webrtc-rs: it answers `offer` from a loopback
/// socket; its connection and a flag set once ICE and DTLS are up.
async fn webrtc_rs_answer(
    offer: String,
) -> Result<
    (
        impl webrtc::peer_connection::PeerConnection,
        String,
        Arc<RsConnected>,
    ),
    String,
> {
    use webrtc::peer_connection::{
        MediaEngine, PeerConnection, PeerConnectionBuilder, RTCSessionDescription,
        SettingEngineBuilder,
    };
    let mut engine = MediaEngine::default();
    engine
        .register_codec(
            rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters {
                rtp_codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec {
                    mime_type: "audio/PCMU".into(),
                    clock_rate: 8000,
                    channels: 1,
                    sdp_fmtp_line: String::new(),
                    rtcp_feedback: vec![],
                },
                payload_type: 0,
            },
            rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio,
        )
        .map_err(|e| e.to_string())?;
    let settings = SettingEngineBuilder::default()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(true)
        .build();
    let state = Arc::new(RsConnected::default());
    let pc = PeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_media_engine(engine)
        .with_handler(state.clone())
        .with_udp_addrs(vec![SocketAddr::from((LOCAL, 0))])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let gathered = state.gathered.notified();
    let offer = RTCSessionDescription::offer(offer).map_err(|e| e.to_string())?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
    pc.set_local_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered).await;
    let sdp = pc.local_description().await.ok_or("no answer")?.sdp;
    Ok((pc, sdp, state))
}

/// What a webrtc-rs peer's events say.
#[derive(Default)]
struct RsConnected {
    gathered: tokio::sync::Notify,
    connected: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl webrtc::peer_connection::PeerConnectionEventHandler for RsConnected {
    async fn on_ice_gathering_state_change(
        &self,
        state: webrtc::peer_connection::RTCIceGatheringState,
    ) {
        if state == webrtc::peer_connection::RTCIceGatheringState::Complete {
            self.gathered.notify_one();
        }
    }

    async fn on_connection_state_change(
        &self,
        state: webrtc::peer_connection::RTCPeerConnectionState,
    ) {
        if state == webrtc::peer_connection::RTCPeerConnectionState::Connected {
            self.connected
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

fn sessions(total: u64, batch: u64) {
    let mut child = Child::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Where the gateway would send plain RTP: a socket nobody reads (no
    // media flows in this part).
    let sink = UdpSocket::bind((LOCAL, 0)).unwrap();
    let port = sink.local_addr().unwrap().port();
    let cycle = |child: &mut Child, from: u64, n: u64| -> usize {
        let mut open = Vec::new();
        for id in from..from + n {
            let offer = child.ask(serde_json::json!({"op": "offer", "id": id, "port": port}));
            let peer = offer["peer"].as_u64().expect("an offer");
            let sdp = offer["sdp"].as_str().unwrap().to_string();
            let (pc, answer, state) = runtime.block_on(webrtc_rs_answer(sdp)).unwrap();
            let taken = child.ask(serde_json::json!({"op": "answer", "peer": peer, "sdp": answer}));
            assert_eq!(taken["ok"], true, "{taken}");
            open.push((peer, pc, state));
        }
        let until = Instant::now() + Duration::from_secs(20);
        let up = |open: &[(u64, _, Arc<RsConnected>)]| {
            open.iter()
                .filter(|(_, _, s)| s.connected.load(std::sync::atomic::Ordering::Acquire))
                .count()
        };
        while up(&open) < open.len() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ok = up(&open);
        for (peer, pc, _) in open {
            use webrtc::peer_connection::PeerConnection;
            let _ = runtime.block_on(pc.close());
            child.ask(serde_json::json!({"op": "close", "peer": peer}));
        }
        ok
    };
    let rss = |child: &mut Child| {
        let r = child.ask(serde_json::json!({"op": "rss"}));
        (
            r["rss"].as_u64().unwrap_or(0),
            r["peers"].as_u64().unwrap_or(0),
        )
    };
    // Warm up: the crypto tables, the first arena.
    cycle(&mut child, 0, batch);
    let (before, _) = rss(&mut child);
    let mut peak = before;
    let mut connected = 0;
    let started = Instant::now();
    let mut next = batch;
    while next < batch + total {
        let n = batch.min(batch + total - next);
        connected += cycle(&mut child, next, n);
        peak = peak.max(rss(&mut child).0);
        next += n;
    }
    let took = started.elapsed();
    let (after, left) = rss(&mut child);
    println!(
        "sessions: {total} webrtc-rs browsers opened and closed ({batch} at a time) against the gateway in its own process, {connected} connected (ICE + DTLS) in {:.1} s; peers left {left}",
        took.as_secs_f64(),
    );
    println!(
        "gateway process resident memory: before {} KiB, peak {} KiB, after {} KiB; after/before = {:.3}",
        before,
        peak,
        after,
        after as f64 / before as f64
    );
}

/// `CALLS` transcoded calls for `seconds`; with `loss` (percent), the
/// browsers lose that share of what the gateway sends them, and report it.
fn calls(n: u64, seconds: u64, loss: u64) {
    let config = MediaConfig {
        bind_ip: LOCAL.into(),
        // Two sockets a call, on even ports.
        ports: 40_000..=44_999,
        workers: 1,
        ..MediaConfig::default()
    };
    let engine = MediaEngine::start(config, |_| {}).unwrap();
    // BENCH_THREADS: the gateway's threads (`[media] webrtc_threads`).
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .clamp(1, WebRtcGateway::MAX_THREADS);
    let gw = WebRtcGateway::start_threads((LOCAL, 0).into(), LOCAL.into(), true, threads).unwrap();
    let in_memory = std::env::var("BENCH_HANDOFF").map_or(true, |v| v != "0");
    if in_memory {
        assert!(gw.attach(&engine));
    }
    let mut buf = vec![0u8; 2048];
    let mut all: Vec<Call> = (0..n).map(|i| open(&gw, &engine, 10_000 + i)).collect();
    let connected = connect_all(&mut all, &mut buf);
    let (mut browsers, mut plains): (Vec<Browser>, Vec<Plain>) =
        all.into_iter().map(|c| (c.browser, c.plain)).unzip();
    for b in &mut browsers {
        b.loss = loss;
    }
    // The browser's speech: narrowband Opus (the gateway's offer asks for
    // maxplaybackrate=8000), the voice-like second below encoded once and
    // sent again and again (the browser's encoder is not what is measured).
    let mut encoder =
        opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let _ = encoder.set_bitrate(opus::Bitrate::Bits(20_000));
    // The plain side speaks a second of a voice-like signal (a vowel's
    // harmonics over noise), in μ-law, over and over.
    let voice: Vec<Vec<u8>> = (0..50u32)
        .map(|k| {
            (0..160u32)
                .map(|i| {
                    let t = f64::from(k * 160 + i) / 8000.0;
                    let f0 = 140.0 + 20.0 * (t * 3.0).sin();
                    let s: f64 = (1..=8)
                        .map(|h| {
                            (2.0 * std::f64::consts::PI * f0 * f64::from(h) * t).sin()
                                / f64::from(h)
                        })
                        .sum();
                    let n = f64::from((k * 160 + i).wrapping_mul(2_654_435_761) >> 22) - 512.0;
                    careline_shared::rtp::G711::Ulaw.encode((s * 5000.0 + n * 2.0) as i16)
                })
                .collect()
        })
        .collect();
    let browser_frames: Vec<Vec<u8>> = voice
        .iter()
        .map(|g711| {
            let pcm: Vec<i16> = g711
                .iter()
                .map(|&c| careline_shared::rtp::G711::Ulaw.decode(c))
                .collect();
            encoder.encode_vec(&pcm, 400).unwrap()
        })
        .collect();
    let tick = Duration::from_millis(20);
    let mut sent = 0u64;
    let round = |browsers: &mut Vec<Browser>, plains: &mut Vec<Plain>, sent: &mut u64| {
        for b in browsers.iter_mut() {
            let frame = &browser_frames[(b.seq % 50) as usize];
            b.speak(111, 960, frame);
        }
        for p in plains.iter_mut() {
            let mut pkt = vec![0x80, 0];
            pkt.extend_from_slice(&p.seq.to_be_bytes());
            pkt.extend_from_slice(&(u32::from(p.seq) * 160).to_be_bytes());
            pkt.extend_from_slice(&0xcafe_u32.to_be_bytes());
            pkt.extend_from_slice(&voice[usize::from(p.seq) % voice.len()]);
            let _ = p.socket.send_to(&pkt, p.leg_a);
            p.seq = p.seq.wrapping_add(1);
        }
        *sent += 1;
    };
    // Fifteen seconds to settle before the measured window: the gateway
    // codes FEC from a call's start until the browser's receiver reports
    // (every 5 s; str0m needs two for a loss figure) say the link is clean.
    let settle_until = Instant::now() + Duration::from_secs(15);
    let mut next = Instant::now();
    let drain_all = |browsers: &mut Vec<Browser>, plains: &mut Vec<Plain>, buf: &mut [u8]| {
        for b in browsers.iter_mut() {
            b.poll(buf);
        }
        for p in plains.iter_mut() {
            while p.socket.recv_from(buf).is_ok() {
                p.received += 1;
            }
        }
    };
    while Instant::now() < settle_until {
        if Instant::now() >= next {
            round(&mut browsers, &mut plains, &mut sent);
            next += tick;
        }
        drain_all(&mut browsers, &mut plains, &mut buf);
        std::thread::sleep(Duration::from_millis(1));
    }
    let b0: u64 = browsers.iter().map(|b| b.received).sum();
    let f0: u64 = browsers.iter().map(|b| b.fec).sum();
    let p0: u64 = plains.iter().map(|p| p.received).sum();
    let sent0 = sent;
    let gw_ticks0 = thread_ticks("careline-webrtc");
    let media_ticks0 = thread_ticks("careline-media");
    let handed0 = engine.handed_packets();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    while Instant::now() < end {
        if Instant::now() >= next {
            round(&mut browsers, &mut plains, &mut sent);
            next += tick;
        }
        drain_all(&mut browsers, &mut plains, &mut buf);
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall = started.elapsed().as_secs_f64();
    let gw_ticks = thread_ticks("careline-webrtc") - gw_ticks0;
    let media_ticks = thread_ticks("careline-media") - media_ticks0;
    let handed = engine.handed_packets();
    // Let the last packets land before counting.
    let tail = Instant::now() + Duration::from_millis(200);
    while Instant::now() < tail {
        drain_all(&mut browsers, &mut plains, &mut buf);
    }
    let rounds = sent - sent0;
    let to_browsers = browsers.iter().map(|b| b.received).sum::<u64>() - b0;
    let fec = browsers.iter().map(|b| b.fec).sum::<u64>() - f0;
    let to_plain = plains.iter().map(|p| p.received).sum::<u64>() - p0;
    let expected = rounds * n;
    let percent = |ticks: u64| ticks as f64 / 100.0 / wall * 100.0;
    let (gw_cpu, media_cpu) = (percent(gw_ticks), percent(media_ticks));
    let per_core = |cpu: f64| {
        if cpu > 0.0 {
            100.0 * n as f64 / cpu
        } else {
            f64::INFINITY
        }
    };
    println!(
        "transcoded calls: {n} (connected {connected}), {seconds} s, 20 ms packets each way: {} sent each way; {loss} % lost on the way to the browsers",
        expected
    );
    println!(
        "  gateway threads: {threads}, calls on each: {:?}",
        gw.peers_per_thread()
    );
    println!(
        "  session <-> gateway: {}; packets handed over {}, dropped {}",
        if in_memory {
            "in memory"
        } else {
            "loopback UDP (BENCH_HANDOFF=0)"
        },
        handed.0 - handed0.0,
        handed.1 - handed0.1
    );
    let cpu = gw_cpu + media_cpu;
    println!(
        "  CPU: gateway {gw_cpu:.1} %, media worker {media_cpu:.1} %, together {cpu:.1} % of a core, {:.3} % per call -> about {:.0} calls per core (gateway alone: {:.0})",
        cpu / n as f64,
        per_core(cpu),
        per_core(gw_cpu)
    );
    println!(
        "  arrived: browsers {} ({:.2} % lost), plain side {} ({:.2} % lost)",
        to_browsers,
        100.0 * (1.0 - to_browsers as f64 / expected as f64),
        to_plain,
        100.0 * (1.0 - to_plain as f64 / expected as f64)
    );
    println!(
        "  Opus packets to the browsers carrying FEC: {:.1} %",
        100.0 * fec as f64 / to_browsers.max(1) as f64
    );
}

fn main() {
    if std::env::var_os("CARELINE_BENCH_GATEWAY").is_some() {
        gateway_child();
        return;
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(1000).clamp(1, 5000);
    let batch = args.get(1).copied().unwrap_or(50).clamp(1, 500);
    let n = args.get(2).copied().unwrap_or(200).clamp(1, 1000);
    let seconds = args.get(3).copied().unwrap_or(10).clamp(2, 120);
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // BENCH_LOSS: percent of the gateway's datagrams the browsers lose.
    let loss = std::env::var("BENCH_LOSS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u64)
        .min(50);
    sessions(total, batch);
    calls(n, seconds, loss);
}
