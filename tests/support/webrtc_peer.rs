//! A browser's media side for tests without a browser: a full ICE agent
//! (controlling) with DTLS-SRTP, on `str0m`, over a real UDP socket. It
//! answers the server's WebRTC offer, connects to the gateway, sends a
//! 20 ms A-law packet every 20 ms once connected, and counts what it
//! receives. Its thread stops when the peer is dropped or finished.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use str0m::change::SdpOffer;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// What the peer saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// ICE and DTLS came up.
    pub connected: bool,
    /// RTP packets received (decrypted).
    pub received: u64,
    /// RTP packets sent.
    pub sent: u64,
}

/// A running peer.
pub struct BrowserPeer {
    stop: Arc<AtomicBool>,
    report: Arc<std::sync::Mutex<Report>>,
    thread: Option<JoinHandle<()>>,
}

/// A browser's `Rtc` (Opus and both G.711 laws, as Chrome has them) with
/// its host candidate on a new socket on `ip`.
fn browser_rtc(ip: std::net::IpAddr) -> Result<(UdpSocket, Rtc)> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    let local = socket.local_addr()?;
    let mut rtc = Rtc::builder()
        .set_rtp_mode(true)
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| anyhow!("{e}"))?);
    Ok((socket, rtc))
}

impl BrowserPeer {
    /// Answers `offer` from a socket on `ip`; the SDP answer and the peer,
    /// which sends up to `send` packets once connected.
    pub fn answer(offer: &str, ip: std::net::IpAddr, send: u64) -> Result<(String, BrowserPeer)> {
        let (socket, mut rtc) = browser_rtc(ip)?;
        let offer = SdpOffer::from_sdp_string(offer).context("the server's offer")?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .context("accepting the offer")?;
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(std::sync::Mutex::new(Report::default()));
        let thread = std::thread::spawn({
            let (stop, report) = (stop.clone(), report.clone());
            move || run(rtc, socket, None, 8, send, &stop, &report)
        });
        Ok((
            answer.to_sdp_string(),
            BrowserPeer {
                stop,
                report,
                thread: Some(thread),
            },
        ))
    }

    /// A browser placing a call: its offer from a socket on `ip` (Opus and
    /// both G.711 laws, as Chrome offers them), to be finished with
    /// [`Placing::answered`].
    pub fn offer(ip: std::net::IpAddr) -> Result<(String, Placing)> {
        let (socket, mut rtc) = browser_rtc(ip)?;
        let mut api = rtc.sdp_api();
        let mid = api.add_media(
            str0m::media::MediaKind::Audio,
            str0m::media::Direction::SendRecv,
            None,
            None,
            None,
        );
        let (offer, pending) = api.apply().context("no offer")?;
        Ok((
            offer.to_sdp_string(),
            Placing {
                rtc,
                socket,
                pending,
                mid,
            },
        ))
    }

    /// What it has seen so far.
    pub fn report(&self) -> Report {
        *self.report.lock().unwrap()
    }

    /// Waits until `done` holds for the report, or `timeout`.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&Report) -> bool) -> Result<Report> {
        super::poll_report("webrtc peer", timeout, || self.report(), done)
    }
}

/// A browser's offer waiting for the server's answer.
pub struct Placing {
    rtc: Rtc,
    socket: UdpSocket,
    pending: str0m::change::SdpPendingOffer,
    mid: Mid,
}

impl Placing {
    /// Takes the server's `answer` (from the 183 or the 200) and starts:
    /// up to `send` packets, in the G.711 law the answer chose, once
    /// connected.
    pub fn answered(mut self, answer: &str, send: u64) -> Result<BrowserPeer> {
        let pt = answer
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix("a=rtpmap:")?;
                let (pt, name) = rest.split_once(' ')?;
                (name.starts_with("PCMU/") || name.starts_with("PCMA/")).then(|| pt.parse().ok())?
            })
            .context("the answer has no G.711")?;
        let parsed = str0m::change::SdpAnswer::from_sdp_string(answer).context("the answer")?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, parsed)
            .context("accepting the answer")?;
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(std::sync::Mutex::new(Report::default()));
        let (rtc, socket, mid) = (self.rtc, self.socket, self.mid);
        let thread = std::thread::spawn({
            let (stop, report) = (stop.clone(), report.clone());
            move || run(rtc, socket, Some(mid), pt, send, &stop, &report)
        });
        Ok(BrowserPeer {
            stop,
            report,
            thread: Some(thread),
        })
    }
}

impl Drop for BrowserPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Drives `rtc` over `socket`; its audio section is `mid` (or the one the
/// offer it answered adds), and it speaks on payload type `pt`.
fn run(
    mut rtc: Rtc,
    socket: UdpSocket,
    mut mid: Option<Mid>,
    pt: u8,
    send: u64,
    stop: &AtomicBool,
    report: &std::sync::Mutex<Report>,
) {
    let local = socket.local_addr().unwrap();
    let mut buf = vec![0u8; 2048];
    let mut next_send: Option<Instant> = None;
    let mut seq = 0u64;
    let end = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Acquire) && Instant::now() < end {
        // Drain everything str0m wants done.
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    report.lock().unwrap().connected = true;
                    next_send = Some(Instant::now());
                }
                Ok(Output::Event(Event::MediaAdded(m))) => mid = Some(m.mid),
                Ok(Output::Event(Event::RtpPacket(_))) => report.lock().unwrap().received += 1,
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let now = Instant::now();
        // Speak: one packet per 20 ms of real time.
        if let (Some(at), Some(mid)) = (next_send, mid)
            && at <= now
            && seq < send
        {
            let mut api = rtc.direct_api();
            if let Some(stream) = api.stream_tx_by_mid(mid, None) {
                stream.write_rtp(RtpWrite::new(
                    Pt::from(pt),
                    SeqNo::from(seq),
                    (seq * 160) as u32,
                    now,
                    vec![if pt == 0 { 0xff } else { 0xd5 }; 160],
                ));
                seq += 1;
                report.lock().unwrap().sent = seq;
            }
            next_send = Some(at + Duration::from_millis(20));
            continue;
        }
        let mut wait = timeout.saturating_duration_since(now);
        if let Some(at) = next_send.filter(|_| seq < send) {
            wait = wait.min(at.saturating_duration_since(now));
        }
        let _ = socket.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_millis(50)),
        ));
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => match buf[..n].try_into() {
                Ok(contents) => Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                ),
                Err(_) => continue,
            },
            Err(_) => Input::Timeout(Instant::now()),
        };
        if rtc.handle_input(input).is_err() {
            return;
        }
    }
}
