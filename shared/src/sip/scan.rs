//! A byte cursor over one header value, aware of SIP's linear white space.
//!
//! Folded lines (CRLF followed by SP or HT) count as white space, so typed
//! header parsers see a folded value exactly like an unfolded one.

use bytes::Bytes;

use super::text::SipStr;

/// RFC 3261 `token` characters.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Linear white space, including the CR and LF of a fold.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters of a generic parameter value that is not quoted: a token, a host
/// name or an IP address (IPv6 `received` values come without brackets).
fn is_value_char(b: u8) -> bool {
    is_token(b) || matches!(b, b':' | b'[' | b']')
}

pub(crate) struct Cursor<'a> {
    buf: &'a Bytes,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    /// The value spans folded lines: text taken from it is unfolded.
    folded: bool,
    /// The whole buffer region was validated as UTF-8 once already.
    utf8: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a Bytes, start: usize, end: usize) -> Cursor<'a> {
        Cursor {
            buf,
            pos: start,
            end,
            folded: memchr::memchr(b'\n', &buf[start..end]).is_some(),
            utf8: false,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.buf[self.pos])
    }

    pub(crate) fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        while self.pos < self.end && is_lws(self.buf[self.pos]) {
            self.pos += 1;
        }
        self.pos > start
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Eats `SWS b SWS`; leaves the cursor where it was when `b` is not next.
    pub(crate) fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.eat(b) {
            self.skip_lws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> (usize, usize) {
        let start = self.pos;
        while self.pos < self.end && pred(self.buf[self.pos]) {
            self.pos += 1;
        }
        (start, self.pos)
    }

    /// The text of `start..end`, shared with the buffer. A fold inside it (a
    /// display name or quoted value spread over lines) reads as one SP, so a
    /// value means the same whether or not it was folded (RFC 3261 §7.3.1).
    pub(crate) fn str(&self, start: usize, end: usize) -> Result<SipStr, &'static str> {
        let text = self.buf.slice(start..end);
        if self.folded && text.contains(&b'\n') {
            let plain =
                String::from_utf8(unfold(&text).into_owned()).map_err(|_| "invalid utf-8")?;
            return Ok(SipStr::from(plain));
        }
        if self.utf8 {
            return SipStr::cut(self.buf, start, end).ok_or("invalid utf-8");
        }
        SipStr::from_bytes(text).ok_or("invalid utf-8")
    }

    /// Marks the region as validated UTF-8, so slices need no second scan.
    pub(crate) fn known_utf8(mut self, yes: bool) -> Cursor<'a> {
        self.utf8 = yes;
        self
    }

    pub(crate) fn token(&mut self) -> Option<SipStr> {
        let (s, e) = self.take_while(is_token);
        if s == e {
            return None;
        }
        // Token characters are ASCII, so the slice is UTF-8.
        self.str(s, e).ok()
    }

    /// A quoted string, returned with its quotes; escapes are kept as written.
    pub(crate) fn quoted(&mut self) -> Result<SipStr, &'static str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return Err("expected a quoted string");
        }
        while self.pos < self.end {
            match self.buf[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return self.str(start, self.pos);
                }
                b'\\' => {
                    if self.pos + 1 >= self.end || matches!(self.buf[self.pos + 1], b'\r' | b'\n') {
                        return Err("bad escape in a quoted string");
                    }
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
        Err("unterminated quoted string")
    }

    /// A parameter value: a quoted string (kept with its quotes) or a token-like word.
    pub(crate) fn param_value(&mut self) -> Result<SipStr, &'static str> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        let (s, e) = self.take_while(is_value_char);
        if s == e {
            return Err("empty parameter value");
        }
        self.str(s, e)
    }

    /// Decimal digits as a number no larger than `max`.
    pub(crate) fn number(&mut self, max: u64) -> Result<u64, &'static str> {
        let (s, e) = self.take_while(|b| b.is_ascii_digit());
        if s == e {
            return Err("expected a number");
        }
        parse_decimal(&self.buf[s..e], max).ok_or("number out of range")
    }

    pub(crate) fn expect_end(&mut self) -> Result<(), &'static str> {
        self.skip_lws();
        if self.at_end() {
            Ok(())
        } else {
            Err("unexpected characters after the value")
        }
    }
}

/// Parses ASCII digits (leading zeros allowed) into a number no larger than `max`.
pub(crate) fn parse_decimal(digits: &[u8], max: u64) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Replaces every fold (CRLF or LF and the white space after it) with one
/// space; blanks before the line break stay (RFC 3261 §7.3.1).
pub(crate) fn unfold(value: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !value.contains(&b'\n') {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b == b'\r' || b == b'\n' {
            while i < value.len() && is_lws(value[i]) {
                i += 1;
            }
            out.push(b' ');
            continue;
        }
        out.push(b);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_reads_as_one_space_even_after_blanks() {
        assert_eq!(&unfold(b"a \r\n  b")[..], b"a  b");
        assert_eq!(&unfold(b"a\r\n\tb")[..], b"a b");
        assert_eq!(&unfold(b"a  b")[..], b"a  b");
    }

    #[test]
    fn text_taken_from_a_folded_value_is_unfolded() {
        let buf = Bytes::from_static(b"\"Dr.\r\n  Who\" ;x=\"a\r\n\tb\"");
        let mut c = Cursor::new(&buf, 0, buf.len());
        assert_eq!(c.quoted().unwrap().as_str(), "\"Dr. Who\"");
        assert!(c.eat_sep(b';') && c.token().is_some() && c.eat_sep(b'='));
        assert_eq!(c.param_value().unwrap().as_str(), "\"a b\"");
    }
}
