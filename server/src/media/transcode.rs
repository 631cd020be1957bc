//! Opus ↔ G.711 for the WebRTC gateway, sans-IO: a browser leg on Opus
//! joined to a SIP leg on PCMU or PCMA. Opus runs narrowband at 8 kHz (its
//! own resampler does 48 ↔ 8 kHz; the RTP clock stays 48 kHz), in its
//! speech mode (SILK). [`Transcoder::to_g711`] can conceal a lost packet
//! (an empty payload), but the gateway does not call it for gaps yet: str0m
//! hands over only the packets that arrived.
//!
//! # FEC towards the browser, by the loss it reports
//!
//! In-band FEC puts a coarse copy of each frame into the next packet, which
//! the browser plays when a packet is missing: with 5 % of the packets lost
//! it keeps speech at PESQ 4.31 against the G.711 it came from, where
//! concealment alone gives 3.63 (`bench/opus-quality`). It costs the
//! encoder a sixth more time, so it is coded only while the link needs it:
//!
//! - from the start of a call, as if 5 % were lost, until the browser's
//!   receiver reports say otherwise (nothing is known yet, and the first
//!   words matter; str0m works a loss figure out of two reports, about
//!   10 s into the call);
//! - after any report of loss (from 1.2 %: three in 255), sized to it,
//!   at most 30 %;
//! - off again once reports say no loss and 30 s have passed since the
//!   last report of loss (Wi-Fi loses in bursts; this keeps one burst from
//!   flapping).
//!
//! A browser that never reports keeps the starting 5 %. The encoder runs at
//! 28 kb/s, complexity 0: below about 26 kb/s libopus codes no FEC there.
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
/// The encoder's bitrate: room for FEC (at complexity 0 or 1 libopus codes
/// none below about 26 kb/s).
const BITRATE: i32 = 28_000;
/// The encoder's complexity, its lowest: on G.711 speech PESQ scores it as
/// complexity 1 (4.50 both, `bench/opus-quality`) for a tenth less time, and
/// from 2 up SILK's delayed-decision quantizer doubles the time.
const COMPLEXITY: i32 = 0;
/// The loss assumed until the browser first reports, in percent.
const ASSUMED_LOSS: u8 = 5;
/// Reported loss from which FEC is coded: RTCP's 8-bit fraction lost of
/// 3/255, in 255ths (halfway to the step below, as str0m averages reports
/// in floating point).
const LOSSY_255THS: f32 = 2.5;
/// The most loss FEC is sized for, in percent.
const MAX_LOSS: u8 = 30;
/// How long after the last report of loss FEC stays on.
const FEC_HOLD: Duration = Duration::from_secs(30);
/// Longest Opus packet we decode: 120 ms at 8 kHz.
const MAX_SAMPLES: usize = 960;

/// One call's transcoder, both directions.
pub struct Transcoder {
    law: G711,
    encoder: opus::Encoder,
    /// The loss FEC is coded for, in percent (none at 0).
    fec_for: u8,
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
            fec_for: ASSUMED_LOSS,
            last_loss: None,
            decoder,
            pending: Vec::with_capacity(2 * FRAME),
            pending_ts: None,
            pcm: vec![0; MAX_SAMPLES],
            opus: vec![0; MAX_OPUS],
        };
        let e = &mut t.encoder;
        e.set_signal(opus::Signal::Voice)
            .and(e.set_bitrate(opus::Bitrate::Bits(BITRATE)))
            .and(e.set_complexity(COMPLEXITY))
            .and(e.set_inband_fec(true))
            .and(e.set_packet_loss_perc(i32::from(ASSUMED_LOSS)))
            .map_err(|e| format!("opus encoder settings: {e}"))?;
        Ok(t)
    }

    /// The loss FEC is coded for now, in percent (0: no FEC).
    pub fn fec_for(&self) -> u8 {
        self.fec_for
    }

    /// The browser reported `fraction` of our packets lost (RTCP) at `now`:
    /// see the module's notes for what that does to FEC.
    pub fn report_loss(&mut self, now: Instant, fraction: f32) {
        let fec_for = if fraction * 255.0 >= LOSSY_255THS {
            self.last_loss = Some(now);
            (fraction * 100.0).ceil().clamp(1.0, f32::from(MAX_LOSS)) as u8
        } else if self
            .last_loss
            .is_some_and(|t| now.saturating_duration_since(t) < FEC_HOLD)
        {
            self.fec_for
        } else {
            0
        };
        if fec_for != self.fec_for {
            match self.encoder.set_packet_loss_perc(i32::from(fec_for)) {
                Ok(()) => self.fec_for = fec_for,
                Err(e) => tracing::debug!(error = %e, "opus encoder kept its loss setting"),
            }
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
        let had = self.pending.len();
        self.pending.resize(had + g711.len(), 0);
        self.law.decode_into(g711, &mut self.pending[had..]);
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
        out.resize(samples, 0);
        self.law.encode_into(&self.pcm[..samples], out);
        samples
    }
}

