//! A browser's media side from an independent WebRTC implementation:
//! webrtc-rs (the `webrtc` crate, a full ICE agent with its own DTLS and
//! SRTP), on its own thread with its own tokio runtime. It answers the
//! server's offer or makes its own, connects to the gateway, speaks 20 ms
//! packets of one codec (μ-law, or Opus made from a 440 Hz tone) once
//! connected, and counts what it receives — for Opus, also how many
//! payloads decode to a 20 ms frame.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};

/// The codec the peer speaks (and is the only one it takes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audio {
    /// G.711 μ-law, 8 kHz.
    Pcmu,
    /// Opus, 48 kHz.
    Opus,
}

impl Audio {
    fn codec(self) -> RTCRtpCodecParameters {
        let (mime, clock_rate, channels, fmtp, pt) = match self {
            Audio::Pcmu => ("audio/PCMU", 8000, 1, "", 0),
            Audio::Opus => ("audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", 111),
        };
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.into(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.into(),
                rtcp_feedback: vec![],
            },
            payload_type: pt,
        }
    }

    fn samples(self) -> u32 {
        match self {
            Audio::Pcmu => 160,
            Audio::Opus => 960,
        }
    }
}

/// What the peer saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// ICE and DTLS came up (the connection state reached `connected`).
    pub connected: bool,
    /// RTP packets received (decrypted).
    pub received: u64,
    /// Received Opus payloads that decoded to 20 ms at 48 kHz.
    pub decoded: u64,
    /// Payload types seen on received packets.
    pub payload_types: Vec<u8>,
    /// RTP packets sent.
    pub sent: u64,
}

/// A running peer; stopped (and its connection closed) when dropped.
pub struct RsPeer {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<Report>>,
    thread: Option<JoinHandle<()>>,
}

/// A peer whose offer waits for the server's answer.
pub struct RsOffering {
    // Dropped first: a peer still waiting for the answer stops waiting.
    answer: mpsc::Sender<(String, u64)>,
    peer: RsPeer,
}

impl RsPeer {
    /// Answers `offer` from a socket on `ip`; the SDP answer and the peer,
    /// which sends up to `send` packets once connected.
    pub fn answer(offer: &str, ip: IpAddr, audio: Audio, send: u64) -> Result<(String, RsPeer)> {
        let (answer_tx, answer_rx) = mpsc::channel();
        answer_tx.send((offer.to_string(), send))?;
        let (peer, sdp) = RsPeer::start(ip, audio, false, answer_rx)?;
        Ok((sdp, peer))
    }

    /// An offer from a socket on `ip`, as a browser placing a call makes.
    pub fn offer(ip: IpAddr, audio: Audio) -> Result<(String, RsOffering)> {
        let (answer_tx, answer_rx) = mpsc::channel();
        let (peer, sdp) = RsPeer::start(ip, audio, true, answer_rx)?;
        Ok((
            sdp,
            RsOffering {
                peer,
                answer: answer_tx,
            },
        ))
    }

    fn start(
        ip: IpAddr,
        audio: Audio,
        offering: bool,
        remote: mpsc::Receiver<(String, u64)>,
    ) -> Result<(RsPeer, String)> {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(Report::default()));
        let (local_tx, local_rx) = mpsc::channel();
        let thread = std::thread::spawn({
            let (stop, report) = (stop.clone(), report.clone());
            move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = local_tx.send(Err(anyhow!("tokio: {e}")));
                        return;
                    }
                };
                let peer = Drive {
                    ip,
                    audio,
                    offering,
                    stop,
                    report,
                };
                runtime.block_on(peer.run(local_tx, remote));
            }
        });
        let peer = RsPeer {
            stop,
            report,
            thread: Some(thread),
        };
        let sdp = local_rx
            .recv_timeout(Duration::from_secs(10))
            .context("webrtc-rs made no description")??;
        Ok((peer, sdp))
    }

    /// What it has seen so far.
    pub fn report(&self) -> Report {
        self.report.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the report, or `timeout`.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&Report) -> bool) -> Result<Report> {
        super::poll_report("webrtc-rs peer", timeout, || self.report(), done)
    }
}

impl RsOffering {
    /// Takes the server's answer and starts speaking (`send` packets).
    pub fn answered(self, answer: &str, send: u64) -> Result<RsPeer> {
        self.answer
            .send((answer.to_string(), send))
            .map_err(|_| anyhow!("the webrtc-rs peer has stopped"))?;
        Ok(self.peer)
    }
}

impl Drop for RsPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The peer's side of the thread.
struct Drive {
    ip: IpAddr,
    audio: Audio,
    offering: bool,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<Report>>,
}

#[derive(Clone)]
struct Handler {
    gathered: Arc<tokio::sync::Notify>,
    report: Arc<Mutex<Report>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.notify_one();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            self.report.lock().unwrap().connected = true;
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let report = self.report.clone();
        tokio::spawn(async move {
            let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).ok();
            let mut pcm = vec![0i16; 5760];
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(p) = event else {
                    continue;
                };
                let decoded = decoder.as_mut().is_some_and(|d| {
                    p.header.payload_type == 111
                        && d.decode(&p.payload, &mut pcm, false).ok() == Some(960)
                });
                let mut r = report.lock().unwrap();
                r.received += 1;
                r.decoded += u64::from(decoded);
                if !r.payload_types.contains(&p.header.payload_type) {
                    r.payload_types.push(p.header.payload_type);
                }
            }
        });
    }
}

