//! Codecs as offer/answer sees them: a payload type bound to an encoding, a
//! clock rate and a channel count (from `a=rtpmap`, or RFC 3551's static
//! table), plus the `a=fmtp` parameters.

use std::borrow::Cow;

use super::model::{Attribute, Media, Rtpmap};

/// One payload format of an audio section.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The RTP payload type; numbers 96–127 are bound per session.
    pub pt: u8,
    /// The encoding name, compared without regard to case (`PCMU`, `opus`).
    pub name: Cow<'static, str>,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels (1 unless the rtpmap says otherwise; opus always says 2).
    pub channels: u16,
    /// `a=fmtp` parameters, as written.
    pub fmtp: Option<Cow<'static, str>>,
}

/// The codecs Careline knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (RFC 7587).
    Opus,
    /// RFC 4733 DTMF events.
    TelephoneEvent,
    /// RFC 3389 comfort noise.
    ComfortNoise,
    /// Anything else (G722, G729, speex, …): relayed, never generated.
    Other,
}

impl CodecKind {
    /// Whether this carries speech (not DTMF or comfort noise): an answer needs
    /// at least one such codec in common.
    pub fn is_voice(self) -> bool {
        !matches!(self, CodecKind::TelephoneEvent | CodecKind::ComfortNoise)
    }
}

impl Codec {
    /// G.711 μ-law, static payload type 0.
    pub const PCMU: Codec = Codec::fixed(0, "PCMU", 8000, 1, None);
    /// G.711 A-law, static payload type 8.
    pub const PCMA: Codec = Codec::fixed(8, "PCMA", 8000, 1, None);
    /// Opus at its RFC 7587 rtpmap (always `/48000/2`), on payload type 96.
    pub const OPUS: Codec = Codec::fixed(96, "opus", 48000, 2, Some("useinbandfec=1"));
    /// DTMF events 0–16 at 8 kHz, on payload type 101.
    pub const TELEPHONE_EVENT: Codec = Codec::fixed(101, "telephone-event", 8000, 1, Some("0-16"));

    const fn fixed(
        pt: u8,
        name: &'static str,
        clock_rate: u32,
        channels: u16,
        fmtp: Option<&'static str>,
    ) -> Codec {
        Codec {
            pt,
            name: Cow::Borrowed(name),
            clock_rate,
            channels,
            fmtp: match fmtp {
                Some(f) => Some(Cow::Borrowed(f)),
                None => None,
            },
        }
    }

