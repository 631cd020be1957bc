//! Framing for stream transports (TCP, TLS): messages are cut by
//! Content-Length, which is mandatory there (RFC 3261 §18.3). Keep-alive
//! CRLFs between messages (RFC 5626 §3.5.1) are reported so the driver can pong.

use bytes::{Buf, Bytes, BytesMut};

use super::message::Message;
use super::parse::{ParseError, find_head, finish, parse_head};
use super::scan::parse_decimal;

/// The largest head or body a stream may announce before we give up on it.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What a stream yielded.
#[derive(Debug)]
pub enum Frame {
    /// A whole message.
    Message(Message),
    /// A double-CRLF keep-alive ping; answer with a single CRLF.
    Ping,
    /// A message whose length was known but whose content did not parse:
    /// the stream stays in step, and the sender deserves a 400.
    Invalid {
        /// The whole message as received.
        data: Bytes,
        /// Why it did not parse.
        error: ParseError,
    },
}

/// Why a stream can no longer be read: the connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The head did not parse far enough to find the message's end.
    #[error("unparseable message on a stream: {0}")]
    Parse(#[from] ParseError),
    /// Content-Length is mandatory on streams.
    #[error("message without content-length on a stream")]
    NoContentLength,
    /// Head or body larger than [`MAX_MESSAGE`].
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
}

/// Reads Content-Length from a head without parsing anything else. A line
/// that starts with SP or HT continues the header above it (a fold), so it
/// is never a header of its own, and a Content-Length value may sit on one.
fn content_length(head: &[u8]) -> Result<u32, FrameError> {
    let bad = |reason| {
        FrameError::Parse(ParseError::Header {
            name: super::HeaderName::ContentLength,
            reason,
        })
    };
    let is_fold = |line: &&[u8]| line.first().is_some_and(|&b| b == b' ' || b == b'\t');
    let mut found = None;
    let mut lines = head.split(|&b| b == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        if is_fold(&line) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let mut value = line[colon + 1..].trim_ascii();
            while let Some(more) = lines.next_if(is_fold) {
                let more = more.trim_ascii();
                if !more.is_empty() {
                    if !value.is_empty() {
                        return Err(bad("expected a number"));
                    }
                    value = more;
                }
            }
            let n =
                parse_decimal(value, u64::from(u32::MAX)).ok_or(bad("expected a number"))? as u32;
            if found.is_some_and(|f| f != n) {
                return Err(bad("conflicting values"));
            }
            found = Some(n);
        }
    }
    found.ok_or(FrameError::NoContentLength)
}

/// Accumulates stream bytes and yields whole messages.
#[derive(Default, Debug)]
pub struct StreamDecoder {
    buf: BytesMut,
}

impl StreamDecoder {
    /// An empty decoder.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        let leading = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if leading == self.buf.len() {
            // Only line endings so far: wait for a full ping or a message.
            if leading > 4 {
                self.buf.advance(leading - 4);
            }
            return Ok(None);
        }
        let head = match find_head(&self.buf) {
            // The same limit whether the head came in one read or many.
            Ok(head) if head.body > MAX_MESSAGE => return Err(FrameError::TooLarge),
            Ok(head) => head,
            Err(ParseError::NoBlankLine) if self.buf.len() > MAX_MESSAGE => {
                return Err(FrameError::TooLarge);
            }
            Err(ParseError::NoBlankLine) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = content_length(&self.buf[head.start..head.end])? as usize;
        if len > MAX_MESSAGE {
            return Err(FrameError::TooLarge);
        }
        if self.buf.len() < head.body + len {
            return Ok(None);
        }
        let whole = self.buf.split_to(head.body + len).freeze();
        let parsed = parse_head(&whole, &head)
            .and_then(|(start, headers)| finish(start, headers, whole.slice(head.body..)));
        Ok(Some(match parsed {
            Ok(msg) => Frame::Message(msg),
            Err(error) => Frame::Invalid { data: whole, error },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn splits_two_messages_delivered_byte_by_byte() {
        let mut d = StreamDecoder::new();
        let mut got = Vec::new();
        for &b in OPTIONS.iter().chain(b"\r\n\r\n").chain(OPTIONS) {
            d.push(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[1], Frame::Ping));
        let Frame::Message(m) = &got[2] else { panic!() };
        assert_eq!(&m.body[..], b"body");
    }

    #[test]
    fn stream_without_content_length_is_an_error() {
        let mut d = StreamDecoder::new();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n");
        assert_eq!(d.next_frame().unwrap_err(), FrameError::NoContentLength);
    }

    #[test]
    fn bad_message_with_known_length_keeps_the_stream_in_step() {
        let mut d = StreamDecoder::new();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nTo: \"unclosed <sip:a@b>\r\nContent-Length: 0\r\n\r\n");
        d.push(OPTIONS);
        assert!(matches!(d.next_frame(), Ok(Some(Frame::Invalid { .. }))));
        assert!(matches!(d.next_frame(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn folded_content_length_frames_the_message() {
        let mut d = StreamDecoder::new();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n  4\r\nCall-ID: c1\r\n\r\nbody");
        let Ok(Some(Frame::Message(m))) = d.next_frame() else {
            panic!("no message")
        };
        assert_eq!(&m.body[..], b"body");
    }

    #[test]
    fn content_length_inside_a_fold_is_not_a_header() {
        let mut d = StreamDecoder::new();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: hi\r\n Content-Length: 99\r\nContent-Length: 0\r\n\r\n");
        let Ok(Some(Frame::Message(m))) = d.next_frame() else {
            panic!("no message")
        };
        assert!(m.body.is_empty());
    }

    #[test]
    fn oversized_head_is_refused_even_when_it_arrives_whole() {
        let mut head = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        while head.len() <= MAX_MESSAGE {
            head.extend_from_slice(b"X-Padding: 0123456789abcdef0123456789abcdef\r\n");
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let mut d = StreamDecoder::new();
        d.push(&head);
        assert_eq!(d.next_frame().unwrap_err(), FrameError::TooLarge);
    }

    #[test]
    fn negative_content_length_closes_the_stream() {
        let mut d = StreamDecoder::new();
        d.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n");
        assert!(matches!(d.next_frame(), Err(FrameError::Parse(_))));
    }
}
