//! UDP: the core task reads the first socket itself; every other UDP socket
//! gets a task that reads datagrams and hands them to the core task. All of
//! them live on the core's own thread and runtime (see `CoreTask::start`).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::Input;
use crate::config::Transport;
use crate::sip::endpoint::Flow;

/// Largest datagram we accept (the UDP maximum).
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// Receive buffer asked for on SIP sockets: room for a burst of a few
/// thousand messages while the core is busy, instead of silent drops that
/// cost a 500 ms retransmission each. The kernel caps it at
/// `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 8 << 20;

/// Binds a SIP UDP socket with a large receive buffer. It is registered
/// with a runtime later, by the thread that reads it.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    let raw = socket2::SockRef::from(&socket);
    // Best effort: a smaller buffer still works, only with less slack.
    let _ = raw.set_recv_buffer_size(RECEIVE_BUFFER);
    let _ = raw.set_send_buffer_size(RECEIVE_BUFFER / 2);
    if let Ok(bytes) = raw.recv_buffer_size() {
        // Linux reports twice what it grants (the rest is its bookkeeping).
        tracing::debug!(local = %addr, bytes, "sip udp receive buffer");
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A datagram read with [`recv_stamped`]: its length, its source, and how
/// long it waited in the socket (when the kernel stamped its arrival).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub len: usize,
    pub from: SocketAddr,
    pub waited: Option<Duration>,
}

/// Asks the kernel to stamp each datagram with its arrival time, read by
/// [`recv_stamped`]: the core's measure of its own backlog.
pub(crate) fn stamp_arrivals(socket: &std::net::UdpSocket) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a socket this function borrows (so open), and a pointer to a
    // live c_int with its size, as SO_TIMESTAMPNS takes.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Waits for a datagram and reads it with its arrival stamp.
pub(crate) async fn recv_stamped(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Received> {
    loop {
        socket.readable().await?;
        match try_recv_stamped(socket, buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Reads a datagram with its arrival stamp if one is queued
/// (`WouldBlock` when none is).
pub(crate) fn try_recv_stamped(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Received> {
    socket.try_io(Interest::READABLE, || {
        let (len, from, stamp) = recvmsg(socket.as_raw_fd(), buf)?;
        let waited = stamp.map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
        Ok(Received { len, from, waited })
    })
}

/// One `recvmsg`: the bytes into `buf`, the source, the kernel's arrival
/// stamp if it gave one.
fn recvmsg(fd: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr, Option<SystemTime>)> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a cmsghdr and a timespec, aligned as cmsghdr needs.
    let mut control = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` is to a live buffer of the length
    // given with it, all of which outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let from = match name.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (its family says so)
            // into storage large and aligned enough for any address.
            let a =
                unsafe { &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::from((
                u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a =
                unsafe { &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(std::net::SocketAddrV6::new(
                a.sin6_addr.s6_addr.into(),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            ))
        }
        family => {
            return Err(std::io::Error::other(format!(
                "datagram from an address of family {family}"
            )));
        }
    };
    let mut stamp = None;
    // SAFETY: `msg` was filled in by recvmsg above; the CMSG_* helpers walk
    // the control data it reports, within `msg_controllen`, and the stamp
    // is read only from a message long enough to hold one (unaligned: the
    // data need not be aligned for timespec).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                && (*c).cmsg_len as usize
                    >= libc::CMSG_LEN(std::mem::size_of::<libc::timespec>() as u32) as usize
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                stamp = Some(
                    SystemTime::UNIX_EPOCH
                        + Duration::new(
                            ts.tv_sec.max(0) as u64,
                            ts.tv_nsec.clamp(0, 999_999_999) as u32,
                        ),
                );
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, from, stamp))
}

pub(crate) async fn receive(
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let local = socket.local_addr().ok();
    let stop = super::stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, remote)) => {
                    let flow = Flow { transport: Transport::Udp, remote, local };
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    if tx.send(Input::Datagram { flow, data }).await.is_err() {
                        return;
                    }
                }
                // ICMP port-unreachable from an earlier send surfaces here on
                // some systems; it says nothing about this socket.
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            },
            _ = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram read with its arrival stamp: the bytes, the sender and
    /// a stamp, over IPv4 and IPv6 loopback.
    #[tokio::test]
    async fn datagrams_are_read_with_their_source_and_arrival_stamp() {
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let local: SocketAddr = local.parse().unwrap();
            let Ok(receiver) = bind(local) else {
                // No IPv6 on this machine's loopback.
                assert!(local.is_ipv6(), "binding {local}");
                continue;
            };
            stamp_arrivals(&receiver).unwrap();
            let receiver = UdpSocket::from_std(receiver).unwrap();
            let sender = std::net::UdpSocket::bind(local).unwrap();
            let to = receiver.local_addr().unwrap();
            let mut buf = vec![0u8; MAX_DATAGRAM];
            sender.send_to(b"OPTIONS sip:a SIP/2.0\r\n", to).unwrap();
            let r = recv_stamped(&receiver, &mut buf).await.unwrap();
            assert_eq!(&buf[..r.len], b"OPTIONS sip:a SIP/2.0\r\n");
            assert_eq!(r.from, sender.local_addr().unwrap());
            assert!(r.waited.is_some(), "no arrival stamp over {local}");
            // Read empty now (recvmsg itself says so, the socket being
            // marked readable by the read before).
            assert_eq!(
                try_recv_stamped(&receiver, &mut buf).unwrap_err().kind(),
                std::io::ErrorKind::WouldBlock
            );
        }
    }

    /// Without `stamp_arrivals` the datagram still reads, unstamped.
    #[tokio::test]
    async fn an_unstamped_socket_reads_without_a_stamp() {
        let receiver = UdpSocket::from_std(bind("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(b"x", receiver.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 16];
        let r = recv_stamped(&receiver, &mut buf).await.unwrap();
        assert_eq!(
            (r.len, r.from, r.waited),
            (1, sender.local_addr().unwrap(), None)
        );
    }
}
