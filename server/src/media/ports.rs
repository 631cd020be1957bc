//! The RTP port pool and the sockets leased from it.
//!
//! A [`LegSocket`] owns its UDP socket and a lease on its port; dropping it
//! closes the socket first and then returns the port, wherever the drop
//! happens (a destroyed session, a command that never reached its worker, a
//! worker that stopped). So ports cannot leak, and the pool's count of open
//! sockets is exact.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::MediaError;

/// Free even ports, handed out oldest-freed first so a port is reused as late
/// as possible (stray packets from its last call go nowhere).
#[derive(Debug)]
pub(crate) struct PortPool {
    free: Mutex<VecDeque<u16>>,
    open: AtomicUsize,
}

impl PortPool {
    /// Every even port `p` in `range` with `p + 1` also in it (for RTCP).
    pub(crate) fn new(range: RangeInclusive<u16>) -> Arc<PortPool> {
        let (first, last) = (*range.start(), *range.end());
        let ports = (first..last).filter(|p| p % 2 == 0).collect();
        Arc::new(PortPool {
            free: Mutex::new(ports),
            open: AtomicUsize::new(0),
        })
    }

    /// Binds a non-blocking socket on the next free port. Ports another
    /// program holds are skipped and kept for later.
    pub(crate) fn bind(self: &Arc<Self>, ip: IpAddr) -> Result<LegSocket, MediaError> {
        let attempts = self.lock().len();
        for _ in 0..attempts {
            let Some(port) = self.lock().pop_front() else {
                break;
            };
            match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    // Counted before the lease exists, so its drop balances it.
                    self.open.fetch_add(1, Ordering::SeqCst);
                    let lease = PortLease {
                        port,
                        pool: Arc::clone(self),
                    };
                    socket
                        .set_nonblocking(true)
                        .map_err(io_error("set_nonblocking"))?;
                    return Ok(LegSocket {
                        socket: mio::net::UdpSocket::from_std(socket),
                        lease,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => self.lock().push_back(port),
                Err(e) => {
                    self.lock().push_front(port);
                    return Err(io_error("bind")(e));
                }
            }
        }
        Err(MediaError::NoFreePorts)
    }

    /// Sockets bound and not yet closed.
    pub(crate) fn open_sockets(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Ports that can be leased now.
    pub(crate) fn free_ports(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<u16>> {
        // The queue stays consistent even if a holder panicked mid-call.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn io_error(op: &'static str) -> impl Fn(io::Error) -> MediaError {
    move |e| MediaError::Io { op, kind: e.kind() }
}

/// Returns its port to the pool when dropped.
#[derive(Debug)]
struct PortLease {
    port: u16,
    pool: Arc<PortPool>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.lock().push_back(self.port);
        self.pool.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One leg's RTP socket. Field order matters: the socket is closed before
/// the lease hands the port back.
#[derive(Debug)]
pub(crate) struct LegSocket {
    pub(crate) socket: mio::net::UdpSocket,
    lease: PortLease,
}

impl LegSocket {
    /// The local port.
    pub(crate) fn port(&self) -> u16 {
        self.lease.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn only_even_ports_with_their_rtcp_partner_are_used() {
        let pool = PortPool::new(26001..=26006);
        assert_eq!(*pool.lock(), VecDeque::from([26002, 26004]));
        let pool = PortPool::new(26000..=26005);
        assert_eq!(*pool.lock(), VecDeque::from([26000, 26002, 26004]));
    }

    #[test]
    fn dropping_a_socket_returns_its_port_last_in_line() {
        let pool = PortPool::new(26100..=26105);
        let a = pool.bind(LOCALHOST).unwrap();
        let first = a.port();
        assert_eq!(pool.open_sockets(), 1);
        drop(a);
        assert_eq!(pool.open_sockets(), 0);
        assert_eq!(pool.lock().back(), Some(&first));
        // The port is really closed: it can be bound again at once.
        std::net::UdpSocket::bind((LOCALHOST, first)).unwrap();
    }

    #[test]
    fn ports_held_elsewhere_are_skipped_and_exhaustion_is_an_error() {
        let pool = PortPool::new(26200..=26203);
        let squatter = std::net::UdpSocket::bind((LOCALHOST, 26200)).unwrap();
        let s = pool.bind(LOCALHOST).unwrap();
        assert_eq!(s.port(), 26202);
        assert_eq!(pool.bind(LOCALHOST).unwrap_err(), MediaError::NoFreePorts);
        drop(squatter);
        assert_eq!(pool.bind(LOCALHOST).unwrap().port(), 26200);
    }
}
