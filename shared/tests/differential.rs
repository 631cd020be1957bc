//! rsip 0.4 as a second, independent reading of the same bytes. On the bench
//! corpus and on the RFC 4475 messages the index calls valid, both parsers
//! must agree on what the core acts on: method, Request-URI host and user,
//! status code, Call-ID, CSeq, top Via branch and the From/To tags.
//!
//! Where rsip cannot read a message (or one of those fields) that is listed
//! below rather than failed: the list must match exactly, so a parser change
//! on either side shows up here.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use careline_shared::sip::{Host, Message, StartLine, Uri, parse_datagram};
use rsip::headers::{ToTypedHeader, UntypedHeader};
use rsip::message::HeadersExt;

/// Messages rsip 0.4 cannot read, and the first field it fails on ("parse":
/// it rejects the whole message). Every one of them is valid SIP.
const RSIP_FAILS: &[(&str, &str)] = &[
    ("compact.sip", "parse"), // compact header names, a folded line, IPv6 sent-by
    ("wsinv.dat", "parse"),   // folds and LWS around every separator
    ("intmeth.dat", "parse"), // extension method of unusual token characters
    ("esc01.dat", "parse"),   // %-escapes in the user part
    ("esc02.dat", "parse"),   // extension method with '%'
    ("longreq.dat", "parse"), // very long header values
    ("dblreq.dat", "call_id"), // compact `I:` is not a Call-ID to rsip
    ("semiuri.dat", "parse"), // ';' in the user part
    ("unkscm.dat", "parse"),  // Request-URI of an unknown scheme
    ("unksm2.dat", "to"),     // To of an unknown scheme
];

fn rfc4475_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/rfc4475"
    ))
}

/// The corpus: every bench message, then the RFC 4475 messages classed VALID*.
fn corpus() -> Vec<(String, Bytes)> {
    let bench = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data"));
    let mut bench_files: Vec<_> = std::fs::read_dir(bench)
        .expect("bench corpus")
        .map(|e| e.expect("bench corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    bench_files.sort();
    let index = std::fs::read_to_string(rfc4475_dir().join("index.txt")).expect("rfc 4475 index");
    let valid = index
        .lines()
        .skip_while(|l| !l.starts_with("section"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols[2]
                .starts_with("VALID")
                .then(|| rfc4475_dir().join(cols[1]))
        });
    bench_files
        .into_iter()
        .chain(valid)
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, Bytes::from(std::fs::read(&p).expect("corpus file")))
        })
        .collect()
}

/// What both parsers are asked.
#[derive(Debug, PartialEq)]
struct Fields {
    method: Option<String>,
    uri_host: Option<String>,
    uri_user: Option<String>,
    status: Option<u16>,
    call_id: Option<String>,
    cseq: Option<(u32, String)>,
    branch: Option<String>,
    from_tag: Option<String>,
    to_tag: Option<String>,
}

/// Hosts compared without brackets or case: `[2001:DB8::1]` is `2001:db8::1`.
fn host_key(text: &str) -> String {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.to_ascii_lowercase(),
    }
}

fn ours(m: &Message) -> Fields {
    let (method, uri_host, uri_user, status) = match &m.start {
        StartLine::Request { method, uri } => {
            let (host, user) = match uri {
                Uri::Sip(u) => {
                    let host = match &u.host {
                        Host::Domain(d) => host_key(d),
                        other => host_key(&other.to_string()),
                    };
                    (Some(host), u.user.as_ref().map(|u| u.to_string()))
                }
                _ => (None, None),
            };
            (Some(method.to_string()), host, user, None)
        }
        StartLine::Response { status, .. } => (None, None, None, Some(status.as_u16())),
    };
    Fields {
        method,
        uri_host,
        uri_user,
        status,
        call_id: m.call_id().map(|c| c.to_string()),
        cseq: m.cseq().map(|c| (c.seq, c.method.to_string())),
        branch: m.branch().map(|b| b.to_string()),
        from_tag: m.from_tag().map(|t| t.to_string()),
        to_tag: m.to_tag().map(|t| t.to_string()),
    }
}

/// rsip's reading, or the first field it could not give.
fn theirs(buf: &[u8], ours: &Fields) -> Result<Fields, &'static str> {
    let msg = rsip::SipMessage::try_from(buf).map_err(|_| "parse")?;
    let (method, uri_host, uri_user, status) = match &msg {
        rsip::SipMessage::Request(r) => {
            // rsip has no notion of tel: or other schemes; compare SIP URIs only.
            let (host, user) = if ours.uri_host.is_some() {
                (
                    Some(host_key(&r.uri.host_with_port.host.to_string())),
                    r.uri.user().map(str::to_string),
                )
            } else {
                (None, None)
            };
            (Some(r.method.to_string()), host, user, None)
        }
        rsip::SipMessage::Response(r) => (None, None, None, Some(r.status_code.code())),
    };
    // A missing header is an answer (None); a header rsip cannot type is a failure.
    let via = msg
        .via_header()
        .ok()
        .map(|h| h.typed())
        .transpose()
        .map_err(|_| "via")?;
    let from = msg
        .from_header()
        .ok()
        .map(|h| h.typed())
        .transpose()
        .map_err(|_| "from")?;
    let to = msg
        .to_header()
        .ok()
        .map(|h| h.typed())
        .transpose()
        .map_err(|_| "to")?;
    let cseq = msg
        .cseq_header()
        .ok()
        .map(|h| h.typed())
        .transpose()
        .map_err(|_| "cseq")?;
    Ok(Fields {
        method,
        uri_host,
        uri_user,
        status,
        call_id: msg.call_id_header().ok().map(|h| h.value().to_string()),
        cseq: cseq.map(|c| (c.seq, c.method.to_string())),
        branch: via.and_then(|v| v.branch().map(|b| b.to_string())),
        from_tag: from.and_then(|f| f.tag().map(|t| t.to_string())),
        to_tag: to.and_then(|t| t.tag().map(|t| t.to_string())),
    })
}

/// The fields rsip did not find although the message has them (a compact
/// header name, say); they are left out of `ours` so the rest can be compared.
fn unseen(ours: &mut Fields, theirs: &Fields) -> Vec<&'static str> {
    let mut missed = Vec::new();
    macro_rules! check {
        ($($field:ident),*) => {$(
            if ours.$field.is_some() && theirs.$field.is_none() {
                ours.$field = None;
                missed.push(stringify!($field));
            }
        )*};
    }
    check!(
        method, uri_host, uri_user, status, call_id, cseq, branch, from_tag, to_tag
    );
    missed
}

#[test]
fn rsip_reads_the_corpus_as_we_do() {
    let corpus = corpus();
    assert!(
        corpus.len() > 40,
        "corpus went missing: {} messages",
        corpus.len()
    );
    let mut rsip_fails = Vec::new();
    let mut disagreements = Vec::new();
    for (name, buf) in &corpus {
        let m = parse_datagram(buf.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut ours = ours(&m);
        let theirs = match theirs(buf, &ours) {
            Ok(theirs) => theirs,
            Err(field) => {
                rsip_fails.push((name.as_str(), field));
                continue;
            }
        };
        if let Some(field) = unseen(&mut ours, &theirs).first() {
            rsip_fails.push((name.as_str(), field));
        }
        if theirs != ours {
            disagreements.push(format!("{name}:\n  ours   {ours:?}\n  rsip   {theirs:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the parsers disagree:\n{}",
        disagreements.join("\n")
    );
    assert_eq!(
        rsip_fails, RSIP_FAILS,
        "the messages rsip cannot read changed"
    );
}
