//! Where a line's audio comes from and goes to, behind one trait
//! ([`Sound`]): the headset through cpal (ALSA), or files and silence for
//! the headless agent. The line's audio task asks for 20 ms of microphone
//! and hands over 20 ms to play, at 8 kHz mono, on its own clock; the
//! headset's streams run at the device's rate and format on cpal's threads,
//! with a ring buffer and a resampler each way between the two clocks.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::stream::FRAME_SAMPLES;

/// Our rate.
const RATE: f64 = 8000.0;
/// The most audio a ring holds (a stalled reader loses the oldest).
const RING_SECONDS: f64 = 0.5;

/// The level of the last frame each way, 0.0–1.0 (RMS of full scale).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Levels {
    /// The microphone.
    pub mic: f32,
    /// The speaker.
    pub speaker: f32,
}

/// A line's audio ends.
pub trait Sound: Send {
    /// The next 20 ms from the microphone (silence when there is none).
    fn capture(&mut self, frame: &mut [i16; FRAME_SAMPLES]);
    /// 20 ms for the speaker.
    fn play(&mut self, frame: &[i16; FRAME_SAMPLES]);
    /// The last levels, for the meters.
    fn levels(&self) -> Levels;
}

/// RMS of a frame, 0.0–1.0.
pub fn level(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    ((sum / frame.len() as f64).sqrt() / 32768.0) as f32
}

/// The headless agent's ends: a file (or silence) played in a loop, and
/// what is heard written to a WAV file.
pub struct FileSound {
    source: Vec<i16>,
    at: usize,
    recorder: Option<crate::wav::Writer<BufWriter<File>>>,
    levels: Levels,
}

impl FileSound {
    /// Plays `source` (empty: silence) and records to `record`, if given.
    pub fn new(source: Vec<i16>, record: Option<PathBuf>) -> FileSound {
        let recorder = record.and_then(|path| {
            File::create(&path)
                .and_then(|f| crate::wav::Writer::new(BufWriter::new(f)))
                .map_err(|e| tracing::warn!(path = %path.display(), "cannot record: {e}"))
                .ok()
        });
        FileSound {
            source,
            at: 0,
            recorder,
            levels: Levels::default(),
        }
    }
}

impl Sound for FileSound {
    fn capture(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        for s in frame.iter_mut() {
            *s = match self.source.len() {
                0 => 0,
                n => self.source[self.at % n],
            };
            self.at += 1;
        }
        self.levels.mic = level(frame);
    }

    fn play(&mut self, frame: &[i16; FRAME_SAMPLES]) {
        self.levels.speaker = level(frame);
        if let Some(w) = &mut self.recorder {
            let _ = w.frame(frame);
        }
    }

    fn levels(&self) -> Levels {
        self.levels
    }
}

impl Drop for FileSound {
    fn drop(&mut self) {
        if let Some(w) = self.recorder.take() {
            let _ = w.finish();
        }
    }
}

/// Linear-interpolation resampling of a mono stream, keeping its phase
/// from one block to the next.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Where the next output falls, in input samples after `last`.
    pos: f64,
    last: f32,
}

impl Resampler {
    /// From `from` Hz to `to` Hz.
    pub fn new(from: f64, to: f64) -> Resampler {
        Resampler {
            step: from / to,
            pos: 0.0,
            last: 0.0,
        }
    }

    /// Resamples `input`, appending to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut impl Extend<f32>) {
        let mut produced = Vec::with_capacity((input.len() as f64 / self.step) as usize + 2);
        for &x in input {
            // Outputs that fall between `last` (at 0) and `x` (at 1).
            while self.pos < 1.0 {
                produced.push(self.last + (x - self.last) * self.pos as f32);
                self.pos += self.step;
            }
            self.pos -= 1.0;
            self.last = x;
        }
        out.extend(produced);
    }
}

/// Samples waiting between a device callback and the line's clock.
#[derive(Debug, Default)]
struct Ring {
    samples: VecDeque<f32>,
    cap: usize,
}

