//! How the call core drives media without doing IO itself: a small trait the
//! B2BUA calls, implemented by the media engine (its own threads) in the
//! server and by a recording fake in tests.

use std::net::{IpAddr, SocketAddr};

use careline_shared::sdp::Codec;

use crate::media::{Leg, MediaEngine, Mode, SessionId};

/// The media a call has: one anchored session, two ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The session.
    pub id: SessionId,
    /// Our port towards the caller.
    pub port_a: u16,
    /// Our port towards the agent.
    pub port_b: u16,
}

/// What the B2BUA asks of media. Calls never wait on media threads.
pub trait MediaControl: Send {
    /// The address written into our SDP.
    fn address(&self) -> IpAddr;
    /// A new session, or `None` when no ports are free.
    fn create(&mut self) -> Option<Anchor>;
    /// Where a leg's peer receives RTP (from its SDP).
    fn set_remote(&mut self, id: SessionId, leg: Leg, addr: SocketAddr);
    /// A leg's negotiated codecs (for payload type mapping and DTMF).
    fn set_codecs(&mut self, id: SessionId, leg: Leg, codecs: &[Codec]);
    /// Ringback, relay, hold or idle.
    fn set_mode(&mut self, id: SessionId, mode: Mode);
    /// Packet counts so far, per leg.
    fn stats(&self, id: SessionId) -> Option<crate::media::Stats>;
    /// Frees the session's ports.
    fn destroy(&mut self, id: SessionId);
    /// The end of a turn: whatever was asked during it starts now (the
    /// engine wakes each busy worker once per turn, not per command).
    fn flush(&mut self) {}
    /// A WebRTC (browser) peer for session `id`'s agent leg, offered the
    /// codecs of `plain` (our offer for agents): the peer's number and the
    /// SDP offer for the browser. `None` when there is no gateway or the
    /// offer holds nothing a browser takes.
    fn webrtc_offer(&mut self, id: SessionId, plain: &[u8]) -> Option<(u64, bytes::Bytes)> {
        let _ = (id, plain);
        None
    }
    /// The browser's answer for `peer`: the plain answer to use in its
    /// place. `None` when it is refused.
    fn webrtc_answer(&mut self, peer: u64, answer: &[u8], call: u64) -> Option<bytes::Bytes> {
        let _ = (peer, answer, call);
        None
    }
    /// A browser's own offer (a call it placed) for session `id`'s leg A,
    /// whose port is `port_a`: the peer's number, the answer for the
    /// browser and the plain offer that stands for it. `None` when there
    /// is no gateway or the offer is refused.
    fn webrtc_accept(
        &mut self,
        id: SessionId,
        port_a: u16,
        offer: &[u8],
        call: u64,
    ) -> Option<(u64, bytes::Bytes, bytes::Bytes)> {
        let _ = (id, port_a, offer, call);
        None
    }
    /// Forgets a WebRTC peer.
    fn webrtc_close(&mut self, peer: u64) {
        let _ = peer;
    }
}

/// The real engine, with the address to advertise in SDP.
pub struct EngineControl {
    /// The engine.
    pub engine: std::sync::Arc<MediaEngine>,
    /// The address phones send RTP to.
    pub advertise: IpAddr,
    /// The WebRTC gateway, when browsers can register (a `ws://` listener).
    pub webrtc: Option<std::sync::Arc<crate::media::WebRtcGateway>>,
    /// Where the engine's sockets are bound (`[media] bind_ip`): the
    /// gateway talks to a session there, whatever address SDP advertises.
    pub bind: IpAddr,
}

impl EngineControl {
    /// Where the gateway reaches a session: the engine's bind address (the
    /// loopback one for a wildcard bind), whatever SDP advertises.
    fn session_ip(&self) -> IpAddr {
        if self.bind.is_unspecified() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            self.bind
        }
    }
}

impl MediaControl for EngineControl {
    fn address(&self) -> IpAddr {
        self.advertise
    }

    fn create(&mut self) -> Option<Anchor> {
        match self.engine.create_session() {
            Ok(h) => Some(Anchor {
                id: h.id,
                port_a: h.port_a,
                port_b: h.port_b,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no media session for a call");
                None
            }
        }
    }

    fn set_remote(&mut self, id: SessionId, leg: Leg, addr: SocketAddr) {
        if let Err(e) = self.engine.set_remote(id, leg, addr) {
            tracing::debug!(error = %e, "media set_remote");
        }
    }

    fn set_codecs(&mut self, id: SessionId, leg: Leg, codecs: &[Codec]) {
        if let Err(e) = self.engine.set_codecs(id, leg, codecs) {
            tracing::debug!(error = %e, "media set_codecs");
        }
    }

    fn set_mode(&mut self, id: SessionId, mode: Mode) {
        if let Err(e) = self.engine.set_mode(id, mode) {
            tracing::debug!(error = %e, "media set_mode");
        }
    }

    fn stats(&self, id: SessionId) -> Option<crate::media::Stats> {
        self.engine.stats(id)
    }

    fn flush(&mut self) {
        self.engine.wake_deferred();
    }

    fn destroy(&mut self, id: SessionId) {
        if let Some(gw) = &self.webrtc {
            gw.close_session(id);
        }
        self.engine.destroy(id);
    }

    fn webrtc_offer(&mut self, id: SessionId, plain: &[u8]) -> Option<(u64, bytes::Bytes)> {
        let gw = self.webrtc.as_ref()?;
        let mut sdp = careline_shared::sdp::Sdp::parse(plain).ok()?;
        // Our offer names the advertised address (a public one behind NAT,
        // or the SIP address for a wildcard bind); the gateway reaches the
        // session's port where it is bound.
        let port = sdp.remote_rtp()?.port();
        sdp.anchor(self.session_ip(), port).ok()?;
        match gw.offer(id, &sdp) {
            Ok((peer, offer)) => Some((peer.0, bytes::Bytes::from(offer))),
            Err(e) => {
                tracing::info!(session = id.0, error = %e, "no webrtc leg");
                None
            }
        }
    }

    fn webrtc_answer(&mut self, peer: u64, answer: &[u8], call: u64) -> Option<bytes::Bytes> {
        let gw = self.webrtc.as_ref()?;
        match gw.answer(crate::media::webrtc::PeerId(peer), answer, call) {
            Ok(plain) => Some(bytes::Bytes::from(plain.to_bytes())),
            Err(e) => {
                tracing::info!(peer, error = %e, "browser answer refused");
                None
            }
        }
    }

    fn webrtc_accept(
        &mut self,
        id: SessionId,
        port_a: u16,
        offer: &[u8],
        call: u64,
    ) -> Option<(u64, bytes::Bytes, bytes::Bytes)> {
        let gw = self.webrtc.as_ref()?;
        let session_rtp = SocketAddr::new(self.session_ip(), port_a);
        match gw.accept(id, offer, session_rtp, call) {
            Ok((peer, answer, plain)) => Some((
                peer.0,
                bytes::Bytes::from(answer),
                bytes::Bytes::from(plain.to_bytes()),
            )),
            Err(e) => {
                tracing::info!(session = id.0, error = %e, "browser offer refused");
                None
            }
        }
    }

    fn webrtc_close(&mut self, peer: u64) {
        if let Some(gw) = &self.webrtc {
            gw.close(crate::media::webrtc::PeerId(peer));
        }
    }
}
