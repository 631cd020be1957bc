//! The gateway's codec side: which codecs a browser is offered and takes,
//! the Opus bridge to G.711 with its clocks, SDP touches for narrowband
//! Opus, and the `Rtc` each peer gets for its codecs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use careline_shared::sdp::{Codec, CodecKind, Sdp};
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Frequency, Pt};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Rtc};

use super::{Gateway, GatewayError};
use crate::media::transcode::Transcoder;

/// How often str0m sums up the loss the browser reported on a transcoded
/// leg (its receiver reports come every few seconds; str0m needs two for a
/// figure, and a sum without a new one says nothing).
const LOSS_CHECK: Duration = Duration::from_secs(1);
/// Opus's payload type towards browsers when transcoding.
pub(super) const OPUS_PT: u8 = 111;
/// telephone-event/48000's payload type towards browsers when transcoding.
pub(super) const TELE_48K_PT: u8 = 110;

/// A browser on Opus joined to a SIP side on G.711.
pub(super) struct Bridge {
    pub(super) transcoder: Box<Transcoder>,
    /// The SIP side's G.711.
    pub(super) g711: Codec,
    /// The SIP side's telephone-event (8 kHz), when it has one.
    pub(super) tele: Option<Codec>,
    /// The browser's last 48 kHz timestamp, and the 8 kHz one it became:
    /// the SIP side's clock follows the browser's differences, so a wrap
    /// of the 32-bit 48 kHz clock does not jump the 8 kHz one.
    pub(super) clock: Option<(u32, u32)>,
}

impl Bridge {
    /// The SIP side's timestamp for the browser's `ts48`.
    pub(super) fn to_8k(&mut self, ts48: u32) -> u32 {
        let ts8 = match self.clock {
            None => ts48 / 6,
            Some((last48, last8)) => {
                last8.wrapping_add((ts48.wrapping_sub(last48) as i32 / 6) as u32)
            }
        };
        self.clock = Some((ts48, ts8));
        ts8
    }
}

/// Asks the browser for narrowband Opus (RFC 7587 `maxplaybackrate`,
/// `sprop-maxcapturerate`): the other side is 8 kHz G.711, so wider audio
/// would only cost bandwidth and decoding time.
pub(super) fn narrowband_opus(sdp: &str) -> String {
    let prefix = format!("a=fmtp:{OPUS_PT} ");
    sdp.split_inclusive("\r\n")
        .map(|line| match line.strip_prefix(&prefix) {
            Some(rest) => format!(
                "{prefix}{};maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n",
                rest.trim_end()
            ),
            None => line.to_string(),
        })
        .collect()
}

/// The channel count `a=rtpmap:<pt>` spells out in `sdp` (`Some(None)`
/// when the line has none); `None` when there is no such line.
pub(super) fn written_channels(sdp: &str, pt: u8) -> Option<Option<u8>> {
    let prefix = format!("a=rtpmap:{pt} ");
    let line = sdp.lines().find_map(|l| l.strip_prefix(prefix.as_str()))?;
    let mut parts = line.trim().split('/');
    let _name = parts.next();
    let _rate = parts.next();
    Some(parts.next().and_then(|c| c.parse().ok()))
}

/// Whether the browser's answer listed payload type `pt`.
pub(super) fn peer_accepts(accepted: &[u8], pt: u8) -> bool {
    accepted.contains(&pt)
}

/// A telephone-event payload with its duration rescaled (RFC 4733: bytes
/// 2–3 are the duration in timestamp units).
pub(super) fn rescale_event(payload: &[u8], up: bool) -> Option<Vec<u8>> {
    let mut p = payload.get(..4)?.to_vec();
    let d = u32::from(u16::from_be_bytes([p[2], p[3]]));
    let d = if up {
        (d * 6).min(u32::from(u16::MAX))
    } else {
        d / 6
    };
    p[2..4].copy_from_slice(&(d as u16).to_be_bytes());
    Some(p)
}