    /// A codec without fmtp parameters.
    pub fn new(
        pt: u8,
        name: impl Into<Cow<'static, str>>,
        clock_rate: u32,
        channels: u16,
    ) -> Codec {
        Codec {
            pt,
            name: name.into(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// The same codec on another payload type.
    pub fn with_pt(mut self, pt: u8) -> Codec {
        self.pt = pt;
        self
    }

    /// Which known codec this is.
    pub fn kind(&self) -> CodecKind {
        let is = |n: &str| self.name.eq_ignore_ascii_case(n);
        match self.clock_rate {
            8000 if is("PCMU") => CodecKind::Pcmu,
            8000 if is("PCMA") => CodecKind::Pcma,
            48000 if is("opus") => CodecKind::Opus,
            _ if is("telephone-event") => CodecKind::TelephoneEvent,
            _ if is("CN") => CodecKind::ComfortNoise,
            _ => CodecKind::Other,
        }
    }

    /// Same encoding, clock rate and channels: the same format whatever the
    /// payload type number and parameters.
    pub fn same_format(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// The `a=rtpmap` for this codec (the channel count only when not 1).
    pub fn rtpmap(&self) -> Rtpmap {
        Rtpmap {
            pt: self.pt,
            encoding: self.name.to_string(),
            clock_rate: self.clock_rate,
            channels: (self.channels != 1).then_some(self.channels),
        }
    }

    /// RFC 3551's static audio payload types, used when no rtpmap is given.
    pub fn from_static_pt(pt: u8) -> Option<Codec> {
        let (name, rate, channels) = match pt {
            0 => ("PCMU", 8000, 1),
            3 => ("GSM", 8000, 1),
            4 => ("G723", 8000, 1),
            5 => ("DVI4", 8000, 1),
            6 => ("DVI4", 16000, 1),
            7 => ("LPC", 8000, 1),
            8 => ("PCMA", 8000, 1),
            9 => ("G722", 8000, 1),
            10 => ("L16", 44100, 2),
            11 => ("L16", 44100, 1),
            12 => ("QCELP", 8000, 1),
            13 => ("CN", 8000, 1),
            14 => ("MPA", 90000, 1),
            15 => ("G728", 8000, 1),
            16 => ("DVI4", 11025, 1),
            17 => ("DVI4", 22050, 1),
            18 => ("G729", 8000, 1),
            _ => return None,
        };
        Some(Codec::new(pt, name, rate, channels))
    }
}

impl Media {
    /// The section's codecs in the order of its format list (the writer's
    /// preference). Formats that are not payload type numbers, and dynamic
    /// ones without an rtpmap, are left out.
    pub fn codecs(&self) -> Vec<Codec> {
        let mut out: Vec<Codec> = Vec::with_capacity(self.formats.len());
        for pt in self.formats.iter().filter_map(|f| f.parse::<u8>().ok()) {
            if pt > 127 || out.iter().any(|c| c.pt == pt) {
                continue;
            }
            let mapped = self.attributes.iter().find_map(|a| match a {
                Attribute::Rtpmap(r) if r.pt == pt => Some(Codec::new(
                    pt,
                    r.encoding.clone(),
                    r.clock_rate,
                    r.channels.unwrap_or(1),
                )),
                _ => None,
            });
            let Some(mut codec) = mapped.or_else(|| Codec::from_static_pt(pt)) else {
                continue;
            };
            codec.fmtp = self.attributes.iter().find_map(|a| match a {
                Attribute::Fmtp { pt: p, params } if *p == pt => Some(Cow::Owned(params.clone())),
                _ => None,
            });
            out.push(codec);
        }
        out
    }

    /// Replaces the format list, rtpmaps and fmtps with `codecs`, keeping
    /// every other attribute. The new rtpmap/fmtp lines go first.
    pub fn set_codecs(&mut self, codecs: &[Codec]) {
        self.formats = codecs.iter().map(|c| c.pt.to_string()).collect();
        self.attributes
            .retain(|a| !matches!(a, Attribute::Rtpmap(_) | Attribute::Fmtp { .. }));
        let mut head = Vec::with_capacity(codecs.len() * 2 + self.attributes.len());
        for c in codecs {
            head.push(Attribute::Rtpmap(c.rtpmap()));
            if let Some(params) = &c.fmtp {
                head.push(Attribute::Fmtp {
                    pt: c.pt,
                    params: params.to_string(),
                });
            }
        }
        head.append(&mut self.attributes);
        self.attributes = head;
    }
}

/// The codecs both sides have, in the offer's order, on the offer's payload
/// types; fmtp parameters are ours when we set any, else the offer's. A format
/// offered twice (two telephone-event/8000) is taken once.
pub fn common_codecs(offered: &[Codec], ours: &[Codec]) -> Vec<Codec> {
    let mut out: Vec<Codec> = Vec::new();
    for o in offered {
        let Some(mine) = ours.iter().find(|c| c.same_format(o)) else {
            continue;
        };
        if out.iter().any(|c| c.same_format(o)) {
            continue;
        }
        out.push(Codec {
            fmtp: mine.fmtp.clone().or_else(|| o.fmtp.clone()),
            ..o.clone()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::Sdp;

    fn audio(text: &str) -> Media {
        let full = format!("v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 192.0.2.1\r\n{text}");
        Sdp::parse(full.as_bytes()).unwrap().media.remove(0)
    }

    #[test]
    fn static_types_need_no_rtpmap_and_dynamic_ones_do() {
        let m = audio(
            "m=audio 4000 RTP/AVP 0 8 18 96 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        );
        let codecs = m.codecs();
        let names: Vec<_> = codecs.iter().map(|c| (c.pt, c.name.as_ref())).collect();
        assert_eq!(
            names,
            vec![
                (0, "PCMU"),
                (8, "PCMA"),
                (18, "G729"),
                (101, "telephone-event")
            ]
        );
        assert_eq!(codecs[3].fmtp.as_deref(), Some("0-15"));
        assert_eq!(codecs[3].kind(), CodecKind::TelephoneEvent);
    }

    #[test]
    fn rtpmap_overrides_the_static_table() {
        let m = audio("m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 pcmu/8000\r\n");
        assert_eq!(m.codecs()[0].kind(), CodecKind::Pcmu);
        assert!(m.codecs()[0].same_format(&Codec::PCMU));
    }

    #[test]
    fn common_codecs_follow_the_offer_and_keep_its_payload_types() {
        let offered = vec![
            Codec::new(96, "opus", 48000, 2),
            Codec::PCMA,
            Codec::PCMU,
            Codec::new(101, "telephone-event", 48000, 1),
            Codec::new(100, "telephone-event", 8000, 1),
            Codec::new(102, "telephone-event", 8000, 1),
        ];
        let ours = [Codec::PCMU, Codec::PCMA, Codec::TELEPHONE_EVENT];
        let common = common_codecs(&offered, &ours);
        let pts: Vec<_> = common.iter().map(|c| c.pt).collect();
        assert_eq!(pts, vec![8, 0, 100]);
        assert_eq!(common[2].fmtp.as_deref(), Some("0-16"));
    }

    #[test]
    fn set_codecs_rewrites_formats_and_keeps_other_attributes() {
        let mut m = audio("m=audio 4000 RTP/AVP 0 8\r\na=ptime:20\r\na=rtpmap:8 PCMA/8000\r\n");
        m.set_codecs(&[Codec::OPUS, Codec::TELEPHONE_EVENT]);
        assert_eq!(m.formats, vec!["96", "101"]);
        assert_eq!(m.codecs(), vec![Codec::OPUS, Codec::TELEPHONE_EVENT]);
        assert_eq!(m.ptime(), Some(20));
    }
}
