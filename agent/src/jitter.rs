//! The agent's adaptive jitter buffer, sans-IO: RTP frames go in as they
//! arrive ([`JitterBuffer::push`]), and the audio device's clock takes one
//! frame out every frame period ([`JitterBuffer::pop`]); time is always an
//! argument.
//!
//! - Playout starts once the target delay is buffered. The target follows
//!   the network: one frame plus three times the interarrival jitter
//!   (RFC 3550 §6.4.1), between `min_delay` and `max_delay`.
//! - Frames are played in timestamp order, whatever order they came in; a
//!   frame that comes after its turn is dropped as late, a repeated one as a
//!   duplicate.
//! - A missing frame whose successors are here is lost: the caller conceals
//!   it and playout moves on. An empty buffer is an underrun: the caller
//!   conceals and playout waits, so a sender whose clock runs slow costs an
//!   inserted frame now and then, not a lost one each time.
//! - A buffer that stays deeper than the target by more than two frames for
//!   a second (a sender whose clock runs fast) drops one frame.
//! - A gap longer than `max_delay` (a pause in the talk, a hold) resyncs
//!   playout to what comes next.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The buffer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// RTP clock rate (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// One frame (20 ms).
    pub frame: Duration,
    /// The least delay kept.
    pub min_delay: Duration,
    /// The most delay kept.
    pub max_delay: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            clock_rate: 8000,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
        }
    }
}

/// What to play for one frame period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<T> {
    /// This frame's payload.
    Frame(T),
    /// Nothing to play: conceal (repeat, fade, comfort noise).
    Conceal,
    /// Not started yet (still filling): play silence.
    Filling,
}

/// What happened to the frames so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames taken in.
    pub received: u64,
    /// Frames played.
    pub played: u64,
    /// Frames missing when their turn came (their successors were here).
    pub lost: u64,
    /// Frame periods with nothing buffered (playout waited).
    pub underruns: u64,
    /// Frames that came after their turn.
    pub late: u64,
    /// Frames that came twice.
    pub duplicates: u64,
    /// Frames dropped because the buffer stayed too deep (or overflowed).
    pub dropped: u64,
    /// Times the sender's timeline jumped back and playout started again.
    pub resyncs: u64,
}

/// The most frames held (ten seconds of 20 ms frames).
const MAX_FRAMES: usize = 500;

/// The buffer; `T` is the payload (encoded or decoded audio).
#[derive(Debug)]
pub struct JitterBuffer<T> {
    s: Settings,
    /// Timestamp units per frame.
    step: u64,
    /// Waiting frames by extended timestamp.
    frames: BTreeMap<u64, T>,
    /// The extended timestamp whose turn is next (`None` before playout).
    next: Option<u64>,
    /// The last extended timestamp seen (to unwrap the 32-bit one).
    last_ts: Option<u64>,
    /// Interarrival jitter, in seconds (RFC 3550 §6.4.1).
    jitter: f64,
    /// The previous frame's transit time, in seconds.
    transit: Option<f64>,
    /// When the first frame came (the origin of arrival times).
    origin: Option<Instant>,
    /// Frame periods in a row the buffer has been too deep.
    deep_for: u32,
    stats: Stats,
}

impl<T> JitterBuffer<T> {
    /// An empty buffer.
    pub fn new(s: Settings) -> JitterBuffer<T> {
        let step = u64::from(s.clock_rate) * s.frame.as_micros() as u64 / 1_000_000;
        JitterBuffer {
            s,
            step: step.max(1),
            frames: BTreeMap::new(),
            next: None,
            last_ts: None,
            jitter: 0.0,
            transit: None,
            origin: None,
            deep_for: 0,
            stats: Stats::default(),
        }
    }

