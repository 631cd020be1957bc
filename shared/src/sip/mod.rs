//! SIP (RFC 3261): the message model, a zero-copy parser, a serializer, stream
//! framing, digest credentials and the transaction layer.
//!
//! Received bytes are kept in one [`bytes::Bytes`] buffer; every parsed field is a
//! cheap slice of it ([`SipStr`]), so parsing copies no text.

mod auth;
mod build;
mod dialog;
mod frame;
mod header;
mod message;
mod method;
mod name_addr;
mod params;
mod parse;
pub mod registration;
mod scan;
mod status;
mod text;
pub mod transaction;
mod uri;
mod validate;
mod via;

pub use auth::{Challenge, Credentials, DigestAlgorithm};
pub use build::{MessageWriter, response_to};
pub use dialog::Dialog;
pub use frame::{Frame, FrameError, StreamDecoder};
pub use header::HeaderName;
pub use message::{CSeq, Contact, Header, Headers, Message, StartLine};
pub use method::Method;
pub use name_addr::NameAddr;
pub use params::Params;
pub use parse::{ParseError, parse_datagram, parse_message, salvage_response};
pub use status::StatusCode;
pub use text::{Branch, CallId, SipStr, Tag};
pub use uri::{Host, SipUri, Uri, percent_decode};
pub use validate::{Rejection, check_request};
pub use via::Via;
