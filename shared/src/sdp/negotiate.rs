//! Offer/answer (RFC 3264) as the B2BUA does it: build our own offers and
//! answers, and rewrite a peer's description so its media comes to the relay.

use std::net::IpAddr;

use thiserror::Error;

use super::codec::{Codec, common_codecs};
use super::model::{Attribute, Connection, Direction, Line, Media, Origin, Sdp, addr_type};

/// Why no answer can be made; the call core answers 488 Not Acceptable Here.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum NegotiationError {
    /// No audio section with a non-zero port over plain RTP (`RTP/AVP(F)`).
    #[error("no plain rtp audio stream in the offer")]
    NoAudio,
    /// No voice codec in common (DTMF or comfort noise alone do not count).
    #[error("no voice codec in common with the offer")]
    NoCommonCodec,
}

/// The packetisation the relay's own streams use and asks for.
const PTIME_MS: u32 = 20;

/// ICE attributes: meaningless once the relay is in the path (it is not ICE).
const ICE_ATTRIBUTES: [&str; 7] = [
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
];

/// A description with only our audio section: `session_id` is also the first
/// version; later descriptions of the same session must raise
/// `origin.session_version`.
pub fn offer(
    our_codecs: &[Codec],
    addr: IpAddr,
    port: u16,
    direction: Direction,
    session_id: u64,
) -> Sdp {
    Sdp {
        origin: Origin::ours(session_id, session_id, addr),
        connection: Some(Connection::new(addr)),
        lines: vec![timing()],
        media: vec![audio_section(port, our_codecs, direction)],
        ..Sdp::default()
    }
}

/// Our answer to `offer`: one section per offered section (RFC 3264 §6), the
/// audio one accepted with the codecs we share in the offer's order on its
/// payload types, `direction` narrowed to what the offer allows, the rest
/// rejected with port 0.
pub fn answer(
    offer: &Sdp,
    our_codecs: &[Codec],
    addr: IpAddr,
    port: u16,
    direction: Direction,
    session_id: u64,
) -> Result<Sdp, NegotiationError> {
    let index = anchorable_audio(offer).ok_or(NegotiationError::NoAudio)?;
    let chosen = common_codecs(&offer.media[index].codecs(), our_codecs);
    if !chosen.iter().any(|c| c.kind().is_voice()) {
        return Err(NegotiationError::NoCommonCodec);
    }
    let direction = direction.answer_to(offer.direction());
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| match i == index {
            true => audio_section(port, &chosen, direction),
            false => rejected(m),
        })
        .collect();
    Ok(Sdp {
        origin: Origin::ours(session_id, session_id, addr),
        connection: Some(Connection::new(addr)),
        lines: vec![timing()],
        media,
        ..Sdp::default()
    })
}

impl Sdp {
    /// Points this description at the relay (media anchoring): the audio
    /// section gets `port` and `addr` replaces every `c=`; `a=rtcp` and ICE
    /// attributes, which name the peer's own addresses, are dropped; other
    /// sections are disabled (port 0), since the relay carries audio only;
    /// `o=` gets our address and its version goes up by one.
    ///
    /// An RFC 2543 hold (`c=0.0.0.0`) is kept as a direction attribute, since
    /// the address it was written in is replaced.
    pub fn anchor(&mut self, addr: IpAddr, port: u16) -> Result<(), NegotiationError> {
        let index = anchorable_audio(self).ok_or(NegotiationError::NoAudio)?;
        let zero_hold = self
            .connection_of(&self.media[index])
            .is_some_and(Connection::is_unspecified);
        let direction = self.direction();

        let ours = Connection::new(addr);
        self.connection = Some(ours.clone());
        strip_peer_addresses(&mut self.attributes);
        for (i, m) in self.media.iter_mut().enumerate() {
            m.connection = None;
            m.lines.retain(|l| l.kind != 'c');
            strip_peer_addresses(&mut m.attributes);
            if i == index {
                m.port = port;
                m.port_count = None;
            } else {
                m.port = 0;
            }
        }
        if zero_hold {
            self.set_direction(Direction::from_flags(direction.sends(), false));
        }
        self.origin.addr_type = addr_type(addr).to_owned();
        self.origin.address = addr.to_string();
        self.origin.session_version = self.origin.session_version.saturating_add(1);
        Ok(())
    }
}

