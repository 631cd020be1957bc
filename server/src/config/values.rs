//! The configuration's value types: durations (`5s`), transports,
//! listen addresses (`udp://127.0.0.1:5060`) and digest algorithms, each
//! read from TOML text with a message that says what was expected.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use careline_shared::sip::DigestAlgorithm;
use serde::{Deserialize, Deserializer};

/// A duration written `500ms`, `5s`, `10m`, `1h`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration (try \"500ms\", \"5s\", \"10m\")"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{s}` (use ms, s, m or h)"
                ));
            }
        };
        Ok(Dur(d))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Dur(Duration::from_secs(n))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A SIP transport the server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams.
    Udp,
    /// A stream with Content-Length framing.
    Tcp,
    /// SIP over WebSocket (RFC 7118): one message per frame, the browser's
    /// connection is the only way to reach it.
    Ws,
    /// The same over TLS (`[sip] tls_cert`, `tls_key`).
    Wss,
}

impl Transport {
    /// Whether messages travel on a connection (no retransmissions of our
    /// own, answers go back on the connection they came on).
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Ws | Transport::Wss)
    }

    /// SIP over WebSocket, plain or secure: a browser, whose media goes
    /// through the WebRTC gateway.
    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }

    /// The name in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        })
    }
}

/// One `[sip] listen` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The transport.
    pub transport: Transport,
    /// The local address (port 0 picks a free one).
    pub addr: SocketAddr,
}

impl FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Listen, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!(
                "`{s}` should look like udp://127.0.0.1:5060, tcp://127.0.0.1:5060 or ws://127.0.0.1:8088"
            )
        })?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "ws" => Transport::Ws,
            "wss" => Transport::Wss,
            other => {
                return Err(format!(
                    "unsupported transport `{other}` in `{s}` (udp, tcp, ws or wss)"
                ));
            }
        };
        let addr = rest
            .parse()
            .map_err(|_| format!("`{rest}` in `{s}` is not an IP:port address"))?;
        Ok(Listen { transport, addr })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.transport, self.addr)
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Listen, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A digest algorithm name in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithm(pub DigestAlgorithm);

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Algorithm, D::Error> {
        let s = String::deserialize(d)?;
        DigestAlgorithm::from_name(&s)
            .map(Algorithm)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown digest algorithm `{s}` (SHA-256 or MD5)"))
            })
    }
}
