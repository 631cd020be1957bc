//! URIs: `sip:`/`sips:` in full, `tel:` and every other scheme kept whole.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::params::Params;
use super::scan::parse_decimal;
use super::text::SipStr;

/// A URI as found in a request line or a name-addr.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:` (RFC 3966), the text after the scheme.
    Tel(SipStr),
    /// Any other scheme, kept verbatim (RFC 4475 §3.3.2: parsers must not fail on it).
    Other {
        /// The scheme, as written.
        scheme: SipStr,
        /// Everything after the colon.
        rest: SipStr,
    },
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1). User and password stay escaped as
/// received; [`SipUri::user_unescaped`] decodes them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, still %-escaped.
    pub user: Option<SipStr>,
    /// The password, still %-escaped (deprecated, but legal).
    pub password: Option<SipStr>,
    /// The host.
    pub host: Host,
    /// The port, when written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// The headers component after `?`, still escaped.
    pub headers: Option<SipStr>,
}

/// The host of a URI or Via.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Host {
    /// A host name, as written.
    Domain(SipStr),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Parses `hostname`, `1.2.3.4` or `[v6]`.
    pub(crate) fn parse(text: &SipStr) -> Result<Host, &'static str> {
        let s = text.as_str();
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or("unclosed ipv6 reference")?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::Ipv6)
                .map_err(|_| "bad ipv6 address");
        }
        if s.is_empty() {
            return Err("empty host");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err("bad character in host");
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s
                .parse::<Ipv4Addr>()
                .map(Host::Ipv4)
                .map_err(|_| "bad ipv4 address");
        }
        Ok(Host::Domain(text.clone()))
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

fn sub(text: &SipStr, start: usize, end: usize) -> SipStr {
    // Callers cut at ASCII delimiters found in `text`, so both ends are char boundaries.
    text.substr(start, end).unwrap_or_default()
}

/// Splits `host[:port]`, where host may be an `[ipv6]` reference.
pub(crate) fn split_host_port(text: &SipStr) -> Result<(Host, Option<u16>), &'static str> {
    let s = text.as_str();
    let colon = if s.starts_with('[') {
        let close = s.find(']').ok_or("unclosed ipv6 reference")?;
        match &s[close + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(close + 1),
            _ => return Err("junk after ipv6 reference"),
        }
    } else {
        s.find(':')
    };
    match colon {
        None => Ok((Host::parse(text)?, None)),
        Some(i) => {
            let port = parse_decimal(s[i + 1..].as_bytes(), 65535).ok_or("bad port")?;
            Ok((Host::parse(&sub(text, 0, i))?, Some(port as u16)))
        }
    }
}

impl Uri {
    /// Parses a URI that contains no white space.
    pub(crate) fn parse(text: &SipStr) -> Result<Uri, &'static str> {
        let s = text.as_str();
        let colon = s.find(':').ok_or("uri has no scheme")?;
        let scheme = &s[..colon];
        let mut chars = scheme.bytes();
        let first_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic());
        if !first_ok || !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err("bad uri scheme");
        }
        if s.bytes().any(|b| {
            b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'<' | b'>' | b'"')
        }) {
            return Err("bad character in uri");
        }
        let rest = sub(text, colon + 1, s.len());
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse(scheme.len() == 4, &rest).map(Uri::Sip);
        }
        if rest.is_empty() {
            return Err("empty uri");
        }
        if scheme.eq_ignore_ascii_case("tel") {
            return Ok(Uri::Tel(rest));
        }
        Ok(Uri::Other {
            scheme: sub(text, 0, colon),
            rest,
        })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case.
    pub fn scheme(&self) -> String {
        match self {
            Uri::Sip(u) if u.secure => "sips".into(),
            Uri::Sip(_) => "sip".into(),
            Uri::Tel(_) => "tel".into(),
            Uri::Other { scheme, .. } => scheme.to_ascii_lowercase(),
        }
    }
}

impl SipUri {
    fn parse(secure: bool, rest: &SipStr) -> Result<SipUri, &'static str> {
        let s = rest.as_str();
        // Neither user nor password may hold an unescaped '@', and nothing after
        // the host may either, so the first '@' ends the userinfo.
        let (user, password, host_start) = match s.find('@') {
            Some(at) => {
                let info = &s[..at];
                let (user, password) = match info.find(':') {
                    Some(c) => (sub(rest, 0, c), Some(sub(rest, c + 1, at))),
                    None => (sub(rest, 0, at), None),
                };
                if user.is_empty() {
                    return Err("empty user part");
                }
                (Some(user), password, at + 1)
            }
            None => (None, None, 0),
        };
        let tail = &s[host_start..];
        let hp_end = host_start + tail.find([';', '?']).unwrap_or(tail.len());
        let (host, port) = split_host_port(&sub(rest, host_start, hp_end))?;
        let (params, headers) = {
            let after = &s[hp_end..];
            let q = after.find('?').map(|q| hp_end + q);
            let params_end = q.unwrap_or(s.len());
            let params = if s[hp_end..params_end].starts_with(';') {
                Params::parse_uri(&sub(rest, hp_end + 1, params_end))?
            } else {
                Params::new()
            };
            let headers = match q {
                Some(q) if q + 1 < s.len() => Some(sub(rest, q + 1, s.len())),
                Some(_) => return Err("empty uri headers"),
                None => None,
            };
            (params, headers)
        };
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// A plain `sip:user@host[:port]` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(SipStr::from),
            password: None,
            host,
            port,
            params: Params::new(),
            headers: None,
        }
    }

    /// The user part with %-escapes decoded (may hold any byte, NUL included:
    /// RFC 4475 §3.1.1.4).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        self.user.as_ref().map(|u| percent_decode(u.as_bytes()))
    }
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(rest) => write!(f, "tel:{rest}"),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        Uri::parse(&SipStr::from(s)).unwrap()
    }

    #[test]
    fn parses_user_password_host_port_params_headers() {
        let Uri::Sip(u) = uri("sip:alice:pw@example.com:5070;transport=tcp;lr?subject=hi") else {
            panic!("not sip")
        };
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.host, Host::Domain("example.com".into()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.value("transport").map(|v| v.as_str()), Some("tcp"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers.as_deref(), Some("subject=hi"));
    }

    #[test]
    fn ipv6_host_with_port() {
        let Uri::Sip(u) = uri("sip:[2001:db8::10]:5070") else {
            panic!()
        };
        assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.to_string(), "sip:[2001:db8::10]:5070");
    }

    #[test]
    fn escaped_nul_in_user_is_kept_whole() {
        let Uri::Sip(u) = uri("sip:null-%00-null@example.com") else {
            panic!()
        };
        assert_eq!(u.user_unescaped().unwrap(), b"null-\0-null");
    }

    #[test]
    fn unknown_scheme_is_kept() {
        assert_eq!(
            uri("soap.beep://192.0.2.103:3002"),
            Uri::Other {
                scheme: "soap.beep".into(),
                rest: "//192.0.2.103:3002".into()
            }
        );
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "sip:",
            "sip:user@",
            "sip:host:99999",
            "<sip:a@b>",
            "nocolon",
            "sip:a b@c",
        ] {
            assert!(Uri::parse(&SipStr::from(bad)).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn percent_decode_leaves_stray_percent() {
        assert_eq!(percent_decode(b"%Z%45%"), b"%ZE%");
    }
}
