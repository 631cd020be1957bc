//! The jitter buffer in virtual time: a frame every 20 ms from the sender,
//! one taken every 20 ms by the device.

use std::time::{Duration, Instant};

use careline_shared::testing::virtual_epoch;

use super::*;

const FRAME: Duration = Duration::from_millis(20);
const STEP: u32 = 160;

fn buffer() -> JitterBuffer<u32> {
    JitterBuffer::new(Settings::default())
}

/// Pops from `from` every 20 ms, `n` times; the payloads (frame numbers)
/// played, with `None` for a concealed period (filling periods skipped).
fn play(b: &mut JitterBuffer<u32>, from: Instant, n: u32) -> Vec<Option<u32>> {
    (0..n)
        .filter_map(|i| match b.pop(from + FRAME * i) {
            Playout::Frame(f) => Some(Some(f)),
            Playout::Conceal => Some(None),
            Playout::Filling => None,
        })
        .collect()
}

#[test]
fn a_steady_stream_plays_every_frame_in_order_after_the_target_delay() {
    let t0 = virtual_epoch();
    let mut b = buffer();
    let mut played = Vec::new();
    // Frame k leaves at k × 20 ms and arrives 30 ms later; the device
    // takes a frame every 20 ms, 5 ms after each arrival.
    for k in 0..50u32 {
        b.push(t0 + FRAME * k + Duration::from_millis(30), k * STEP, k);
        match b.pop(t0 + FRAME * k + Duration::from_millis(35)) {
            Playout::Frame(f) => played.push(f),
            Playout::Conceal => panic!("concealed at {k}"),
            Playout::Filling => assert!(k < 2, "still filling at frame {k}"),
        }
    }
    assert_eq!(played, (0..played.len() as u32).collect::<Vec<_>>());
    assert_eq!(
        b.target(),
        Duration::from_millis(40),
        "no jitter: the floor"
    );
    let s = b.stats();
    assert_eq!((s.lost, s.late, s.underruns, s.dropped), (0, 0, 0, 0));
}

#[test]
fn reordered_frames_play_in_order_and_a_lost_one_is_concealed_in_its_turn() {
    let t0 = virtual_epoch();
    let mut b = buffer();
    // 0, 1, 3, 2, 4, (5 lost), 6, 7 all arrive within the first 20 ms.
    for k in [0u32, 1, 3, 2, 4, 6, 7] {
        b.push(t0, k * STEP, k);
    }
    let played = play(&mut b, t0 + FRAME, 8);
    assert_eq!(
        played,
        [
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            None,
            Some(6),
            Some(7)
        ]
    );
    assert_eq!(b.stats().lost, 1);
}

#[test]
fn a_frame_after_its_turn_is_dropped_as_late_and_a_repeat_as_a_duplicate() {
    let t0 = virtual_epoch();
    let mut b = buffer();
    for k in [0u32, 1, 2, 4, 4] {
        b.push(t0, k * STEP, k);
    }
    assert_eq!(play(&mut b, t0, 4), [Some(0), Some(1), Some(2), None]);
    b.push(t0 + FRAME * 4, 3 * STEP, 3);
    assert_eq!(play(&mut b, t0 + FRAME * 4, 1), [Some(4)]);
    let s = b.stats();
    assert_eq!((s.late, s.duplicates, s.lost), (1, 1, 1));
}

#[test]
fn the_target_grows_with_the_networks_jitter_within_its_bounds() {
    let t0 = virtual_epoch();
    let mut b = buffer();
    // Arrivals 0 or 40 ms late, alternately: about 40 ms of jitter.
    for k in 0..200u32 {
        let wobble = if k % 2 == 0 { 0 } else { 40 };
        b.push(t0 + FRAME * k + Duration::from_millis(wobble), k * STEP, k);
    }
    let target = b.target();
    assert!(
        target > Duration::from_millis(100) && target <= Duration::from_millis(200),
        "{target:?}"
    );
    let mut wild = buffer();
    for k in 0..200u32 {
        let wobble = if k % 2 == 0 { 0 } else { 900 };
        wild.push(t0 + FRAME * k + Duration::from_millis(wobble), k * STEP, k);
    }
    assert_eq!(wild.target(), Duration::from_millis(200), "the ceiling");
}

