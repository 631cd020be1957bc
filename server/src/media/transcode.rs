//! Opus ↔ G.711 for the WebRTC gateway, sans-IO: a browser leg on Opus
//! joined to a SIP leg on PCMU or PCMA. Opus runs narrowband at 8 kHz (its
//! own resampler does 48 ↔ 8 kHz; the RTP clock stays 48 kHz).
//! [`Transcoder::to_g711`] can conceal a lost packet (an empty payload),
//! but the gateway does not call it for gaps yet: str0m hands over only the
//! packets that arrived.
//!
//! # Towards the browser: by how the link behaves
//!
//! The encoder works in one of two ways, chosen by the loss the browser
//! reports (RTCP receiver reports, through [`Transcoder::report_loss`]):
//!
//! - **Clean link** (the start, and 10 s after the last report of loss):
//!   Opus's transform mode (CELT) at 32 kb/s, complexity 0, no FEC. Half
//!   the encoder's time of the speech mode below, for a PESQ of 4.36
//!   against the G.711 it came from (the speech mode: 4.43), paying in
//!   bandwidth a browser leg has to spare. `bench/opus-quality` has the
//!   figures.
//! - **Lossy link** (a report of 1 % loss or more): Opus's speech mode
//!   (SILK) at 28 kb/s with in-band FEC sized to the reported loss (below
//!   about 26 kb/s libopus codes no FEC at complexity 1): each packet
//!   carries a coarse copy of the one before, which the browser plays when
//!   a packet is missing. With 5 % lost that scores 4.30, the transform
//!   mode 3.59.
//!
//! The encoder changes mode within its one stream (Opus codes the
//! transition), so the browser hears no break.
//!
//! G.711 packets of any length are cut into 20 ms Opus frames (a 30 ms
//! G.711 stream gives three frames every two packets); every Opus packet
//! gives one G.711 packet of the same duration.

use std::time::{Duration, Instant};

use careline_shared::rtp::G711;

/// Samples in 20 ms at 8 kHz.
const FRAME: usize = 160;
/// The RTP clock of Opus (RFC 7587) over that of G.711.
const CLOCK_RATIO: u32 = 6;
/// Largest Opus packet we write (20 ms at our bitrate is far below).
const MAX_OPUS: usize = 400;
/// Loss (a fraction, as RTCP reports it) from which the link counts as
/// lossy.
const LOSSY: f32 = 0.01;
/// How long after the last report of loss the link counts as clean again.
const CLEAN_AFTER: Duration = Duration::from_secs(10);
/// Longest Opus packet we decode: 120 ms at 8 kHz.
const MAX_SAMPLES: usize = 960;

/// How the encoder works towards the browser (see the module's notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No loss reported lately: the transform mode, no FEC.
    Clean,
    /// Loss reported: the speech mode, with FEC for this percentage of loss.
    Lossy { percent: u8 },
}

/// One call's transcoder, both directions.
pub struct Transcoder {
    law: G711,
    encoder: opus::Encoder,
    link: Link,
    /// When loss was last reported.
    last_loss: Option<Instant>,
    decoder: opus::Decoder,
    /// G.711 audio waiting for a whole 20 ms Opus frame.
    pending: Vec<i16>,
    /// The Opus timestamp of `pending`'s first sample (48 kHz).
    pending_ts: Option<u32>,
    pcm: Vec<i16>,
    opus: Vec<u8>,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("law", &self.law)
            .finish()
    }
}