/// Whether an Opus packet carries FEC (a copy of the frame before it).
pub fn carries_fec(opus: &[u8]) -> bool {
    // libopus reads the first byte before it looks at the length.
    if opus.is_empty() {
        return false;
    }
    let Ok(len) = i32::try_from(opus.len()) else {
        return false;
    };
    // SAFETY: libopus reads `len` bytes from the start of a live slice.
    unsafe { opusic_sys::opus_packet_has_lbrr(opus.as_ptr(), len) == 1 }
}

/// Sample `n` (8 kHz) of something voice-like, for tests: a 140 Hz voice
/// with vibrato and its harmonics, in syllables four times a second. (FEC
/// is coded only for frames the encoder hears as speech, and a steady tone
/// soon counts as background.)
#[cfg(test)]
pub(crate) fn voice_sample(n: u32) -> i16 {
    let tau = 2.0 * std::f64::consts::PI;
    let t = f64::from(n) / 8000.0;
    let phase = tau * (140.0 * t - 20.0 / (tau * 3.0) * (tau * 3.0 * t).cos());
    let voice: f64 = (1..=10)
        .map(|h| (f64::from(h) * phase).sin() / f64::from(h))
        .sum();
    let syllables = 0.6 + 0.4 * (tau * 4.0 * t).sin();
    (3000.0 * syllables * voice) as i16
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
        // With FEC (the start) and without (after a clean report).
        for (law, clean) in [(G711::Ulaw, false), (G711::Alaw, false), (G711::Ulaw, true)] {
            // The SIP side's transcoder, and the browser's end of it: the
            // tone goes G.711 → Opus (to the browser) and Opus → G.711
            // (the browser's reply, here the same frames sent back).
            let mut sip_side = Transcoder::new(law).unwrap();
            if clean {
                sip_side.report_loss(Instant::now(), 0.0);
            }
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
            assert_eq!(frames, 100, "{law:?} clean {clean}");
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
                "{law:?} clean {clean}: level changed by {db:.2} dB"
            );
            let hz = pitch(steady);
            assert!(
                (hz - 440.0).abs() <= 5.0,
                "{law:?} clean {clean}: pitch {hz} Hz"
            );
        }
    }

    /// How many of the Opus packets for `n` voice frames, from frame
    /// `from`, carry FEC, and how many there are.
    fn with_fec(t: &mut Transcoder, from: u32, n: u32) -> (usize, usize) {
        let mut packets = Vec::new();
        for frame in from..from + n {
            let g711: Vec<u8> = (frame * 160..(frame + 1) * 160)
                .map(|i| t.law().encode(voice_sample(i)))
                .collect();
            t.to_opus(frame * 160, &g711, |_, opus| packets.push(opus.to_vec()));
        }
        (
            packets.iter().filter(|p| carries_fec(p)).count(),
            packets.len(),
        )
    }

    #[test]
    fn fec_from_the_start_until_a_clean_report_and_again_on_loss() {
        let mut t = Transcoder::new(G711::Ulaw).unwrap();
        // Nothing known yet: FEC as for 5 % — in the speech's packets
        // (not those of the dips between syllables).
        assert_eq!(t.fec_for(), 5);
        let (fec, all) = with_fec(&mut t, 0, 100);
        assert_eq!(all, 100);
        assert!(fec > all / 2, "FEC in {fec} of {all}");
        // The first report: 2 in 255 lost, under the threshold. No FEC.
        let start = Instant::now();
        t.report_loss(start, 2.0 / 255.0);
        assert_eq!(t.fec_for(), 0);
        // (The next packet still carries the frame coded before.)
        with_fec(&mut t, 100, 1);
        assert_eq!(with_fec(&mut t, 101, 99), (0, 99));
        // 11 in 255 (4.3 %): FEC for 5 %.
        t.report_loss(start + Duration::from_secs(5), 11.0 / 255.0);
        assert_eq!(t.fec_for(), 5);
        let (fec, all) = with_fec(&mut t, 200, 100);
        assert!(fec > all / 2, "FEC in {fec} of {all}");
    }

    #[test]
    fn fec_stays_thirty_seconds_after_the_last_loss() {
        let mut t = Transcoder::new(G711::Alaw).unwrap();
        let start = Instant::now();
        t.report_loss(start, 3.0 / 255.0);
        assert_eq!(t.fec_for(), 2);
        let last_loss = start + Duration::from_secs(4);
        t.report_loss(last_loss, 0.5);
        // Heavy loss: FEC for at most 30 %.
        assert_eq!(t.fec_for(), 30);
        t.report_loss(last_loss + Duration::from_millis(29_999), 0.0);
        assert_eq!(t.fec_for(), 30);
        t.report_loss(last_loss + FEC_HOLD, 0.0);
        assert_eq!(t.fec_for(), 0);
        with_fec(&mut t, 0, 1);
        assert_eq!(with_fec(&mut t, 1, 50), (0, 50));
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