/// A sender whose clock runs `ppm` parts per million off ours, for 60 s.
fn drifting(ppm: i64) -> Stats {
    let t0 = virtual_epoch();
    let mut b = buffer();
    let period = Duration::from_nanos((20_000_000i64 * (1_000_000 + ppm) / 1_000_000) as u64);
    let mut k = 0u32;
    let mut sent_at = t0;
    for tick in 0..3000u32 {
        let now = t0 + FRAME * tick;
        while sent_at <= now {
            b.push(sent_at, k * STEP, k);
            k += 1;
            sent_at += period;
        }
        let _ = b.pop(now);
        assert!(
            b.depth() <= b.target() + FRAME * 4,
            "the buffer grew to {:?} at {tick}",
            b.depth()
        );
    }
    b.stats()
}

#[test]
fn a_fast_sender_costs_a_dropped_frame_now_and_then_not_a_growing_delay() {
    // 1 % fast: 3,030 frames in 60 s for 3,000 periods.
    let s = drifting(-10_000);
    assert!(
        (20..=40).contains(&s.dropped),
        "about one frame in a hundred: {s:?}"
    );
    assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
}

#[test]
fn a_slow_sender_costs_an_inserted_frame_now_and_then_not_a_lost_one() {
    // 1 % slow: 2,970 frames in 60 s.
    let s = drifting(10_000);
    assert!(
        (20..=40).contains(&s.underruns),
        "about one frame in a hundred: {s:?}"
    );
    assert_eq!((s.lost, s.late, s.dropped), (0, 0, 0), "{s:?}");
}

#[test]
fn timestamps_wrap_and_a_long_pause_resyncs_playout() {
    let t0 = virtual_epoch();
    let mut b = buffer();
    let start = u32::MAX - 2 * STEP + 1;
    for k in 0..5u32 {
        b.push(t0, start.wrapping_add(k * STEP), k);
    }
    assert_eq!(
        play(&mut b, t0, 5),
        [Some(0), Some(1), Some(2), Some(3), Some(4)]
    );
    // Nothing for 5 s (a hold), then the talk goes on from there.
    let back = t0 + Duration::from_secs(5);
    let resumed = start.wrapping_add(5 * STEP + 8000 * 5);
    for k in 0..3u32 {
        b.push(back, resumed.wrapping_add(k * STEP), 100 + k);
    }
    let played: Vec<Option<u32>> = play(&mut b, back, 3);
    assert_eq!(
        played,
        [Some(100), Some(101), Some(102)],
        "no run of 250 concealed frames"
    );
}

#[test]
fn a_timeline_that_jumps_back_restarts_playout_instead_of_going_silent() {
    // A transfer re-points the relay at another source: same payload
    // type, timestamps far behind where playout is.
    let mut b = buffer();
    let t0 = virtual_epoch();
    for i in 0..20u32 {
        let now = t0 + FRAME * i;
        b.push(now, 1_000_000 + STEP * i, i);
        let _ = b.pop(now);
    }
    let mut heard = Vec::new();
    for i in 0..20u32 {
        let now = t0 + FRAME * (20 + i);
        b.push(now, 5_000 + STEP * i, 100 + i);
        if let Playout::Frame(f) = b.pop(now) {
            heard.push(f);
        }
    }
    assert_eq!(b.stats().resyncs, 1);
    assert!(heard.len() >= 17, "the new source is heard: {heard:?}");
    assert!(heard.windows(2).all(|w| w[1] == w[0] + 1), "{heard:?}");
}

#[test]
fn odd_settings_and_floods_neither_panic_nor_grow_without_bound() {
    // A floor above the ceiling (a 120 ms sender) keeps the floor.
    let mut b: JitterBuffer<u32> = JitterBuffer::new(Settings {
        frame: Duration::from_millis(120),
        min_delay: Duration::from_millis(240),
        ..Settings::default()
    });
    assert_eq!(b.target(), Duration::from_millis(240));
    let t0 = virtual_epoch();
    // Timestamps leaping by half the clock's range, then a flood of
    // distinct ones far ahead, never played: no panic, and at most 500
    // frames kept (the rest dropped, oldest first).
    for i in 0..10u32 {
        b.push(t0 + FRAME * i, i.wrapping_mul(1 << 31), i);
    }
    for i in 0..2_000u32 {
        b.push(t0 + FRAME * i, 7 + i * 100_000, i);
    }
    let _ = b.depth();
    let s = b.stats();
    assert_eq!(s.received - s.dropped, 500, "{s:?}");
}
