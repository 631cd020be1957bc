//! G.711 (ITU-T): 16-bit linear PCM to 8-bit μ-law (PCMU, payload type 0) and
//! A-law (PCMA, payload type 8), computed bit by bit rather than from tables.
//!
//! Both laws split the magnitude into 8 segments (a 3-bit exponent) of 16
//! steps (a 4-bit mantissa). μ-law adds a bias of 0x84 so that segment
//! boundaries fall on powers of two; A-law works on 13 bits and makes the
//! first two segments linear. The decoders return the middle of each step.

/// μ-law's bias, added before finding the segment.
const ULAW_BIAS: i32 = 0x84;
/// The largest magnitude μ-law encodes without clipping (0x7F7B + bias = 0x7FFF).
const ULAW_CLIP: i32 = 32635;

/// Encodes one sample as μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(ULAW_CLIP) + ULAW_BIAS;
    // The biased magnitude is 0x84..=0x7FFF: its top bit is bit 7..=14.
    let exponent = (31 - magnitude.leading_zeros() as i32) - 7;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one μ-law byte.
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let exponent = (c >> 4) & 0x07;
    let mantissa = i32::from(c & 0x0f);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if c & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// Encodes one sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law is defined on 13 bits; negative values are coded as -v-1 so the
    // two halves mirror each other.
    let v = i32::from(sample) >> 3;
    let (sign, magnitude) = if v >= 0 { (0x80, v) } else { (0x00, -v - 1) };
    let segment = if magnitude < 0x20 {
        0
    } else {
        (32 - magnitude.leading_zeros() as i32) - 5
    };
    let shift = if segment < 2 { 1 } else { segment };
    let mantissa = (magnitude >> shift) & 0x0f;
    ((sign | (segment << 4) | mantissa) ^ 0x55) as u8
}

/// Decodes one A-law byte.
pub fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = (c >> 4) & 0x07;
    let step = i32::from(c & 0x0f) << 4;
    let magnitude = match segment {
        0 => step + 8,
        _ => (step + 0x108) << (segment - 1),
    };
    (if c & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// Which G.711 law a stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum G711 {
    /// μ-law, PCMU, static payload type 0 (North America, Japan).
    Ulaw,
    /// A-law, PCMA, static payload type 8 (Europe and most of the world).
    Alaw,
}

impl G711 {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Ulaw => 0,
            G711::Alaw => 8,
        }
    }

    /// The encoding name used in SDP `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            G711::Ulaw => "PCMU",
            G711::Alaw => "PCMA",
        }
    }

    /// The byte that decodes to (nearly) zero.
    pub fn silence(self) -> u8 {
        match self {
            G711::Ulaw => 0xff,
            G711::Alaw => 0xd5,
        }
    }

    /// Encodes one sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            G711::Ulaw => ulaw_encode(sample),
            G711::Alaw => alaw_encode(sample),
        }
    }

    /// Decodes one byte.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            G711::Ulaw => ulaw_decode(code),
            G711::Alaw => alaw_decode(code),
        }
    }

    /// Encodes as many samples as both slices hold (the law chosen once,
    /// not per sample).
    pub fn encode_into(self, samples: &[i16], out: &mut [u8]) {
        let encode = match self {
            G711::Ulaw => ulaw_encode,
            G711::Alaw => alaw_encode,
        };
        for (o, s) in out.iter_mut().zip(samples) {
            *o = encode(*s);
        }
    }

    /// Decodes as many bytes as both slices hold (the law chosen once).
    pub fn decode_into(self, codes: &[u8], out: &mut [i16]) {
        let decode = match self {
            G711::Ulaw => ulaw_decode,
            G711::Alaw => alaw_decode,
        };
        for (o, c) in out.iter_mut().zip(codes) {
            *o = decode(*c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root-mean-square level in dB relative to full scale.
    fn level_db(samples: &[i16]) -> f64 {
        let power: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        10.0 * (power / samples.len() as f64 / f64::from(i16::MAX).powi(2)).log10()
    }

    fn tone(freq: f64, amplitude: f64) -> Vec<i16> {
        (0..8000)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn known_code_points() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            // μ-law has two zeros (0x7F is "negative zero"); both decode to 0.
            let expected = if code == 0x7f { 0xff } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), expected, "ulaw {code:#x}");
            assert_eq!(alaw_encode(alaw_decode(code)), code, "alaw {code:#x}");
        }
    }

    #[test]
    fn decoding_is_monotonic_and_error_is_within_half_a_step() {
        // Every linear value encodes to the nearest-below code; the decoded
        // value lies within the step, so the error is bounded by the step size
        // of the top segment (1024 for μ-law, 512 for A-law).
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            let su = i32::from(s).clamp(-ULAW_CLIP, ULAW_CLIP);
            assert!((i32::from(u) - su).abs() <= 512, "ulaw {s} -> {u}");
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= 512,
                "alaw {s} -> {a}"
            );
        }
    }

    #[test]
    fn a_440_hz_tone_keeps_its_level_within_1_db() {
        for amplitude in [300.0, 3000.0, 16000.0, 30000.0] {
            let pcm = tone(440.0, amplitude);
            for law in [G711::Ulaw, G711::Alaw] {
                let mut coded = vec![0u8; pcm.len()];
                let mut back = vec![0i16; pcm.len()];
                law.encode_into(&pcm, &mut coded);
                law.decode_into(&coded, &mut back);
                let diff = (level_db(&back) - level_db(&pcm)).abs();
                assert!(diff < 1.0, "{law:?} at {amplitude}: {diff} dB");
            }
        }
    }

    #[test]
    fn silence_bytes_decode_to_near_zero() {
        for law in [G711::Ulaw, G711::Alaw] {
            assert!(law.decode(law.silence()).abs() <= 8);
            assert_eq!(law.encode(0), law.silence());
        }
        assert_eq!(G711::Ulaw.payload_type(), 0);
        assert_eq!(G711::Alaw.name(), "PCMA");
    }
}
