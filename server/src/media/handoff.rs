//! Plain RTP between the WebRTC gateway and the media sessions, handed over
//! in memory rather than over loopback UDP.
//!
//! A browser's call has two hops inside the server: the gateway (SRTP,
//! Opus) and the media session (the relay to the SIP leg, ringback, hold
//! music, DTMF, silence checks). Over loopback each packet between them
//! costs a send, the kernel's whole delivery path and a receive, paid by
//! both threads. Once a gateway is attached to the engine
//! ([`WebRtcGateway::attach`]), a session's packet for a gateway thread's
//! inner address goes into that thread's [`Mailbox`] instead, and a gateway's
//! packet for a session leg's port into the mailbox of the worker that owns
//! that leg. Nothing else changes: each side sees the packet as if it came
//! over the socket (the session from the gateway's inner address, the
//! gateway from the leg's port), and a destination the registry does not
//! know still goes over UDP.
//!
//! A mailbox holds at most [`MAILBOX_LIMIT`] packets; more are dropped, as
//! a full socket buffer would drop them. The owner takes everything at
//! once, so only a post into an empty mailbox needs to wake it, and that
//! wake-up waits until the poster has finished its batch
//! ([`Mailbox::wake`]: a worker's turn, up to 64 of the gateway's
//! datagrams): one wake-up for a burst instead of one a packet.
//!
//! [`WebRtcGateway::attach`]: super::WebRtcGateway::attach

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use mio::Waker;

/// Packets a mailbox holds before it drops. A gateway thread's mailbox
/// takes the packets of every call on it: 4096 is 0.8 s of 20 ms packets
/// for 100 calls, far more than a thread that keeps up ever leaves.
pub(crate) const MAILBOX_LIMIT: usize = 4096;

/// A packet handed over: the session leg's port it comes from or goes to,
/// the address it is from (towards a worker, the inner address of the
/// gateway thread that sent it; towards the gateway, the thread's own
/// inner address, which it does not read), and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Handed {
    pub(crate) port: u16,
    pub(crate) from: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// Packets for one thread, and how to wake it.
pub(crate) struct Mailbox {
    queue: Mutex<Vec<Handed>>,
    waker: Option<Arc<Waker>>,
    /// A post found the mailbox empty and nobody has woken the owner since.
    wake_due: AtomicBool,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl Mailbox {
    /// A mailbox whose owner waits on `waker`'s poll (`None`: the owner
    /// looks without being told, as a test does).
    pub(crate) fn new(waker: Option<Arc<Waker>>) -> Mailbox {
        Mailbox {
            queue: Mutex::new(Vec::new()),
            waker,
            wake_due: AtomicBool::new(false),
        }
    }

    /// Leaves a packet; false when the mailbox is full and it was dropped.
    /// The poster calls [`Mailbox::wake`] once its batch is done.
    pub(crate) fn post(&self, port: u16, from: SocketAddr, data: Vec<u8>) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.len() >= MAILBOX_LIMIT {
            return false;
        }
        if queue.is_empty() {
            self.wake_due.store(true, Ordering::Release);
        }
        queue.push(Handed { port, from, data });
        true
    }

    /// Wakes the owner if a post since the last wake-up found the mailbox
    /// empty. A packet posted into a mailbox that was not empty is covered
    /// by the wake-up the first one's poster owes, or already gave (the
    /// owner had not taken yet, so its next take includes it).
    pub(crate) fn wake(&self) {
        if self.wake_due.swap(false, Ordering::AcqRel)
            && let Some(w) = &self.waker
        {
            // Writing the poll's eventfd fails only when its counter is
            // full, that is when a wake-up is pending anyway.
            let _ = w.wake();
        }
    }

    /// Moves every packet waiting, oldest first, to the end of `into`.
    pub(crate) fn take(&self, into: &mut Vec<Handed>) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        into.append(&mut queue);
    }
}