/// The plain codecs a browser can be offered, in the plain offer's order.
pub(super) fn browser_codecs(offer: &Sdp) -> Vec<Codec> {
    offer
        .audio()
        .map(|m| m.codecs())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            matches!(
                c.kind(),
                CodecKind::Pcmu | CodecKind::Pcma | CodecKind::Opus | CodecKind::TelephoneEvent
            )
        })
        .collect()
}

impl Gateway {
    /// A new ICE-lite `Rtc` in RTP mode taking exactly `codecs` (on their
    /// payload types), with our host candidate.
    /// `written` gives a codec's channel count as the browser's offer
    /// wrote it (str0m matches `PCMU/8000/1` only to a codec with one
    /// channel spelled out, `PCMU/8000` only to one without).
    pub(super) fn rtc_for(
        &self,
        now: Instant,
        codecs: &[Codec],
        transcoding: bool,
        written: impl Fn(&Codec) -> Option<Option<u8>>,
    ) -> Result<Rtc, GatewayError> {
        // Header extensions: the section's mid and the audio level. No
        // transport-wide congestion control: an audio leg at a fixed rate
        // has no bandwidth to estimate, and its feedback cost every packet.
        let mut extensions = ExtensionMap::empty();
        extensions.set(1, Extension::AudioLevel);
        extensions.set(4, Extension::RtpMid);
        let mut config = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .set_extension_map(extensions)
            .set_crypto_provider(Arc::clone(&self.crypto));
        // A transcoded leg's FEC follows the loss the browser reports (its
        // receiver reports, summed up by str0m's egress stats). No
        // bandwidth estimation: the gateway defers str0m's null-pacer
        // ticks (`PACER_HOUSEKEEPING`), which a real pacer would need.
        if transcoding {
            config = config.set_stats_interval(Some(LOSS_CHECK));
        }
        for c in codecs {
            let (codec, channels) = match c.kind() {
                CodecKind::Pcmu => (RtcCodec::PCMU, None),
                CodecKind::Pcma => (RtcCodec::PCMA, None),
                CodecKind::Opus => (RtcCodec::Opus, Some(2)),
                _ => (RtcCodec::Tele, None),
            };
            let channels = written(c).unwrap_or(channels);
            let format = FormatParams {
                use_inband_fec: (codec == RtcCodec::Opus).then_some(true),
                ..FormatParams::default()
            };
            config.codec_config().add_config(
                Pt::from(c.pt),
                None,
                codec,
                Frequency::new(c.clock_rate).ok_or(GatewayError::NoCodec)?,
                channels,
                format,
            );
        }
        let mut rtc = config.build(now);
        let candidate =
            Candidate::host(self.candidate, "udp").map_err(|e| GatewayError::Rtc(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        Ok(rtc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_8k_clock_follows_the_48k_one_across_its_wrap() {
        let mut b = Bridge {
            transcoder: Box::new(Transcoder::new(careline_shared::rtp::G711::Ulaw).unwrap()),
            g711: Codec::PCMU,
            tele: None,
            clock: None,
        };
        let start = u32::MAX - 960 * 2 + 1;
        let first = b.to_8k(start);
        // Three more 20 ms frames: the 48 kHz clock wraps after the second.
        let next: Vec<u32> = (1..=3u32)
            .map(|i| b.to_8k(start.wrapping_add(960 * i)))
            .collect();
        assert_eq!(
            next,
            vec![first + 160, first + 320, first + 480],
            "continuous at 160 a frame"
        );
        // A key's duration, both ways.
        assert_eq!(
            rescale_event(&[5, 0x0a, 0x03, 0x20], true).unwrap(),
            [5, 0x0a, 0x12, 0xc0]
        );
        assert_eq!(
            rescale_event(&[5, 0x0a, 0x12, 0xc0], false).unwrap(),
            [5, 0x0a, 0x03, 0x20]
        );
        assert_eq!(rescale_event(&[5, 0x0a], true), None);
    }
}
