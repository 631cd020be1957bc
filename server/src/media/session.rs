//! One anchored call's media state, as its worker thread sees it: two legs,
//! what to do with their packets, and the stream the server plays.
//!
//! Everything here is decided without touching a socket: the worker reads a
//! datagram, asks [`Session::on_packet`] where it should go (rewriting it in
//! place), and sends it; every 20 ms it asks [`Session::next_frame`] for a
//! tone packet. The hot path allocates nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careline_shared::rtp::{G711, RtpHeader, RtpPacket, TelephoneEvent};
use careline_shared::sdp::{Codec, CodecKind};

use super::ports::LegSocket;
use super::stats::SharedStats;
use super::tones::{FRAME, Prompts};
use super::{Leg, MediaEvent, Mode, SessionId};

/// Where a leg's media goes and which sources it takes media from.
///
/// With latching on, the first source to send fixes the leg's destination
/// (symmetric RTP: a phone behind NAT is reached where its packets come from).
/// Once latched, only that source and the SDP address are accepted; a packet
/// from the SDP address moves the latch back to it, so a stray first packet
/// cannot steal a leg from a phone that is reachable where it said it was.
/// A new SDP address clears the latch (a re-INVITE may move the media).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Latch {
    sdp: Option<SocketAddr>,
    learned: Option<SocketAddr>,
}

impl Latch {
    pub(crate) fn set_sdp(&mut self, addr: SocketAddr) {
        if self.sdp != Some(addr) {
            self.sdp = Some(addr);
            self.learned = None;
        }
    }

    /// Whether to take a packet from `src`; latches when it may.
    pub(crate) fn accept(&mut self, src: SocketAddr, latching: bool) -> bool {
        if !latching {
            return self.sdp == Some(src);
        }
        match self.learned {
            None => {
                self.learned = Some(src);
                true
            }
            Some(l) if l == src => true,
            Some(_) if self.sdp == Some(src) => {
                self.learned = Some(src);
                true
            }
            Some(_) => false,
        }
    }

    /// Where to send this leg's media.
    pub(crate) fn destination(&self, latching: bool) -> Option<SocketAddr> {
        match latching {
            true => self.learned.or(self.sdp),
            false => self.sdp,
        }
    }
}

/// For each payload type received on one leg, the number the other leg
/// knows the same codec by (RFC 3264 lets each side number dynamic types
/// its own way). Types the other side does not list pass unchanged.
pub(crate) fn pt_map(from: &[Codec], to: &[Codec]) -> [u8; 128] {
    let mut map: [u8; 128] = std::array::from_fn(|i| i as u8);
    for c in from {
        if let Some(t) = to.iter().find(|t| t.same_format(c)) {
            map[usize::from(c.pt & 0x7f)] = t.pt;
        }
    }
    map
}

/// The telephone-event payload type to watch for DTMF: the 8 kHz one if listed.
fn dtmf_pt(codecs: &[Codec]) -> Option<u8> {
    let events = || {
        codecs
            .iter()
            .filter(|c| c.kind() == CodecKind::TelephoneEvent)
    };
    events()
        .find(|c| c.clock_rate == 8000)
        .or_else(|| events().next())
        .map(|c| c.pt)
}

/// One leg: its socket, its peer and what has been heard from it.
#[derive(Debug)]
pub(crate) struct LegState {
    pub(crate) socket: LegSocket,
    pub(crate) latch: Latch,
    codecs: Vec<Codec>,
    dtmf_pt: Option<u8>,
    /// The RTP timestamp of the last DTMF event reported (one report per press).
    last_dtmf: Option<u32>,
    last_rx: Option<Instant>,
    silence_reported: bool,
}

impl LegState {
    /// The key of a telephone-event packet that starts a new press: an event
    /// lasts several packets (and ends with three) on one timestamp.
    fn new_press(&mut self, rtp: &RtpPacket<'_>) -> Option<char> {
        let event = TelephoneEvent::parse(rtp.payload()).ok()?;
        if self.last_dtmf == Some(rtp.timestamp()) {
            return None;
        }
        self.last_dtmf = Some(rtp.timestamp());
        event.digit()
    }
}

/// What the session does with media right now.
#[derive(Debug)]
enum Activity {
    Idle,
    Relay {
        since: Instant,
    },
    Play {
        to: Leg,
        pt: u8,
        sound: Arc<[u8]>,
        position: usize,
    },
}

