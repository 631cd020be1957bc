//! Reading a session description (RFC 8866 §5, §9).
//!
//! Tolerant where phones differ (LF or CRLF, blank lines, trailing spaces, a
//! missing `s=` or `t=`, unknown line types and attributes, typed attributes
//! whose value does not parse: all kept as written) and strict only where the
//! B2BUA could not act on the result: `v=0` first, an `o=` line, and well-formed
//! `o=`, `c=` and `m=` lines. Errors name the line so a 488 can say why.

use thiserror::Error;

use super::model::{Attribute, Connection, Direction, Line, Media, Origin, Rtcp, Rtpmap, Sdp};
use super::write::{media_rank, session_rank};

/// Descriptions longer than this are refused before any parsing.
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// Why bytes are not a usable session description. Line numbers count from 1.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// No lines at all.
    #[error("sdp is empty")]
    Empty,
    /// Longer than [`MAX_SDP_LEN`].
    #[error("sdp longer than {MAX_SDP_LEN} bytes")]
    TooLarge,
    /// The first line is not `v=0`.
    #[error("sdp does not start with v=0")]
    BadVersion,
    /// A line that is not `<letter>=<value>`, or a second `v=`.
    #[error("sdp line {line} is not of the form x=value")]
    BadLine {
        /// The line number.
        line: usize,
    },
    /// There is no `o=` line.
    #[error("sdp has no o= line")]
    MissingOrigin,
    /// The `o=` line does not have six fields with a numeric version.
    #[error("sdp line {line}: malformed o=")]
    BadOrigin {
        /// The line number.
        line: usize,
    },
    /// A `c=` line does not have three fields.
    #[error("sdp line {line}: malformed c=")]
    BadConnection {
        /// The line number.
        line: usize,
    },
    /// An `m=` line without media, port and protocol, or with a bad port.
    #[error("sdp line {line}: malformed m=")]
    BadMedia {
        /// The line number.
        line: usize,
    },
}

impl Sdp {
    /// Parses a session description as it arrives in a SIP body.
    pub fn parse(bytes: &[u8]) -> Result<Sdp, SdpError> {
        if bytes.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge);
        }
        // SDP text is UTF-8 in practice; a stray byte only affects free text.
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches(['\r', ' ', '\t'])))
            .filter(|(_, l)| !l.is_empty());

        match lines.next() {
            None => return Err(SdpError::Empty),
            Some((_, "v=0")) => {}
            Some(_) => return Err(SdpError::BadVersion),
        }
        let mut sdp = Sdp::default();
        let mut origin = None;
        let mut session_name = None;
        let mut current: Option<Media> = None;

        for (n, line) in lines {
            let (kind, value) = split_line(line).ok_or(SdpError::BadLine { line: n })?;
            match (kind, current.as_mut()) {
                ('v', _) => return Err(SdpError::BadLine { line: n }),
                ('m', _) => {
                    sdp.media.extend(current.take());
                    current = Some(parse_media(value).ok_or(SdpError::BadMedia { line: n })?);
                }
                ('o', None) if origin.is_none() => {
                    origin = Some(parse_origin(value).ok_or(SdpError::BadOrigin { line: n })?);
                }
                ('s', None) if session_name.is_none() => session_name = Some(value.to_owned()),
                ('c', None) if sdp.connection.is_none() => {
                    let c = parse_connection(value).ok_or(SdpError::BadConnection { line: n })?;
                    sdp.connection = Some(c);
                }
                ('c', Some(m)) if m.connection.is_none() => {
                    let c = parse_connection(value).ok_or(SdpError::BadConnection { line: n })?;
                    m.connection = Some(c);
                }
                ('a', None) => sdp.attributes.push(parse_attribute(value)),
                ('a', Some(m)) => m.attributes.push(parse_attribute(value)),
                (kind, None) => sdp.lines.push(other_line(kind, value)),
                (kind, Some(m)) => m.lines.push(other_line(kind, value)),
            }
        }
        sdp.media.extend(current);
        // t= is required; a description without one is read as "always".
        if !sdp.lines.iter().any(|l| l.kind == 't') {
            sdp.lines.push(other_line('t', "0 0"));
        }
        // Keep lines in the order they are written, so parse → write → parse
        // gives the same value.
        sdp.lines.sort_by_key(|l| session_rank(l.kind));
        for m in &mut sdp.media {
            m.lines.sort_by_key(|l| media_rank(l.kind));
        }
        sdp.origin = origin.ok_or(SdpError::MissingOrigin)?;
        sdp.session_name = session_name.unwrap_or_else(|| "-".to_owned());
        Ok(sdp)
    }
}