/// One of the gateway's threads, as the sessions see it.
#[derive(Debug)]
struct GatewayThread {
    /// Its inner address: what sessions send its browsers' packets to.
    inner: SocketAddr,
    mailbox: Arc<Mailbox>,
    /// It has stopped: its packets go to the inner address over UDP again
    /// (where nobody listens), not into a mailbox nobody takes.
    detached: AtomicBool,
}

/// Where the engine's session legs and the gateway find each other.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// The gateway's threads, once attached.
    gateway: OnceLock<Box<[GatewayThread]>>,
    /// Each live session leg by its port: the address it is bound to and
    /// its worker's mailbox.
    legs: RwLock<super::Map<u16, (IpAddr, Arc<Mailbox>)>>,
    /// Packets handed over, both ways.
    carried: AtomicU64,
    /// Packets dropped at a full mailbox.
    dropped: AtomicU64,
}

impl Handoff {
    /// Hands each of the gateway's threads, at its inner address, its
    /// packets through its mailbox from now on; false when a gateway is
    /// attached already (an engine has one).
    pub(crate) fn attach_gateway(&self, threads: Vec<(SocketAddr, Arc<Mailbox>)>) -> bool {
        let threads = threads
            .into_iter()
            .map(|(inner, mailbox)| GatewayThread {
                inner,
                mailbox,
                detached: AtomicBool::new(false),
            })
            .collect();
        self.gateway.set(threads).is_ok()
    }

    /// The gateway thread at `inner` stopped (dropped, or it gave up): no
    /// more packets for it in memory, for good.
    pub(crate) fn detach_gateway(&self, inner: SocketAddr) {
        for t in self.gateway.get().into_iter().flatten() {
            if t.inner == inner {
                t.detached.store(true, Ordering::Release);
            }
        }
    }

    /// The mailbox of the gateway thread whose inner address is `to`.
    pub(crate) fn gateway_at(&self, to: SocketAddr) -> Option<&Mailbox> {
        self.gateway
            .get()?
            .iter()
            .find(|t| t.inner == to && !t.detached.load(Ordering::Acquire))
            .map(|t| &*t.mailbox)
    }

    /// Wakes the gateway's threads that a post owes a wake-up.
    pub(crate) fn wake_gateway(&self) {
        for t in self.gateway.get().into_iter().flatten() {
            t.mailbox.wake();
        }
    }

    /// A session leg bound at `local` is served through `mailbox`.
    pub(crate) fn add_leg(&self, local: SocketAddr, mailbox: &Arc<Mailbox>) {
        self.write_legs()
            .insert(local.port(), (local.ip(), Arc::clone(mailbox)));
    }

    /// The leg on `port` is gone.
    pub(crate) fn remove_leg(&self, port: u16) {
        self.write_legs().remove(&port);
    }

    /// The mailbox of the session leg at `to`, if one lives there (a leg
    /// bound to every address takes any of them).
    pub(crate) fn leg_at(&self, to: SocketAddr) -> Option<Arc<Mailbox>> {
        let legs = self.legs.read().unwrap_or_else(PoisonError::into_inner);
        legs.get(&to.port())
            .filter(|(ip, _)| *ip == to.ip() || ip.is_unspecified())
            .map(|(_, m)| Arc::clone(m))
    }

