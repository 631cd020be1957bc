//! Writing a session description: CRLF lines in the order RFC 8866 §5 requires.
//!
//! Kept lines go back in their own order within their slot, so a description
//! that was parsed and not changed is written as it came (for descriptions
//! already in the RFC's order, byte for byte).

use std::fmt::{self, Display, Formatter};

use super::model::{Attribute, Connection, Line, Media, Origin, Sdp};

impl Sdp {
    /// The description as a SIP body.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

/// Where a session-level line goes: `v o s i u e p c b t r z k a` (§5), with
/// `t r z` kept together in their own order and unknown letters before `a=`.
pub(crate) fn session_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'u' => 1,
        'e' => 2,
        'p' => 3,
        // 4 is c=.
        'b' => 5,
        't' | 'r' | 'z' => 6,
        'k' => 7,
        _ => 8,
    }
}

/// Where a media-level line goes: `m i c b k a`.
pub(crate) fn media_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'c' => 1,
        'b' => 2,
        'k' => 3,
        _ => 4,
    }
}

/// Writes `lines` whose rank is in `ranks`, by rank and then in their order.
fn write_lines(
    f: &mut Formatter<'_>,
    lines: &[Line],
    rank: fn(char) -> u8,
    ranks: std::ops::Range<u8>,
) -> fmt::Result {
    for r in ranks {
        for line in lines.iter().filter(|l| rank(l.kind) == r) {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
    }
    Ok(())
}

impl Display for Sdp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "v=0\r\no={}\r\ns={}\r\n", self.origin, self.session_name)?;
        write_lines(f, &self.lines, session_rank, 0..4)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.lines, session_rank, 5..6)?;
        if !self.lines.iter().any(|l| l.kind == 't') {
            f.write_str("t=0 0\r\n")?;
        }
        write_lines(f, &self.lines, session_rank, 6..9)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for Media {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", self.proto)?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        f.write_str("\r\n")?;
        write_lines(f, &self.lines, media_rank, 0..1)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.lines, media_rank, 1..5)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap(r) => {
                write!(f, "rtpmap:{} {}/{}", r.pt, r.encoding, r.clock_rate)?;
                if let Some(ch) = r.channels {
                    write!(f, "/{ch}")?;
                }
                Ok(())
            }
            Attribute::Fmtp { pt, params } if params.is_empty() => write!(f, "fmtp:{pt}"),
            Attribute::Fmtp { pt, params } => write!(f, "fmtp:{pt} {params}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "rtcp:{} {c}", r.port),
                None => write!(f, "rtcp:{}", r.port),
            },
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_in_rfc_order_whatever_order_they_came_in() {
        let text = "v=0\r\no=- 1 2 IN IP4 a\r\nt=0 0\r\nb=AS:64\r\nc=IN IP4 192.0.2.1\r\n\
                    s=x\r\ni=info\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:20\r\nb=AS:64\r\n\
                    c=IN IP4 192.0.2.2\r\ni=mi\r\n";
        let sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(
            sdp.to_string(),
            "v=0\r\no=- 1 2 IN IP4 a\r\ns=x\r\ni=info\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\n\
             t=0 0\r\nm=audio 4000 RTP/AVP 0\r\ni=mi\r\nc=IN IP4 192.0.2.2\r\nb=AS:64\r\n\
             a=ptime:20\r\n"
        );
    }

    #[test]
    fn missing_timing_is_added_and_unknown_lines_are_kept() {
        let text =
            "v=0\r\no=- 1 2 IN IP4 a\r\ny=why\r\na=foo:bar\r\nm=audio 0 RTP/AVP 0\r\nq=queue\r\n";
        let out = Sdp::parse(text.as_bytes()).unwrap().to_string();
        assert_eq!(
            out,
            "v=0\r\no=- 1 2 IN IP4 a\r\ns=-\r\nt=0 0\r\ny=why\r\na=foo:bar\r\n\
             m=audio 0 RTP/AVP 0\r\nq=queue\r\n"
        );
    }

    #[test]
    fn repeated_timing_keeps_its_repeat_lines_together() {
        let text = "v=0\r\no=- 1 2 IN IP4 a\r\ns=-\r\nt=1 2\r\nr=7d 1h 0\r\nt=3 4\r\nr=1d 1h 0\r\n";
        let sdp = Sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.to_string(), text);
    }
}
