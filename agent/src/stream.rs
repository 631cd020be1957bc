//! One line's audio, sans-IO: 20 ms frames of samples become G.711 RTP
//! packets, and received packets go through the jitter buffer and come out
//! as 20 ms frames for the headset (or a file), whatever the sender's
//! packet length (10, 20, 30 ms …: the jitter buffer works in the
//! sender's packets, the playout in our frames). The driver calls
//! [`AudioStream::send_frame`] and [`AudioStream::play_frame`] every 20 ms
//! of its own clock and [`AudioStream::receive`] for each datagram; time
//! is always an argument.
//!
//! Voice is G.711 (μ-law, A-law) or Opus (RFC 7587: a 48 kHz RTP clock,
//! coded here at 8 kHz narrowband, with the decoder's own loss
//! concealment); other codecs get no stream.

use std::time::{Duration, Instant};

use careline_shared::rtp::{G711, RtpHeader, RtpPacket, TelephoneEvent};
use careline_shared::sdp::CodecKind;

use crate::jitter::{JitterBuffer, Playout, Settings};
use crate::phone::Media;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Our playout period.
const FRAME: Duration = Duration::from_millis(20);

/// The least the jitter buffer holds before playing, for a sender's packet
/// length: one packet when packets divide our 20 ms period (each period
/// then finds a whole frame in), two when they beat against it (30 ms
/// packets leave some periods with none arriving).
fn min_delay(packet: Duration) -> Duration {
    if !packet.is_zero() && FRAME.as_micros().is_multiple_of(packet.as_micros()) {
        FRAME
    } else {
        packet * 2
    }
}

/// A key press lasts this many frames (100 ms), then three end packets.
const DTMF_FRAMES: u16 = 5;
const DTMF_END_PACKETS: u16 = 3;

/// A key press being sent (RFC 4733 §2.5.1).
#[derive(Debug, Clone, Copy)]
struct KeyPress {
    event: u8,
    /// The timestamp all its packets carry: where it started.
    start: u32,
    /// Packets sent so far.
    sent: u16,
}

/// What went through a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets sent.
    pub sent: u64,
    /// RTP packets received with our payload type.
    pub received: u64,
    /// Datagrams that were not RTP, or not our payload type.
    pub ignored: u64,
    /// Frames played from received audio.
    pub played: u64,
    /// Frame periods concealed (loss, underrun).
    pub concealed: u64,
    /// The jitter buffer's own account (lost, late, underruns …).
    pub jitter: crate::jitter::Stats,
}

/// The voice codec of a stream.
enum Voice {
    G711(G711),
    Opus {
        encoder: Box<opus::Encoder>,
        decoder: Box<opus::Decoder>,
    },
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Voice::G711(law) => write!(f, "{}", law.name()),
            Voice::Opus { .. } => f.write_str("opus"),
        }
    }
}

/// Opus packets are at most 120 ms: 960 samples at 8 kHz.
const OPUS_MAX_SAMPLES: usize = 960;

