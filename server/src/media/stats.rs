//! Per-session packet counters, written by the worker with relaxed atomics and
//! read by [`MediaEngine::stats`](super::MediaEngine::stats) from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::Leg;

/// Counters for one leg. "In" is what the leg's peer sent to us; "out" is
/// what we sent to the peer (relayed or generated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Packets accepted from the peer.
    pub in_packets: u64,
    /// Bytes accepted from the peer (UDP payload).
    pub in_bytes: u64,
    /// Packets sent to the peer.
    pub out_packets: u64,
    /// Bytes sent to the peer.
    pub out_bytes: u64,
    /// Datagrams dropped: not RTP, or from a source latching did not accept.
    pub rejected: u64,
    /// When the last accepted packet arrived.
    pub last_rx: Option<Instant>,
}

/// Counters for both legs of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Leg A, the caller's side.
    pub a: LegStats,
    /// Leg B, the agent's side.
    pub b: LegStats,
}

impl Stats {
    /// One leg's counters.
    pub fn leg(&self, leg: Leg) -> &LegStats {
        match leg {
            Leg::A => &self.a,
            Leg::B => &self.b,
        }
    }
}

#[derive(Debug, Default)]
struct SharedLeg {
    in_packets: AtomicU64,
    in_bytes: AtomicU64,
    out_packets: AtomicU64,
    out_bytes: AtomicU64,
    rejected: AtomicU64,
    /// Nanoseconds since the engine's epoch, plus one; 0 = never.
    last_rx: AtomicU64,
}

/// The live counters of one session.
#[derive(Debug)]
pub(crate) struct SharedStats {
    epoch: Instant,
    legs: [SharedLeg; 2],
}

impl SharedStats {
    pub(crate) fn new(epoch: Instant) -> SharedStats {
        SharedStats {
            epoch,
            legs: Default::default(),
        }
    }

    pub(crate) fn received(&self, leg: Leg, bytes: usize, at: Instant) {
        let l = &self.legs[leg.index()];
        l.in_packets.fetch_add(1, Relaxed);
        l.in_bytes.fetch_add(bytes as u64, Relaxed);
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        l.last_rx
            .store(u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1, Relaxed);
    }

    pub(crate) fn sent(&self, leg: Leg, bytes: usize) {
        let l = &self.legs[leg.index()];
        l.out_packets.fetch_add(1, Relaxed);
        l.out_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn rejected(&self, leg: Leg) {
        self.legs[leg.index()].rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let leg = |l: &SharedLeg| LegStats {
            in_packets: l.in_packets.load(Relaxed),
            in_bytes: l.in_bytes.load(Relaxed),
            out_packets: l.out_packets.load(Relaxed),
            out_bytes: l.out_bytes.load(Relaxed),
            rejected: l.rejected.load(Relaxed),
            last_rx: match l.last_rx.load(Relaxed) {
                0 => None,
                n => Some(self.epoch + Duration::from_nanos(n - 1)),
            },
        };
        Stats {
            a: leg(&self.legs[0]),
            b: leg(&self.legs[1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_per_leg() {
        let epoch = Instant::now();
        let s = SharedStats::new(epoch);
        assert_eq!(s.snapshot(), Stats::default());
        let at = epoch + Duration::from_millis(5);
        s.received(Leg::A, 172, at);
        s.received(Leg::A, 172, at);
        s.sent(Leg::B, 172);
        s.rejected(Leg::B);
        let snap = s.snapshot();
        assert_eq!(
            (snap.a.in_packets, snap.a.in_bytes, snap.a.last_rx),
            (2, 344, Some(at))
        );
        assert_eq!(
            (snap.b.out_packets, snap.b.out_bytes, snap.b.rejected),
            (1, 172, 1)
        );
        assert_eq!(snap.leg(Leg::B).last_rx, None);
    }
}
