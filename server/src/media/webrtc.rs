//! The WebRTC gateway, sans-IO: a browser's leg (ICE-lite, DTLS-SRTP, on
//! `str0m`) joined to the plain RTP the rest of the media engine speaks.
//!
//! # How a browser leg is built
//!
//! The call core anchors every call as usual (two plain RTP legs). When the
//! agent on leg B is a browser, the offer for it goes through
//! [`Gateway::offer`]: a new peer gets an `Rtc` whose audio codecs are the
//! plain offer's, on the same payload type numbers (so packets need no
//! renumbering either way), and the browser is sent that `Rtc`'s offer —
//! one host candidate, the gateway's public address, ICE-lite, DTLS
//! fingerprint. The browser's answer goes through [`Gateway::answer`],
//! which gives the call core a plain answer: the codecs the browser chose,
//! at the gateway's *inner* address. The media session's leg B then talks
//! plain RTP to that inner address, and the gateway carries each packet
//! across, encrypting it one way and decrypting it the other.
//!
//! Every browser shares one public UDP socket: a datagram belongs to the
//! peer whose `Rtc` accepts it (its ICE credentials, or the address it was
//! nominated on). Towards the media engine the gateway has one inner socket
//! too: a packet on it belongs to the peer whose session leg sent it (each
//! leg has its own port). In the server the two hand packets over in
//! memory instead (`media::handoff`, [`Gateway::handle_handed`]), known by
//! the same port.
//!
//! Nothing here touches a socket or a clock: datagrams come in through
//! `handle_public`/`handle_inner` with the time, go out through
//! [`Gateway::poll_datagram`], and [`Gateway::poll_timeout`] says when to
//! call [`Gateway::handle_timeout`] (str0m's ICE, DTLS and RTCP timers).
//!
//! # Transcoding
//!
//! By default the browser is offered the SIP side's own codecs (browsers
//! take PCMU and PCMA) and packets pass unchanged. With `prefer_opus`
//! (`[media] webrtc_opus`), a SIP side on G.711 alone is bridged to a
//! browser on Opus: the browser is offered Opus only, and each packet is
//! transcoded on the way ([`Transcoder`]). Keys (telephone-event) go on
//! the 48 kHz clock towards the browser and on 8 kHz towards the SIP side,
//! their timestamps and durations rescaled.
//!
//! # A call placed from the page
//!
//! When the browser is the caller, its offer goes through
//! [`Gateway::accept`]: the peer's `Rtc` takes the browser's first G.711
//! codec (and its 8 kHz telephone-event) on the browser's own payload
//! types, answers the browser, and the call core gets a plain offer for
//! leg A at the peer's inner address. No transcoding on this path: every
//! browser offers PCMU and PCMA.
//!
//! Not here yet: renegotiation after the answer (hold goes through the API;
//! a re-INVITE from a browser is refused).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careline_shared::rtp::{RtpHeader, RtpPacket};
use careline_shared::sdp::{self, Codec, CodecKind, Direction, Sdp};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::CryptoProvider;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Event, IceConnectionState, Input, Output, PacerReason, Reason, Rtc};
use thiserror::Error;

use super::transcode::Transcoder;
use super::{Map, SessionId};

#[path = "webrtc_codecs.rs"]
mod codecs;
use codecs::{
    Bridge, OPUS_PT, TELE_48K_PT, browser_codecs, narrowband_opus, peer_accepts, rescale_event,
    written_channels,
};

/// How long a peer's pacer housekeeping may wait. str0m's pacer (a null
/// one: audio is not paced) asks for a tick right after every packet it
/// sends, only to refresh its view of the send queues before the next
/// packet; the tick that sends the next packet does that anyway. Waiting
/// for it halves the ticks per packet sent to a browser. Other timers
/// behind it (RTCP reports, ICE consent: seconds apart) move by at most
/// this much. Sound only while str0m's pacer is the null one (no bandwidth
/// estimation, see `rtc_for`): a leaky-bucket pacer gives the same reason
/// for the ticks that pace packets out.
const PACER_HOUSEKEEPING: Duration = Duration::from_millis(100);