impl Ring {
    fn push(&mut self, s: f32) {
        if self.samples.len() >= self.cap {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }
}

/// One audio device: its stable id (`alsa:null`, `alsa:hw:1,0`), which
/// settings keep, and what it calls itself, which the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The id, as settings store it.
    pub id: String,
    /// The description.
    pub name: String,
}

/// The headset's devices, as cpal lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// Microphones.
    pub inputs: Vec<Device>,
    /// Speakers and headsets.
    pub outputs: Vec<Device>,
}

/// The audio devices of the default host (ALSA on Linux).
pub fn devices() -> Devices {
    let host = cpal::default_host();
    let list = |it: Option<Vec<cpal::Device>>| -> Vec<Device> {
        it.unwrap_or_default()
            .iter()
            .map(|d| Device {
                id: d.id().map_or_else(|_| d.to_string(), |i| i.to_string()),
                name: d.to_string(),
            })
            .collect()
    };
    Devices {
        inputs: list(host.input_devices().ok().map(Iterator::collect)),
        outputs: list(host.output_devices().ok().map(Iterator::collect)),
    }
}

fn find(name: Option<&str>, input: bool) -> Result<cpal::Device> {
    let host = cpal::default_host();
    let found = match name {
        Some(name) => {
            let mut list = if input {
                host.input_devices().map(|d| d.collect::<Vec<_>>())
            } else {
                host.output_devices().map(|d| d.collect::<Vec<_>>())
            }
            .map_err(|e| anyhow!("listing audio devices: {e}"))?;
            let i = list.iter().position(|d| {
                d.id().is_ok_and(|id| id.to_string() == name) || d.to_string() == name
            });
            i.map(|i| list.swap_remove(i))
        }
        None if input => host.default_input_device(),
        None => host.default_output_device(),
    };
    found.ok_or_else(|| {
        anyhow!(
            "no {} device {}",
            if input { "input" } else { "output" },
            name.map_or("by default".into(), |n| format!("named {n:?}"))
        )
    })
}

/// What the device threads share with the line.
#[derive(Debug, Default)]
struct Shared {
    mic: Mutex<Ring>,
    speaker: Mutex<Ring>,
    stop: AtomicBool,
    /// Device callbacks so far (input, output), to show the streams run.
    input_callbacks: AtomicU64,
    output_callbacks: AtomicU64,
    /// Output periods that found nothing to play.
    underruns: AtomicU64,
    /// Samples the speaker took from the line.
    taken: AtomicU64,
}

/// The headset: a microphone and a speaker through cpal.
pub struct Headset {
    shared: Arc<Shared>,
    from_mic: Resampler,
    to_speaker: Resampler,
    mic_rate: f64,
    thread: Option<JoinHandle<()>>,
    levels: Levels,
    pending: Vec<f32>,
}

impl Headset {
    /// Opens the named devices (`None`: the defaults) and starts both
    /// streams.
    pub fn open(input: Option<&str>, output: Option<&str>) -> Result<Headset> {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (input, output) = (input.map(str::to_string), output.map(str::to_string));
        let s = Arc::clone(&shared);
        // cpal's streams are not Send everywhere: they live on a thread of
        // their own, for as long as the headset does.
        let thread = std::thread::Builder::new()
            .name("headset".into())
            .spawn(move || {
                let streams = start_streams(&s, input.as_deref(), output.as_deref());
                let rates = streams
                    .as_ref()
                    .map(|(_, _, r)| *r)
                    .map_err(|e| format!("{e:#}"));
                let _ = ready_tx.send(rates);
                if streams.is_ok() {
                    while !s.stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(std::time::Duration::from_millis(100));
                    }
                }
            })
            .context("starting the headset thread")?;
        let (mic_rate, speaker_rate) = ready_rx
            .recv()
            .map_err(|_| anyhow!("the headset thread ended"))?
            .map_err(|e| anyhow!(e))?;
        Ok(Headset {
            shared,
            from_mic: Resampler::new(mic_rate, RATE),
            to_speaker: Resampler::new(RATE, speaker_rate),
            mic_rate,
            thread: Some(thread),
            levels: Levels::default(),
            pending: Vec::new(),
        })
    }

    /// Samples the speaker has taken from the line so far.
    pub fn taken(&self) -> u64 {
        self.shared.taken.load(Ordering::Relaxed)
    }

    /// Samples waiting in the rings (from the microphone, for the speaker).
    pub fn queued(&self) -> (usize, usize) {
        let mic = self.shared.mic.lock().map_or(0, |r| r.samples.len());
        let speaker = self.shared.speaker.lock().map_or(0, |r| r.samples.len());
        (mic, speaker)
    }

    /// Device callbacks so far (input, output) and output underruns.
    pub fn activity(&self) -> (u64, u64, u64) {
        (
            self.shared.input_callbacks.load(Ordering::Relaxed),
            self.shared.output_callbacks.load(Ordering::Relaxed),
            self.shared.underruns.load(Ordering::Relaxed),
        )
    }
}