/// The stream the server sends when it plays: one SSRC for the session's life.
#[derive(Debug)]
struct Outgoing {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker: bool,
    last_frame: Option<Instant>,
}

/// A packet to send: out of `via`'s socket to `to`, the first `len` bytes of
/// the worker's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transmit {
    pub(crate) via: Leg,
    pub(crate) to: SocketAddr,
    pub(crate) len: usize,
}

/// One anchored call.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) legs: [LegState; 2],
    pub(crate) stats: Arc<SharedStats>,
    activity: Activity,
    /// `pt_maps[leg]` maps payload types received on `leg` to the other's.
    pt_maps: [[u8; 128]; 2],
    out: Outgoing,
}

impl Session {
    pub(crate) fn new(id: SessionId, sockets: [LegSocket; 2], stats: Arc<SharedStats>) -> Session {
        let leg = |socket| LegState {
            socket,
            latch: Latch::default(),
            codecs: Vec::new(),
            dtmf_pt: None,
            last_dtmf: None,
            last_rx: None,
            silence_reported: false,
        };
        let [a, b] = sockets;
        Session {
            id,
            legs: [leg(a), leg(b)],
            stats,
            activity: Activity::Idle,
            pt_maps: [pt_map(&[], &[]); 2],
            out: Outgoing {
                ssrc: rand::random(),
                sequence: rand::random(),
                timestamp: rand::random(),
                marker: true,
                last_frame: None,
            },
        }
    }

    pub(crate) fn leg(&mut self, leg: Leg) -> &mut LegState {
        &mut self.legs[leg.index()]
    }

    pub(crate) fn set_codecs(&mut self, leg: Leg, codecs: Vec<Codec>) {
        let state = self.leg(leg);
        state.dtmf_pt = dtmf_pt(&codecs);
        state.codecs = codecs;
        let (a, b) = (&self.legs[0].codecs, &self.legs[1].codecs);
        self.pt_maps = [pt_map(a, b), pt_map(b, a)];
    }

    /// Switches what the session does. Relaying restarts the silence clock
    /// of both legs; playing starts the sound from its beginning.
    pub(crate) fn set_mode(&mut self, mode: Mode, prompts: &Prompts, now: Instant) {
        self.activity = match mode {
            Mode::Idle => Activity::Idle,
            Mode::Relay => {
                for leg in &mut self.legs {
                    leg.silence_reported = false;
                }
                Activity::Relay { since: now }
            }
            Mode::Ringback { codec } => play(Leg::A, &codec, &prompts.ringback, &mut self.out, now),
            Mode::Hold { held, codec } => play(held, &codec, &prompts.hold, &mut self.out, now),
            Mode::Announce { leg, codec } => {
                play(leg, &codec, &prompts.dropped, &mut self.out, now)
            }
        };
    }

    pub(crate) fn is_relaying(&self) -> bool {
        matches!(self.activity, Activity::Relay { .. })
    }

    pub(crate) fn is_playing(&self) -> bool {
        matches!(self.activity, Activity::Play { .. })
    }

    /// Takes a datagram received on `leg` from `src`. Returns where to relay
    /// it (after rewriting its payload type in `packet`), if anywhere.
    pub(crate) fn on_packet(
        &mut self,
        leg: Leg,
        src: SocketAddr,
        packet: &mut [u8],
        now: Instant,
        latching: bool,
        on_event: &dyn Fn(MediaEvent),
    ) -> Option<Transmit> {
        let id = self.id;
        let state = &mut self.legs[leg.index()];
        // RTCP multiplexed on the RTP port (RFC 5761) has packet types
        // 200–204 where RTP has marker and payload type: relay it untouched.
        let is_rtcp = packet.len() >= 8 && packet[0] >> 6 == 2 && (200..=204).contains(&packet[1]);
        let rtp = match is_rtcp {
            true => None,
            false => RtpPacket::parse(packet).ok(),
        };
        if (!is_rtcp && rtp.is_none()) || !state.latch.accept(src, latching) {
            self.stats.rejected(leg);
            return None;
        }
        self.stats.received(leg, packet.len(), now);
        state.last_rx = Some(now);
        state.silence_reported = false;

        let dtmf = rtp.filter(|p| Some(p.payload_type()) == state.dtmf_pt);
        if let Some(digit) = dtmf.and_then(|p| state.new_press(&p)) {
            on_event(MediaEvent::Dtmf { id, leg, digit });
        }
        if !self.is_relaying() {
            return None;
        }
        let other = leg.other();
        let to = self.legs[other.index()].latch.destination(latching)?;
        if !is_rtcp {
            let pt = self.pt_maps[leg.index()][usize::from(packet[1] & 0x7f)];
            packet[1] = (packet[1] & 0x80) | pt;
        }
        Some(Transmit {
            via: other,
            to,
            len: packet.len(),
        })
    }