/// The audio section the relay can carry, if any.
fn anchorable_audio(sdp: &Sdp) -> Option<usize> {
    sdp.audio_index()
        .filter(|&i| sdp.media[i].port != 0 && sdp.media[i].is_plain_rtp())
}

fn strip_peer_addresses(attributes: &mut Vec<Attribute>) {
    attributes.retain(|a| !matches!(a, Attribute::Rtcp(_)) && !ICE_ATTRIBUTES.contains(&a.name()));
}

fn timing() -> Line {
    Line {
        kind: 't',
        value: "0 0".to_owned(),
    }
}

fn audio_section(port: u16, codecs: &[Codec], direction: Direction) -> Media {
    let mut media = Media {
        kind: "audio".to_owned(),
        port,
        port_count: None,
        proto: "RTP/AVP".to_owned(),
        formats: Vec::new(),
        connection: None,
        attributes: vec![Attribute::Ptime(PTIME_MS)],
        lines: Vec::new(),
    };
    media.set_codecs(codecs);
    media.set_direction(direction);
    media
}

/// A rejected section: same media and protocol, port 0, formats kept (one is required).
fn rejected(offered: &Media) -> Media {
    Media {
        kind: offered.kind.clone(),
        port: 0,
        port_count: None,
        proto: offered.proto.clone(),
        formats: match offered.formats.is_empty() {
            true => vec!["0".to_owned()],
            false => offered.formats.clone(),
        },
        connection: None,
        attributes: Vec::new(),
        lines: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::CodecKind;

    const BARESIP_OFFER: &[u8] = include_bytes!("testdata/baresip-offer.sdp");
    const BARESIP_HOLD: &[u8] = include_bytes!("testdata/baresip-hold.sdp");
    const SIPP_UAC_OFFER: &[u8] = include_bytes!("testdata/sipp-uac-offer.sdp");
    const SIPP_UAS_ANSWER: &[u8] = include_bytes!("testdata/sipp-uas-answer.sdp");
    const LINPHONE_OFFER: &[u8] = include_bytes!("testdata/linphone-offer.sdp");

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn names(codecs: &[Codec]) -> Vec<(u8, String)> {
        codecs.iter().map(|c| (c.pt, c.name.to_string())).collect()
    }

    #[test]
    fn real_descriptions_round_trip_byte_for_byte() {
        for fixture in [
            BARESIP_OFFER,
            BARESIP_HOLD,
            SIPP_UAC_OFFER,
            SIPP_UAS_ANSWER,
            LINPHONE_OFFER,
        ] {
            let sdp = Sdp::parse(fixture).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&sdp.to_bytes()),
                String::from_utf8_lossy(fixture)
            );
        }
    }

    #[test]
    fn baresip_offer_reads_as_expected() {
        let sdp = Sdp::parse(BARESIP_OFFER).unwrap();
        assert_eq!(sdp.remote_rtp(), Some("127.0.0.1:8458".parse().unwrap()));
        assert_eq!(sdp.direction(), Direction::SendRecv);
        assert!(!sdp.is_hold());
        let codecs = sdp.audio().unwrap().codecs();
        assert_eq!(
            names(&codecs),
            names(&[
                Codec::new(96, "opus", 48000, 2),
                Codec::new(9, "G722", 8000, 1),
                Codec::PCMU,
                Codec::PCMA,
                Codec::new(101, "telephone-event", 8000, 1),
            ])
        );
        assert_eq!(codecs[0].channels, 2);
        assert_eq!(codecs[0].fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));
        assert_eq!(codecs[4].fmtp.as_deref(), Some("0-15"));
        assert_eq!(sdp.audio().unwrap().ptime(), Some(20));
    }

    #[test]
    fn baresip_hold_is_detected_and_answered_recvonly() {
        let hold = Sdp::parse(BARESIP_HOLD).unwrap();
        assert!(hold.is_hold());
        assert_eq!(hold.direction(), Direction::SendOnly);
        let ans = answer(
            &hold,
            &[Codec::PCMU],
            ip("192.0.2.10"),
            20000,
            Direction::SendRecv,
            7,
        )
        .unwrap();
        assert_eq!(ans.direction(), Direction::RecvOnly);
        assert!(!ans.is_hold());
    }

    #[test]
    fn sipp_offer_gets_pcmu_without_telephone_event() {
        let offer = Sdp::parse(SIPP_UAC_OFFER).unwrap();
        assert_eq!(offer.remote_rtp(), Some("127.0.0.1:6000".parse().unwrap()));
        let ours = [Codec::PCMA, Codec::PCMU, Codec::TELEPHONE_EVENT];
        let ans = answer(
            &offer,
            &ours,
            ip("192.0.2.10"),
            20000,
            Direction::SendRecv,
            42,
        )
        .unwrap();
        assert_eq!(names(&ans.audio().unwrap().codecs()), names(&[Codec::PCMU]));
        assert_eq!(ans.remote_rtp(), Some("192.0.2.10:20000".parse().unwrap()));
        let text = String::from_utf8(ans.to_bytes()).unwrap();
        assert_eq!(
            text,
            "v=0\r\no=- 42 42 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        assert_eq!(Sdp::parse(text.as_bytes()).unwrap(), ans);
    }

    #[test]
    fn linphone_opus_offer_keeps_its_order_and_the_8khz_telephone_event() {
        let offer = Sdp::parse(LINPHONE_OFFER).unwrap();
        let te = offer.audio().unwrap().codecs();
        assert_eq!(
            te.iter()
                .filter(|c| c.kind() == CodecKind::TelephoneEvent)
                .count(),
            3
        );
        let ours = [
            Codec::PCMU,
            Codec::PCMA,
            Codec::OPUS,
            Codec::TELEPHONE_EVENT,
        ];
        let ans = answer(
            &offer,
            &ours,
            ip("192.0.2.10"),
            20002,
            Direction::SendRecv,
            9,
        )
        .unwrap();
        let chosen = ans.audio().unwrap().codecs();
        assert_eq!(
            names(&chosen),
            vec![
                (96, "opus".to_owned()),
                (0, "PCMU".to_owned()),
                (8, "PCMA".to_owned()),
                (100, "telephone-event".to_owned())
            ]
        );
        // Our fmtp for opus and telephone-event, the offer's payload types.
        assert_eq!(chosen[0].fmtp.as_deref(), Some("useinbandfec=1"));
        assert_eq!(chosen[3].fmtp.as_deref(), Some("0-16"));
        // The video section is rejected in place.
        assert_eq!(ans.media.len(), offer.media.len());
        assert_eq!(ans.media[1].kind, "video");
        assert_eq!(ans.media[1].port, 0);
    }

    #[test]
    fn answer_fails_without_audio_or_common_voice_codec() {
        let offer = Sdp::parse(SIPP_UAC_OFFER).unwrap();
        assert_eq!(
            answer(
                &offer,
                &[Codec::PCMA, Codec::TELEPHONE_EVENT],
                ip("192.0.2.10"),
                1,
                Direction::SendRecv,
                1
            ),
            Err(NegotiationError::NoCommonCodec)
        );
        let mut no_audio = offer.clone();
        no_audio.media[0].port = 0;
        assert_eq!(
            answer(
                &no_audio,
                &[Codec::PCMU],
                ip("192.0.2.10"),
                1,
                Direction::SendRecv,
                1
            ),
            Err(NegotiationError::NoAudio)
        );
        let mut srtp = offer;
        srtp.media[0].proto = "RTP/SAVP".to_owned();
        assert_eq!(
            srtp.clone().anchor(ip("192.0.2.10"), 1),
            Err(NegotiationError::NoAudio)
        );
        assert_eq!(
            answer(
                &srtp,
                &[Codec::PCMU],
                ip("192.0.2.10"),
                1,
                Direction::SendRecv,
                1
            ),
            Err(NegotiationError::NoAudio)
        );
    }

    #[test]
    fn offer_lists_our_codecs_with_rtpmaps() {
        let ours = [Codec::PCMA, Codec::PCMU, Codec::TELEPHONE_EVENT];
        let sdp = offer(&ours, ip("2001:db8::1"), 20004, Direction::SendOnly, 5);
        let text = String::from_utf8(sdp.to_bytes()).unwrap();
        assert_eq!(
            text,
            "v=0\r\no=- 5 5 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
             m=audio 20004 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendonly\r\n"
        );
        assert!(sdp.is_hold());
        assert_eq!(
            Sdp::parse(text.as_bytes())
                .unwrap()
                .audio()
                .unwrap()
                .codecs(),
            ours
        );
    }

    #[test]
    fn anchor_points_media_at_the_relay_and_bumps_the_version() {
        let mut sdp = Sdp::parse(LINPHONE_OFFER).unwrap();
        let before = sdp.clone();
        sdp.anchor(ip("198.51.100.7"), 20010).unwrap();
        assert_eq!(
            sdp.remote_rtp(),
            Some("198.51.100.7:20010".parse().unwrap())
        );
        assert_eq!(
            sdp.origin.session_version,
            before.origin.session_version + 1
        );
        assert_eq!(sdp.origin.session_id, before.origin.session_id);
        assert_eq!(sdp.origin.address, "198.51.100.7");
        assert_eq!(sdp.media[1].port, 0, "video is not relayed");
        assert_eq!(
            sdp.audio().unwrap().codecs(),
            before.audio().unwrap().codecs()
        );
        let text = String::from_utf8(sdp.to_bytes()).unwrap();
        assert!(
            !text.contains("192.0.2.20"),
            "no trace of the peer's address: {text}"
        );
        assert!(!text.contains("a=rtcp:") && !text.contains("candidate"));
        assert!(
            text.contains("a=rtcp-fb:* trr-int 1000"),
            "unrelated attributes kept"
        );
    }

    #[test]
    fn anchoring_an_rfc2543_hold_keeps_it_a_hold() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let mut sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert!(sdp.is_hold());
        assert_eq!(sdp.remote_rtp(), None);
        sdp.anchor(ip("198.51.100.7"), 20010).unwrap();
        assert!(sdp.is_hold());
        assert_eq!(sdp.direction(), Direction::SendOnly);
    }

    #[test]
    fn damaged_real_descriptions_never_panic_and_reparse_the_same() {
        // Truncate each fixture at every byte and flip one byte at every
        // position: any result is fine except a panic, and whatever parses
        // must survive a write and a second parse unchanged.
        for fixture in [BARESIP_OFFER, BARESIP_HOLD, SIPP_UAC_OFFER, LINPHONE_OFFER] {
            for cut in 0..fixture.len() {
                check_stable(&fixture[..cut]);
                for flip in [0x01u8, 0x20, 0x80, 0xff] {
                    let mut damaged = fixture.to_vec();
                    damaged[cut] ^= flip;
                    check_stable(&damaged);
                }
            }
        }
    }

    fn check_stable(bytes: &[u8]) {
        if let Ok(sdp) = Sdp::parse(bytes) {
            let again = Sdp::parse(&sdp.to_bytes()).expect("our own output parses");
            assert_eq!(again, sdp, "{}", String::from_utf8_lossy(bytes));
            let _ = sdp.audio().map(Media::codecs);
            let _ = (sdp.remote_rtp(), sdp.is_hold());
            let _ = answer(
                &sdp,
                &[Codec::PCMU, Codec::OPUS],
                "192.0.2.1".parse().unwrap(),
                1,
                Direction::SendRecv,
                1,
            );
            let _ = sdp.clone().anchor("192.0.2.1".parse().unwrap(), 1);
        }
    }
}
