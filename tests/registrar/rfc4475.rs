//! RFC 4475's 49 torture messages, each sent as one UDP datagram from
//! 127.0.0.2:5060 (a server answers the source address at the Via port,
//! 5060 by default, or at the source port with `rport`, so both are the
//! same). Each message is followed by an OPTIONS probe: once the probe is
//! answered the server has read the message, so a missing reply is known
//! without waiting out a timer.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::sip::{call_id, first_line, headers, status_code};
use crate::support::sipp::Sipp;
use crate::support::{self, server::Options};

/// What a message must get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A well-formed request: some final response.
    AnyFinal,
    /// A final response with one of these codes.
    Status(&'static [u16]),
    /// A malformed request: 400 Bad Request, or silence.
    RejectOrDrop,
    /// A response (or garbage that looks like one): never answered.
    Nothing,
    /// The RFC lets the element accept or reject it.
    Either,
}

use Expect::*;

/// Every file of the corpus and what it must get (index.txt's classes and
/// "RFC says" column).
const TABLE: &[(&str, Expect)] = &[
    // 3.1.1 valid messages
    ("wsinv.dat", AnyFinal),
    ("intmeth.dat", Status(&[501, 405])),
    ("esc01.dat", AnyFinal),
    ("escnull.dat", AnyFinal),
    ("esc02.dat", Status(&[501, 405])),
    ("lwsdisp.dat", AnyFinal),
    ("longreq.dat", AnyFinal),
    ("dblreq.dat", AnyFinal),
    ("semiuri.dat", AnyFinal),
    ("transports.dat", AnyFinal),
    ("mpart01.dat", AnyFinal),
    ("unreason.dat", Nothing),
    ("noreason.dat", Nothing),
    // 3.1.2 invalid messages
    ("badinv01.dat", RejectOrDrop),
    ("clerr.dat", RejectOrDrop),
    ("ncl.dat", RejectOrDrop),
    ("scalar02.dat", RejectOrDrop),
    ("scalarlg.dat", Nothing),
    ("quotbal.dat", RejectOrDrop),
    ("ltgtruri.dat", RejectOrDrop),
    ("lwsruri.dat", RejectOrDrop),
    ("lwsstart.dat", RejectOrDrop),
    ("trws.dat", RejectOrDrop),
    ("escruri.dat", RejectOrDrop),
    // "shouldn't [reject] unless the Date header field were important"
    ("baddate.dat", Either),
    ("regbadct.dat", RejectOrDrop),
    ("badaspec.dat", RejectOrDrop),
    ("baddn.dat", RejectOrDrop),
    ("badvers.dat", Status(&[505])),
    ("mismatch01.dat", RejectOrDrop),
    ("mismatch02.dat", Status(&[501, 400])),
    ("bigcode.dat", Nothing),
    // 3.2 transaction layer semantics
    ("badbranch.dat", AnyFinal),
    // 3.3 application layer semantics
    ("insuf.dat", Status(&[400])),
    ("unkscm.dat", Status(&[416])),
    ("novelsc.dat", Status(&[416])),
    ("unksm2.dat", AnyFinal),
    ("bext01.dat", Status(&[420])),
    ("invut.dat", AnyFinal),
    ("regaut01.dat", AnyFinal),
    ("multi01.dat", Status(&[400])),
    ("mcl01.dat", Status(&[400])),
    ("bcast.dat", Nothing),
    ("zeromf.dat", Status(&[200])),
    ("cparam01.dat", AnyFinal),
    ("cparam02.dat", AnyFinal),
    ("regescrt.dat", AnyFinal),
    ("sdp01.dat", AnyFinal),
    // 3.4 backward compatibility
    ("inv2543.dat", AnyFinal),
];

/// How long a message may take to be answered.
const ANSWER_TIME: Duration = Duration::from_secs(5);
/// After the probe's answer, how long to watch for a reply that must not come.
const GRACE: Duration = Duration::from_millis(200);

fn corpus_dir() -> PathBuf {
    support::shared_dir().join("testdata/rfc4475")
}