impl Transcoder {
    /// A transcoder between Opus and `law`.
    pub fn new(law: G711) -> Result<Transcoder, String> {
        let encoder = opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| format!("opus encoder: {e}"))?;
        let decoder = opus::Decoder::new(8000, opus::Channels::Mono)
            .map_err(|e| format!("opus decoder: {e}"))?;
        let mut t = Transcoder {
            law,
            encoder,
            link: Link::Clean,
            last_loss: None,
            decoder,
            pending: Vec::with_capacity(2 * FRAME),
            pending_ts: None,
            pcm: vec![0; MAX_SAMPLES],
            opus: vec![0; MAX_OPUS],
        };
        t.configure(Link::Clean)?;
        Ok(t)
    }

    /// Sets the encoder up for `link`.
    fn configure(&mut self, link: Link) -> Result<(), String> {
        let e = &mut self.encoder;
        let set = match link {
            // Signalled as music, Opus picks its transform mode at this
            // rate; complexity 0 leaves out its pitch pre-filter, which
            // G.711 speech does not miss (PESQ the same).
            Link::Clean => e
                .set_signal(opus::Signal::Music)
                .and(e.set_bitrate(opus::Bitrate::Bits(32_000)))
                .and(e.set_complexity(0))
                .and(e.set_inband_fec(false))
                .and(e.set_packet_loss_perc(0)),
            // At complexity 2 and above SILK's quantizer searches with
            // delayed decision for twice the time, a difference 8 kHz audio
            // bound for G.711 barely shows; FEC is coded only when the
            // loss percentage is above zero.
            Link::Lossy { percent } => e
                .set_signal(opus::Signal::Voice)
                .and(e.set_bitrate(opus::Bitrate::Bits(28_000)))
                .and(e.set_complexity(1))
                .and(e.set_inband_fec(true))
                .and(e.set_packet_loss_perc(i32::from(percent))),
        };
        set.map_err(|e| format!("opus encoder settings: {e}"))?;
        self.link = link;
        Ok(())
    }

    /// How the encoder works now.
    pub fn link(&self) -> Link {
        self.link
    }

    /// The browser reported `fraction` of our packets lost (RTCP) at `now`:
    /// 1 % or more makes the link lossy (FEC sized to it, at most 30 %);
    /// below that, the link is clean again once 10 s have passed since the
    /// last loss.
    pub fn report_loss(&mut self, now: Instant, fraction: f32) {
        let link = if fraction >= LOSSY {
            self.last_loss = Some(now);
            let percent = (fraction * 100.0).ceil().clamp(1.0, 30.0) as u8;
            Link::Lossy { percent }
        } else if self
            .last_loss
            .is_some_and(|t| now.saturating_duration_since(t) < CLEAN_AFTER)
        {
            self.link
        } else {
            Link::Clean
        };
        if link != self.link
            && let Err(e) = self.configure(link)
        {
            tracing::debug!(error = %e, "opus encoder kept its settings");
        }
    }

    /// The G.711 law on the SIP side.
    pub fn law(&self) -> G711 {
        self.law
    }

    /// A G.711 payload at RTP time `ts` (8 kHz) to Opus: each whole 20 ms
    /// frame, with its 48 kHz timestamp, goes to `out`.
    pub fn to_opus(&mut self, ts: u32, g711: &[u8], mut out: impl FnMut(u32, &[u8])) {
        if self.pending.is_empty() {
            self.pending_ts = Some(ts.wrapping_mul(CLOCK_RATIO));
        }
        self.pending
            .extend(g711.iter().map(|&c| self.law.decode(c)));
        let mut start = 0;
        while self.pending.len() - start >= FRAME {
            let frame = &self.pending[start..start + FRAME];
            let frame_ts = self
                .pending_ts
                .unwrap_or(0)
                .wrapping_add(start as u32 * CLOCK_RATIO);
            if let Ok(n) = self.encoder.encode(frame, &mut self.opus) {
                out(frame_ts, &self.opus[..n]);
            }
            start += FRAME;
        }
        self.pending.drain(..start);
        if let Some(t) = self.pending_ts.as_mut() {
            *t = t.wrapping_add(start as u32 * CLOCK_RATIO);
        }
    }

    /// An Opus payload (empty: a lost packet, concealed) to G.711, into
    /// `out`; the number of samples (8 kHz).
    pub fn to_g711(&mut self, opus: &[u8], out: &mut Vec<u8>) -> usize {
        // A lost packet is concealed as one 20 ms frame.
        let samples = if opus.is_empty() {
            self.decoder
                .decode(&[], &mut self.pcm[..FRAME], false)
                .unwrap_or(0)
        } else {
            self.decoder.decode(opus, &mut self.pcm, false).unwrap_or(0)
        };
        out.clear();
        out.extend(self.pcm[..samples].iter().map(|&s| self.law.encode(s)));
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` samples of a `hz` tone at `amplitude`, from sample `start`.
    fn tone(hz: f64, amplitude: f64, start: usize, n: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// The strongest frequency between 100 and 3,500 Hz, in 5 Hz steps
    /// (Goertzel at each).
    fn pitch(x: &[i16]) -> f64 {
        let power = |hz: f64| {
            let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
            let (mut s1, mut s2) = (0.0, 0.0);
            for &v in x {
                let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
        };
        (20..=700)
            .map(|k| f64::from(k) * 5.0)
            .max_by(|a, b| power(*a).total_cmp(&power(*b)))
            .unwrap()
    }

    #[test]
    fn a_tone_through_opus_and_back_keeps_its_pitch_and_level() {
        let lossy = Link::Lossy { percent: 5 };
        for (law, link) in [
            (G711::Ulaw, Link::Clean),
            (G711::Alaw, Link::Clean),
            (G711::Ulaw, lossy),
        ] {
            // The SIP side's transcoder, and the browser's end of it: the
            // tone goes G.711 → Opus (to the browser) and Opus → G.711
            // (the browser's reply, here the same frames sent back).
            let mut sip_side = Transcoder::new(law).unwrap();
            sip_side.configure(link).unwrap();
            let mut back = Transcoder::new(law).unwrap();
            let mut heard = Vec::new();
            let mut frames = 0;
            let mut timestamps = Vec::new();
            for packet in 0..100 {
                let pcm = tone(440.0, 8000.0, packet * FRAME, FRAME);
                let g711: Vec<u8> = pcm.iter().map(|&s| law.encode(s)).collect();
                sip_side.to_opus((packet * FRAME) as u32, &g711, |ts, opus| {
                    frames += 1;
                    timestamps.push(ts);
                    let mut out = Vec::new();
                    assert_eq!(back.to_g711(opus, &mut out), FRAME);
                    heard.extend(out.iter().map(|&c| law.decode(c)));
                });
            }
            assert_eq!(frames, 100, "{law:?} {link:?}");
            // 48 kHz timestamps, 960 apart.
            assert!(
                timestamps
                    .windows(2)
                    .all(|w| w[1].wrapping_sub(w[0]) == 960)
            );
            // Past the codec's start-up, pitch and level hold.
            let steady = &heard[40 * FRAME..];
            let original = tone(440.0, 8000.0, 0, steady.len());
            let (got, want) = (rms(steady), rms(&original));
            let db = 20.0 * (got / want).log10();
            assert!(
                db.abs() < 2.0,
                "{law:?} {link:?}: level changed by {db:.2} dB"
            );
            let hz = pitch(steady);
            assert!((hz - 440.0).abs() <= 5.0, "{law:?} {link:?}: pitch {hz} Hz");
        }
    }

    /// The Opus packets for `n` frames of a tone, from frame `from`.
    fn packets(t: &mut Transcoder, from: usize, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for packet in from..from + n {
            let g711: Vec<u8> = tone(300.0, 6000.0, packet * FRAME, FRAME)
                .iter()
                .map(|&s| t.law().encode(s))
                .collect();
            t.to_opus((packet * FRAME) as u32, &g711, |_, opus| {
                out.push(opus.to_vec())
            });
        }
        out
    }

    /// RFC 6716 §3.1: configurations 0–11 are SILK (speech), 16–31 CELT.
    fn is_speech_mode(packet: &[u8]) -> bool {
        packet[0] >> 3 < 12
    }

    fn has_fec(packet: &[u8]) -> bool {
        // SAFETY: reads `len` bytes of a live slice.
        unsafe { opusic_sys::opus_packet_has_lbrr(packet.as_ptr(), packet.len() as i32) == 1 }
    }

    #[test]
    fn a_clean_link_gets_the_transform_mode_and_reported_loss_speech_with_fec() {
        let mut t = Transcoder::new(G711::Ulaw).unwrap();
        assert_eq!(t.link(), Link::Clean);
        let clean = packets(&mut t, 0, 10);
        assert!(clean.iter().all(|p| !is_speech_mode(p) && !has_fec(p)));
        // A report under 1 % changes nothing.
        let start = Instant::now();
        t.report_loss(start, 0.005);
        assert_eq!(t.link(), Link::Clean);
        // 4.3 % lost: speech mode with FEC for 5 %. Each packet carries
        // the frame before it, so from the second one on.
        t.report_loss(start, 0.043);
        assert_eq!(t.link(), Link::Lossy { percent: 5 });
        let lossy = packets(&mut t, 10, 10);
        assert!(lossy.iter().all(|p| is_speech_mode(p)));
        assert!(lossy[2..].iter().all(|p| has_fec(p)), "FEC in every packet");
    }

    #[test]
    fn the_link_is_clean_again_ten_seconds_after_the_last_loss() {
        let mut t = Transcoder::new(G711::Alaw).unwrap();
        let start = Instant::now();
        t.report_loss(start, 0.02);
        t.report_loss(start + Duration::from_secs(4), 0.5);
        // Heavy loss: FEC for at most 30 %.
        assert_eq!(t.link(), Link::Lossy { percent: 30 });
        let last_loss = start + Duration::from_secs(4);
        t.report_loss(last_loss + Duration::from_millis(9_999), 0.0);
        assert_eq!(t.link(), Link::Lossy { percent: 30 });
        t.report_loss(last_loss + CLEAN_AFTER, 0.0);
        assert_eq!(t.link(), Link::Clean);
        assert!(packets(&mut t, 0, 5).iter().all(|p| !is_speech_mode(p)));
    }

    #[test]
    fn thirty_millisecond_packets_become_twenty_millisecond_frames() {
        let mut t = Transcoder::new(G711::Alaw).unwrap();
        let mut stamps = Vec::new();
        for packet in 0..4u32 {
            let g711 = vec![0xd5; 240];
            t.to_opus(packet * 240, &g711, |ts, _| stamps.push(ts));
        }
        // 120 ms of audio: six frames, timestamps continuous at 48 kHz.
        assert_eq!(stamps, (0..6).map(|i| i * 960).collect::<Vec<u32>>());
    }

    #[test]
    fn a_lost_opus_packet_is_concealed_as_twenty_milliseconds() {
        let mut t = Transcoder::new(G711::Ulaw).unwrap();
        let mut out = Vec::new();
        assert_eq!(t.to_g711(&[], &mut out), FRAME);
        assert_eq!(out.len(), FRAME);
        // Garbage is not audio: nothing comes out, nothing panics.
        assert_eq!(t.to_g711(&[0xff; 3], &mut out), 0);
    }
}
