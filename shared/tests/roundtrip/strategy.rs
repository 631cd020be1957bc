//! Proptest strategies for the round-trip properties: SIP messages as
//! [`Msg`] models, drawn from the characters and shapes RFC 3261 allows in
//! each place (escapes in user parts, qdtext and quoted-pairs in display
//! names, odd tokens, IPv6 with runs of zeros, extension schemes and methods).

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::string::{RegexGeneratorStrategy, string_regex};

use super::model::{
    GenAddr, GenDisplay, GenHost, GenStart, GenUri, GenValue, GenVia, Hdr, Length, Msg, Noise,
    QPiece,
};

const TOKEN: &str = "[A-Za-z0-9.!%*_+`'~-]{1,8}";
const KNOWN_METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
];

fn method() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(&KNOWN_METHODS[..]).prop_map(String::from),
        1 => "[A-Za-z0-9.!%*_+`'~-]{1,12}",
    ]
    .boxed()
}

fn host() -> BoxedStrategy<GenHost> {
    let label = "[a-zA-Z]([a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?";
    let segment = prop_oneof![Just(0u16), Just(1u16), any::<u16>()];
    prop_oneof![
        (vec(label, 1..4), any::<bool>()).prop_map(|(labels, dot)| {
            let mut d = labels.join(".");
            if dot {
                d.push('.');
            }
            GenHost::Domain(d)
        }),
        any::<[u8; 4]>().prop_map(|o| GenHost::V4(Ipv4Addr::from(o))),
        [
            segment.clone(),
            segment.clone(),
            segment.clone(),
            segment.clone(),
            segment.clone(),
            segment.clone(),
            segment.clone(),
            segment
        ]
        .prop_map(|s| GenHost::V6(Ipv6Addr::from(s))),
    ]
    .boxed()
}

/// `%HH` escapes mixed with the characters each URI part allows unescaped.
fn escaped(allowed: &str, len: &str) -> RegexGeneratorStrategy<String> {
    regex(&format!("([A-Za-z0-9{allowed}]|%[0-9A-Fa-f]{{2}}){len}"))
}

fn regex(pattern: &str) -> RegexGeneratorStrategy<String> {
    string_regex(pattern).expect("the generator's patterns are valid")
}

fn sip_uri(with_headers: bool) -> BoxedStrategy<GenUri> {
    let user = escaped(r"_.!~*'()&=+$,;?/-", "{1,10}");
    let password = escaped(r"_.!~*'()&=+$,-", "{0,6}");
    let pchar = r"_.!~*'()\[\]/:&+$-";
    let param = (
        prop_oneof![
            select(&["transport", "lr", "maddr", "user", "method", "ttl", "ob"][..])
                .prop_map(String::from),
            escaped(pchar, "{1,8}"),
        ],
        option::of(escaped(pchar, "{1,8}")),
    );
    let hchar = r"_.!~*'()\[\]/?:+$-";
    let header =
        (escaped(hchar, "{1,6}"), escaped(hchar, "{0,6}")).prop_map(|(n, v)| format!("{n}={v}"));
    let headers = if with_headers {
        option::weighted(0.2, vec(header, 1..3).prop_map(|hs| hs.join("&"))).boxed()
    } else {
        Just(None).boxed()
    };
    (
        any::<bool>(),
        option::of((user, option::weighted(0.2, password))),
        host(),
        option::of(any::<u16>()),
        vec(param, 0..3),
        headers,
    )
        .prop_map(
            |(secure, userinfo, host, port, params, headers)| GenUri::Sip {
                secure,
                user: userinfo.as_ref().map(|u| u.0.clone()),
                password: userinfo.and_then(|u| u.1),
                host,
                port,
                params,
                headers,
            },
        )
        .boxed()
}

