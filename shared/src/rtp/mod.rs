//! RTP (RFC 3550) packets, RFC 4733 telephone events and G.711 (μ-law, A-law).
//!
//! The media relay in the server reads packets through the zero-copy
//! [`RtpPacket`] view and writes its own (ringback, music on hold) with
//! [`RtpHeader`]; the desktop agent uses the same types and the G.711 codec.
//! Nothing here allocates on the packet path: parsing borrows the received
//! buffer, and writing fills a buffer the caller owns.

mod g711;
mod header;
mod telephone_event;

pub use g711::{G711, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
pub use header::{HeaderExtension, RtpError, RtpHeader, RtpPacket};
pub use telephone_event::{TelephoneEvent, TelephoneEventError};