impl Sound for Headset {
    fn capture(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        // Take what 20 ms at the device's rate makes, resampled to 8 kHz.
        let want = (self.mic_rate / RATE * FRAME_SAMPLES as f64).ceil() as usize;
        let taken: Vec<f32> = {
            let mut mic = self.shared.mic.lock().unwrap_or_else(|e| e.into_inner());
            let n = want.min(mic.samples.len());
            mic.samples.drain(..n).collect()
        };
        self.from_mic.process(&taken, &mut self.pending);
        for (i, s) in frame.iter_mut().enumerate() {
            *s = self
                .pending
                .get(i)
                .map_or(0, |&x| (x * 32767.0).clamp(-32768.0, 32767.0) as i16);
        }
        let used = self.pending.len().min(FRAME_SAMPLES);
        self.pending.drain(..used);
        self.levels.mic = level(frame);
    }

    fn play(&mut self, frame: &[i16; FRAME_SAMPLES]) {
        self.levels.speaker = level(frame);
        let input: Vec<f32> = frame.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let mut out = Vec::new();
        self.to_speaker.process(&input, &mut out);
        let mut speaker = self
            .shared
            .speaker
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for s in out {
            speaker.push(s);
        }
    }

    fn levels(&self) -> Levels {
        self.levels
    }
}