/// `x=value` → (`x`, `value`); the type is one ASCII letter.
fn split_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let kind = chars.next().filter(char::is_ascii_alphabetic)?;
    let value = chars.as_str().strip_prefix('=')?;
    Some((kind, value))
}

fn other_line(kind: char, value: &str) -> Line {
    Line {
        kind,
        value: value.to_owned(),
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let mut f = value.split_ascii_whitespace();
    let origin = Origin {
        username: f.next()?.to_owned(),
        session_id: f.next()?.to_owned(),
        session_version: f.next()?.parse().ok()?,
        net_type: f.next()?.to_owned(),
        addr_type: f.next()?.to_owned(),
        address: f.next()?.to_owned(),
    };
    f.next().is_none().then_some(origin)
}

fn parse_connection(value: &str) -> Option<Connection> {
    let mut f = value.split_ascii_whitespace();
    let c = Connection {
        net_type: f.next()?.to_owned(),
        addr_type: f.next()?.to_owned(),
        address: f.next()?.to_owned(),
    };
    f.next().is_none().then_some(c)
}

fn parse_media(value: &str) -> Option<Media> {
    let mut f = value.split_ascii_whitespace();
    let kind = f.next()?.to_owned();
    let port_field = f.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, count)) => (p.parse().ok()?, Some(count.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    Some(Media {
        kind,
        port,
        port_count,
        proto: f.next()?.to_owned(),
        formats: f.map(str::to_owned).collect(),
        connection: None,
        attributes: Vec::new(),
        lines: Vec::new(),
    })
}

/// Reads one attribute; a typed attribute whose value does not parse is kept as
/// [`Attribute::Other`] so it is written back unchanged.
pub(crate) fn parse_attribute(value: &str) -> Attribute {
    let (name, arg) = match value.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (value, None),
    };
    let typed = match (name, arg) {
        ("rtpmap", Some(a)) => parse_rtpmap(a).map(Attribute::Rtpmap),
        ("fmtp", Some(a)) => parse_fmtp(a),
        ("ptime", Some(a)) => a.trim().parse().ok().map(Attribute::Ptime),
        ("rtcp", Some(a)) => parse_rtcp(a).map(Attribute::Rtcp),
        (n, None) => Direction::parse(n).map(Attribute::Direction),
        _ => None,
    };
    typed.unwrap_or_else(|| Attribute::Other {
        name: name.to_owned(),
        value: arg.map(str::to_owned),
    })
}

/// Payload type numbers are 0–127 (RFC 3551).
fn parse_pt(s: &str) -> Option<u8> {
    s.parse().ok().filter(|pt| *pt < 128)
}

fn parse_rtpmap(a: &str) -> Option<Rtpmap> {
    let (pt, rest) = a.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next().filter(|e| !e.is_empty())?.to_owned();
    let clock_rate = parts.next()?.parse().ok().filter(|r| *r > 0)?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().ok().filter(|c| *c > 0)?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Rtpmap {
        pt: parse_pt(pt)?,
        encoding,
        clock_rate,
        channels,
    })
}

fn parse_fmtp(a: &str) -> Option<Attribute> {
    let a = a.trim_start();
    let (pt, params) = a.split_once([' ', '\t']).unwrap_or((a, ""));
    Some(Attribute::Fmtp {
        pt: parse_pt(pt)?,
        params: params.trim_start().to_owned(),
    })
}

