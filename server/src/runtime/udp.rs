//! UDP: the core task reads the first socket itself; every other UDP socket
//! gets a task that reads datagrams and hands them to the core task.

use std::sync::Arc;

use bytes::Bytes;
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

/// Binds a SIP UDP socket with a large receive buffer.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<UdpSocket> {
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
    UdpSocket::from_std(socket)
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
