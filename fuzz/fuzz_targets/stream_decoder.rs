//! A TCP stream into the framer, in chunks. The first byte sets the chunk
//! size; the rest is the stream. Framing must not depend on where reads end:
//! fed in chunks or all at once, the decoder yields the same messages and
//! rejects, and stops with the same error. Keep-alive pings are left out of
//! the comparison, since a run of line endings split across reads may count
//! as one, and so are the line endings a reject starts with.
#![no_main]

use bytes::Bytes;
use careline_shared::sip::{Frame, FrameError, Message, StreamDecoder};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Outcome {
    Message(Message),
    Invalid(Bytes),
    Closed(FrameError),
}

fn decode<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Outcome> {
    let mut decoder = StreamDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Message(m))) => out.push(Outcome::Message(m)),
                Ok(Some(Frame::Invalid { data, .. })) => {
                    let eol = data
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    out.push(Outcome::Invalid(data.slice(eol..)));
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) => break,
                Err(e) => {
                    out.push(Outcome::Closed(e));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let size = usize::from(size % 64) + 1;
    let chunked = decode(stream.chunks(size));
    let whole = decode(std::iter::once(stream));
    assert_eq!(chunked, whole);
});
