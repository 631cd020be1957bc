//! `[[trunks]]`: the provider's SIP trunk that patients' numbers are
//! reached through. This build places calls through a trunk that accepts
//! them from our address (authentication by IP); digest authentication,
//! registering to the provider and inbound DIDs are not in it yet.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Transport;
use crate::calls::b2bua::OutboundRoute;

/// One `[[trunks]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs and the audit trail.
    pub name: String,
    /// Where calls to patients' numbers are sent (`203.0.113.5:5060`).
    pub address: SocketAddr,
    /// `udp` (default) or `tcp`.
    #[serde(default = "udp")]
    pub transport: String,
}

fn udp() -> String {
    "udp".into()
}

impl TrunkConfig {
    /// The route the call core uses.
    pub fn route(&self) -> OutboundRoute {
        OutboundRoute {
            remote: self.address,
            transport: if self.transport == "tcp" {
                Transport::Tcp
            } else {
                Transport::Udp
            },
        }
    }
}

/// The first key that makes no sense, and why.
pub(super) fn check(trunks: &[TrunkConfig]) -> Result<(), (&'static str, String)> {
    for (i, t) in trunks.iter().enumerate() {
        if t.name.trim().is_empty() {
            return Err(("trunks.name", "a trunk needs a name".into()));
        }
        if t.transport != "udp" && t.transport != "tcp" {
            return Err((
                "trunks.transport",
                format!("`{}` is not udp or tcp", t.transport),
            ));
        }
        if trunks[..i].iter().any(|o| o.name == t.name) {
            return Err(("trunks.name", format!("`{}` names two trunks", t.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};

    #[test]
    fn a_trunk_is_read_and_bad_ones_are_named() {
        let c =
            Config::parse("[[trunks]]\nname = \"pstn\"\naddress = \"127.0.0.1:5070\"\n").unwrap();
        assert_eq!(c.trunks[0].route().remote.port(), 5070);
        let err = Config::parse(
            "[[trunks]]\nname = \"pstn\"\naddress = \"127.0.0.1:5070\"\ntransport = \"sctp\"\n",
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Invalid {
                    key: "trunks.transport",
                    ..
                }
            ),
            "{err}"
        );
        let err = Config::parse("[[trunks]]\nname = \"pstn\"\naddress = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