impl Drive {
    async fn run(self, local: mpsc::Sender<Result<String>>, remote: mpsc::Receiver<(String, u64)>) {
        let (pc, track, send) = match self.negotiate(&local, &remote).await {
            Ok(ready) => ready,
            Err(e) => {
                let _ = local.send(Err(e));
                return;
            }
        };
        self.speak(&track, send).await;
        let _ = pc.close().await;
    }

    /// Offer/answer through the test thread; the connection, its track and
    /// how many packets to send.
    async fn negotiate(
        &self,
        local: &mpsc::Sender<Result<String>>,
        remote: &mpsc::Receiver<(String, u64)>,
    ) -> Result<(impl PeerConnection, Arc<TrackLocalStaticRTP>, u64)> {
        let codec = self.audio.codec();
        let mut engine = MediaEngine::default();
        engine
            .register_codec(codec.clone(), RtpCodecKind::Audio)
            .map_err(|e| anyhow!("{e}"))?;
        let handler = Handler {
            gathered: Arc::new(tokio::sync::Notify::new()),
            report: self.report.clone(),
        };
        // No mDNS (the test's namespace has no multicast route), and the
        // loopback address is a candidate like any other here.
        let settings = SettingEngineBuilder::default()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .with_include_loopback_candidate(true)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_setting_engine(settings)
            .with_media_engine(engine)
            .with_handler(Arc::new(handler.clone()))
            .with_udp_addrs(vec![SocketAddr::new(self.ip, 0)])
            .build()
            .await
            .map_err(|e| anyhow!("peer connection: {e}"))?;
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "careline-test".into(),
            "audio".into(),
            "audio".into(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(0x5eed_0001),
                    ..Default::default()
                },
                codec: codec.rtp_codec.clone(),
                ..Default::default()
            }],
        )));
        pc.add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| anyhow!("add_track: {e}"))?;
        let rtc = |e: webrtc::error::Error| anyhow!("{e}");
        let gathered = handler.gathered.notified();
        let mut send = 0;
        if self.offering {
            let offer = pc.create_offer(None).await.map_err(rtc)?;
            pc.set_local_description(offer).await.map_err(rtc)?;
        } else {
            let (offer, count) = remote.recv().context("no offer")?;
            send = count;
            let offer = RTCSessionDescription::offer(offer).map_err(rtc)?;
            pc.set_remote_description(offer).await.map_err(rtc)?;
            let answer = pc.create_answer(None).await.map_err(rtc)?;
            pc.set_local_description(answer).await.map_err(rtc)?;
        }
        // One description carries every candidate (no trickle over SIP).
        tokio::time::timeout(Duration::from_secs(5), gathered)
            .await
            .context("ICE gathering did not complete")?;
        let description = pc.local_description().await.context("no description")?;
        local
            .send(Ok(description.sdp))
            .map_err(|_| anyhow!("the test stopped"))?;
        if self.offering {
            // Bounded: a test that gave up must not keep this thread (and
            // the join in `drop`) waiting.
            let (answer, count) =
                tokio::task::block_in_place(|| remote.recv_timeout(Duration::from_secs(30)))
                    .context("no answer from the server")?;
            send = count;
            let answer = RTCSessionDescription::answer(answer).map_err(rtc)?;
            pc.set_remote_description(answer).await.map_err(rtc)?;
        }
        Ok((pc, track, send))
    }

    /// Sends up to `send` packets, one per 20 ms once connected, until
    /// stopped (or a minute has gone).
    async fn speak(&self, track: &TrackLocalStaticRTP, send: u64) {
        let frames = frames(self.audio);
        let pt = self.audio.codec().payload_type;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let end = Instant::now() + Duration::from_secs(60);
        let mut seq = 0u64;
        while !self.stop.load(Ordering::Acquire) && Instant::now() < end {
            tick.tick().await;
            if seq >= send || !self.report.lock().unwrap().connected {
                continue;
            }
            let packet = rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    payload_type: pt,
                    sequence_number: seq as u16,
                    timestamp: (seq as u32).wrapping_mul(self.audio.samples()),
                    ssrc: 0x5eed_0001,
                    marker: seq == 0,
                    ..Default::default()
                },
                payload: frames[seq as usize % frames.len()].clone().into(),
            };
            if track.write_rtp(packet).await.is_ok() {
                seq += 1;
                self.report.lock().unwrap().sent = seq;
            }
        }
    }
}

/// A second of 20 ms payloads: μ-law silence-ish bytes, or Opus frames of a
/// 440 Hz tone.
fn frames(audio: Audio) -> Vec<Vec<u8>> {
    match audio {
        Audio::Pcmu => vec![vec![0x7e; 160]; 50],
        Audio::Opus => {
            let mut encoder =
                opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
                    .expect("an Opus encoder");
            (0..50)
                .map(|f| {
                    let pcm: Vec<i16> = (0..960)
                        .map(|i| {
                            let t = (f * 960 + i) as f64 / 48_000.0;
                            ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
                        })
                        .collect();
                    encoder.encode_vec(&pcm, 400).expect("an Opus frame")
                })
                .collect()
        }
    }
}