fn uri(with_headers: bool) -> BoxedStrategy<GenUri> {
    let tel =
        r"\+?[0-9]{1,3}(-[0-9]{1,4}){0,3}(;ext=[0-9]{1,4}|;phone-context=[a-z]{1,6}\.example)?";
    let scheme = prop_oneof![
        select(&["urn", "im", "pres", "mailto", "h323", "x-Custom+v.1"][..]).prop_map(String::from),
        "[a-z][a-z0-9+.-]{0,5}".prop_filter("not a scheme the parser types", |s| {
            !["sip", "sips", "tel"].contains(&s.as_str())
        }),
    ];
    prop_oneof![
        6 => sip_uri(with_headers),
        1 => tel.prop_map(GenUri::Tel),
        1 => (scheme, "[A-Za-z0-9_.!~*'()/:@&=+$%-]{1,16}").prop_map(|(scheme, rest)| GenUri::Other { scheme, rest }),
    ]
    .boxed()
}

fn quoted() -> BoxedStrategy<Vec<QPiece>> {
    let piece = prop_oneof![
        3 => "[ \t!#-\\[\\]-~éüß日本€😀]{1,6}".prop_map(QPiece::Text),
        1 => select(&['"', '\\', 'n', ' ', '<', '\t'][..]).prop_map(QPiece::Escape),
        1 => Just(QPiece::Space),
    ];
    vec(piece, 0..5).boxed()
}

fn value() -> BoxedStrategy<GenValue> {
    prop_oneof![
        3 => TOKEN.prop_map(GenValue::Token),
        1 => host().prop_map(GenValue::Host),
        1 => quoted().prop_map(GenValue::Quoted),
    ]
    .boxed()
}

fn header_params() -> BoxedStrategy<Vec<(String, Option<GenValue>)>> {
    let name = prop_oneof![
        select(
            &[
                "tag",
                "expires",
                "q",
                "+sip.instance",
                "reg-id",
                "methods",
                "lr"
            ][..]
        )
        .prop_map(String::from),
        TOKEN.prop_map(String::from),
    ];
    vec((name, option::weighted(0.8, value())), 0..3).boxed()
}

fn addr(angle_only: bool) -> BoxedStrategy<GenAddr> {
    let display = prop_oneof![
        2 => Just(GenDisplay::None),
        1 => vec(TOKEN, 1..4).prop_map(GenDisplay::Tokens),
        2 => quoted().prop_map(GenDisplay::Quoted),
    ];
    (display, uri(true), any::<bool>(), header_params())
        .prop_map(move |(display, uri, bare, params)| GenAddr {
            display,
            uri,
            bare: bare && !angle_only,
            params,
        })
        .boxed()
}

/// From or To: a tag most of the time, first among the parameters.
fn party() -> BoxedStrategy<GenAddr> {
    (addr(false), option::weighted(0.8, TOKEN))
        .prop_map(|(mut a, tag)| {
            if let Some(tag) = tag {
                a.params
                    .insert(0, ("tag".into(), Some(GenValue::Token(tag))));
            }
            a
        })
        .boxed()
}

fn via() -> BoxedStrategy<GenVia> {
    let transport = prop_oneof![
        select(&["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp", "tls-sctp"][..])
            .prop_map(String::from),
        TOKEN.prop_map(String::from),
    ];
    let param = prop_oneof![
        host().prop_map(|h| {
            let mut n = Noise::new(0);
            (
                "received".to_string(),
                Some(GenValue::Token(h.bare(&mut n))),
            )
        }),
        option::of(any::<u16>()).prop_map(|p| (
            "rport".to_string(),
            p.map(|p| GenValue::Token(p.to_string()))
        )),
        any::<u8>().prop_map(|t| ("ttl".to_string(), Some(GenValue::Token(t.to_string())))),
        host().prop_map(|h| ("maddr".to_string(), Some(GenValue::Host(h)))),
        (TOKEN, option::of(value())),
    ];
    (
        transport,
        host(),
        option::of(any::<u16>()),
        option::weighted(0.9, TOKEN),
        vec(param, 0..3),
    )
        .prop_map(|(transport, host, port, branch, mut params)| {
            if let Some(b) = branch {
                params.insert(
                    0,
                    (
                        "branch".into(),
                        Some(GenValue::Token(format!("z9hG4bK{b}"))),
                    ),
                );
            }
            GenVia {
                transport,
                host,
                port,
                params,
            }
        })
        .boxed()
}