impl Voice {
    fn for_codec(kind: CodecKind) -> Option<Voice> {
        Some(match kind {
            CodecKind::Pcmu => Voice::G711(G711::Ulaw),
            CodecKind::Pcma => Voice::G711(G711::Alaw),
            CodecKind::Opus => {
                let mut encoder =
                    opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::LowDelay)
                        .ok()?;
                // The low-delay mode (2.5 ms of look-ahead rather than
                // SILK's 6.5 ms keeps mouth-to-ear within 40 ms; see
                // BENCHMARKS.md); speech at telephone quality, robust to a
                // lost packet.
                let _ = encoder.set_bitrate(opus::Bitrate::Bits(16_000));
                let _ = encoder.set_inband_fec(true);
                let _ = encoder.set_packet_loss_perc(5);
                Voice::Opus {
                    encoder: Box::new(encoder),
                    decoder: Box::new(opus::Decoder::new(8000, opus::Channels::Mono).ok()?),
                }
            }
            _ => return None,
        })
    }

    /// The RTP clock.
    fn clock_rate(&self) -> u32 {
        match self {
            Voice::G711(_) => 8000,
            Voice::Opus { .. } => 48_000,
        }
    }

    /// Encodes 20 ms into `out`: the payload's length.
    fn encode(
        &mut self,
        samples: &[i16; FRAME_SAMPLES],
        muted: bool,
        out: &mut [u8],
    ) -> Option<usize> {
        let silence = [0i16; FRAME_SAMPLES];
        let input = if muted { &silence } else { samples };
        match self {
            Voice::G711(law) => {
                let out = out.get_mut(..FRAME_SAMPLES)?;
                law.encode_into(input, out);
                Some(FRAME_SAMPLES)
            }
            Voice::Opus { encoder, .. } => encoder.encode(input, out).ok(),
        }
    }

    /// A payload's duration in RTP clock units.
    fn duration(&self, payload: &[u8]) -> Option<u32> {
        match self {
            Voice::G711(_) => (!payload.is_empty()).then_some(payload.len() as u32),
            Voice::Opus { .. } => opus::packet::get_nb_samples(payload, 48_000)
                .ok()
                .filter(|&n| n > 0)
                .map(|n| n as u32),
        }
    }

    /// A payload's samples at 8 kHz.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.clear();
        match self {
            Voice::G711(law) => out.extend(payload.iter().map(|&c| law.decode(c))),
            Voice::Opus { decoder, .. } => {
                let mut buf = [0i16; OPUS_MAX_SAMPLES];
                if let Ok(n) = decoder.decode(payload, &mut buf, false) {
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    /// Stands in for a lost packet as long as `last`: Opus's own
    /// concealment, or for G.711 the last packet at half the level (a
    /// long gap fades to silence).
    fn conceal(&mut self, last: &mut Vec<i16>) {
        match self {
            Voice::G711(_) => {
                for s in last.iter_mut() {
                    *s /= 2;
                }
            }
            Voice::Opus { decoder, .. } => {
                let mut buf = vec![0i16; last.len().clamp(80, OPUS_MAX_SAMPLES)];
                if let Ok(n) = decoder.decode(&[], &mut buf, false) {
                    buf.truncate(n);
                    *last = buf;
                }
            }
        }
    }
}

/// One line's audio.
#[derive(Debug)]
pub struct AudioStream {
    voice: Voice,
    pt: u8,
    send: bool,
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// Made for the sender's packet length once the first one comes.
    jitter: Option<JitterBuffer<Vec<u8>>>,
    /// The source being played; another one starts a new buffer.
    source_ssrc: Option<u32>,
    /// Decoded samples waiting to be played.
    pending: std::collections::VecDeque<i16>,
    /// The last packet played, faded for each concealed one.
    last_played: Vec<i16>,
    dtmf_pt: Option<u8>,
    /// Keys waiting, and the one being sent.
    keys: std::collections::VecDeque<u8>,
    key: Option<KeyPress>,
    muted: bool,
    counters: Counters,
}

impl AudioStream {
    /// A stream for the media a line agreed on; `None` when its codec is
    /// neither G.711 nor Opus. `random` seeds the SSRC, first sequence
    /// number and timestamp (RFC 3550 §5.1 wants them unpredictable).
    pub fn new(media: &Media, random: u64) -> Option<AudioStream> {
        Some(AudioStream {
            voice: Voice::for_codec(media.codec.kind())?,
            pt: media.codec.pt,
            send: media.send,
            ssrc: random as u32,
            seq: (random >> 32) as u16,
            ts: (random >> 16) as u32,
            jitter: None,
            source_ssrc: None,
            pending: std::collections::VecDeque::new(),
            last_played: Vec::new(),
            dtmf_pt: media.dtmf_pt,
            keys: std::collections::VecDeque::new(),
            key: None,
            muted: false,
            counters: Counters::default(),
        })
    }

    /// The line's media changed (hold, a transfer): same SSRC and numbering,
    /// new codec or direction.
    pub fn update(&mut self, media: &Media) {
        if self.pt != media.codec.pt
            && let Some(voice) = Voice::for_codec(media.codec.kind())
        {
            self.voice = voice;
            self.restart_playout();
        }
        self.pt = media.codec.pt;
        self.dtmf_pt = media.dtmf_pt;
        self.send = media.send;
    }

    /// Forgets what was buffered: a new source, codec or packet length.
    fn restart_playout(&mut self) {
        self.jitter = None;
        self.pending.clear();
        self.last_played.clear();
    }

    /// Mutes (silence goes out instead of our audio) or unmutes.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Queues a DTMF key as RFC 4733 events; `false` when the line agreed
    /// on none or it is not a key.
    pub fn press(&mut self, key: char) -> bool {
        match (self.dtmf_pt, TelephoneEvent::code_of(key)) {
            (Some(_), Some(code)) => {
                self.keys.push_back(code);
                true
            }
            _ => false,
        }
    }

    /// What went through so far.
    pub fn counters(&self) -> Counters {
        Counters {
            jitter: self
                .jitter
                .as_ref()
                .map(JitterBuffer::stats)
                .unwrap_or_default(),
            ..self.counters
        }
    }

    /// One frame of our audio as an RTP packet in `out`: its length, or
    /// `None` while we may not send (held `recvonly`). The timestamp moves
    /// on either way, as the clock does.
    pub fn send_frame(&mut self, samples: &[i16; FRAME_SAMPLES], out: &mut [u8]) -> Option<usize> {
        let ts = self.ts;
        let step = FRAME_SAMPLES as u32 * (self.voice.clock_rate() / 8000);
        self.ts = self.ts.wrapping_add(step);
        if !self.send {
            return None;
        }
        if let Some(n) = self.key_packet(ts, out) {
            return Some(n);
        }
        let mut payload = [0u8; 400];
        let len = self.voice.encode(samples, self.muted, &mut payload)?;
        let header = RtpHeader::new(self.pt, self.seq, ts, self.ssrc);
        let n = header.write(&payload[..len], out).ok()?;
        self.seq = self.seq.wrapping_add(1);
        self.counters.sent += 1;
        Some(n)
    }

    /// This frame's telephone-event packet, while a key press is going.
    fn key_packet(&mut self, ts: u32, out: &mut [u8]) -> Option<usize> {
        let pt = self.dtmf_pt?;
        if self.key.is_none() {
            let event = self.keys.pop_front()?;
            self.key = Some(KeyPress {
                event,
                start: ts,
                sent: 0,
            });
        }
        let key = self.key.as_mut()?;
        let end = key.sent >= DTMF_FRAMES;
        let frames = (key.sent + 1).min(DTMF_FRAMES);
        let payload = TelephoneEvent {
            event: key.event,
            end,
            volume: 10,
            duration: frames * FRAME_SAMPLES as u16,
        }
        .to_bytes();
        let mut header = RtpHeader::new(pt, self.seq, key.start, self.ssrc);
        header.marker = key.sent == 0;
        key.sent += 1;
        if key.sent >= DTMF_FRAMES + DTMF_END_PACKETS {
            self.key = None;
        }
        let n = header.write(&payload, out).ok()?;
        self.seq = self.seq.wrapping_add(1);
        self.counters.sent += 1;
        Some(n)
    }

    /// A datagram arrived on the line's socket at `now`.
    pub fn receive(&mut self, now: Instant, datagram: &[u8]) {
        match RtpPacket::parse(datagram) {
            Ok(p) if p.payload_type() == self.pt => {
                // Another source behind the relay (a transfer moved the
                // media, a phone restarted its stream): its timestamps
                // have nothing to do with the last one's.
                if self.source_ssrc.is_some_and(|s| s != p.ssrc()) {
                    self.restart_playout();
                }
                self.source_ssrc = Some(p.ssrc());
                // The packet's duration sets the buffer's frame; a sender
                // that changes it starts a new buffer.
                let rate = self.voice.clock_rate();
                // Whole milliseconds, at most 120 (Opus's longest packet).
                let Some(units) = self
                    .voice
                    .duration(p.payload())
                    .filter(|&u| u <= rate / 1000 * 120 && (u * 1000) % rate == 0)
                else {
                    self.counters.ignored += 1;
                    return;
                };
                self.counters.received += 1;
                let frame = Duration::from_millis(u64::from(units * 1000 / rate));
                if self.jitter.as_ref().is_none_or(|j| j.frame() != frame) {
                    // One packet's worth at least; the buffer's target
                    // grows with the jitter it measures (one frame plus
                    // three times the jitter), so a clinic's LAN gets the
                    // short delay and a jittery link the depth it needs.
                    let floor = min_delay(frame);
                    self.jitter = Some(JitterBuffer::new(Settings {
                        clock_rate: rate,
                        frame,
                        min_delay: floor,
                        max_delay: Settings::default().max_delay.max(floor * 2),
                    }));
                    self.pending.clear();
                }
                if let Some(j) = &mut self.jitter {
                    j.push(now, p.timestamp(), p.payload().to_vec());
                }
            }
            // DTMF events, comfort noise, RTCP on the same port, stray bytes.
            _ => self.counters.ignored += 1,
        }
    }

    /// The next 20 ms to play into `out`: received audio, or a faded copy
    /// of the last packet where one is missing, or silence while filling.
    pub fn play_frame(&mut self, now: Instant, out: &mut [i16; FRAME_SAMPLES]) {
        while self.pending.len() < FRAME_SAMPLES {
            let Some(jitter) = &mut self.jitter else {
                break;
            };
            match jitter.pop(now) {
                Playout::Frame(payload) => {
                    self.voice.decode(&payload, &mut self.last_played);
                    self.pending.extend(&self.last_played);
                    self.counters.played += 1;
                }
                Playout::Conceal => {
                    if self.last_played.is_empty() {
                        break;
                    }
                    self.voice.conceal(&mut self.last_played);
                    self.pending.extend(&self.last_played);
                    self.counters.concealed += 1;
                }
                Playout::Filling => break,
            }
        }
        for o in out.iter_mut() {
            *o = self.pending.pop_front().unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use careline_shared::sdp::Codec;
    use careline_shared::testing::virtual_epoch;

    use super::*;

    fn media(codec: Codec, send: bool) -> Media {
        Media {
            remote: Some("127.0.0.1:4000".parse().unwrap()),
            codec,
            dtmf_pt: Some(101),
            send,
        }
    }

    fn tone(n: usize) -> [i16; FRAME_SAMPLES] {
        std::array::from_fn(|i| (((i + n * FRAME_SAMPLES) as f64 * 0.3).sin() * 8000.0) as i16)
    }

    #[test]
    fn frames_go_out_as_numbered_rtp_and_come_back_through_the_jitter_buffer() {
        let mut a = AudioStream::new(&media(Codec::PCMA, true), 0x0102_0304_0506_0708).unwrap();
        let mut b = AudioStream::new(&media(Codec::PCMA, true), 42).unwrap();
        let t0 = virtual_epoch();
        let mut buf = [0u8; 512];
        let mut heard = Vec::new();
        for n in 0..10 {
            let now = t0 + Duration::from_millis(20 * n as u64);
            let len = a.send_frame(&tone(n), &mut buf).unwrap();
            let p = RtpPacket::parse(&buf[..len]).unwrap();
            assert_eq!(p.payload_type(), 8);
            assert_eq!(p.sequence(), 0x0304u16.wrapping_add(n as u16));
            assert_eq!(p.timestamp(), 0x0304_0506 + 160 * n as u32);
            assert_eq!(p.payload().len(), FRAME_SAMPLES);
            b.receive(now, &buf[..len]);
            let mut out = [0; FRAME_SAMPLES];
            b.play_frame(now, &mut out);
            heard.push(out);
        }
        assert_eq!(a.counters().sent, 10);
        let c = b.counters();
        assert_eq!((c.received, c.ignored), (10, 0));
        // A steady sender on a quiet network: played as soon as one frame
        // is in (the target is one frame plus three times the jitter), the
        // tone within G.711's error.
        for (played, sent) in heard.iter().zip(0..) {
            let want = tone(sent);
            let worst = played
                .iter()
                .zip(&want)
                .map(|(p, w)| (i32::from(*p) - i32::from(*w)).abs())
                .max()
                .unwrap();
            assert!(worst < 300, "frame {sent} off by {worst}");
        }
    }

    #[test]
    fn thirty_millisecond_packets_play_whole_in_twenty_millisecond_frames() {
        // SIPp's sample A-law stream, and many desk phones, send 30 ms.
        let mut b = AudioStream::new(&media(Codec::PCMA, true), 3).unwrap();
        let t0 = virtual_epoch();
        let samples: Vec<i16> = (0..240 * 20)
            .map(|i| ((i as f64 * 0.05).sin() * 6000.0) as i16)
            .collect();
        let mut buf = [0u8; 512];
        let mut heard = Vec::new();
        // 600 ms: 20 packets of 30 ms in, 30 frames of 20 ms out (then
        // the buffer's delay drained with 5 more frames).
        let mut next = 0usize;
        for tick in 0..35u64 {
            let now = t0 + Duration::from_millis(20 * tick);
            // Each packet at its own 30 ms mark, seen at the next tick.
            while next < 20 && 30 * next as u64 <= 20 * tick {
                let n = next;
                next += 1;
                let mut payload = [0u8; 240];
                G711::Alaw.encode_into(&samples[n * 240..(n + 1) * 240], &mut payload);
                let len = RtpHeader::new(8, n as u16, 240 * n as u32, 5)
                    .write(&payload, &mut buf)
                    .unwrap();
                b.receive(now, &buf[..len]);
            }
            let mut out = [0; FRAME_SAMPLES];
            b.play_frame(now, &mut out);
            heard.extend_from_slice(&out);
        }
        let c = b.counters();
        assert_eq!((c.received, c.played), (20, 20));
        assert_eq!((c.jitter.lost, c.jitter.late), (0, 0));
        // Concealment only once the talker stopped (the buffer ran dry).
        assert_eq!(c.concealed, c.jitter.underruns);
        // Everything sent is heard, in order, after the leading silence
        // (A-law turns the first sample, 0, into ±8, so it shows).
        let start = heard.iter().position(|&s| s != 0).unwrap();
        let worst = heard[start..start + samples.len()]
            .iter()
            .zip(&samples)
            .map(|(h, s)| (i32::from(*h) - i32::from(*s)).abs())
            .max()
            .unwrap();
        assert!(worst < 300, "off by {worst}");
    }

    #[test]
    fn a_key_press_goes_out_as_rfc_4733_events_and_mute_sends_silence() {
        let mut a = AudioStream::new(&media(Codec::PCMU, true), 0).unwrap();
        let mut buf = [0u8; 512];
        assert!(a.press('5'));
        assert!(!a.press('x'));
        let loud = [8000i16; FRAME_SAMPLES];
        let mut events = Vec::new();
        for _ in 0..9 {
            let n = a.send_frame(&loud, &mut buf).unwrap();
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            if p.payload_type() == 101 {
                let e = TelephoneEvent::parse(p.payload()).unwrap();
                events.push((p.marker(), p.timestamp(), e.event, e.end, e.duration));
            } else {
                assert_eq!(p.payload_type(), 0);
                assert_eq!(p.timestamp(), 8 * 160, "audio resumes on its own clock");
            }
        }
        // 100 ms of key 5 from timestamp 0, then three end packets.
        let want: Vec<_> = (1..=5u16)
            .map(|i| (i == 1, 0, 5, false, i * 160))
            .chain((0..3).map(|_| (false, 0, 5, true, 800)))
            .collect();
        assert_eq!(events, want);

        a.set_muted(true);
        let n = a.send_frame(&loud, &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(p.payload().iter().all(|&b| b == G711::Ulaw.silence()));
        let no_dtmf = Media {
            dtmf_pt: None,
            ..media(Codec::PCMU, true)
        };
        assert!(!AudioStream::new(&no_dtmf, 0).unwrap().press('1'));
    }

    #[test]
    fn opus_carries_a_tone_at_its_pitch_and_level_and_conceals_a_lost_packet() {
        let mut a = AudioStream::new(&media(Codec::OPUS, true), 11).unwrap();
        let mut b = AudioStream::new(&media(Codec::OPUS, true), 12).unwrap();
        let t0 = virtual_epoch();
        let hz = 440.0;
        let mut n = 0usize;
        let mut next_tone = || -> [i16; FRAME_SAMPLES] {
            std::array::from_fn(|_| {
                n += 1;
                ((2.0 * std::f64::consts::PI * hz * n as f64 / 8000.0).sin() * 8000.0) as i16
            })
        };
        let mut buf = [0u8; 1500];
        let mut heard = Vec::new();
        let mut stamps = Vec::new();
        for i in 0..100u64 {
            let now = t0 + Duration::from_millis(20 * i);
            let len = a.send_frame(&next_tone(), &mut buf).unwrap();
            let p = RtpPacket::parse(&buf[..len]).unwrap();
            assert_eq!(p.payload_type(), 96);
            assert!(
                p.payload().len() < 160,
                "compressed: {} bytes",
                p.payload().len()
            );
            stamps.push(p.timestamp());
            if i != 50 {
                b.receive(now, &buf[..len]);
            }
            let mut out = [0; FRAME_SAMPLES];
            b.play_frame(now, &mut out);
            heard.extend_from_slice(&out);
        }
        // The 48 kHz clock: 960 a packet.
        assert!(stamps.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 960));
        let c = b.counters();
        // With one frame buffered, the missing packet is first an underrun
        // (nothing there yet: conceal and wait), then lost once its
        // successor is in (conceal and move on): two periods concealed.
        assert_eq!((c.received, c.played, c.concealed), (99, 98, 2));
        assert_eq!((c.jitter.lost, c.jitter.underruns), (1, 1));
        // After the codec's start-up, the tone: 440 Hz, near its level.
        let steady = &heard[8000..15_000];
        let crossings = steady
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        let pitch = crossings as f64 / 2.0 / (steady.len() as f64 / 8000.0);
        assert!((pitch - hz).abs() < 10.0, "{pitch} Hz");
        let rms = crate::audio::level(steady) * 32768.0;
        let sent_rms = 8000.0 / std::f32::consts::SQRT_2;
        assert!(
            (rms / sent_rms - 1.0).abs() < 0.25,
            "rms {rms} vs {sent_rms}"
        );
    }

    #[test]
    fn a_new_source_is_played_at_once_and_oversized_packets_are_refused() {
        let mut b = AudioStream::new(&media(Codec::PCMU, true), 5).unwrap();
        let t0 = virtual_epoch();
        let mut buf = [0u8; 2000];
        let loud = [G711::Ulaw.encode(8000); FRAME_SAMPLES];
        let mut played = Vec::new();
        for i in 0..40u32 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            // The first source, then (a transfer) another whose timestamps
            // are far behind.
            let (ssrc, ts) = if i < 20 {
                (1, 900_000 + 160 * i)
            } else {
                (2, 1_000 + 160 * i)
            };
            let len = RtpHeader::new(0, i as u16, ts, ssrc)
                .write(&loud, &mut buf)
                .unwrap();
            b.receive(now, &buf[..len]);
            let mut out = [0; FRAME_SAMPLES];
            b.play_frame(now, &mut out);
            played.push(out[0]);
        }
        assert!(
            played[21..].iter().all(|&s| s > 7000),
            "{:?}",
            &played[18..]
        );
        // 808 bytes of μ-law (101 ms) is a packet length no phone sends
        // and more than Opus's longest: refused, not a crash.
        let huge = [0xffu8; 1200];
        let len = RtpHeader::new(0, 99, 0, 2).write(&huge, &mut buf).unwrap();
        b.receive(t0, &buf[..len]);
        let mut out = [0; FRAME_SAMPLES];
        b.play_frame(t0 + Duration::from_secs(1), &mut out);
        assert_eq!(b.counters().ignored, 1);
        let ok = [0xffu8; 808];
        let len = RtpHeader::new(0, 100, 0, 3).write(&ok, &mut buf).unwrap();
        b.receive(t0, &buf[..len]);
        b.play_frame(t0 + Duration::from_secs(2), &mut out);
    }

    #[test]
    fn a_held_line_sends_nothing_but_keeps_its_clock() {
        let mut a = AudioStream::new(&media(Codec::PCMU, false), 1 << 16).unwrap();
        let mut buf = [0u8; 512];
        assert_eq!(a.send_frame(&tone(0), &mut buf), None);
        a.update(&media(Codec::PCMU, true));
        let len = a.send_frame(&tone(1), &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(p.timestamp(), 1 + FRAME_SAMPLES as u32);
        assert_eq!(a.counters().sent, 1);
    }

    #[test]
    fn other_payload_types_and_noise_are_ignored_and_loss_is_concealed() {
        let mut b = AudioStream::new(&media(Codec::PCMU, true), 7).unwrap();
        let t0 = virtual_epoch();
        b.receive(t0, b"not rtp");
        let mut buf = [0u8; 64];
        let dtmf = RtpHeader::new(101, 1, 0, 9)
            .write(&[1, 0, 0, 160], &mut buf)
            .unwrap();
        b.receive(t0, &buf[..dtmf]);
        assert_eq!(b.counters().ignored, 2);
        let g722 = Codec::new(9, "G722", 8000, 1);
        assert!(AudioStream::new(&media(g722, true), 1).is_none());
        // Frames 0, 1, 2 and 4: frame 3 is concealed at half the level of 2.
        let mut big = [0u8; 512];
        let mut sender = AudioStream::new(&media(Codec::PCMU, true), 0).unwrap();
        let loud = [8000i16; FRAME_SAMPLES];
        let mut played = Vec::new();
        for n in 0..8u64 {
            let now = t0 + Duration::from_millis(20 * n);
            let len = sender.send_frame(&loud, &mut big).unwrap();
            if n != 3 {
                b.receive(now, &big[..len]);
            }
            let mut out = [0; FRAME_SAMPLES];
            b.play_frame(now, &mut out);
            played.push(out[0]);
        }
        let c = b.counters();
        // Frames 0, 1, 2 play at once; in frame 3's period nothing is there
        // (an underrun: conceal at half the level, and wait), in frame 4's
        // frame 3 is known lost (conceal again, a quarter), then frame 4.
        assert_eq!(c.concealed, 2);
        assert_eq!((c.jitter.underruns, c.jitter.lost), (1, 1));
        let level = played[0];
        assert!((7800..=8200).contains(&level), "{level}");
        assert_eq!(&played[..3], &[level; 3]);
        assert_eq!(
            played[3],
            level / 2,
            "the gap repeats the last frame at half level"
        );
        assert_eq!(played[4], level / 4);
        assert_eq!(played[5], level);
    }
}