    /// The length of one frame (the sender's packet).
    pub fn frame(&self) -> Duration {
        self.s.frame
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The delay aimed at now.
    pub fn target(&self) -> Duration {
        let aim = self.s.frame.as_secs_f64() + 3.0 * self.jitter;
        // Settings whose floor is above their ceiling keep the floor.
        let most = self.s.max_delay.max(self.s.min_delay);
        Duration::from_secs_f64(aim.min(most.as_secs_f64())).clamp(self.s.min_delay, most)
    }

    /// What is buffered ahead of playout, as time.
    pub fn depth(&self) -> Duration {
        let (Some(first), Some(last)) = (
            self.next.or_else(|| self.frames.keys().next().copied()),
            self.frames.keys().next_back().copied(),
        ) else {
            return Duration::ZERO;
        };
        if last < first {
            return Duration::ZERO;
        }
        self.units_to_time(last - first + self.step)
    }

    fn units_to_time(&self, units: u64) -> Duration {
        let micros = u128::from(units) * 1_000_000 / u128::from(self.s.clock_rate.max(1));
        Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The 32-bit RTP timestamp made monotonic across wraps.
    fn extend(&mut self, ts: u32) -> u64 {
        let ext = match self.last_ts {
            // Start high enough that a reordered frame before the first
            // one cannot go below zero.
            None => (1u64 << 32) + u64::from(ts),
            Some(last) => {
                let delta = ts.wrapping_sub(last as u32) as i32;
                last.wrapping_add_signed(i64::from(delta))
            }
        };
        if self.last_ts.is_none_or(|l| ext > l) {
            self.last_ts = Some(ext);
        }
        ext
    }

    /// A frame arrived at `now` with RTP timestamp `ts`.
    pub fn push(&mut self, now: Instant, ts: u32, payload: T) {
        let mut ext = self.extend(ts);
        // Far behind playout (more than the deepest we would ever buffer):
        // the sender's timeline moved (a new source behind the same relay),
        // not a late frame. Start again from it.
        if self
            .next
            .is_some_and(|n| ext + self.units(self.s.max_delay) < n)
        {
            self.frames.clear();
            self.next = None;
            self.transit = None;
            self.origin = None;
            self.deep_for = 0;
            // A fresh timeline from this frame (never below zero however
            // often the sender jumps back).
            self.last_ts = None;
            ext = self.extend(ts);
            self.stats.resyncs += 1;
        }
        // A buffer this full is a sender far ahead of playout: the oldest
        // goes, so memory stays bounded whatever arrives.
        if self.frames.len() >= MAX_FRAMES {
            self.frames.pop_first();
            self.stats.dropped += 1;
        }
        let origin = *self.origin.get_or_insert(now);
        // RFC 3550 interarrival jitter, from this frame's transit time.
        let arrival = now.duration_since(origin).as_secs_f64();
        let transit = arrival - ext as f64 / f64::from(self.s.clock_rate);
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        self.frames.insert(ext, payload);
    }

    /// The device wants the next frame period's audio.
    pub fn pop(&mut self, _now: Instant) -> Playout<T> {
        let Some(mut next) = self.next else {
            if self.frames.is_empty() || self.depth() < self.target() {
                return Playout::Filling;
            }
            let first = *self.frames.keys().next().expect("not empty");
            self.next = Some(first);
            return self.pop(_now);
        };
        let Some(&first) = self.frames.keys().next() else {
            // Nothing at all: wait for it rather than run ahead.
            self.stats.underruns += 1;
            self.deep_for = 0;
            return Playout::Conceal;
        };
        // A pause longer than we would ever buffer: start again from what
        // comes now.
        if first > next + self.units(self.s.max_delay) {
            next = first;
        }
        // Too deep for a whole second: a fast sender; skip a frame.
        let slack = self.target() + self.s.frame * 2;
        if self.depth() > slack {
            self.deep_for += 1;
        } else {
            self.deep_for = 0;
        }
        let second = (Duration::from_secs(1).as_micros() / self.s.frame.as_micros().max(1)) as u32;
        if self.deep_for >= second && self.frames.remove(&next).is_some() {
            self.stats.dropped += 1;
            self.deep_for = 0;
            next += self.step;
        }
        self.next = Some(next + self.step);
        match self.frames.remove(&next) {
            Some(payload) => {
                self.stats.played += 1;
                Playout::Frame(payload)
            }
            None => {
                self.stats.lost += 1;
                Playout::Conceal
            }
        }
    }

    fn units(&self, d: Duration) -> u64 {
        d.as_micros() as u64 * u64::from(self.s.clock_rate) / 1_000_000
    }
}

#[cfg(test)]
#[path = "jitter_tests.rs"]
mod tests;
