//! One UDP datagram into the parser. Whatever parses must also survive the
//! trip through its canonical form: `to_bytes` re-parses, and the start line,
//! Vias and CSeq (what transactions are matched on) come back the same, as do
//! the dialog's From, To and Call-ID and the Contact and Route sets.
#![no_main]

use bytes::Bytes;
use careline_shared::sip::parse_datagram;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse_datagram(Bytes::copy_from_slice(data)) else {
        return;
    };
    let canonical = m.to_bytes();
    let again = match parse_datagram(canonical.clone()) {
        Ok(again) => again,
        Err(e) => panic!(
            "canonical form does not parse: {e}\n{}",
            String::from_utf8_lossy(&canonical)
        ),
    };
    assert_eq!(again.start, m.start);
    assert_eq!(again.headers.via, m.headers.via);
    assert_eq!(again.headers.cseq, m.headers.cseq);
    assert_eq!(again.headers.from, m.headers.from);
    assert_eq!(again.headers.to, m.headers.to);
    assert_eq!(again.headers.call_id, m.headers.call_id);
    assert_eq!(again.headers.contact, m.headers.contact);
    assert_eq!(again.headers.route, m.headers.route);
});
