//! Checks a user agent server makes on a request that parsed, before any
//! method-specific handling (RFC 3261 §8.2): required headers present and
//! single, a URI scheme it serves, no extension it does not support.

use super::header::HeaderName;
use super::message::Message;
use super::status::StatusCode;
use super::uri::Uri;

/// Why a well-formed request is refused, and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The status to answer with.
    pub status: StatusCode,
    /// A short reason, for the Warning header and the log.
    pub reason: String,
    /// For 420: the option tags we do not support (the Unsupported header).
    pub unsupported: Vec<String>,
}

impl Rejection {
    fn new(status: StatusCode, reason: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
            unsupported: Vec::new(),
        }
    }
}

/// Checks a parsed request; `supported` lists the option tags this element
/// implements (anything else in Require gets 420).
pub fn check_request(msg: &Message, supported: &[&str]) -> Result<(), Rejection> {
    let h = &msg.headers;
    let missing = [
        (h.via.is_empty(), "Via"),
        (h.from.is_none(), "From"),
        (h.to.is_none(), "To"),
        (h.call_id.is_none(), "Call-ID"),
        (h.cseq.is_none(), "CSeq"),
    ];
    if let Some((_, name)) = missing.iter().find(|(m, _)| *m) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("missing {name} header"),
        ));
    }
    if let Some(name) = h.repeated.first() {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("more than one {name} header"),
        ));
    }
    match msg.request_uri() {
        Some(Uri::Sip(_)) | Some(Uri::Tel(_)) => {}
        Some(other) => {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_URI_SCHEME,
                format!("unsupported uri scheme {}", other.scheme()),
            ));
        }
        None => return Err(Rejection::new(StatusCode::BAD_REQUEST, "not a request")),
    }
    let unsupported: Vec<String> = h
        .tokens(&HeaderName::Require)
        .into_iter()
        .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    if !unsupported.is_empty()
        && !matches!(
            msg.method(),
            Some(super::Method::Ack | super::Method::Cancel)
        )
    {
        return Err(Rejection {
            status: StatusCode::BAD_EXTENSION,
            reason: "unsupported extension required".into(),
            unsupported,
        });
    }
    Ok(())
}
