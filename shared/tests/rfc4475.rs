//! RFC 4475 torture messages: every VALID message parses and every INVALID one
//! is rejected with a reason, as the corpus index (`shared/testdata/rfc4475/index.txt`
//! beside the repository) says; the semantic class gets the answer the RFC asks for.

use std::path::PathBuf;

use bytes::Bytes;
use careline_shared::sip::{Message, StatusCode, check_request, parse_datagram};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/rfc4475")
}

/// (file, class) rows of the index table.
fn index() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join("index.txt")).expect("corpus index");
    text.lines()
        .skip_while(|l| !l.starts_with("section"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split_whitespace();
            let _section = cols.next().unwrap();
            let file = cols.next().unwrap().to_string();
            let class = cols.next().unwrap().to_string();
            (file, class)
        })
        .collect()
}

fn load(file: &str) -> Bytes {
    Bytes::from(std::fs::read(corpus_dir().join(file)).expect("corpus file"))
}

#[test]
fn every_message_is_classified_as_the_index_says() {
    let rows = index();
    assert_eq!(rows.len(), 49, "the corpus has 49 messages");
    let mut wrong = Vec::new();
    for (file, class) in &rows {
        let result = parse_datagram(load(file));
        let valid = class.starts_with("VALID");
        match (&result, valid) {
            (Ok(_), true) => {}
            (Err(e), false) => {
                assert!(
                    !e.to_string().is_empty(),
                    "{file}: rejection without a reason"
                );
            }
            (Ok(_), false) => wrong.push(format!("{file} ({class}) parsed but must be rejected")),
            (Err(e), true) => wrong.push(format!("{file} ({class}) rejected: {e}")),
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn invalid_requests_get_the_status_the_rfc_names() {
    let status = |f: &str| parse_datagram(load(f)).unwrap_err().status();
    assert_eq!(status("badvers.dat"), StatusCode::VERSION_NOT_SUPPORTED);
    assert_eq!(status("mismatch02.dat"), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(status("mismatch01.dat"), StatusCode::BAD_REQUEST);
    for f in [
        "badinv01.dat",
        "clerr.dat",
        "ncl.dat",
        "scalar02.dat",
        "quotbal.dat",
        "ltgtruri.dat",
    ] {
        assert_eq!(status(f), StatusCode::BAD_REQUEST, "{f}");
    }
}

fn parsed(file: &str) -> Message {
    parse_datagram(load(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn semantic_checks_answer_as_the_rfc_says() {
    let check = |f: &str| check_request(&parsed(f), &[]).map_err(|r| r.status);
    assert_eq!(check("insuf.dat"), Err(StatusCode::BAD_REQUEST));
    assert_eq!(check("unkscm.dat"), Err(StatusCode::UNSUPPORTED_URI_SCHEME));
    assert_eq!(
        check("novelsc.dat"),
        Err(StatusCode::UNSUPPORTED_URI_SCHEME)
    );
    assert_eq!(check("bext01.dat"), Err(StatusCode::BAD_EXTENSION));
    assert_eq!(check("multi01.dat"), Err(StatusCode::BAD_REQUEST));
    assert_eq!(check("mcl01.dat"), Err(StatusCode::BAD_REQUEST));
    for ok in [
        "wsinv.dat",
        "esc01.dat",
        "escnull.dat",
        "lwsdisp.dat",
        "longreq.dat",
        "dblreq.dat",
        "semiuri.dat",
        "transports.dat",
        "zeromf.dat",
        "cparam01.dat",
        "cparam02.dat",
        "regescrt.dat",
        "inv2543.dat",
        "badbranch.dat",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    let bext = check_request(&parsed("bext01.dat"), &[]).unwrap_err();
    assert!(
        bext.unsupported.iter().any(|t| t == "nothingSupportsThis"),
        "{:?}",
        bext.unsupported
    );
}

#[test]
fn tortuous_invite_fields_come_out_right() {
    let m = parsed("wsinv.dat");
    assert_eq!(m.headers.max_forwards, Some(68));
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.headers.via.len(), 3);
    assert_eq!(m.headers.via[0].transport.as_str(), "UDP");
    assert_eq!(m.headers.via[1].transport.as_str(), "TCP");
    assert_eq!(m.from_tag().unwrap().as_str(), "98asjd8");
    assert_eq!(m.to_tag().unwrap().as_str(), "1918181833n");
    assert_eq!(m.body.len(), 150);
    let unknown = m
        .headers
        .all
        .iter()
        .find(|h| h.name.as_str() == "NewFangledHeader")
        .expect("unknown header kept");
    assert_eq!(
        unknown.value_str(),
        "newfangled value continued newfangled value"
    );
}

#[test]
fn trailing_octets_after_content_length_are_ignored() {
    let m = parsed("dblreq.dat");
    assert_eq!(m.method().unwrap().as_str(), "REGISTER");
    assert!(m.body.is_empty());
}

#[test]
fn contact_param_outside_brackets_belongs_to_the_header() {
    let m = parsed("cparam01.dat");
    let careline_shared::sip::Contact::Addr(a) = &m.headers.contact[0] else {
        panic!()
    };
    assert!(a.uri.as_sip().unwrap().params.is_empty());
    assert!(a.params.contains("unknownparam"));
    let m = parsed("cparam02.dat");
    let careline_shared::sip::Contact::Addr(a) = &m.headers.contact[0] else {
        panic!()
    };
    assert!(a.uri.as_sip().unwrap().params.contains("unknownparam"));
}

#[test]
fn canonical_form_reparses_to_the_same_message() {
    for (file, class) in index() {
        if !class.starts_with("VALID") {
            continue;
        }
        let m = parsed(&file);
        let again = parse_datagram(m.to_bytes()).unwrap_or_else(|e| panic!("{file} re-parse: {e}"));
        assert_eq!(again.start, m.start, "{file}");
        assert_eq!(again.headers.via, m.headers.via, "{file}");
        assert_eq!(again.headers.from, m.headers.from, "{file}");
        assert_eq!(again.headers.to, m.headers.to, "{file}");
        assert_eq!(again.headers.cseq, m.headers.cseq, "{file}");
        assert_eq!(again.body, m.body, "{file}");
    }
}

#[test]
fn invalid_messages_fail_for_the_reason_the_rfc_names() {
    let expect = [
        ("badinv01.dat", "Via header"),
        ("clerr.dat", "content-length 9999"),
        ("ncl.dat", "Content-Length header"),
        ("scalar02.dat", "CSeq header"),
        ("scalarlg.dat", "CSeq header"),
        ("quotbal.dat", "unterminated quoted string"),
        ("ltgtruri.dat", "request-uri"),
        ("lwsruri.dat", "start line"),
        ("lwsstart.dat", "start line"),
        ("trws.dat", "start line"),
        ("escruri.dat", "headers are not allowed in a request-uri"),
        ("baddate.dat", "Date header"),
        ("regbadct.dat", "must be enclosed in <>"),
        ("badaspec.dat", "To header"),
        ("baddn.dat", "display name"),
        ("badvers.dat", "version"),
        ("mismatch01.dat", "cseq method"),
        ("mismatch02.dat", "cseq method"),
        ("bigcode.dat", "status code"),
    ];
    for (file, needle) in expect {
        let why = parse_datagram(load(file)).unwrap_err().to_string();
        assert!(
            why.contains(needle),
            "{file}: rejected for '{why}', expected '{needle}'"
        );
    }
}
