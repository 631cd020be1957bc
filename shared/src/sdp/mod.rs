//! SDP (RFC 8866) and offer/answer (RFC 3264) for the B2BUA's media anchoring.
//!
//! The call core parses each peer's description with [`Sdp::parse`], reads
//! the audio address, codecs and direction from it, and sends each leg a
//! description that points at the media relay: either the peer's own,
//! rewritten with [`Sdp::anchor`], or one built with [`offer`] / [`answer`].
//! Hold is read with [`Sdp::is_hold`] and written with [`Sdp::set_direction`].
//!
//! Only audio is anchored; other sections are disabled or rejected (port 0).

mod codec;
mod model;
mod negotiate;
mod parse;
mod write;

pub use codec::{Codec, CodecKind, common_codecs};
pub use model::{Attribute, Connection, Direction, Line, Media, Origin, Rtcp, Rtpmap, Sdp};
pub use negotiate::{NegotiationError, answer, offer};
pub use parse::{MAX_SDP_LEN, SdpError};
