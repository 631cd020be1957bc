//! Header field names, with the compact forms of RFC 3261 §7.3.3 and later RFCs.

use std::fmt;

use super::text::SipStr;

macro_rules! names {
    ($($variant:ident => $canon:expr, $compact:expr;)*) => {
        /// A header field name. Known names are variants; compact forms map to
        /// them; anything else is kept as [`HeaderName::Other`], spelled as received.
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        #[allow(missing_docs)]
        pub enum HeaderName {
            $($variant,)*
            /// A header the core does not type, kept as it was spelled.
            Other(SipStr),
        }

        impl HeaderName {
            /// Recognises a name, case-insensitively, in its long or compact form.
            pub fn from_token(token: SipStr) -> HeaderName {
                let t = token.as_str();
                if t.len() == 1 {
                    let c = t.as_bytes()[0].to_ascii_lowercase();
                    $(if $compact != 0 && c == $compact { return HeaderName::$variant; })*
                    return HeaderName::Other(token);
                }
                $(if t.eq_ignore_ascii_case($canon) { return HeaderName::$variant; })*
                HeaderName::Other(token)
            }

            /// The canonical long name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(s) => s.as_str(),
                }
            }
        }
    };
}

names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq", 0;
    Contact => "Contact", b'm';
    MaxForwards => "Max-Forwards", 0;
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    Route => "Route", 0;
    RecordRoute => "Record-Route", 0;
    Authorization => "Authorization", 0;
    ProxyAuthorization => "Proxy-Authorization", 0;
    WwwAuthenticate => "WWW-Authenticate", 0;
    ProxyAuthenticate => "Proxy-Authenticate", 0;
    Expires => "Expires", 0;
    MinExpires => "Min-Expires", 0;
    Allow => "Allow", 0;
    Supported => "Supported", b'k';
    Require => "Require", 0;
    ProxyRequire => "Proxy-Require", 0;
    Unsupported => "Unsupported", 0;
    Accept => "Accept", 0;
    Date => "Date", 0;
    Subject => "Subject", b's';
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    Replaces => "Replaces", 0;
    SessionExpires => "Session-Expires", b'x';
    MinSe => "Min-SE", 0;
    Reason => "Reason", 0;
    Event => "Event", b'o';
    AllowEvents => "Allow-Events", b'u';
    UserAgent => "User-Agent", 0;
    Server => "Server", 0;
    RetryAfter => "Retry-After", 0;
    Timestamp => "Timestamp", 0;
    Warning => "Warning", 0;
}

impl HeaderName {
    /// Whether RFC 3261 allows this header only once in a message (§7.3.1,
    /// §20): a second value is a malformed request.
    pub fn is_single_valued(&self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Expires
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