fn words(word: &'static str) -> impl Strategy<Value = Vec<String>> {
    vec(word, 0..4)
}

/// Headers beyond the ones every message carries.
fn extra_header() -> BoxedStrategy<Hdr> {
    let odd_word = "[!-~éü日€😀]{1,8}";
    prop_oneof![
        3 => ("X-[A-Za-z0-9.!%*_+`'~-]{1,10}", words(odd_word)).prop_map(|(n, w)| Hdr::Extension(n, w)),
        1 => words("[!-~éü日€]{1,8}").prop_map(Hdr::Subject),
        1 => vec(TOKEN, 1..4).prop_map(Hdr::Supported),
        1 => any::<u8>().prop_map(Hdr::MaxForwards),
        1 => (
            select(&["application/sdp", "text/plain", "message/sipfrag", "multipart/mixed"][..]),
            header_params()
        )
            .prop_map(|(m, p)| Hdr::ContentType(m.to_string(), p)),
    ]
    .boxed()
}

fn start() -> BoxedStrategy<GenStart> {
    prop_oneof![
        (method(), uri(false)).prop_map(|(method, uri)| GenStart::Request { method, uri }),
        (100u16..700, "[ \t!-~éü日€😀]{0,16}")
            .prop_map(|(code, reason)| GenStart::Response { code, reason }),
    ]
    .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => vec(any::<u8>(), 1..64),
        1 => Just(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec()),
    ]
    .boxed()
}

/// A structured message. With `stream`, Content-Length is always written.
pub fn message(stream: bool) -> BoxedStrategy<Msg> {
    let length = if stream {
        select(&[Length::Long, Length::Compact, Length::LeadingZeros][..]).boxed()
    } else {
        select(
            &[
                Length::Long,
                Length::Compact,
                Length::LeadingZeros,
                Length::Absent,
            ][..],
        )
        .boxed()
    };
    let cseq_method = method();
    (
        start(),
        vec(vec(via(), 1..4).prop_map(Hdr::Via), 1..4),
        party(),
        party(),
        r#"[A-Za-z0-9.!%*_+`'~()<>:\\"/\[\]?{}-]{1,16}(@[A-Za-z0-9.!%*_+`'~()<>:\\"/\[\]?{}-]{1,10})?"#,
        (0u32..(1 << 31), cseq_method),
        vec(prop_oneof![1 => Just(None), 6 => vec(addr(false), 1..4).prop_map(Some)], 0..3),
        vec(vec(addr(true), 1..3), 0..3),
        vec(extra_header(), 0..4),
        (body(), length, any::<bool>(), any::<u64>()),
    )
        .prop_map(|(start, vias, from, to, call_id, (seq, method), contacts, routes, extra, rest)| {
            let (body, length, leading_crlf, seed) = rest;
            let method = match &start {
                GenStart::Request { method, .. } => method.clone(),
                GenStart::Response { .. } => method,
            };
            let mut headers = vias;
            headers.push(Hdr::From(from));
            headers.push(Hdr::To(to));
            headers.push(Hdr::CallId(call_id));
            headers.push(Hdr::CSeq(seq, method));
            headers.extend(contacts.into_iter().map(Hdr::Contact));
            headers.extend(routes.into_iter().map(Hdr::Route));
            headers.extend(extra);
            Msg {
                start,
                headers,
                body,
                length,
                leading_crlf,
                seed,
            }
        })
    .boxed()
}