fn parse_rtcp(a: &str) -> Option<Rtcp> {
    let a = a.trim();
    let (port, rest) = a.split_once(' ').unwrap_or((a, ""));
    let connection = match rest.trim() {
        "" => None,
        r => Some(parse_connection(r)?),
    };
    Some(Rtcp {
        port: port.parse().ok()?,
        connection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    #[test]
    fn parses_a_minimal_description() {
        let sdp = Sdp::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(sdp.origin.session_version, 2);
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].formats, vec!["0"]);
        assert_eq!(sdp.remote_rtp(), Some("192.0.2.1:4000".parse().unwrap()));
    }

    #[test]
    fn accepts_lf_blank_lines_and_trailing_spaces() {
        let text = "v=0\n\no=- 1 2 IN IP4 192.0.2.1 \nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0 \na=sendonly \n\n";
        let sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.session_name, "-");
        assert_eq!(sdp.direction(), Direction::SendOnly);
    }

    #[test]
    fn typed_attributes_parse_and_odd_ones_are_kept() {
        let cases = [
            ("rtpmap:96 opus/48000/2", true),
            ("rtpmap:0 PCMU/8000", true),
            ("fmtp:101 0-16", true),
            ("fmtp:101", true),
            ("ptime:20", true),
            ("rtcp:53021 IN IP4 126.16.64.4", true),
            ("rtcp:53021", true),
            ("inactive", true),
            ("rtpmap:200 PCMU/8000", false),
            ("rtpmap:96 opus", false),
            ("rtpmap:96 opus/0", false),
            ("rtpmap:96 /8000", false),
            ("ptime:20.5", false),
            ("fmtp:x y", false),
            ("rtcp:99999", false),
            ("sendonly:yes", false),
            ("ice-ufrag:F7gI", false),
            ("", false),
        ];
        for (text, typed) in cases {
            let a = parse_attribute(text);
            assert_eq!(!matches!(a, Attribute::Other { .. }), typed, "{text}");
        }
        assert_eq!(
            parse_attribute("rtpmap:96 opus/48000/2"),
            Attribute::Rtpmap(Rtpmap {
                pt: 96,
                encoding: "opus".to_owned(),
                clock_rate: 48000,
                channels: Some(2)
            })
        );
    }

    #[test]
    fn malformed_descriptions_are_errors_naming_the_line() {
        let cases: [(&str, SdpError); 12] = [
            ("", SdpError::Empty),
            ("\r\n\r\n", SdpError::Empty),
            ("v=1\r\n", SdpError::BadVersion),
            ("o=- 1 2 IN IP4 a\r\nv=0\r\n", SdpError::BadVersion),
            ("v=0\r\ns=-\r\n", SdpError::MissingOrigin),
            (
                "v=0\r\no=- 1 x IN IP4 a\r\n",
                SdpError::BadOrigin { line: 2 },
            ),
            ("v=0\r\no=- 1 2 IN IP4\r\n", SdpError::BadOrigin { line: 2 }),
            (
                "v=0\r\no=- 1 2 IN IP4 a\r\nc=IN IP4\r\n",
                SdpError::BadConnection { line: 3 },
            ),
            (
                "v=0\r\no=- 1 2 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
                SdpError::BadMedia { line: 3 },
            ),
            (
                "v=0\r\no=- 1 2 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n",
                SdpError::BadMedia { line: 3 },
            ),
            (
                "v=0\r\no=- 1 2 IN IP4 a\r\nthis is not sdp\r\n",
                SdpError::BadLine { line: 3 },
            ),
            (
                "v=0\r\no=- 1 2 IN IP4 a\r\nv=0\r\n",
                SdpError::BadLine { line: 3 },
            ),
        ];
        for (text, err) in cases {
            assert_eq!(Sdp::parse(text.as_bytes()), Err(err), "{text:?}");
        }
        assert_eq!(
            Sdp::parse(&vec![b'a'; MAX_SDP_LEN + 1]),
            Err(SdpError::TooLarge)
        );
    }

    #[test]
    fn media_port_count_and_empty_format_list() {
        let text = "v=0\r\no=- 1 2 IN IP4 a\r\nm=audio 4000/2 RTP/AVP\r\n";
        let sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.media[0].port, 4000);
        assert_eq!(sdp.media[0].port_count, Some(2));
        assert!(sdp.media[0].formats.is_empty());
    }

    #[test]
    fn media_level_connection_and_direction_override_the_session() {
        let text = "v=0\r\no=- 1 2 IN IP4 a\r\nc=IN IP4 192.0.2.1\r\na=sendonly\r\n\
                    m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\na=recvonly\r\n";
        let sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.remote_rtp(), Some("192.0.2.9:4000".parse().unwrap()));
        assert_eq!(sdp.direction(), Direction::RecvOnly);
        assert!(!sdp.is_hold());
    }

    #[test]
    fn non_utf8_bytes_do_not_stop_the_parse() {
        let mut bytes = MINIMAL.replace("s=-", "s=\u{0}x").into_bytes();
        let at = bytes.iter().position(|b| *b == 0).unwrap();
        bytes[at] = 0xff;
        let sdp = Sdp::parse(&bytes).unwrap();
        assert!(sdp.session_name.ends_with('x'));
    }
}
