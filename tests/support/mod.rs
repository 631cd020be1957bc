//! What the integration suites share: they start the real `careline-server`
//! binary on free loopback ports and talk to it with SIP software nobody on
//! this project wrote (SIPp, baresip, SIPVicious), inside the private
//! network namespace that `scripts/test` makes. Each suite includes this
//! module with `#[path = "../support/mod.rs"] mod support;`.
//!
//! Nothing here sleeps for protocol timing: waiting means reading a socket
//! or a child's output with a timeout, under an overall deadline.

// Every suite uses a different part of this module.
#![allow(dead_code)]

pub mod baresip;
pub mod linphone;
pub mod process;
pub mod server;
pub mod sip;
pub mod sipp;
pub mod webrtc_peer;
pub mod webrtc_rs_peer;
pub mod ws_sip;

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

/// Stops a peer suite that was started outside a private network
/// namespace, where the peers could reach the real network.
pub fn require_private_netns() {
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    // PID 1 may be unreadable (a sandbox's init); PID 2 (kthreadd, or a
    // container's second process) lives in the same namespace as PID 1.
    let outer = ["/proc/1/ns/net", "/proc/2/ns/net"]
        .iter()
        .find_map(|p| std::fs::read_link(p).ok());
    let private = match (own, outer) {
        (Some(own), Some(outer)) => own != outer,
        // Nothing to compare with: private if loopback is all there is.
        _ => only_loopback(),
    };
    assert!(
        private,
        "run the peer suites through scripts/test: they need a private network namespace \
         (unshare -n bash -c 'ip link set lo up; exec cargo nextest run ...')"
    );
}

/// True when loopback is this process's only network interface
/// (`/proc/self/net/dev` follows the namespace; `/sys/class/net` does not).
fn only_loopback() -> bool {
    std::fs::read_to_string("/proc/self/net/dev").is_ok_and(|dev| {
        dev.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .all(|name| name.trim() == "lo" || name.trim().starts_with(VETH))
    })
}

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1,
/// made with the `openssl` command in `dir`: (CA certificate, server
/// certificate, server key), PEM files.
pub fn test_certificate(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("running openssl")?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=careline test CA",
    ]);
    run(&ca)?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&csr)?;
    write_file(
        dir,
        "leaf.ext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])?;
    Ok((
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    ))
}

/// The names of the veth pair [`veth_pair`] makes (`clv0`, `clv1`).
const VETH: &str = "clv";

/// A veth pair inside the private namespace, `clv0` with `a` and `clv1`
/// with `b` (a /24): a network that is not loopback, for peers that will
/// not use loopback (a browser's ICE). Made once; later calls find it.
pub fn veth_pair(a: Ipv4Addr, b: Ipv4Addr) -> Result<()> {
    require_private_netns();
    let ip = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("ip").args(args).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || err.contains("File exists") || err.contains("already assigned") {
            Ok(())
        } else {
            anyhow::bail!("ip {}: {}", args.join(" "), err.trim())
        }
    };
    let (v0, v1) = (format!("{VETH}0"), format!("{VETH}1"));
    ip(&["link", "add", &v0, "type", "veth", "peer", "name", &v1])?;
    ip(&["addr", "add", &format!("{a}/24"), "dev", &v0])?;
    ip(&["addr", "add", &format!("{b}/24"), "dev", &v1])?;
    ip(&["link", "set", &v0, "up"])?;
    ip(&["link", "set", &v1, "up"])?;
    Ok(())
}

/// The repository's top folder (the workspace root).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate sits inside the workspace")
        .to_owned()
}

/// A file or folder under `tests/data`.
pub fn test_data(rel: &str) -> PathBuf {
    repo_root().join("tests/data").join(rel)
}

/// The project's shared folder, which sits beside the repository.
pub fn shared_dir() -> PathBuf {
    repo_root()
        .parent()
        .expect("the repository has a parent folder")
        .join("shared")
}

/// A fresh temporary folder, removed when dropped.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("careline-test-")
        .tempdir()
        .expect("cannot create a temporary folder")
}

/// A UDP port that is free on `ip` right now.
pub fn free_udp_port(ip: Ipv4Addr) -> u16 {
    UdpSocket::bind(SocketAddrV4::new(ip, 0))
        .and_then(|s| s.local_addr())
        .expect("cannot bind a UDP socket on loopback")
        .port()
}

/// The first of `n` consecutive UDP ports (the first even) free on `ip`
/// right now, all checked at once: SIPp's media takes its port, the next
/// for RTCP and two more for video, and a busy neighbour makes it fail.
pub fn free_udp_block(ip: Ipv4Addr, n: u16) -> u16 {
    for _ in 0..200 {
        let base = free_udp_port(ip) & !1;
        if base.checked_add(n).is_none() {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map_while(|p| UdpSocket::bind(SocketAddrV4::new(ip, p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive UDP ports free on {ip}");
}

/// A TCP port that is free on `ip` right now.
pub fn free_tcp_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind(SocketAddrV4::new(ip, 0))
        .and_then(|s| s.local_addr())
        .expect("cannot bind a TCP socket on loopback")
        .port()
}

/// A port free for both UDP and TCP on `ip` (SIP listens on both), with
/// the TCP port after it free too (baresip listens for TLS there).
pub fn free_sip_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind(SocketAddrV4::new(ip, 0)).expect("cannot bind UDP on loopback");
        let port = udp
            .local_addr()
            .expect("bound socket has an address")
            .port();
        let free = |p: u16| TcpListener::bind(SocketAddrV4::new(ip, p)).is_ok();
        if port < u16::MAX && free(port) && free(port + 1) {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The loopback address every peer and the server use by default.
pub const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Reads a peer's report until `done` holds for it, or `timeout`; `who`
/// names the peer in the error. The peer's own thread updates the report as
/// packets arrive, so this looks again every 20 ms (polling a counter, not
/// timing the protocol).
pub fn poll_report<R: std::fmt::Debug>(
    who: &str,
    timeout: std::time::Duration,
    read: impl Fn() -> R,
    done: impl Fn(&R) -> bool,
) -> Result<R> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = read();
        if done(&r) {
            return Ok(r);
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!("{who}: not there within {timeout:?}: {r:?}");
        }
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
}
