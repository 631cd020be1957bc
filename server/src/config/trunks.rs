//! `[[trunks]]`: the provider's SIP trunks. Calls to patients' numbers go
//! out through the first one (authenticated by our address, or by digest
//! with `username`/`password` when the provider challenges). Calls come in
//! from a trunk's address (or `accept_from`, or the registration of the
//! account it registers here as, `registers_as`), and its numbers (`dids`)
//! land in queues. With `register = true` Careline registers to the
//! provider itself, as `username`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::{Dur, Transport};
use crate::calls::b2bua::{InboundTrunk, OutboundRoute};

/// One `[[trunks]]` table. (Its `Debug` leaves the password out.)
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs and the audit trail.
    pub name: String,
    /// Where calls to patients' numbers (and our REGISTERs) are sent
    /// (`203.0.113.5:5060`); calls from its IP address are the trunk's.
    pub address: SocketAddr,
    /// `udp` (default) or `tcp`.
    #[serde(default = "udp")]
    pub transport: String,
    /// Digest user name at the provider.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password at the provider.
    #[serde(default)]
    pub password: Option<String>,
    /// The provider's SIP domain (our address of record is
    /// `username@domain`); its address's IP when not given.
    #[serde(default)]
    pub domain: Option<String>,
    /// Register to the provider (needs `username` and `password`).
    #[serde(default)]
    pub register: bool,
    /// The registration interval asked for.
    #[serde(default = "register_expires")]
    pub register_expires: Dur,
    /// The trunk's numbers and the queue number each lands in
    /// (`"+7 812 555-01-00" = "100"`); digits are what count.
    #[serde(default)]
    pub dids: BTreeMap<String, String>,
    /// More addresses the trunk's calls come from.
    #[serde(default)]
    pub accept_from: Vec<IpAddr>,
    /// An account here (`users import`) that the trunk registers as: calls
    /// from its registered contact are the trunk's too.
    #[serde(default)]
    pub registers_as: Option<String>,
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("domain", &self.domain)
            .field("register", &self.register)
            .field("dids", &self.dids.len())
            .finish_non_exhaustive()
    }
}

fn udp() -> String {
    "udp".into()
}

fn register_expires() -> Dur {
    Dur(Duration::from_secs(600))
}

/// A number's digits: how DIDs are compared (`+7 (812) 555-01-00` and
/// `78125550100` are one number).
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

impl TrunkConfig {
    fn transport(&self) -> Transport {
        if self.transport == "tcp" {
            Transport::Tcp
        } else {
            Transport::Udp
        }
    }

    fn credentials(&self) -> Option<(String, String)> {
        Some((self.username.clone()?, self.password.clone()?))
    }

    /// The route the call core places calls through.
    pub fn route(&self) -> OutboundRoute {
        OutboundRoute {
            remote: self.address,
            transport: self.transport(),
            credentials: self.credentials(),
        }
    }

    /// How the call core recognises the trunk's calls.
    pub fn inbound(&self) -> InboundTrunk {
        let mut sources = vec![self.address.ip()];
        sources.extend(&self.accept_from);
        InboundTrunk {
            name: self.name.clone(),
            sources,
            registers_as: self.registers_as.clone(),
            dids: self
                .dids
                .iter()
                .map(|(did, queue)| (digits(did), queue.clone()))
                .collect(),
        }
    }

    /// What registering to the provider needs, when it is asked for.
    pub fn registration(&self) -> Option<crate::sip::trunk_registration::TrunkAccount> {
        if !self.register {
            return None;
        }
        let (username, password) = self.credentials()?;
        Some(crate::sip::trunk_registration::TrunkAccount {
            name: self.name.clone(),
            remote: self.address,
            reliable: self.transport() == Transport::Tcp,
            domain: self
                .domain
                .clone()
                .unwrap_or_else(|| self.address.ip().to_string()),
            username,
            password,
            expires: self.register_expires.0,
        })
    }
}