/// A browser peer's id, unique for the gateway's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// Which socket a datagram leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The public socket every browser talks to.
    Public,
    /// The inner socket, towards the media sessions (the datagram is this
    /// peer's).
    Inner(PeerId),
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The socket to send it from.
    pub via: Via,
    /// Where to.
    pub to: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// What the gateway reports about its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayEvent {
    /// ICE and DTLS are up: media can flow.
    Connected(PeerId),
    /// The browser stopped answering ICE checks.
    Disconnected(PeerId),
}

/// Why a browser leg could not be set up.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// The plain offer has no audio a browser can take.
    #[error("no audio codec a browser can take (PCMU, PCMA or Opus)")]
    NoCodec,
    /// The plain offer had no audio address.
    #[error("the offer has no audio address")]
    NoAddress,
    /// The browser's offer did not parse or offered nothing we take.
    #[error("the browser's offer was refused: {0}")]
    BadOffer(String),
    /// The browser's SDP did not parse or did not answer our offer.
    #[error("the browser's answer was refused: {0}")]
    BadAnswer(String),
    /// No such peer (closed, or never made).
    #[error("no such webrtc peer")]
    UnknownPeer,
    /// str0m refused what we asked.
    #[error("webrtc: {0}")]
    Rtc(String),
}

/// Packet counts of one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// RTP packets from the browser carried to the media session.
    pub from_browser: u64,
    /// RTP packets from the media session carried to the browser.
    pub to_browser: u64,
    /// For a transcoded peer, the loss its Opus codes FEC for, in percent.
    pub fec_for: Option<u8>,
}

struct Peer {
    rtc: Rtc,
    session: SessionId,
    pending: Option<SdpPendingOffer>,
    mid: Mid,
    /// The plain offer the browser's answer answers (for the plain answer).
    plain_offer: Sdp,
    /// Our inner socket's address (the plain side's view of the browser).
    inner: SocketAddr,
    /// The media session's leg the peer stands in for (leg B for an agent's
    /// browser, leg A for a browser placing a call): where plain RTP goes.
    session_rtp: SocketAddr,
    /// The sequence numbers we send the browser: continuous, whatever the
    /// plain side's stream does.
    seq: u64,
    connected: bool,
    next_timeout: Option<Instant>,
    stats: PeerStats,
    /// Opus towards the browser, G.711 (on this payload type) towards the
    /// session, when the legs share no codec.
    transcode: Option<Bridge>,
    /// Reused for transcoded payloads.
    scratch: Vec<u8>,
    /// The payload types the browser accepted (after its answer).
    accepted: Vec<u8>,
}

impl Peer {
    /// A peer not yet connected, sending from a random sequence number,
    /// with no offer pending, no transcoding and nothing accepted yet.
    fn new(
        rtc: Rtc,
        session: SessionId,
        mid: Mid,
        plain_offer: Sdp,
        inner: SocketAddr,
        session_rtp: SocketAddr,
    ) -> Peer {
        Peer {
            rtc,
            session,
            pending: None,
            mid,
            plain_offer,
            inner,
            session_rtp,
            seq: u64::from(rand::random::<u16>()),
            connected: false,
            next_timeout: None,
            stats: PeerStats::default(),
            transcode: None,
            scratch: Vec::new(),
            accepted: Vec::new(),
        }
    }
}

/// The gateway: every browser peer and the datagrams they want sent.
pub struct Gateway {
    /// The host candidate written into offers (the public address).
    candidate: SocketAddr,
    crypto: Arc<CryptoProvider>,
    /// Offer browsers Opus and transcode when the SIP side has G.711 only.
    prefer_opus: bool,
    peers: Map<PeerId, Peer>,
    /// Which peer last took datagrams from an address.
    by_source: Map<SocketAddr, PeerId>,
    /// Peers by the port of the media session leg they talk to (the
    /// engine's ports are unique in the process; the address is checked
    /// against the peer's where it came over UDP).
    by_session: Map<u16, PeerId>,
    next_id: u64,
    /// How far apart this gateway's peer ids are (one thread of several
    /// numbers its peers apart from the others').
    id_step: u64,
    out: VecDeque<Datagram>,
    events: VecDeque<GatewayEvent>,
}

