//! Careline's shared core: everything the server and the desktop agent both need and
//! that must not depend on an async runtime. The SIP message model and parser, the
//! sans-IO transaction layer, and (in later issues) dialogs, SDP, RTP and domain types.
//!
//! Nothing here reads the clock or touches a socket: time and bytes come in as
//! arguments, and what to send goes out through `poll_*` methods.
#![warn(missing_docs)]

pub mod rtp;
pub mod script;
pub mod sdp;
pub mod sip;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
