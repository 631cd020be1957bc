//! Reading ringback and hold music from disk: WAV (RIFF) with 16-bit PCM,
//! μ-law or A-law at 8 kHz, mono or stereo (mixed down), or headerless files
//! named by extension. Nothing is resampled: a file at another rate is
//! refused with a message saying so, rather than played at the wrong pitch.

use std::path::Path;

use careline_shared::rtp::G711;

use super::MediaError;
use super::tones::RATE;

/// Ten minutes of 16-bit audio; anything longer is not hold music.
const MAX_FILE: usize = 10 * 60 * RATE * 2 + 4096;

/// Reads a file into 8 kHz mono samples.
pub(crate) fn load(path: &Path) -> Result<Vec<i16>, MediaError> {
    let fail = |reason| MediaError::AudioFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|_| fail("cannot be read"))?;
    if meta.len() > MAX_FILE as u64 {
        return Err(fail("is longer than ten minutes"));
    }
    let bytes = std::fs::read(path).map_err(|_| fail("cannot be read"))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pcm = match ext.as_str() {
        "wav" => parse_wav(&bytes).map_err(fail)?,
        "raw" | "sln" | "s16" | "pcm" => s16le(&bytes, 1),
        "ul" | "ulaw" | "mulaw" | "pcmu" => g711(&bytes, G711::Ulaw, 1),
        "al" | "alaw" | "pcma" => g711(&bytes, G711::Alaw, 1),
        _ => {
            return Err(fail(
                "has an unknown extension (use .wav, .raw, .sln, .ul or .al)",
            ));
        }
    };
    if pcm.is_empty() {
        return Err(fail("holds no audio"));
    }
    Ok(pcm)
}

/// The WAV format tags we decode.
const WAVE_PCM: u16 = 1;
const WAVE_ALAW: u16 = 6;
const WAVE_MULAW: u16 = 7;
const WAVE_EXTENSIBLE: u16 = 0xfffe;

fn parse_wav(bytes: &[u8]) -> Result<Vec<i16>, &'static str> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("is not a WAV file");
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let mut format = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body_start = at + 8;
        // Streaming writers leave the data size at its maximum: take what is there.
        let body_end = body_start.saturating_add(size as usize).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " if body.len() >= 16 => {
                let mut tag = u16_at(body, 0);
                if tag == WAVE_EXTENSIBLE && body.len() >= 26 {
                    tag = u16_at(body, 24);
                }
                let channels = u16_at(body, 2);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let bits = u16_at(body, 14);
                format = Some((tag, channels, rate, bits));
            }
            b"data" => {
                let (tag, channels, rate, bits) =
                    format.ok_or("has no fmt chunk before its data")?;
                if rate != RATE as u32 {
                    return Err("is not sampled at 8000 Hz");
                }
                let channels = match channels {
                    1 | 2 => usize::from(channels),
                    _ => return Err("is neither mono nor stereo"),
                };
                return match (tag, bits) {
                    (WAVE_PCM, 16) => Ok(s16le(body, channels)),
                    (WAVE_MULAW, 8) => Ok(g711(body, G711::Ulaw, channels)),
                    (WAVE_ALAW, 8) => Ok(g711(body, G711::Alaw, channels)),
                    _ => Err("is not 16-bit PCM, μ-law or A-law"),
                };
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body_start
            .saturating_add(size as usize)
            .saturating_add(size as usize & 1);
    }
    Err("has no data chunk")
}

/// Little-endian 16-bit samples, channels averaged.
fn s16le(bytes: &[u8], channels: usize) -> Vec<i16> {
    bytes
        .chunks_exact(2 * channels)
        .map(|frame| {
            let sum: i32 = frame
                .chunks_exact(2)
                .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                .sum();
            (sum / channels as i32) as i16
        })
        .collect()
}

/// G.711 bytes, channels averaged.
fn g711(bytes: &[u8], law: G711, channels: usize) -> Vec<i16> {
    bytes
        .chunks_exact(channels)
        .map(|frame| {
            let sum: i32 = frame.iter().map(|c| i32::from(law.decode(*c))).sum();
            (sum / channels as i32) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        out.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // an odd-sized chunk to skip
        out.extend_from_slice(b"fmt \x10\0\0\0");
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&[0; 6]); // byte rate, block align
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_pcm_mulaw_alaw_and_stereo_wav() {
        let dir = tempfile::tempdir().unwrap();
        let pcm = write(
            &dir,
            "a.wav",
            &wav(1, 1, 8000, 16, &[0x10, 0x27, 0xf0, 0xd8]),
        );
        assert_eq!(load(&pcm).unwrap(), vec![10000, -10000]);
        let stereo = write(
            &dir,
            "s.wav",
            &wav(1, 2, 8000, 16, &[0x10, 0x27, 0x00, 0x00]),
        );
        assert_eq!(load(&stereo).unwrap(), vec![5000]);
        let mu = write(&dir, "u.wav", &wav(7, 1, 8000, 8, &[0xff, 0x80]));
        assert_eq!(load(&mu).unwrap(), vec![0, 32124]);
        let a = write(&dir, "a-law.WAV", &wav(6, 1, 8000, 8, &[0xd5]));
        assert_eq!(load(&a).unwrap(), vec![8]);
    }

    #[test]
    fn reads_headerless_files_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(&write(&dir, "x.raw", &[0xe8, 0x03])).unwrap(),
            vec![1000]
        );
        assert_eq!(load(&write(&dir, "x.ul", &[0xff])).unwrap(), vec![0]);
        assert_eq!(load(&write(&dir, "x.al", &[0x55])).unwrap(), vec![-8]);
    }

    #[test]
    fn refuses_what_it_cannot_play_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let reason = |path: std::path::PathBuf| match load(&path) {
            Err(MediaError::AudioFile { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(dir.path().join("missing.wav")), "cannot be read");
        assert_eq!(
            reason(write(&dir, "r.wav", &wav(1, 1, 44100, 16, &[0, 0]))),
            "is not sampled at 8000 Hz"
        );
        assert_eq!(
            reason(write(&dir, "f.wav", &wav(3, 1, 8000, 32, &[0; 4]))),
            "is not 16-bit PCM, μ-law or A-law"
        );
        assert_eq!(
            reason(write(&dir, "n.wav", b"RIFF\0\0\0\0WAVEjunk")),
            "has no data chunk"
        );
        assert_eq!(reason(write(&dir, "t.wav", b"hello")), "is not a WAV file");
        assert_eq!(reason(write(&dir, "e.raw", b"")), "holds no audio");
        assert!(reason(write(&dir, "x.mp3", b"ID3")).contains("unknown extension"));
    }

    #[test]
    fn truncated_wav_never_panics() {
        let full = wav(1, 2, 8000, 16, &[1; 64]);
        for cut in 0..full.len() {
            let _ = parse_wav(&full[..cut]);
        }
        let mut huge = wav(1, 1, 8000, 16, &[1; 8]);
        let at = huge.len() - 12;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_wav(&huge).unwrap().len(), 4);
    }
}