impl Gateway {
    /// A gateway whose public socket browsers reach at `candidate` (its
    /// own address, or a static NAT mapping of it).
    pub fn new(candidate: SocketAddr) -> Gateway {
        Gateway {
            candidate,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            prefer_opus: false,
            peers: Map::default(),
            by_source: Map::default(),
            by_session: Map::default(),
            next_id: 1,
            id_step: 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Numbers peers `first`, `first + step`, … (`first` ≥ 1): a gateway
    /// of several threads keeps each thread's ids apart, so an id says
    /// which thread has the peer and logs name it one way.
    pub fn number_peers(&mut self, first: u64, step: u64) {
        self.next_id = first.max(1);
        self.id_step = step.max(1);
    }

    /// Whether browsers get Opus (transcoded) when the SIP side has G.711 only.
    pub fn set_prefer_opus(&mut self, on: bool) {
        self.prefer_opus = on;
    }

    /// Peers alive.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is alive.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// A new browser peer for `session`'s leg B, offered the plain offer's
    /// codecs; `inner` is the inner socket's address (what the plain side
    /// sees of the browser). The peer's id and the SDP offer for the browser.
    /// The plain offer's port must be the session leg's own: peers are
    /// known by it (the engine's ports are unique in the process).
    pub fn offer(
        &mut self,
        now: Instant,
        session: SessionId,
        plain: &Sdp,
        inner: SocketAddr,
    ) -> Result<(PeerId, String), GatewayError> {
        let mut codecs = browser_codecs(plain);
        if !codecs.iter().any(|c| c.kind().is_voice()) {
            return Err(GatewayError::NoCodec);
        }
        let g711 = codecs
            .iter()
            .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma))
            .cloned();
        let has_opus = codecs.iter().any(|c| c.kind() == CodecKind::Opus);
        let transcode = match g711 {
            Some(g711) if self.prefer_opus && !has_opus => {
                let law = match g711.kind() {
                    CodecKind::Pcmu => careline_shared::rtp::G711::Ulaw,
                    _ => careline_shared::rtp::G711::Alaw,
                };
                let t = Transcoder::new(law).map_err(GatewayError::Rtc)?;
                let tele = codecs
                    .iter()
                    .find(|c| c.kind() == CodecKind::TelephoneEvent && c.clock_rate == 8000)
                    .cloned();
                codecs = vec![Codec::OPUS.with_pt(OPUS_PT)];
                if tele.is_some() {
                    let mut t48 = Codec::new(TELE_48K_PT, "telephone-event", 48_000, 1);
                    t48.fmtp = Some("0-16".into());
                    codecs.push(t48);
                }
                Some(Bridge {
                    transcoder: Box::new(t),
                    g711,
                    tele,
                    clock: None,
                })
            }
            _ => None,
        };
        let session_rtp = plain.remote_rtp().ok_or(GatewayError::NoAddress)?;
        let mut rtc = self.rtc_for(now, &codecs, transcode.is_some(), |_| None)?;
        let mut api = rtc.sdp_api();
        let mid = api.add_media(
            MediaKind::Audio,
            str0m::media::Direction::SendRecv,
            None,
            None,
            None,
        );
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| GatewayError::Rtc("no offer".into()))?;
        let mut offer = offer.to_sdp_string();
        if transcode.is_some() {
            offer = narrowband_opus(&offer);
        }
        let id = PeerId(self.next_id);
        self.next_id += self.id_step;
        self.insert(
            id,
            Peer {
                pending: Some(pending),
                transcode,
                ..Peer::new(rtc, session, mid, plain.clone(), inner, session_rtp)
            },
        );
        self.drain(id);
        Ok((id, offer))
    }

    /// The browser answered: the plain answer for the call core (the codecs
    /// it chose, at the peer's inner address).
    pub fn answer(
        &mut self,
        now: Instant,
        id: PeerId,
        answer: &[u8],
        session_id: u64,
    ) -> Result<Sdp, GatewayError> {
        let peer = self.peers.get_mut(&id).ok_or(GatewayError::UnknownPeer)?;
        let text =
            std::str::from_utf8(answer).map_err(|_| GatewayError::BadAnswer("not UTF-8".into()))?;
        let parsed =
            SdpAnswer::from_sdp_string(text).map_err(|e| GatewayError::BadAnswer(e.to_string()))?;
        let pending = peer
            .pending
            .take()
            .ok_or_else(|| GatewayError::BadAnswer("already answered".into()))?;
        peer.rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| GatewayError::BadAnswer(e.to_string()))?;
        // What the browser chose, read with our own SDP reader; when we
        // transcode, the SIP side keeps its G.711.
        let chosen = match &peer.transcode {
            Some(b) => std::iter::once(b.g711.clone())
                .chain(b.tele.clone())
                .collect(),
            None => Sdp::parse(answer)
                .ok()
                .and_then(|s| s.audio().map(|m| m.codecs()))
                .unwrap_or_default(),
        };
        peer.accepted = chosen.iter().map(|c| c.pt).collect();
        let plain = sdp::answer(
            &peer.plain_offer,
            &chosen,
            peer.inner.ip(),
            peer.inner.port(),
            Direction::SendRecv,
            session_id,
        )
        .map_err(|e| GatewayError::BadAnswer(e.to_string()))?;
        let _ = now;
        self.drain(id);
        Ok(plain)
    }

    /// A browser's own offer (a call placed from the page) for `session`'s
    /// leg A: the peer's id, the answer for the browser, and the plain offer
    /// that stands for the browser on the SIP side — one G.711 codec (the
    /// browser's first) and its 8 kHz telephone-event, at `inner`. The peer
    /// sends plain RTP to `session_rtp`. Packets keep their payload types:
    /// the plain offer uses the browser's numbers.
    pub fn accept(
        &mut self,
        now: Instant,
        session: SessionId,
        offer: &[u8],
        session_rtp: SocketAddr,
        inner: SocketAddr,
        session_id: u64,
    ) -> Result<(PeerId, String, Sdp), GatewayError> {
        let bad = |e: String| GatewayError::BadOffer(e);
        let text = std::str::from_utf8(offer).map_err(|_| bad("not UTF-8".into()))?;
        let parsed = SdpOffer::from_sdp_string(text).map_err(|e| bad(e.to_string()))?;
        let theirs = Sdp::parse(offer).map_err(|e| bad(e.to_string()))?;
        let offered = theirs.audio().map(|m| m.codecs()).unwrap_or_default();
        let voice = offered
            .iter()
            .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma))
            .cloned()
            .ok_or(GatewayError::NoCodec)?;
        let tele = offered
            .iter()
            .find(|c| c.kind() == CodecKind::TelephoneEvent && c.clock_rate == 8000)
            .cloned();
        let chosen: Vec<Codec> = std::iter::once(voice).chain(tele).collect();
        let mut rtc = self.rtc_for(now, &chosen, false, |c| written_channels(text, c.pt))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| bad(e.to_string()))?;
        let plain = sdp::offer(
            &chosen,
            inner.ip(),
            inner.port(),
            Direction::SendRecv,
            session_id,
        );
        let id = PeerId(self.next_id);
        self.next_id += self.id_step;
        self.insert(
            id,
            Peer {
                accepted: chosen.iter().map(|c| c.pt).collect(),
                // Until str0m reports the browser's audio section.
                ..Peer::new(
                    rtc,
                    session,
                    Mid::from("0"),
                    plain.clone(),
                    inner,
                    session_rtp,
                )
            },
        );
        self.drain(id);
        Ok((id, answer.to_sdp_string(), plain))
    }

    /// Forgets a peer.
    pub fn close(&mut self, id: PeerId) {
        if let Some(mut peer) = self.peers.remove(&id) {
            peer.rtc.disconnect();
            self.by_source.retain(|_, p| *p != id);
            if self.by_session.get(&peer.session_rtp.port()) == Some(&id) {
                self.by_session.remove(&peer.session_rtp.port());
            }
        }
    }

    fn insert(&mut self, id: PeerId, peer: Peer) {
        self.by_session.insert(peer.session_rtp.port(), id);
        self.peers.insert(id, peer);
    }

    /// Forgets every peer of `session`; their ids.
    pub fn close_session(&mut self, session: SessionId) -> Vec<PeerId> {
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.session == session)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.close(*id);
        }
        ids
    }

    /// A peer's counters.
    pub fn stats(&self, id: PeerId) -> Option<PeerStats> {
        self.peers.get(&id).map(|p| PeerStats {
            fec_for: p.transcode.as_ref().map(|b| b.transcoder.fec_for()),
            ..p.stats
        })
    }

    /// Whether the peer's ICE and DTLS are up.
    pub fn is_connected(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.connected)
    }

    /// The inner address of a peer.
    pub fn inner(&self, id: PeerId) -> Option<SocketAddr> {
        self.peers.get(&id).map(|p| p.inner)
    }

    /// A datagram on the public socket from `source`; false when no peer
    /// takes it (dropped).
    pub fn handle_public(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        let Ok(contents) = data.try_into() else {
            return false;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                // As the browser addressed it: our candidate (behind a NAT
                // or on a wildcard bind, not the socket's own address).
                destination: self.candidate,
                contents,
            },
        );
        // The peer last seen at this address, if it still takes it (the
        // common case, without asking every peer); else whoever does.
        let known = self
            .by_source
            .get(&source)
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
        let Some(id) = known.or_else(|| {
            self.peers
                .iter()
                .find(|(_, p)| p.rtc.accepts(&input))
                .map(|(id, _)| *id)
        }) else {
            return false;
        };
        if known.is_none() {
            self.by_source.insert(source, id);
        }
        if let Some(peer) = self.peers.get_mut(&id)
            && let Err(e) = peer.rtc.handle_input(input)
        {
            tracing::debug!(peer = id.0, error = %e, "webrtc input refused");
        }
        self.drain_now(id, now);
        true
    }

    /// A datagram on the inner socket: plain RTP from a media session's
    /// leg, to be sent to the browser of the peer that leg belongs to.
    /// Anything from elsewhere is dropped.
    pub fn handle_inner(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Some(&id) = self.by_session.get(&source.port()) else {
            return;
        };
        if self.peers.get(&id).is_some_and(|p| p.session_rtp == source) {
            self.carry_to_browser(now, id, data);
        }
    }

    /// Plain RTP handed over in memory from the media session leg on
    /// `port` (see `media::handoff`): as [`Gateway::handle_inner`].
    pub fn handle_handed(&mut self, now: Instant, port: u16, data: &[u8]) {
        if let Some(&id) = self.by_session.get(&port) {
            self.carry_to_browser(now, id, data);
        }
    }

    /// Sends a session's plain RTP packet on to peer `id`'s browser,
    /// transcoded when the peer's legs share no codec.
    fn carry_to_browser(&mut self, now: Instant, id: PeerId, data: &[u8]) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.connected {
            return;
        }
        let Ok(rtp) = RtpPacket::parse(data) else {
            return;
        };
        let mid = peer.mid;
        let Peer {
            rtc,
            transcode,
            seq,
            stats,
            accepted,
            ..
        } = peer;
        let mut api = rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        let before = *seq;
        let marker = rtp.marker();
        let mut write = |pt: u8, ts: u32, payload: Vec<u8>| {
            let packet = RtpWrite::new(Pt::from(pt), SeqNo::from(*seq), ts, now, payload);
            stream.write_rtp(packet.marker(marker));
            *seq += 1;
            stats.to_browser += 1;
        };
        match transcode {
            Some(b) if b.tele.as_ref().is_some_and(|t| t.pt == rtp.payload_type()) => {
                let Some(event) = rescale_event(rtp.payload(), true) else {
                    return;
                };
                write(TELE_48K_PT, rtp.timestamp().wrapping_mul(6), event);
            }
            Some(b) if rtp.payload_type() == b.g711.pt => {
                b.transcoder
                    .to_opus(rtp.timestamp(), rtp.payload(), |ts, opus| {
                        write(OPUS_PT, ts, opus.to_vec())
                    });
            }
            Some(_) => return,
            // A type the browser did not take (comfort noise, the other law)
            // would only be dropped by str0m, after costing a sequence number.
            None if !peer_accepts(accepted, rtp.payload_type()) => return,
            None => write(rtp.payload_type(), rtp.timestamp(), rtp.payload().to_vec()),
        }
        // Part of a 20 ms frame: nothing to send yet.
        if *seq == before {
            return;
        }
        self.send_written(id, now);
    }

    /// Sends what was written for peer `id`'s browser: str0m takes written
    /// packets from their queue on its next tick, so tick at once (there is
    /// nothing to poll before it: writing is not an input).
    fn send_written(&mut self, id: PeerId, now: Instant) {
        if let Some(peer) = self.peers.get_mut(&id)
            && let Err(e) = peer.rtc.handle_input(Input::Timeout(now))
        {
            tracing::debug!(peer = id.0, error = %e, "webrtc timeout refused");
        }
        self.drain_now(id, now);
    }

    /// Moves every peer's timers on to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.next_timeout.is_none_or(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(peer) = self.peers.get_mut(&id)
                && let Err(e) = peer.rtc.handle_input(Input::Timeout(now))
            {
                tracing::debug!(peer = id.0, error = %e, "webrtc timeout refused");
            }
            self.drain_now(id, now);
        }
    }

    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers.values().filter_map(|p| p.next_timeout).min()
    }

    /// The next datagram to send.
    pub fn poll_datagram(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    /// The next fact about a peer.
    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    /// [`Gateway::drain`], then the ticks str0m asks for at `now` at once,
    /// rather than on another turn of the driver's loop.
    fn drain_now(&mut self, id: PeerId, now: Instant) {
        self.drain(id);
        for _ in 0..3 {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            if peer.next_timeout.is_none_or(|t| t > now) {
                return;
            }
            if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(peer = id.0, error = %e, "webrtc timeout refused");
                return;
            }
            self.drain(id);
        }
    }

    /// Runs a peer's `Rtc` until it wants nothing but time (str0m's
    /// invariant after every change), queueing what it sends.
    fn drain(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        loop {
            match peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    let housekeeping =
                        peer.rtc.last_timeout_reason() == Reason::Pacer(PacerReason::Handle);
                    peer.next_timeout = Some(if housekeeping {
                        t + PACER_HOUSEKEEPING
                    } else {
                        t
                    });
                    break;
                }
                Ok(Output::Transmit(t)) => self.out.push_back(Datagram {
                    via: Via::Public,
                    to: t.destination,
                    data: t.contents.to_vec(),
                }),
                Ok(Output::Event(event)) => match event {
                    // A browser's offer names its own section (a call it placed).
                    Event::MediaAdded(m) if m.kind == MediaKind::Audio => peer.mid = m.mid,
                    Event::Connected => {
                        peer.connected = true;
                        self.events.push_back(GatewayEvent::Connected(id));
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        peer.connected = false;
                        self.events.push_back(GatewayEvent::Disconnected(id));
                    }
                    // The browser's receiver reports: the Opus encoder
                    // codes FEC only while the link needs it.
                    Event::MediaEgressStats(s) => {
                        if let (Some(b), Some(loss)) = (&mut peer.transcode, s.loss) {
                            b.transcoder.report_loss(s.timestamp, loss);
                        }
                    }
                    Event::RtpPacket(p) => {
                        let h = &p.header;
                        let (pt, timestamp, payload) = match &mut peer.transcode {
                            Some(b) if *h.payload_type == TELE_48K_PT => {
                                let (Some(tele), Some(event)) =
                                    (&b.tele, rescale_event(&p.payload, false))
                                else {
                                    continue;
                                };
                                peer.scratch = event;
                                (tele.pt, b.to_8k(h.timestamp), &peer.scratch[..])
                            }
                            Some(b) => {
                                if *h.payload_type != OPUS_PT {
                                    continue;
                                }
                                b.transcoder.to_g711(&p.payload, &mut peer.scratch);
                                (b.g711.pt, b.to_8k(h.timestamp), &peer.scratch[..])
                            }
                            None => (*h.payload_type, h.timestamp, &p.payload[..]),
                        };
                        if payload.is_empty() {
                            continue;
                        }
                        let mut header = RtpHeader::new(pt, h.sequence_number, timestamp, *h.ssrc);
                        header.marker = h.marker;
                        let mut buf = vec![0u8; 12 + payload.len()];
                        if let Ok(n) = header.write(payload, &mut buf) {
                            buf.truncate(n);
                            peer.stats.from_browser += 1;
                            self.out.push_back(Datagram {
                                via: Via::Inner(id),
                                to: peer.session_rtp,
                                data: buf,
                            });
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    tracing::debug!(peer = id.0, error = %e, "webrtc peer failed");
                    peer.next_timeout = None;
                    peer.connected = false;
                    self.events.push_back(GatewayEvent::Disconnected(id));
                    break;
                }
            }
        }
    }
}