impl Drop for Headset {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Builds and plays both streams; their rates.
fn start_streams(
    shared: &Arc<Shared>,
    input: Option<&str>,
    output: Option<&str>,
) -> Result<(cpal::Stream, cpal::Stream, (f64, f64))> {
    let mic = find(input, true)?;
    let speaker = find(output, false)?;
    let in_config = mic
        .default_input_config()
        .map_err(|e| anyhow!("{mic}: {e}"))?;
    let out_config = speaker
        .default_output_config()
        .map_err(|e| anyhow!("{speaker}: {e}"))?;
    let in_rate = f64::from(in_config.sample_rate());
    let out_rate = f64::from(out_config.sample_rate());
    {
        let cap = |rate: f64| (rate * RING_SECONDS) as usize;
        shared.mic.lock().unwrap_or_else(|e| e.into_inner()).cap = cap(in_rate);
        shared.speaker.lock().unwrap_or_else(|e| e.into_inner()).cap = cap(out_rate);
    }
    let in_channels = usize::from(in_config.channels()).max(1);
    let out_channels = usize::from(out_config.channels()).max(1);
    let s = Arc::clone(shared);
    let errors = |e: cpal::Error| tracing::warn!("audio stream: {e}");
    let input_stream = mic
        .build_input_stream::<f32, _, _>(
            in_config.config(),
            move |data: &[f32], _| {
                s.input_callbacks.fetch_add(1, Ordering::Relaxed);
                let mut ring = s.mic.lock().unwrap_or_else(|e| e.into_inner());
                for f in data.chunks(in_channels) {
                    // Mono: the first channel (a headset's microphone).
                    ring.push(f[0]);
                }
            },
            errors,
            None,
        )
        .map_err(|e| anyhow!("{mic}: {e}"))?;
    let s = Arc::clone(shared);
    let output_stream = speaker
        .build_output_stream::<f32, _, _>(
            out_config.config(),
            move |data: &mut [f32], _| {
                s.output_callbacks.fetch_add(1, Ordering::Relaxed);
                let mut ring = s.speaker.lock().unwrap_or_else(|e| e.into_inner());
                let mut short = false;
                let mut taken = 0;
                for f in data.chunks_mut(out_channels) {
                    let x = match ring.samples.pop_front() {
                        Some(x) => {
                            taken += 1;
                            x
                        }
                        None => {
                            short = true;
                            0.0
                        }
                    };
                    f.fill(x);
                }
                s.taken.fetch_add(taken, Ordering::Relaxed);
                if short {
                    s.underruns.fetch_add(1, Ordering::Relaxed);
                }
            },
            errors,
            None,
        )
        .map_err(|e| anyhow!("{speaker}: {e}"))?;
    input_stream.play().map_err(|e| anyhow!("{mic}: {e}"))?;
    output_stream
        .play()
        .map_err(|e| anyhow!("{speaker}: {e}"))?;
    Ok((input_stream, output_stream, (in_rate, out_rate)))
}

/// The ringtone on a chosen device (often the desk speaker rather than the
/// headset): 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off, for as
/// long as it lives.
pub struct Ringer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ringer {
    /// Starts ringing on the named output (`None`: the default).
    pub fn start(output: Option<&str>) -> Result<Ringer> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let output = output.map(str::to_string);
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ringer".into())
            .spawn(move || {
                let stream = ring_stream(output.as_deref());
                let ok = stream.is_ok();
                let _ = ready_tx.send(stream.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")));
                while ok && !s.load(Ordering::Relaxed) {
                    std::thread::park_timeout(std::time::Duration::from_millis(50));
                }
            })
            .context("starting the ringer thread")?;
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the ringer thread ended"))?
            .map_err(|e| anyhow!(e))?;
        Ok(Ringer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ringer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The ring cadence's level at `t` seconds into it (0 or 1).
pub fn ring_on(t: f64) -> bool {
    let t = t % 3.0;
    t < 0.4 || (0.6..1.0).contains(&t)
}

fn ring_stream(output: Option<&str>) -> Result<cpal::Stream> {
    let device = find(output, false)?;
    let config = device
        .default_output_config()
        .map_err(|e| anyhow!("{device}: {e}"))?;
    let rate = f64::from(config.sample_rate());
    let channels = usize::from(config.channels()).max(1);
    let mut n: u64 = 0;
    let stream = device
        .build_output_stream::<f32, _, _>(
            config.config(),
            move |data: &mut [f32], _| {
                for f in data.chunks_mut(channels) {
                    let t = n as f64 / rate;
                    n += 1;
                    let x = if ring_on(t) {
                        let w = 2.0 * std::f64::consts::PI * t;
                        ((w * 400.0).sin() + (w * 450.0).sin()) * 0.15
                    } else {
                        0.0
                    };
                    f.fill(x as f32);
                }
            },
            |e| tracing::warn!("ringer: {e}"),
            None,
        )
        .map_err(|e| anyhow!("{device}: {e}"))?;
    stream.play().map_err(|e| anyhow!("{device}: {e}"))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: f64, hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin() as f32 * 0.5)
            .collect()
    }

    /// Zero crossings per second: the tone's frequency, twice.
    fn crossings(x: &[f32], rate: f64) -> f64 {
        let n = x
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        n as f64 / (x.len() as f64 / rate)
    }

    #[test]
    fn resampling_keeps_the_length_ratio_pitch_and_level_across_blocks() {
        for (from, to) in [(48_000.0, 8000.0), (8000.0, 44_100.0), (44_100.0, 8000.0)] {
            let input = tone(from, 440.0, from as usize); // one second
            let mut r = Resampler::new(from, to);
            let mut out = Vec::new();
            // In uneven blocks, as device callbacks come.
            for block in input.chunks(333) {
                r.process(block, &mut out);
            }
            let expected = to as usize;
            assert!(
                out.len().abs_diff(expected) <= 2,
                "{from}->{to}: {} samples",
                out.len()
            );
            let hz = crossings(&out, to) / 2.0;
            assert!((hz - 440.0).abs() < 3.0, "{from}->{to}: {hz} Hz");
            let peak = out.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
            assert!((peak - 0.5).abs() < 0.02, "{from}->{to}: peak {peak}");
        }
    }

    #[test]
    fn the_ring_cadence_is_two_short_rings_then_a_pause() {
        let on: Vec<bool> = (0..30)
            .map(|i| ring_on(f64::from(i) * 0.1 + 0.05))
            .collect();
        let expected: Vec<bool> = (0..30).map(|i| matches!(i, 0..=3 | 6..=9)).collect();
        assert_eq!(on, expected);
        assert!(ring_on(3.05), "the cadence repeats every 3 s");
    }

    #[test]
    fn the_file_sound_loops_its_source_and_measures_levels() {
        let mut f = FileSound::new(vec![1000, -1000, 3000], None);
        let mut frame = [0i16; FRAME_SAMPLES];
        f.capture(&mut frame);
        assert_eq!(&frame[..4], &[1000, -1000, 3000, 1000]);
        assert!(f.levels().mic > 0.0);
        f.play(&[0; FRAME_SAMPLES]);
        assert_eq!(f.levels().speaker, 0.0);
        let mut silent = FileSound::new(Vec::new(), None);
        silent.capture(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
        assert!((level(&[16384; 10]) - 0.5).abs() < 1e-6);
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    /// ALSA's `null` device is in every alsa-lib: it takes what is played
    /// and gives silence, on a real clock. Both streams must run through
    /// it, and the line's frames go in and come out.
    #[test]
    fn the_headset_runs_both_streams_on_the_alsa_null_device() {
        let list = devices();
        let null = |v: &[Device]| v.iter().find(|d| d.id == "alsa:null").map(|d| d.id.clone());
        let (input, output) = (null(&list.inputs), null(&list.outputs));
        assert!(
            input.is_some() && output.is_some(),
            "no ALSA null device in {list:?}"
        );
        let mut headset =
            Headset::open(input.as_deref(), output.as_deref()).expect("the null device opens");
        let tone: [i16; FRAME_SAMPLES] =
            std::array::from_fn(|i| if i % 20 < 10 { 8000 } else { -8000 });
        let mut frame = [1i16; FRAME_SAMPLES];
        // Half a second of the line's clock, against the device's clock.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            headset.play(&tone);
            headset.capture(&mut frame);
            std::thread::sleep(std::time::Duration::from_millis(20));
            let (inputs, outputs, _) = headset.activity();
            if inputs >= 5 && outputs >= 5 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the device streams do not run: {:?}",
                headset.activity()
            );
        }
        // What the line played went to the device: the speaker takes the
        // samples the line gives it.
        let before = headset.taken();
        for _ in 0..5 {
            headset.play(&tone);
        }
        let drained = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while headset.taken() == before && std::time::Instant::now() < drained {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(headset.taken() > before, "the device took nothing");
        // The ringtone plays on its own device meanwhile, and stops.
        let ringer = Ringer::start(output.as_deref()).expect("the ringer opens the null device");
        drop(ringer);
        assert!(Ringer::start(Some("alsa:no-such-device")).is_err());
        // The microphone side delivers (the null device's silence).
        let filled = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while headset.queued().0 == 0 && std::time::Instant::now() < filled {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            headset.queued().0 > 0,
            "no samples from the microphone side"
        );
        headset.capture(&mut frame);
        assert!(frame.iter().all(|&s| s == 0), "{:?}", &frame[..8]);
        drop(headset);
    }
}
