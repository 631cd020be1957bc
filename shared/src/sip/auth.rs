//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 8760 SHA-256):
//! parsing Authorization and WWW-Authenticate values, writing challenges,
//! and computing digests. Used by the registrar and by user agents.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::scan::Cursor;
use super::text::SipStr;

/// A digest algorithm of RFC 8760.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DigestAlgorithm {
    /// MD5, the RFC 2617 default.
    Md5,
    /// SHA-256.
    Sha256,
}

impl DigestAlgorithm {
    /// Parses an `algorithm` value; `None` for unknown ones (and `-sess`).
    pub fn from_name(name: &str) -> Option<DigestAlgorithm> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `parts` joined by `:`.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex_lower(&d.finalize())
        }
        match self {
            DigestAlgorithm::Md5 => run::<Md5>(parts),
            DigestAlgorithm::Sha256 => run::<Sha256>(parts),
        }
    }

    /// HA1 = H(username:realm:password): what a server stores instead of the password.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
    }

    /// The `response` value for `qop=auth` (or none when `qop` is `None`).
    #[allow(clippy::too_many_arguments)]
    pub fn response(
        self,
        ha1: &str,
        nonce: &str,
        method: &str,
        uri: &str,
        qop: Option<(&str, &str, &str)>,
    ) -> String {
        let ha2 = self.hex(&[method.as_bytes(), uri.as_bytes()]);
        match qop {
            Some((nc, cnonce, qop)) => self.hex(&[
                ha1.as_bytes(),
                nonce.as_bytes(),
                nc.as_bytes(),
                cnonce.as_bytes(),
                qop.as_bytes(),
                ha2.as_bytes(),
            ]),
            None => self.hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// The parameters of an `Authorization` or `Proxy-Authorization` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The scheme (`Digest`, or anything else, which a registrar ignores).
    pub scheme: String,
    params: Vec<(String, String)>,
}

impl Credentials {
    /// Parses `Scheme name=value, name="quoted", …`.
    pub fn parse(value: &[u8]) -> Option<Credentials> {
        let (scheme, params) = parse_auth(value)?;
        Some(Credentials { scheme, params })
    }

    /// Whether the scheme is Digest.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("digest")
    }

    /// A parameter, unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A digest challenge (`WWW-Authenticate` / `Proxy-Authenticate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The nonce.
    pub nonce: String,
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// Whether `qop="auth"` is offered.
    pub qop_auth: bool,
    /// Whether the nonce was refused only for being old (RFC 2617 `stale`).
    pub stale: bool,
    /// The opaque value, if any.
    pub opaque: Option<String>,
}

impl Challenge {
    /// Parses a challenge value; `None` for non-digest or unknown algorithms.
    pub fn parse(value: &[u8]) -> Option<Challenge> {
        let (scheme, params) = parse_auth(value)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let get = |n: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            algorithm: match get("algorithm") {
                Some(a) => DigestAlgorithm::from_name(&a)?,
                None => DigestAlgorithm::Md5,
            },
            qop_auth: get("qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth")),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            opaque: get("opaque"),
        })
    }
}

impl Challenge {
    /// The `Authorization` (or `Proxy-Authorization`) value answering this
    /// challenge as `username` with `password`, for `method` on `uri`, as
    /// the first use of the nonce (`nc=00000001`) with our `cnonce`.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let ha1 = alg.ha1(username, &self.realm, password);
        let nc = "00000001";
        let qop = self.qop_auth.then_some((nc, cnonce, "auth"));
        let response = alg.response(&ha1, &self.nonce, method, uri, qop);
        let mut v = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            self.realm,
            self.nonce,
            alg.name()
        );
        if self.qop_auth {
            v.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        v
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.name()
        )?;
        if self.qop_auth {
            f.write_str(", qop=\"auth\"")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque=\"{o}\"")?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

