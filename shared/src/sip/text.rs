//! Text slices of a received message, and the identifiers built on them.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// A UTF-8 string that shares the buffer of the message it came from.
///
/// Cloning is a reference-count increment, never a copy of the text.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipStr(Bytes);

impl SipStr {
    /// Takes a slice known to be UTF-8; returns `None` if it is not.
    pub fn from_bytes(bytes: Bytes) -> Option<SipStr> {
        std::str::from_utf8(&bytes).ok()?;
        Some(SipStr(bytes))
    }

    /// Cuts `bytes[start..end]` out of a buffer already known to be UTF-8
    /// there (the parser validates a head once); only the two cut points
    /// are checked, so no text is scanned again.
    pub(crate) fn cut(bytes: &Bytes, start: usize, end: usize) -> Option<SipStr> {
        // A UTF-8 continuation byte (0b10xxxxxx) never starts a character.
        let boundary = |i: usize| i >= bytes.len() || (bytes[i] as i8) >= -0x40;
        (start <= end && end <= bytes.len() && boundary(start) && boundary(end))
            .then(|| SipStr(bytes.slice(start..end)))
    }

    /// A part of this string, cut at character boundaries (`None` otherwise).
    pub fn substr(&self, start: usize, end: usize) -> Option<SipStr> {
        SipStr::cut(&self.0, start, end)
    }

    /// A static string, for values the program itself writes.
    pub const fn from_static(s: &'static str) -> SipStr {
        SipStr(Bytes::from_static(s.as_bytes()))
    }

    /// The shared bytes under this string.
    pub fn as_bytes_shared(&self) -> &Bytes {
        &self.0
    }

    /// The string as `&str`.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or guarantees UTF-8 (`from_bytes`
        // validates, `from_static` and `From<String>` start from `str`).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl Deref for SipStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for SipStr {
    fn from(s: String) -> SipStr {
        SipStr(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for SipStr {
    fn from(s: &str) -> SipStr {
        SipStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl fmt::Debug for SipStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SipStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for SipStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SipStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

macro_rules! sip_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(SipStr);

        impl $name {
            /// Wraps a string as this identifier.
            pub fn new(s: impl Into<SipStr>) -> $name {
                $name(s.into())
            }
            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }
    };
}

sip_id!(
    /// The `Call-ID` of a dialog or registration (compared byte for byte).
    CallId
);
sip_id!(
    /// A `tag` parameter of `From` or `To`.
    Tag
);
sip_id!(
    /// A Via `branch`: the transaction identifier of RFC 3261 §17.
    Branch
);

impl Branch {
    /// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
    pub const MAGIC_COOKIE: &'static str = "z9hG4bK";

    /// Whether the branch starts with the magic cookie, so that it alone
    /// identifies the transaction.
    pub fn is_rfc3261(&self) -> bool {
        self.as_str().starts_with(Self::MAGIC_COOKIE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_refuses_to_split_a_character() {
        let b = Bytes::from("Ж;x");
        assert_eq!(SipStr::cut(&b, 0, 2).as_deref(), Some("Ж"));
        assert!(SipStr::cut(&b, 1, 3).is_none(), "starts inside Ж");
        assert!(SipStr::cut(&b, 0, 1).is_none(), "ends inside Ж");
        assert!(SipStr::cut(&b, 2, 9).is_none(), "past the end");
        assert_eq!(SipStr::cut(&b, 3, 4).as_deref(), Some("x"));
    }
}
