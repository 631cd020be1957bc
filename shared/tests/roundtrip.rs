//! Property tests of the SIP message layer. Structured messages, written with
//! every spelling the grammar allows (compact names, folds, LWS around
//! separators, escapes, IPv6, extension methods and headers), parse to what
//! was generated; the canonical form re-parses to the same message and is a
//! fixed point of `to_bytes`; no input, however broken, makes the parser or
//! the stream framer panic, and whatever of it parses has a canonical form
//! that holds too; and stream framing does not care where the bytes were cut.

#[path = "roundtrip/model.rs"]
mod model;
#[path = "roundtrip/strategy.rs"]
mod strategy;
#[path = "roundtrip/view.rs"]
mod view;

use bytes::Bytes;
use careline_shared::sip::{Frame, FrameError, HeaderName, Message, StreamDecoder, parse_datagram};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// Every header line but Content-Length and Via (whose canonical spelling
/// differs; Vias are compared typed), as (name, unfolded value).
fn plain_headers(m: &Message) -> Vec<(HeaderName, Vec<u8>)> {
    m.headers
        .all
        .iter()
        .filter(|h| !matches!(h.name, HeaderName::ContentLength | HeaderName::Via))
        .map(|h| (h.name.clone(), h.value_unfolded().into_owned()))
        .collect()
}

/// `to_bytes` keeps every field the core reads, and is a fixed point.
fn assert_canonical_form_holds(m: &Message) {
    let canonical = m.to_bytes();
    let again = parse_datagram(canonical.clone()).unwrap_or_else(|e| {
        panic!(
            "canonical form does not parse ({e}):\n{}",
            String::from_utf8_lossy(&canonical)
        )
    });
    assert_eq!(again.start, m.start);
    assert_eq!(again.headers.via, m.headers.via);
    assert_eq!(again.headers.from, m.headers.from);
    assert_eq!(again.headers.to, m.headers.to);
    assert_eq!(again.headers.call_id, m.headers.call_id);
    assert_eq!(again.headers.cseq, m.headers.cseq);
    assert_eq!(again.headers.contact, m.headers.contact);
    assert_eq!(again.headers.route, m.headers.route);
    assert_eq!(again.body, m.body);
    assert_eq!(plain_headers(&again), plain_headers(m));
    assert_eq!(again.to_bytes(), canonical, "to_bytes is not idempotent");
}

/// Whatever parses, however odd, has a canonical form that holds.
fn assert_canonical_form_holds_if_it_parses(buf: Vec<u8>) {
    if let Ok(m) = parse_datagram(Bytes::from(buf)) {
        assert_canonical_form_holds(&m);
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), select(&b"\r\n:;\"<"[..])).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

fn mutate(buf: &mut Vec<u8>, m: &Mutation) {
    if buf.is_empty() {
        return;
    }
    match m {
        Mutation::Flip(i, bit) => {
            let i = i.index(buf.len());
            buf[i] ^= 1 << bit;
        }
        Mutation::Truncate(i) => buf.truncate(i.index(buf.len())),
        Mutation::Insert(i, b) => {
            let i = i.index(buf.len() + 1);
            buf.insert(i, *b);
        }
    }
}

/// Feeds `buf` cut at `cuts` and drains every frame, stopping at a stream error.
fn decode_in_pieces(buf: &[u8], cuts: &[Index]) -> (Vec<Frame>, Option<FrameError>) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(buf.len() + 1)).collect();
    points.push(0);
    points.push(buf.len());
    points.sort_unstable();
    let mut decoder = StreamDecoder::new();
    let mut frames = Vec::new();
    for w in points.windows(2) {
        decoder.push(&buf[w[0]..w[1]]);
        loop {
            match decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_messages_parse_to_what_was_generated(msg in strategy::message(false)) {
        let wire = msg.render();
        let parsed = parse_datagram(Bytes::from(wire.bytes.clone()));
        let m = parsed.unwrap_or_else(|e| panic!("{e}:\n{}", String::from_utf8_lossy(&wire.bytes)));
        prop_assert_eq!(view::message(&m), wire.expect);
    }

    #[test]
    fn canonical_form_reparses_to_the_same_message(msg in strategy::message(false)) {
        let wire = msg.render();
        let m = parse_datagram(Bytes::from(wire.bytes)).expect("generated message parses");
        assert_canonical_form_holds(&m);
    }

    #[test]
    fn stream_decoder_yields_the_message_wherever_it_is_cut(
        msg in strategy::message(true),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let wire = msg.render();
        let whole = parse_datagram(Bytes::from(wire.bytes.clone())).expect("generated message parses");
        let (frames, error) = decode_in_pieces(&wire.bytes, &cuts);
        prop_assert_eq!(error, None, "stream closed on:\n{}", String::from_utf8_lossy(&wire.bytes));
        prop_assert_eq!(frames.len(), 1, "{:?}", frames);
        match &frames[0] {
            Frame::Message(m) => prop_assert_eq!(m, &whole),
            other => prop_assert!(false, "expected a message, got {:?}", other),
        }
    }

    #[test]
    fn mutated_messages_never_panic_and_what_parses_holds(
        msg in strategy::message(false),
        mutations in vec(mutation(), 1..5),
        cuts in vec(any::<Index>(), 0..4),
    ) {
        let mut buf = msg.render().bytes;
        for m in &mutations {
            mutate(&mut buf, m);
        }
        decode_in_pieces(&buf, &cuts);
        assert_canonical_form_holds_if_it_parses(buf);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_parses_holds(buf in vec(any::<u8>(), 0..512), cuts in vec(any::<Index>(), 0..4)) {
        decode_in_pieces(&buf, &cuts);
        assert_canonical_form_holds_if_it_parses(buf);
    }
}