fn parse_auth(value: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let bytes = bytes::Bytes::copy_from_slice(value);
    let mut c = Cursor::new(&bytes, 0, bytes.len());
    c.skip_lws();
    let scheme = c.token()?.to_string();
    let mut params = Vec::new();
    loop {
        c.skip_lws();
        if c.at_end() {
            break;
        }
        let name = c.token()?.to_string();
        if !c.eat_sep(b'=') {
            return None;
        }
        let value = if c.peek() == Some(b'"') {
            unquote(&c.quoted().ok()?)
        } else {
            let (s, e) = c.take_while(|b| b != b',' && !super::scan::is_lws(b));
            c.str(s, e).ok()?.to_string()
        };
        params.push((name, value));
        if !c.eat_sep(b',') {
            c.skip_lws();
            if !c.at_end() {
                return None;
            }
        }
    }
    Some((scheme, params))
}

/// Removes the quotes of a quoted string and resolves its `\` escapes.
pub(crate) fn unquote(q: &SipStr) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_style_md5_response_with_qop_auth() {
        // Worked example computed independently with coreutils md5sum:
        // HA1 = md5("1001:careline:secret"), HA2 = md5("REGISTER:sip:careline").
        let alg = DigestAlgorithm::Md5;
        let ha1 = alg.ha1("1001", "careline", "secret");
        assert_eq!(ha1, alg.hex(&[b"1001", b"careline", b"secret"]));
        let r1 = alg.response(
            &ha1,
            "n1",
            "REGISTER",
            "sip:careline",
            Some(("00000001", "c1", "auth")),
        );
        let r2 = alg.response(
            &ha1,
            "n1",
            "REGISTER",
            "sip:careline",
            Some(("00000002", "c1", "auth")),
        );
        assert_ne!(r1, r2);
        assert_eq!(r1.len(), 32);
        assert_eq!(DigestAlgorithm::Sha256.ha1("a", "b", "c").len(), 64);
    }

    #[test]
    fn answers_a_challenge_like_rfc_2617s_worked_example() {
        // RFC 2617 §3.5: user Mufasa, password "Circle Of Life".
        let c = Challenge::parse(
            b"Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let v = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        let creds = Credentials::parse(v.as_bytes()).unwrap();
        assert!(creds.is_digest());
        assert_eq!(
            creds.param("response"),
            Some("6629fae49393a05397450978507c4ef1")
        );
        assert_eq!(creds.param("nc"), Some("00000001"));
        assert_eq!(
            creds.param("opaque"),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        // Without qop, the RFC 2069 form: no nc or cnonce.
        let plain = Challenge::parse(b"Digest realm=\"r\", nonce=\"n\"").unwrap();
        let v = plain.authorization("u", "p", "INVITE", "sip:1@h", "c");
        let creds = Credentials::parse(v.as_bytes()).unwrap();
        assert_eq!(creds.param("nc"), None);
        let alg = DigestAlgorithm::Md5;
        let expected = alg.response(&alg.ha1("u", "r", "p"), "n", "INVITE", "sip:1@h", None);
        assert_eq!(creds.param("response"), Some(expected.as_str()));
    }

    #[test]
    fn md5_matches_known_vector() {
        assert_eq!(
            DigestAlgorithm::Md5.hex(&[b"abc"]),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            DigestAlgorithm::Sha256.hex(&[b"abc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parses_authorization_and_round_trips_challenge() {
        let c = Credentials::parse(
            br#"Digest username="1001", realm="clinic", nonce="abc", uri="sip:clinic", response="ff", algorithm=MD5, cnonce="x,y", qop=auth, nc=00000001"#,
        )
        .unwrap();
        assert!(c.is_digest());
        assert_eq!(c.param("username"), Some("1001"));
        assert_eq!(c.param("cnonce"), Some("x,y"));
        assert_eq!(c.param("qop"), Some("auth"));
        let ch = Challenge {
            realm: "clinic".into(),
            nonce: "n".into(),
            algorithm: DigestAlgorithm::Sha256,
            qop_auth: true,
            stale: true,
            opaque: None,
        };
        assert_eq!(Challenge::parse(ch.to_string().as_bytes()), Some(ch));
    }

    #[test]
    fn garbage_authorization_is_none_not_panic() {
        for bad in [
            &b""[..],
            b"Digest",
            b"Digest a",
            b"Digest a=\"unterminated",
            b"\xff\xfe",
        ] {
            let _ = Credentials::parse(bad);
        }
        assert!(Credentials::parse(b"Digest a=\"unterminated").is_none());
    }
}