/// The first key that makes no sense, and why; `queues` are the
/// configured queue numbers DIDs may land in.
pub(super) fn check(trunks: &[TrunkConfig], queues: &[&str]) -> Result<(), (&'static str, String)> {
    let mut dids: BTreeMap<String, &str> = BTreeMap::new();
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
        if t.username.is_some() != t.password.is_some() {
            return Err((
                "trunks.password",
                format!("trunk `{}`: username and password go together", t.name),
            ));
        }
        if t.register && t.username.is_none() {
            return Err((
                "trunks.register",
                format!(
                    "trunk `{}`: registering to the provider needs username and password",
                    t.name
                ),
            ));
        }
        if t.register && t.register_expires.0 < Duration::from_secs(60) {
            return Err((
                "trunks.register_expires",
                format!("trunk `{}`: at least 60s", t.name),
            ));
        }
        for (did, queue) in &t.dids {
            let d = digits(did);
            if d.is_empty() {
                return Err(("trunks.dids", format!("`{did}` has no digits")));
            }
            if !queues.contains(&queue.as_str()) {
                return Err((
                    "trunks.dids",
                    format!("`{did}` lands in `{queue}`, which is no queue's number"),
                ));
            }
            if let Some(other) = dids.insert(d, &t.name) {
                return Err((
                    "trunks.dids",
                    format!(
                        "`{did}` is a number of two trunks (`{other}` and `{}`)",
                        t.name
                    ),
                ));
            }
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

    const QUEUE: &str = "[[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\"]\n";

    fn key_of(toml: &str) -> &'static str {
        match Config::parse(&format!("{QUEUE}{toml}")).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn dids_credentials_and_registration_are_read_and_checked() {
        let c = Config::parse(&format!(
            "{QUEUE}[[trunks]]\nname = \"pstn\"\naddress = \"203.0.113.5:5060\"\nusername = \"clinic\"\npassword = \"s3cret\"\ndomain = \"sip.example\"\nregister = true\naccept_from = [\"203.0.113.6\"]\n[trunks.dids]\n\"+7 (812) 555-01-00\" = \"100\"\n"
        ))
        .unwrap();
        let t = &c.trunks[0];
        let inbound = t.inbound();
        assert_eq!(
            inbound.dids.get("78125550100").map(String::as_str),
            Some("100")
        );
        assert_eq!(inbound.sources.len(), 2, "its address and accept_from");
        let reg = t.registration().unwrap();
        assert_eq!(reg.domain, "sip.example");
        assert_eq!(reg.expires.as_secs(), 600);
        assert_eq!(
            t.route().credentials,
            Some(("clinic".to_string(), "s3cret".to_string()))
        );

        let base = "[[trunks]]\nname = \"pstn\"\naddress = \"203.0.113.5:5060\"\n";
        assert_eq!(
            key_of(&format!("{base}[trunks.dids]\n\"555\" = \"999\"\n")),
            "trunks.dids"
        );
        assert_eq!(
            key_of(&format!("{base}[trunks.dids]\n\"none\" = \"100\"\n")),
            "trunks.dids"
        );
        assert_eq!(
            key_of(&format!("{base}register = true\n")),
            "trunks.register"
        );
        assert_eq!(
            key_of(&format!("{base}username = \"clinic\"\n")),
            "trunks.password"
        );
        assert_eq!(
            key_of(&format!(
                "{base}username = \"a\"\npassword = \"b\"\nregister = true\nregister_expires = \"10s\"\n"
            )),
            "trunks.register_expires"
        );
        let two = format!(
            "{base}[trunks.dids]\n\"555\" = \"100\"\n[[trunks]]\nname = \"b\"\naddress = \"203.0.113.7:5060\"\n[trunks.dids]\n\"5-5-5\" = \"100\"\n"
        );
        assert_eq!(key_of(&two), "trunks.dids", "one number, two trunks");
    }
}
