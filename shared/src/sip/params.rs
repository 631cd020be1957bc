//! `;name=value` parameters of URIs and header values.

use std::fmt;

use super::scan::Cursor;
use super::text::SipStr;

/// Parameters in the order received. Names compare case-insensitively; values
/// are kept as written (quoted values keep their quotes).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Params(Vec<(SipStr, Option<SipStr>)>);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params(Vec::new())
    }

    /// The value of `name`: `Some(None)` for a parameter without a value.
    pub fn get(&self, name: &str) -> Option<Option<&SipStr>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The value of `name` when it has one.
    pub fn value(&self, name: &str) -> Option<&SipStr> {
        self.get(name).flatten()
    }

    /// Whether `name` is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an earlier value) or appends it.
    pub fn set(&mut self, name: impl Into<SipStr>, value: Option<SipStr>) {
        let name = name.into();
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Every parameter in order.
    pub fn iter(&self) -> impl Iterator<Item = (&SipStr, Option<&SipStr>)> {
        self.0.iter().map(|(n, v)| (n, v.as_ref()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Header parameters: `*( SWS ";" SWS name [ SWS "=" SWS value ] )`.
    pub(crate) fn parse_header(c: &mut Cursor<'_>) -> Result<Params, &'static str> {
        let mut params = Params::new();
        while c.eat_sep(b';') {
            let name = c.token().ok_or("empty or malformed parameter name")?;
            let value = if c.eat_sep(b'=') {
                Some(c.param_value()?)
            } else {
                None
            };
            params.0.push((name, value));
        }
        Ok(params)
    }

    /// URI parameters from the text after the first `;` (no white space allowed).
    pub(crate) fn parse_uri(text: &SipStr) -> Result<Params, &'static str> {
        let mut params = Params::new();
        let bytes = text.as_bytes_shared();
        let mut start = 0;
        for piece in text.split(';') {
            let end = start + piece.len();
            if piece.is_empty() {
                return Err("empty uri parameter");
            }
            if !piece.bytes().all(is_uri_param_char) {
                return Err("bad character in a uri parameter");
            }
            let (name, value) = match piece.find('=') {
                Some(eq) => (
                    slice(bytes, start, start + eq),
                    Some(slice(bytes, start + eq + 1, end)),
                ),
                None => (slice(bytes, start, end), None),
            };
            if name.is_empty() {
                return Err("empty uri parameter name");
            }
            params.0.push((name, value));
            start = end + 1;
        }
        Ok(params)
    }
}

fn slice(bytes: &bytes::Bytes, start: usize, end: usize) -> SipStr {
    // The parent is UTF-8 and the cut points are at ASCII ';' and '='.
    SipStr::cut(bytes, start, end).unwrap_or_default()
}

/// `paramchar` of RFC 3261 plus `=`, which separates name from value.
fn is_uri_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'[' | b']'
                | b'/'
                | b':'
                | b'&'
                | b'+'
                | b'$'
                | b'-'
                | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'='
        )
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.0 {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}
