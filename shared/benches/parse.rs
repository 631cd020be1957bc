//! Parser throughput on a clinic's everyday traffic (`benches/data/*.sip`: a
//! call set up and torn down, a digest registration, keep-alives, a message
//! summary, one message in compact form), ours beside rsip 0.4.
//!
//! One iteration parses the whole corpus, so messages per second is the
//! corpus size over the time per iteration; `bench/parser` turns criterion's
//! medians into that table. rsip's `SipMessage::try_from` only tokenizes
//! headers, while `parse_datagram` also types Via, From, To, Call-ID, CSeq,
//! Contact and Route; `rsip_typed` adds the typed reads of the same headers
//! (what a transaction layer needs) so both sides do comparable work.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use careline_shared::sip::parse_datagram;
use criterion::{Criterion, Throughput};
use rsip::headers::ToTypedHeader;
use rsip::message::HeadersExt;

fn corpus() -> Vec<Bytes> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("bench corpus")
        .map(|e| e.expect("bench corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .sip files in {dir}");
    paths
        .iter()
        .map(|p| Bytes::from(std::fs::read(p).expect("bench message")))
        .collect()
}

/// rsip with the typed reads our parser does up front; errors count as done work.
fn rsip_typed(buf: &[u8]) -> Option<u32> {
    let msg = rsip::SipMessage::try_from(buf).ok()?;
    let via = msg.via_header().ok()?.typed().ok()?;
    let from = msg.from_header().ok()?.typed().ok()?;
    let to = msg.to_header().ok()?.typed().ok()?;
    let cseq = msg.cseq_header().ok()?.typed().ok()?;
    let contacts = msg
        .contact_headers()
        .iter()
        .filter_map(|c| c.typed().ok())
        .count();
    black_box((
        via.branch().is_some(),
        from.tag(),
        to.tag(),
        msg.call_id_header().ok(),
    ));
    Some(cseq.seq + contacts as u32)
}

fn parse(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("careline", |b| {
        b.iter(|| {
            for m in &corpus {
                let _ = black_box(parse_datagram(black_box(m.clone())));
            }
        })
    });
    group.bench_function("rsip", |b| {
        b.iter(|| {
            for m in &corpus {
                let _ = black_box(rsip::SipMessage::try_from(black_box(&m[..])));
            }
        })
    });
    group.bench_function("rsip_typed", |b| {
        b.iter(|| {
            for m in &corpus {
                black_box(rsip_typed(black_box(&m[..])));
            }
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60)
        .configure_from_args();
    parse(&mut c);
    c.final_summary();
}