    /// Counts a packet handed over (`true`) or dropped at a full mailbox.
    pub(crate) fn count(&self, posted: bool) {
        let counter = if posted { &self.carried } else { &self.dropped };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Packets posted so far (a worker drops those for a leg that has just
    /// gone, as its socket would have), and packets dropped at a full
    /// mailbox.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.carried.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    fn write_legs(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, super::Map<u16, (IpAddr, Arc<Mailbox>)>> {
        self.legs.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn from() -> SocketAddr {
        addr("127.0.0.1:9000")
    }

    #[test]
    fn a_mailbox_gives_packets_back_in_order_and_drops_when_full() {
        let m = Mailbox::new(None);
        assert!(m.post(4000, from(), vec![1]));
        assert!(m.post(4002, from(), vec![2]));
        let mut got = Vec::new();
        m.take(&mut got);
        assert_eq!(
            got,
            [
                Handed {
                    port: 4000,
                    from: from(),
                    data: vec![1]
                },
                Handed {
                    port: 4002,
                    from: from(),
                    data: vec![2]
                }
            ]
        );
        let mut again = Vec::new();
        m.take(&mut again);
        assert!(again.is_empty());
        m.post(4004, from(), vec![3]);
        m.take(&mut got);
        assert_eq!(got.len(), 3, "a take appends to what is left");
        assert_eq!(got[2].port, 4004);
        for i in 0..MAILBOX_LIMIT {
            assert!(m.post(4000, from(), vec![i as u8]), "packet {i} fits");
        }
        assert!(
            !m.post(4000, from(), vec![0]),
            "the one past the limit is dropped"
        );
        m.take(&mut again);
        assert_eq!(again.len(), MAILBOX_LIMIT);
        assert!(m.post(4000, from(), vec![0]), "room again once taken");
    }

    #[test]
    fn a_mailbox_wakes_its_owner_once_a_batch_and_once_per_take() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(7)).unwrap());
        let m = Mailbox::new(Some(waker));
        let mut events = mio::Events::with_capacity(4);
        let mut woken = |poll: &mut mio::Poll| {
            poll.poll(&mut events, Some(std::time::Duration::ZERO))
                .unwrap();
            events.iter().count()
        };
        assert_eq!(woken(&mut poll), 0, "nothing posted yet");
        m.wake();
        assert_eq!(woken(&mut poll), 0, "nothing owed");
        m.post(4000, from(), vec![1]);
        m.post(4000, from(), vec![2]);
        assert_eq!(woken(&mut poll), 0, "the batch is not done");
        m.wake();
        assert_eq!(woken(&mut poll), 1, "one wake-up for the batch");
        m.post(4000, from(), vec![3]);
        m.wake();
        assert_eq!(woken(&mut poll), 0, "not taken yet: no second wake-up");
        m.take(&mut Vec::new());
        m.post(4000, from(), vec![4]);
        m.wake();
        assert_eq!(woken(&mut poll), 1, "after a take, the next batch wakes");
    }

    #[test]
    fn legs_and_the_gateway_are_found_by_address() {
        let h = Handoff::default();
        let mailbox = Arc::new(Mailbox::new(None));
        h.add_leg(addr("127.0.0.1:4000"), &mailbox);
        h.add_leg(addr("0.0.0.0:4002"), &mailbox);
        assert!(h.leg_at(addr("127.0.0.1:4000")).is_some());
        assert!(
            h.leg_at(addr("127.0.0.2:4000")).is_none(),
            "same port, other address"
        );
        assert!(h.leg_at(addr("127.0.0.1:4004")).is_none());
        assert!(
            h.leg_at(addr("192.0.2.7:4002")).is_some(),
            "a wildcard leg takes any address"
        );
        h.remove_leg(4000);
        assert!(h.leg_at(addr("127.0.0.1:4000")).is_none());

        // A gateway of two threads.
        let (one, two) = (addr("127.0.0.1:9000"), addr("127.0.0.1:9002"));
        let second = Arc::new(Mailbox::new(None));
        assert!(h.gateway_at(one).is_none());
        assert!(h.attach_gateway(vec![
            (one, Arc::clone(&mailbox)),
            (two, Arc::clone(&second))
        ]));
        assert!(!h.attach_gateway(vec![(addr("127.0.0.1:9004"), mailbox)]));
        let found = |at| h.gateway_at(at).map(|m| m as *const Mailbox);
        assert_eq!(found(two), Some(Arc::as_ptr(&second)));
        assert!(found(one).is_some() && found(one) != found(two));
        assert!(h.gateway_at(addr("127.0.0.1:9004")).is_none());
        h.detach_gateway(one);
        assert!(h.gateway_at(one).is_none(), "a stopped thread");
        assert!(h.gateway_at(two).is_some(), "the other one goes on");
    }
}
