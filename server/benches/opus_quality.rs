//! Speech through the gateway's transcoder (run by `bench/opus-quality`):
//! the G.711 a SIP phone would send, then the Opus the gateway sends a
//! browser without FEC (a link reported clean) and with FEC for 5 % (the
//! start of a call, or a link reported lossy), decoded as a browser decodes
//! it — with no loss, and with 5 % of the packets lost (a lost packet is
//! recovered from the next one's FEC when it has some, else concealed).
//! Writes raw 16-bit 8 kHz files for a PESQ scorer, and times the encoder.
//!
//!   cargo bench -p careline-server --bench opus_quality -- SPEECH.raw OUT_DIR

use std::time::Instant;

use careline_server::media::transcode::{Transcoder, carries_fec};
use careline_shared::rtp::G711;

const FRAME: usize = 160;

fn write(path: &std::path::Path, pcm: &[i16]) {
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The browser's side: decodes at 8 kHz; `lost[i]` packets never arrive.
fn browser_hears(packets: &[Vec<u8>], lost: &[bool]) -> Vec<i16> {
    let mut decoder = opus::Decoder::new(8000, opus::Channels::Mono).unwrap();
    let mut pcm = [0i16; 960];
    let mut heard = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let n = if !lost[i] {
            decoder.decode(p, &mut pcm, false)
        } else if let Some(next) = packets
            .get(i + 1)
            .filter(|_| !lost.get(i + 1).copied().unwrap_or(true))
        {
            decoder.decode(next, &mut pcm[..FRAME], true)
        } else {
            decoder.decode(&[], &mut pcm[..FRAME], false)
        }
        .unwrap_or(0);
        heard.extend_from_slice(&pcm[..n]);
    }
    heard
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (Some(input), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: opus_quality SPEECH.raw OUT_DIR");
        std::process::exit(2);
    };
    let out = std::path::Path::new(out);
    let raw = std::fs::read(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    let speech: Vec<i16> = raw
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let frames = speech.len() / FRAME;
    // What the SIP phone sends: μ-law.
    let law = G711::Ulaw;
    let g711: Vec<u8> = speech[..frames * FRAME]
        .iter()
        .map(|&s| law.encode(s))
        .collect();
    write(
        &out.join("g711.raw"),
        &g711.iter().map(|&c| law.decode(c)).collect::<Vec<_>>(),
    );
    // One packet in twenty lost, the same ones for every link.
    let mut seed = 7u32;
    let lost: Vec<bool> = (0..frames)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) % 100 < 5
        })
        .collect();
    let none = vec![false; frames];
    println!(
        "speech: {:.1} s, {frames} frames; loss pattern: {} of {frames} lost",
        frames as f64 / 50.0,
        lost.iter().filter(|&&l| l).count()
    );
    for (name, loss_reported) in [("no_fec", 0.0), ("fec", 0.05)] {
        let mut t = Transcoder::new(law).unwrap();
        t.report_loss(Instant::now(), loss_reported);
        let fec_for = t.fec_for();
        let mut packets = Vec::new();
        let start = Instant::now();
        for (i, chunk) in g711.chunks_exact(FRAME).enumerate() {
            t.to_opus((i * FRAME) as u32, chunk, |_, opus| {
                packets.push(opus.to_vec())
            });
        }
        let per_frame = start.elapsed().as_secs_f64() / frames as f64 * 1e6;
        let bytes: usize = packets.iter().map(Vec::len).sum();
        let kbps = bytes as f64 * 8.0 / (frames as f64 * 0.02) / 1000.0;
        let with_fec = packets.iter().filter(|p| carries_fec(p)).count();
        println!(
            "FEC for {fec_for} %: encoder {per_frame:.1} µs a frame, {kbps:.1} kb/s, FEC in {with_fec} of {} packets",
            packets.len()
        );
        write(
            &out.join(format!("{name}.raw")),
            &browser_hears(&packets, &none),
        );
        write(
            &out.join(format!("{name}_loss5.raw")),
            &browser_hears(&packets, &lost),
        );
    }
}