#[test]
fn rfc4475_torture_messages_get_the_answers_the_rfc_asks_for() {
    let server = crate::start(Options::default());
    let dir = corpus_dir();

    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".dat"))
        .collect();
    let in_table: BTreeSet<String> = TABLE.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(
        on_disk, in_table,
        "the table must name every .dat file exactly once"
    );
    assert_eq!(TABLE.len(), 49);

    let inbox = Inbox::open();
    let mut failures = Vec::new();
    let mut known_call_ids = HashSet::new();
    let mut strays = Vec::new();
    // Call-IDs by RFC 3261 transaction key (branch, sent-by, method): a
    // message whose key an earlier one already used is, for the server, a
    // retransmission of it, and is answered with that message's response
    // (novelsc.dat reuses unkscm.dat's branch, sent-by and method).
    let mut by_transaction: HashMap<String, Vec<String>> = HashMap::new();
    for (n, (file, expect)) in TABLE.iter().enumerate() {
        let bytes = std::fs::read(dir.join(file)).expect("corpus file is readable");
        let mut keys = message_keys(&bytes);
        if let Some(txn) = transaction_key(&bytes) {
            let earlier = by_transaction.entry(txn).or_default();
            let own = keys.clone();
            keys.extend(earlier.iter().cloned());
            earlier.extend(own);
        }
        known_call_ids.extend(keys.iter().cloned());
        let got = exchange(
            &inbox,
            server.sip,
            &bytes,
            &keys,
            *expect,
            n,
            &known_call_ids,
            &mut strays,
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Some(problem) = judge(*expect, &got) {
            failures.push(format!("{file}: expected {expect:?}, {problem}"));
        }
    }
    drop(inbox);

    // A reply to dblreq's trailing junk INVITE would show up here.
    for stray in &strays {
        failures.push(format!("reply to no message sent: {stray}"));
    }
    let run = Sipp::new(server.dir(), "options.xml", server.sip)
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "after the torture messages the server must still answer OPTIONS\n{}",
        run.describe()
    );
    assert!(
        failures.is_empty(),
        "{} of 49 torture messages were not handled as RFC 4475 says:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The first lines of the replies one message got.
type Replies = Vec<(Option<u16>, String)>;

/// Sends one torture message and its probe; returns the replies that
/// belong to the message.
#[allow(clippy::too_many_arguments)]
fn exchange(
    inbox: &Inbox,
    server: SocketAddr,
    bytes: &[u8],
    keys: &[String],
    expect: Expect,
    n: usize,
    known: &HashSet<String>,
    strays: &mut Vec<String>,
) -> Result<Replies, String> {
    let probe_id = format!("probe-{n}@127.0.0.2");
    inbox.send(bytes, server);
    inbox.send(probe(server, n, &probe_id).as_bytes(), server);

    let sent = Instant::now();
    let mut replies: Replies = Vec::new();
    let mut probe_answered: Option<Instant> = None;
    loop {
        let has_final = replies.iter().any(|(c, _)| c.is_some_and(|c| c >= 200));
        let wait_until = match probe_answered {
            None => sent + ANSWER_TIME,
            Some(_) if !has_final && matches!(expect, AnyFinal | Status(_)) => sent + ANSWER_TIME,
            // Only a reply that has not come yet could still break these.
            Some(at) if !has_final && matches!(expect, Nothing | RejectOrDrop) => at + GRACE,
            Some(at) => at,
        };
        let left = wait_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return match probe_answered {
                Some(_) => Ok(replies),
                None => Err("the server stopped answering (no reply to the OPTIONS probe)".into()),
            };
        }
        let Ok(datagram) = inbox.rx.recv_timeout(left) else {
            continue;
        };
        let id = call_id(&datagram);
        if id.as_deref() == Some(probe_id.as_str()) {
            probe_answered.get_or_insert_with(Instant::now);
        } else if match &id {
            // A reply without a Call-ID answers the message in flight only if
            // that has none either (insuf.dat); otherwise it is a
            // retransmission of insuf's answer (an INVITE's final response is
            // repeated until ACKed, RFC 3261 Timer G).
            None => keys.is_empty(),
            Some(id) => keys.contains(id),
        } {
            replies.push((status_code(&datagram), first_line(&datagram)));
        } else if id.is_none() {
            // Timer G repeating insuf.dat's 400: expected, not a stray.
        } else if !id
            .as_ref()
            .is_some_and(|id| known.contains(id) || id.starts_with("probe-"))
        {
            strays.push(first_line(&datagram));
        }
    }
}

