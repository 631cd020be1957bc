//! What the server plays: ringback and music on hold, generated here or read
//! from a file, and stored once per engine already encoded in both G.711 laws
//! as a loop of whole 20 ms frames. Sessions only copy 160 bytes per frame.

use std::f64::consts::TAU;
use std::sync::Arc;

use careline_shared::rtp::G711;

use super::{MediaConfig, MediaError, audio_file};

/// Samples per second of everything played.
pub(crate) const RATE: usize = 8000;
/// Samples (and G.711 bytes) in one 20 ms frame.
pub(crate) const FRAME: usize = 160;

/// One looped sound, encoded in both laws.
#[derive(Clone, Debug)]
pub(crate) struct Prompt {
    ulaw: Arc<[u8]>,
    alaw: Arc<[u8]>,
}

impl Prompt {
    /// Encodes `pcm`, padded with silence to whole frames.
    pub(crate) fn from_pcm(pcm: &[i16]) -> Prompt {
        let frames = pcm.len().div_ceil(FRAME).max(1);
        let mut padded = pcm.to_vec();
        padded.resize(frames * FRAME, 0);
        let encode = |law: G711| padded.iter().map(|s| law.encode(*s)).collect::<Arc<[u8]>>();
        Prompt {
            ulaw: encode(G711::Ulaw),
            alaw: encode(G711::Alaw),
        }
    }

    /// The loop in one law; its length is a multiple of [`FRAME`].
    pub(crate) fn encoded(&self, law: G711) -> Arc<[u8]> {
        match law {
            G711::Ulaw => Arc::clone(&self.ulaw),
            G711::Alaw => Arc::clone(&self.alaw),
        }
    }
}

/// The engine's sounds.
#[derive(Clone, Debug)]
pub(crate) struct Prompts {
    pub(crate) ringback: Prompt,
    pub(crate) hold: Prompt,
    /// Told to a caller whose agent's line broke off, before the hang-up.
    pub(crate) dropped: Prompt,
}

impl Prompts {
    /// The configured files, or the generated sounds.
    pub(crate) fn load(config: &MediaConfig) -> Result<Prompts, MediaError> {
        let ringback = match &config.ringback_file {
            Some(path) => audio_file::load(path)?,
            None => ringback_tone(),
        };
        let hold = match &config.hold_file {
            Some(path) => audio_file::load(path)?,
            None => hold_chime(),
        };
        let dropped = match &config.dropped_file {
            Some(path) => audio_file::load(path)?,
            None => dropped_tones(),
        };
        Ok(Prompts {
            ringback: Prompt::from_pcm(&ringback),
            hold: Prompt::from_pcm(&hold),
            dropped: Prompt::from_pcm(&dropped),
        })
    }
}

/// One ring cycle: 425 Hz for 1 s, then 4 s of silence (ITU-T E.180, the
/// European cadence; the call core's three-ring deadline counts these cycles).
/// 425 whole periods fit in the second, so the tone starts and stops at a
/// zero crossing and the loop never clicks.
pub(crate) fn ringback_tone() -> Vec<i16> {
    const AMPLITUDE: f64 = 7000.0; // about -13 dBm0
    let mut pcm = vec![0i16; 5 * RATE];
    for (n, s) in pcm.iter_mut().take(RATE).enumerate() {
        *s = (AMPLITUDE * (TAU * 425.0 * n as f64 / RATE as f64).sin()) as i16;
    }
    pcm
}

/// Music on hold: a slow, quiet pentatonic chime (soft attack, bell-like
/// decay, an octave below for warmth), eight notes and a pause, 5 s a loop.
/// Quiet enough not to annoy, clearly "you are still connected".
pub(crate) fn hold_chime() -> Vec<i16> {
    const NOTES: [f64; 8] = [
        659.25, 783.99, 880.0, 783.99, 659.25, 587.33, 523.25, 587.33,
    ];
    const NOTE: usize = RATE / 2;
    const PEAK: f64 = 5000.0;
    let mut pcm = vec![0i16; 5 * RATE];
    for (i, freq) in NOTES.iter().enumerate() {
        for n in 0..NOTE {
            let t = n as f64 / RATE as f64;
            let attack = (t / 0.02).min(1.0);
            // Decays to ~1% by the note's end, so consecutive notes do not clash.
            let envelope = attack * (-t * 9.0).exp();
            let wave = (TAU * freq * t).sin() + 0.3 * (TAU * freq / 2.0 * t).sin();
            pcm[i * NOTE + n] = (PEAK / 1.3 * envelope * wave) as i16;
        }
    }
    pcm
}

/// The line broke off: the three rising information tones (950, 1400 and
/// 1800 Hz, a third of a second each, ITU-T E.180's special information
/// tone), then a second of quiet — unmistakably "not a person", where no
/// recorded message is configured.
pub(crate) fn dropped_tones() -> Vec<i16> {
    const AMPLITUDE: f64 = 6000.0;
    const TONE: usize = RATE / 3;
    let mut pcm = vec![0i16; 3 * TONE + RATE];
    for (i, freq) in [950.0, 1400.0, 1800.0].iter().enumerate() {
        for n in 0..TONE {
            let t = n as f64 / RATE as f64;
            // 5 ms ramps so the tones do not click.
            let ramp = (t / 0.005)
                .min(((TONE - n) as f64 / RATE as f64) / 0.005)
                .min(1.0);
            pcm[i * TONE + n] = (AMPLITUDE * ramp * (TAU * freq * t).sin()) as i16;
        }
    }
    pcm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dropped_line_tones_rise_then_fall_quiet() {
        let pcm = dropped_tones();
        let third = RATE / 3;
        let crossings = |s: &[i16]| s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let counts: Vec<usize> = (0..3)
            .map(|i| crossings(&pcm[i * third..(i + 1) * third]))
            .collect();
        assert!(counts[0] < counts[1] && counts[1] < counts[2], "{counts:?}");
        assert!(pcm[3 * third..].iter().all(|s| *s == 0));
    }

    fn rms(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
    }

    #[test]
    fn ringback_is_one_second_on_four_off() {
        let pcm = ringback_tone();
        assert_eq!(pcm.len(), 5 * RATE);
        assert!(rms(&pcm[..RATE]) > 4000.0);
        assert!(pcm[RATE..].iter().all(|s| *s == 0));
        // 425 Hz: 850 sign changes in the second that rings.
        let crossings = pcm[..RATE]
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        assert!((845..=855).contains(&crossings), "{crossings}");
    }

    #[test]
    fn hold_chime_is_gentle_and_loops_in_whole_frames() {
        let pcm = hold_chime();
        assert_eq!(pcm.len() % FRAME, 0);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((2000..=6000).contains(&peak), "{peak}");
        assert!(rms(&pcm) > 300.0);
    }

    #[test]
    fn prompts_are_whole_frames_in_both_laws() {
        let p = Prompt::from_pcm(&[1000; 200]);
        assert_eq!(p.encoded(G711::Ulaw).len(), 2 * FRAME);
        assert_eq!(p.encoded(G711::Alaw)[FRAME * 2 - 1], G711::Alaw.silence());
        assert_eq!(Prompt::from_pcm(&[]).encoded(G711::Ulaw).len(), FRAME);
        let defaults = Prompts::load(&MediaConfig::default()).unwrap();
        assert_eq!(defaults.ringback.encoded(G711::Alaw).len(), 5 * RATE);
    }
}