    /// Writes the next 20 ms of the played sound into `buf`, when playing to
    /// a leg whose address is known. The stream advances either way, so its
    /// timing does not depend on when the peer's address became known.
    pub(crate) fn next_frame(
        &mut self,
        buf: &mut [u8],
        now: Instant,
        latching: bool,
    ) -> Option<Transmit> {
        let Activity::Play {
            to,
            pt,
            sound,
            position,
        } = &mut self.activity
        else {
            return None;
        };
        let out = &mut self.out;
        let mut header = RtpHeader::new(*pt, out.sequence, out.timestamp, out.ssrc);
        header.marker = out.marker;
        let payload = &sound[*position..*position + FRAME];
        *position = (*position + FRAME) % sound.len();
        out.sequence = out.sequence.wrapping_add(1);
        out.timestamp = out.timestamp.wrapping_add(FRAME as u32);
        out.last_frame = Some(now);
        let dest = self.legs[to.index()].latch.destination(latching)?;
        // The buffer holds a whole datagram; a frame is 172 bytes.
        let len = header.write(payload, buf).ok()?;
        out.marker = false;
        Some(Transmit {
            via: *to,
            to: dest,
            len,
        })
    }

    /// Reports legs that have been silent for `timeout` while relaying, once
    /// per silence.
    pub(crate) fn check_silence(
        &mut self,
        now: Instant,
        timeout: Duration,
        on_event: &dyn Fn(MediaEvent),
    ) {
        let Activity::Relay { since } = self.activity else {
            return;
        };
        for leg in [Leg::A, Leg::B] {
            let state = &mut self.legs[leg.index()];
            let heard = state.last_rx.map_or(since, |t| t.max(since));
            let silent_for = now.saturating_duration_since(heard);
            if !state.silence_reported && silent_for >= timeout {
                state.silence_reported = true;
                on_event(MediaEvent::Inactive {
                    id: self.id,
                    leg,
                    silent_for,
                });
            }
        }
    }
}