/// The RFC 3261 §17.2.3 key of a request: top Via branch and sent-by, and
/// the CSeq method. `None` when the branch is not an RFC 3261 one.
fn transaction_key(msg: &[u8]) -> Option<String> {
    let via = headers(msg, "Via", Some("v")).into_iter().next()?;
    let (sent_by, params) = via.split_once(';')?;
    let branch = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))?
        .trim()
        .to_owned();
    if !branch.starts_with("z9hG4bK") {
        return None;
    }
    let sent_by = sent_by.split_whitespace().last()?.to_ascii_lowercase();
    let method = headers(msg, "CSeq", None)
        .into_iter()
        .next()?
        .split_whitespace()
        .last()?
        .to_owned();
    Some(format!("{branch} {sent_by} {method}"))
}

/// The Call-IDs a reply to this message may carry (multi01.dat has two);
/// insuf.dat has none, and its replies are those without one.
fn message_keys(msg: &[u8]) -> Vec<String> {
    headers(msg, "Call-ID", Some("i"))
}

/// None when the replies meet the expectation, else what went wrong.
fn judge(expect: Expect, replies: &Replies) -> Option<String> {
    let first_final = replies.iter().find(|(c, _)| c.is_some_and(|c| c >= 200));
    let code = first_final.and_then(|(c, _)| *c);
    let seen = || {
        format!(
            "got {:?}",
            replies.iter().map(|(_, l)| l).collect::<Vec<_>>()
        )
    };
    match expect {
        AnyFinal if code.is_none() => Some(format!("no final response ({})", seen())),
        Status(codes) if !code.is_some_and(|c| codes.contains(&c)) => Some(seen()),
        RejectOrDrop if code.is_some_and(|c| c != 400) => Some(seen()),
        Nothing if !replies.is_empty() => Some(seen()),
        _ => None,
    }
}

/// An OPTIONS that the server answers after it has read what came before.
fn probe(server: SocketAddr, n: usize, call_id: &str) -> String {
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-probe-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.2>;tag=probe{n}\r\n\
         To: <sip:{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        seq = n + 1
    )
}

/// The sockets replies may reach on 127.0.0.2: 5060 (UDP and TCP Vias,
/// `rport`), 5061 (the TLS Via of bext01.dat) and 5050 (quotbal.dat's Via
/// port). A thread per socket forwards every datagram to one channel.
struct Inbox {
    main: UdpSocket,
    rx: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Inbox {
    fn open() -> Self {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut main = None;
        let mut readers = Vec::new();
        for port in [5060, 5061, 5050] {
            let addr = SocketAddrV4::new([127, 0, 0, 2].into(), port);
            let socket =
                UdpSocket::bind(addr).unwrap_or_else(|e| panic!("cannot bind {addr}: {e}"));
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("read timeout can be set");
            let reader = socket.try_clone().expect("UDP socket can be cloned");
            if port == 5060 {
                main = Some(socket);
            }
            let (tx, stop) = (tx.clone(), Arc::clone(&stop));
            readers.push(thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    // A timeout only lets the loop look at `stop` again.
                    let Ok((n, _)) = reader.recv_from(&mut buf) else {
                        continue;
                    };
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }));
        }
        Self {
            main: main.expect("5060 is in the list"),
            rx,
            stop,
            readers,
        }
    }

    fn send(&self, bytes: &[u8], to: SocketAddr) {
        self.main.send_to(bytes, to).expect("loopback send works");
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}
