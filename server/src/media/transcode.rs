//! Opus ↔ G.711 for the WebRTC gateway, sans-IO: a browser leg on Opus
//! joined to a SIP leg on PCMU or PCMA. Opus runs narrowband at 8 kHz (its
//! own resampler does 48 ↔ 8 kHz; the RTP clock stays 48 kHz), in its VoIP
//! mode with in-band FEC towards the browser. [`Transcoder::to_g711`] can
//! conceal a lost packet (an empty payload), but the gateway does not call
//! it for gaps yet: str0m hands over only the packets that arrived.
//!
//! G.711 packets of any length are cut into 20 ms Opus frames (a 30 ms
//! G.711 stream gives three frames every two packets); every Opus packet
//! gives one G.711 packet of the same duration.

use careline_shared::rtp::G711;

/// Samples in 20 ms at 8 kHz.
const FRAME: usize = 160;
/// The RTP clock of Opus (RFC 7587) over that of G.711.
const CLOCK_RATIO: u32 = 6;
/// Largest Opus packet we write (20 ms at our bitrate is far below).
const MAX_OPUS: usize = 400;
/// The encoder's complexity (0–10).
const COMPLEXITY: i32 = 1;
/// Longest Opus packet we decode: 120 ms at 8 kHz.
const MAX_SAMPLES: usize = 960;

/// One call's transcoder, both directions.
pub struct Transcoder {
    law: G711,
    encoder: opus::Encoder,
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
        let mut encoder = opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| format!("opus encoder: {e}"))?;
        // Narrowband speech: 16 kb/s with room for FEC is plenty. At
        // complexity 2 and above SILK's quantizer searches with delayed
        // decision, alone a fifth of the gateway's time in bench/webrtc;
        // complexity 1 uses the plain quantizer, a difference that 8 kHz
        // audio bound for G.711 barely shows (the tone test below holds).
        let _ = encoder.set_bitrate(opus::Bitrate::Bits(16_000));
        let _ = encoder.set_complexity(COMPLEXITY);
        let _ = encoder.set_inband_fec(true);
        let _ = encoder.set_packet_loss_perc(5);
        let decoder = opus::Decoder::new(8000, opus::Channels::Mono)
            .map_err(|e| format!("opus decoder: {e}"))?;
        Ok(Transcoder {
            law,
            encoder,
            decoder,
            pending: Vec::with_capacity(2 * FRAME),
            pending_ts: None,
            pcm: vec![0; MAX_SAMPLES],
            opus: vec![0; MAX_OPUS],
        })
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
        for law in [G711::Ulaw, G711::Alaw] {
            // The SIP side's transcoder, and the browser's end of it: the
            // tone goes G.711 → Opus (to the browser) and Opus → G.711
            // (the browser's reply, here the same frames sent back).
            let mut sip_side = Transcoder::new(law).unwrap();
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
            assert_eq!(frames, 100, "{law:?}");
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
            assert!(db.abs() < 2.0, "{law:?}: level changed by {db:.2} dB");
            let hz = pitch(steady);
            assert!((hz - 440.0).abs() <= 5.0, "{law:?}: pitch {hz} Hz");
        }
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
