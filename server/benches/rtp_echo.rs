//! The agents' phones' audio for `bench/rtp-relay`: sends every datagram
//! that reaches one of its ports straight back to where it came from, as a
//! phone on the agent's desk would send its own voice back for each packet
//! it hears. Light enough not to be the thing measured: one thread a port,
//! up to 64 datagrams a system call each way (`recvmmsg`, `sendmmsg`).
//!
//!     cargo bench -p careline-server --bench rtp_echo -- SECONDS STATS_FILE PORT...
//!
//! Listens on 127.0.0.1:PORT for each PORT, stops after SECONDS (at most
//! 3,600) or on SIGTERM, and then writes one line a port to STATS_FILE:
//! `port P received R echoed E`.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Datagrams taken (and given back) per system call.
const BATCH: usize = 64;
/// Room for one RTP packet (G.711 packets are 172 bytes).
const PACKET: usize = 2048;
/// How often a waiting thread looks at the clock and the stop flag.
const POLL: Duration = Duration::from_millis(200);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

#[derive(Default)]
struct Counts {
    received: AtomicU64,
    echoed: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let usage = || -> ! {
        eprintln!("usage: rtp_echo SECONDS STATS_FILE PORT...");
        std::process::exit(2);
    };
    let [seconds, stats, ports @ ..] = &args[..] else {
        usage()
    };
    let Ok(seconds) = seconds.parse::<u64>() else {
        usage()
    };
    let Ok(ports) = ports
        .iter()
        .map(|p| p.parse::<u16>())
        .collect::<Result<Vec<_>, _>>()
    else {
        usage()
    };
    if ports.is_empty() || !(1..=3600).contains(&seconds) {
        usage();
    }
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t);
    }
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut threads = Vec::new();
    for port in ports {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap_or_else(|e| {
            eprintln!("rtp_echo: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
        socket.set_read_timeout(Some(POLL)).expect("a read timeout");
        big_receive_buffer(&socket, 8 << 20);
        let counts = Arc::new(Counts::default());
        let c = Arc::clone(&counts);
        threads.push((
            port,
            counts,
            std::thread::spawn(move || echo(&socket, until, &c)),
        ));
    }
    let mut report = String::new();
    for (port, counts, thread) in threads {
        if let Err(e) = thread.join().expect("an echo thread") {
            eprintln!("rtp_echo: port {port}: {e}");
        }
        report += &format!(
            "port {port} received {} echoed {}\n",
            counts.received.load(Ordering::Relaxed),
            counts.echoed.load(Ordering::Relaxed)
        );
    }
    std::fs::write(stats, report).expect("the stats file");
}

/// Asks for `bytes` of receive queue, past `net.core.rmem_max` where
/// allowed (the bench runs as root of its own namespace).
fn big_receive_buffer(socket: &UdpSocket, bytes: libc::c_int) {
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: an open socket, and a pointer to a live c_int with its size.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// Receives up to a batch, sends each datagram back to its source, until
/// `until` or SIGTERM.
fn echo(socket: &UdpSocket, until: Instant, counts: &Counts) -> std::io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut bufs = vec![[0u8; PACKET]; BATCH];
    // SAFETY: all-zero is a valid sockaddr_storage, iovec and mmsghdr.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    while !STOP.load(Ordering::Relaxed) && Instant::now() < until {
        // The headers hold raw pointers into `names` and `iovs`, so both are
        // reached only through these pointers while the headers are in use.
        let (name_at, iov_at) = (names.as_mut_ptr(), iovs.as_mut_ptr());
        for (i, (m, buf)) in msgs.iter_mut().zip(bufs.iter_mut()).enumerate() {
            // SAFETY: i < BATCH, the length of `names` and `iovs`.
            let (name, iov) = unsafe { (name_at.add(i), iov_at.add(i)) };
            // SAFETY: `iov` points at a live iovec of `iovs`.
            unsafe {
                iov.write(libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: PACKET,
                })
            };
            m.msg_hdr.msg_name = name.cast();
            m.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_len = 0;
        }
        // SAFETY: every message points at its own live name, iovec and
        // buffer of the lengths given, all outliving the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted => continue,
                // An ICMP report about an earlier echo: nothing to read.
                std::io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(e),
            }
        }
        let n = n as usize;
        counts.received.fetch_add(n as u64, Ordering::Relaxed);
        // The same headers go back out: each names its source, and its
        // iovec is cut to the length received.
        for (i, m) in msgs[..n].iter().enumerate() {
            // SAFETY: i < n <= BATCH; the iovec is live and not otherwise
            // borrowed.
            unsafe { (*iov_at.add(i)).iov_len = m.msg_len as usize };
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: as above, for the `n - sent` messages from `sent`.
            let r = unsafe {
                libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n - sent) as libc::c_uint, 0)
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // A datagram the kernel will not send (a full queue):
                // skip it, as a phone would.
                sent += 1;
                continue;
            }
            if r == 0 {
                // Not expected on a blocking socket; step past one so the
                // loop ends.
                sent += 1;
                continue;
            }
            counts.echoed.fetch_add(r as u64, Ordering::Relaxed);
            sent += r as usize;
        }
    }
    Ok(())
}