/// Starts playing `prompt` to `to`. The timestamp jumps over the time the
/// stream was quiet and the marker bit flags the new talkspurt (RFC 3551 §4.1).
fn play(
    to: Leg,
    codec: &Codec,
    prompt: &super::tones::Prompt,
    out: &mut Outgoing,
    now: Instant,
) -> Activity {
    let law = match codec.kind() {
        CodecKind::Pcma => G711::Alaw,
        // The engine checked the codec; μ-law is the only other choice.
        _ => G711::Ulaw,
    };
    if let Some(last) = out.last_frame {
        let quiet = now.saturating_duration_since(last).as_millis() as u32;
        out.timestamp = out.timestamp.wrapping_add(quiet.wrapping_mul(8));
    }
    out.marker = true;
    Activity::Play {
        to,
        pt: codec.pt,
        sound: prompt.encoded(law),
        position: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_source_latches_and_strangers_are_refused() {
        let mut l = Latch::default();
        l.set_sdp(addr("192.0.2.1:4000"));
        assert_eq!(l.destination(true), Some(addr("192.0.2.1:4000")));
        assert!(
            l.accept(addr("198.51.100.9:61000"), true),
            "NAT'd source latches"
        );
        assert_eq!(l.destination(true), Some(addr("198.51.100.9:61000")));
        assert!(l.accept(addr("198.51.100.9:61000"), true));
        assert!(
            !l.accept(addr("203.0.113.66:1234"), true),
            "a stranger is refused"
        );
        assert_eq!(l.destination(true), Some(addr("198.51.100.9:61000")));
    }

    #[test]
    fn the_sdp_address_wins_back_a_latch_and_new_sdp_clears_it() {
        let mut l = Latch::default();
        l.set_sdp(addr("192.0.2.1:4000"));
        assert!(l.accept(addr("203.0.113.66:1234"), true));
        assert!(l.accept(addr("192.0.2.1:4000"), true));
        assert_eq!(l.destination(true), Some(addr("192.0.2.1:4000")));
        l.set_sdp(addr("192.0.2.1:4000"));
        assert_eq!(l.destination(true), Some(addr("192.0.2.1:4000")));
        assert!(
            !l.accept(addr("198.51.100.9:61000"), true),
            "latched: others refused"
        );
        l.set_sdp(addr("192.0.2.2:5000"));
        assert_eq!(l.destination(true), Some(addr("192.0.2.2:5000")));
        assert!(
            l.accept(addr("198.51.100.9:61000"), true),
            "a new SDP address re-opens latching"
        );
    }

    #[test]
    fn without_latching_only_the_sdp_address_counts() {
        let mut l = Latch::default();
        assert!(!l.accept(addr("192.0.2.1:4000"), false));
        l.set_sdp(addr("192.0.2.1:4000"));
        assert!(l.accept(addr("192.0.2.1:4000"), false));
        assert!(!l.accept(addr("192.0.2.1:4001"), false));
        assert_eq!(l.destination(false), Some(addr("192.0.2.1:4000")));
    }

    #[test]
    fn payload_types_map_by_codec_not_by_number() {
        let a = [
            Codec::PCMU,
            Codec::TELEPHONE_EVENT,
            Codec::OPUS.with_pt(111),
        ];
        let b = [Codec::PCMU, Codec::TELEPHONE_EVENT.with_pt(96)];
        let map = pt_map(&a, &b);
        assert_eq!(map[0], 0);
        assert_eq!(map[101], 96);
        assert_eq!(map[111], 111, "unknown on the other side: unchanged");
        assert_eq!(map[8], 8);
        assert_eq!(pt_map(&b, &a)[96], 101);
    }

    #[test]
    fn relay_renumbers_rtp_passes_rtcp_and_rejects_the_rest() {
        let pool = super::super::ports::PortPool::new(26300..=26309);
        let ip = "127.0.0.1".parse().unwrap();
        let sockets = [pool.bind(ip).unwrap(), pool.bind(ip).unwrap()];
        let now = Instant::now();
        let stats = Arc::new(SharedStats::new(now));
        let mut s = Session::new(SessionId(1), sockets, Arc::clone(&stats));
        let prompts = Prompts::load(&super::super::MediaConfig::default()).unwrap();
        s.leg(Leg::B).latch.set_sdp(addr("192.0.2.2:4000"));
        s.set_codecs(Leg::A, vec![Codec::new(72, "X-TEST", 8000, 1)]);
        s.set_codecs(Leg::B, vec![Codec::new(99, "X-TEST", 8000, 1)]);
        let src = addr("192.0.2.1:5000");
        let none = |_: MediaEvent| panic!("no event expected");

        let mut rtp = [0u8; 20];
        RtpHeader::new(72, 1, 160, 7)
            .write(&[0; 8], &mut rtp)
            .unwrap();
        assert_eq!(
            s.on_packet(Leg::A, src, &mut rtp, now, true, &none),
            None,
            "idle relays nothing"
        );
        s.set_mode(Mode::Relay, &prompts, now);
        let t = s
            .on_packet(Leg::A, src, &mut rtp, now, true, &none)
            .unwrap();
        assert_eq!((t.via, t.to, t.len), (Leg::B, addr("192.0.2.2:4000"), 20));
        assert_eq!(rtp[1], 99, "payload type renumbered for leg B");

        // A sender report (packet type 200) looks like marker + type 72: untouched.
        let mut sr = [0u8; 28];
        sr[..4].copy_from_slice(&[0x80, 200, 0, 6]);
        assert!(
            s.on_packet(Leg::A, src, &mut sr, now, true, &none)
                .is_some()
        );
        assert_eq!(sr[1], 200);

        let mut stun = [0u8; 20];
        assert_eq!(s.on_packet(Leg::A, src, &mut stun, now, true, &none), None);
        assert_eq!(stats.snapshot().a.rejected, 1);
        assert_eq!(stats.snapshot().a.in_packets, 3);
    }

    #[test]
    fn dtmf_prefers_the_8khz_telephone_event() {
        let codecs = [
            Codec::new(101, "telephone-event", 48000, 1),
            Codec::PCMU,
            Codec::new(100, "telephone-event", 8000, 1),
        ];
        assert_eq!(dtmf_pt(&codecs), Some(100));
        assert_eq!(dtmf_pt(&codecs[..2]), Some(101));
        assert_eq!(dtmf_pt(&[Codec::PCMA]), None);
    }
}
