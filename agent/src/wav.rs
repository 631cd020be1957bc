//! Telephone-band WAV files (8 kHz, mono, 16-bit PCM): what the headless
//! agent plays into its calls and records out of them.

use std::io::{self, Read, Seek, SeekFrom, Write};

use anyhow::{Result, bail};

use crate::stream::FRAME_SAMPLES;

/// The one format read and written.
const RATE: u32 = 8000;

/// Reads a whole 8 kHz mono 16-bit WAV file's samples.
pub fn read(mut r: impl Read) -> Result<Vec<i16>> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("not a WAV file");
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into()?) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        match id {
            b"fmt " if body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes(body[4..8].try_into()?);
                let (format, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
                if format != 1 || channels != 1 || bits != 16 || rate != RATE {
                    bail!(
                        "the WAV file is {rate} Hz, {channels} channel(s), {bits}-bit (format {format}); 8000 Hz mono 16-bit PCM is needed"
                    );
                }
                format_ok = true;
            }
            b"data" if format_ok => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect());
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    bail!("the WAV file has no 8 kHz PCM data")
}

/// Writes frames to a WAV file as they come; the sizes are filled in by
/// [`Writer::finish`].
pub struct Writer<W: Write + Seek> {
    out: W,
    samples: u32,
}

impl<W: Write + Seek> Writer<W> {
    /// Starts a file.
    pub fn new(mut out: W) -> io::Result<Writer<W>> {
        out.write_all(&header(0))?;
        Ok(Writer { out, samples: 0 })
    }

    /// Appends one frame.
    pub fn frame(&mut self, frame: &[i16; FRAME_SAMPLES]) -> io::Result<()> {
        let mut bytes = [0u8; FRAME_SAMPLES * 2];
        for (b, s) in bytes.chunks_exact_mut(2).zip(frame) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        self.samples += FRAME_SAMPLES as u32;
        self.out.write_all(&bytes)
    }

    /// Writes the sizes and hands the file back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(self.samples))?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn header(samples: u32) -> [u8; 44] {
    let data = samples * 2;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn what_is_written_reads_back_and_other_formats_are_named() {
        let mut w = Writer::new(Cursor::new(Vec::new())).unwrap();
        let a: [i16; FRAME_SAMPLES] = std::array::from_fn(|i| i as i16 * 100 - 8000);
        w.frame(&a).unwrap();
        w.frame(&[7; FRAME_SAMPLES]).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(bytes.len(), 44 + 4 * FRAME_SAMPLES);
        let back = read(&bytes[..]).unwrap();
        assert_eq!(&back[..FRAME_SAMPLES], &a[..]);
        assert_eq!(back[FRAME_SAMPLES..], [7; FRAME_SAMPLES]);

        let mut stereo = bytes.clone();
        stereo[22] = 2;
        let e = read(&stereo[..]).unwrap_err().to_string();
        assert!(
            e.contains("2 channel(s)") && e.contains("8000 Hz mono"),
            "{e}"
        );
        assert!(read(&b"RIFX...."[..]).is_err());
        assert!(read(&bytes[..30]).is_err());
    }
}
