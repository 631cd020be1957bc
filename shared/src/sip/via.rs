//! The Via header (RFC 3261 §20.42, RFC 3581 rport).

use std::fmt;
use std::net::IpAddr;

use super::params::Params;
use super::scan::{Cursor, is_token};
use super::text::{Branch, SipStr};
use super::uri::Host;

/// One Via value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Via {
    /// UDP, TCP, TLS, WS, WSS, SCTP or anything else, as written.
    pub transport: SipStr,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when written.
    pub port: Option<u16>,
    /// `branch`, `received`, `rport`, `maddr`, `ttl` and extensions.
    pub params: Params,
}

impl Via {
    /// A Via for a request this element sends.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &Branch) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(SipStr::from(branch.as_str())));
        Via {
            transport: SipStr::from(transport),
            host,
            port,
            params,
        }
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<Branch> {
        self.params.value("branch").map(|b| Branch::new(b.clone()))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params.value("received")?.parse().ok()
    }

    /// `Some(None)` when `rport` is present without a value (a request asking
    /// for it), `Some(Some(p))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The sent-by port, or the transport's default.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(
            if self.transport.eq_ignore_ascii_case("tls")
                || self.transport.eq_ignore_ascii_case("wss")
            {
                5061
            } else {
                5060
            },
        )
    }

    /// Parses a comma-separated list of Via values filling a header value.
    pub(crate) fn parse_list(c: &mut Cursor<'_>, out: &mut Vec<Via>) -> Result<(), &'static str> {
        loop {
            out.push(Via::parse_one(c)?);
            if !c.eat_sep(b',') {
                return c.expect_end();
            }
        }
    }

    fn parse_one(c: &mut Cursor<'_>) -> Result<Via, &'static str> {
        c.skip_lws();
        let name = c.token().ok_or("missing protocol name")?;
        if !c.eat_sep(b'/') {
            return Err("malformed sent-protocol");
        }
        let version = c.token().ok_or("missing protocol version")?;
        if !c.eat_sep(b'/') {
            return Err("malformed sent-protocol");
        }
        let transport = c.token().ok_or("missing transport")?;
        if !name.eq_ignore_ascii_case("SIP") || version.as_str() != "2.0" {
            return Err("unsupported protocol version");
        }
        if !c.skip_lws() {
            return Err("missing space before sent-by");
        }
        let (s, e) = if c.peek() == Some(b'[') {
            let (s, _) = c.take_while(|b| b != b']');
            if !c.eat(b']') {
                return Err("unclosed ipv6 reference");
            }
            (s, c.pos)
        } else {
            c.take_while(|b| is_token(b) && b != b'!' && b != b'%')
        };
        let host = Host::parse(&c.str(s, e)?)?;
        let port = if c.eat_sep(b':') {
            Some(c.number(65535)? as u16)
        } else {
            None
        };
        let params = Params::parse_header(c)?;
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}
