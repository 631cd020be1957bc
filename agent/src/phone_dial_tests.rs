//! Calls the phone places, in virtual time against a scripted server.

use super::super::tests::*;
use super::*;
use crate::phone::{EndReason, PhoneEvent};

/// A response from the server to `req` with `status`, its To tagged.
fn respond(req: &Message, status: u16, extra: &str, body: &str) -> String {
    format!(
        "SIP/2.0 {status} Whatever\r\n{}{extra}Content-Length: {}\r\n\r\n{body}",
        echo(req),
        body.len()
    )
}

const ANSWER: &str = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

#[test]
fn a_consultation_call_answers_the_challenge_is_acked_and_reports_its_media() {
    let mut rig = Rig::new();
    let line = rig
        .phone
        .dial(rig.at(ms(0)), "2001", RTP.parse().unwrap())
        .unwrap();
    let invite = rig.sent().remove(0);
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(
        invite.request_uri().unwrap().to_string(),
        "sip:2001@clinic.test"
    );
    let offer = Sdp::parse(&invite.body).unwrap();
    assert_eq!(offer.remote_rtp(), Some(RTP.parse().unwrap()));

    let challenge = respond(
        &invite,
        407,
        "Proxy-Authenticate: Digest realm=\"clinic.test\", nonce=\"n1\", algorithm=MD5\r\n",
        "",
    );
    rig.receive(ms(10), &challenge);
    let again = rig
        .sent()
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the INVITE again, with credentials");
    assert_eq!(again.cseq().unwrap().seq, invite.cseq().unwrap().seq + 1);
    assert_eq!(again.call_id(), invite.call_id());
    let auth = again
        .headers
        .get(&HeaderName::ProxyAuthorization)
        .unwrap()
        .value_str()
        .into_owned();
    assert!(auth.contains("uri=\"sip:2001@clinic.test\""), "{auth}");

    rig.receive(ms(20), &respond(&again, 180, "", ""));
    assert!(rig.sent().is_empty());
    let ok = respond(
        &again,
        200,
        "Contact: <sip:careline@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\n",
        ANSWER,
    );
    rig.receive(ms(3000), &ok);
    let ack = rig.sent().remove(0);
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, again.cseq().unwrap().seq);
    assert_eq!(ack.to_tag().unwrap().as_str(), "srv");
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Media {
            line,
            media: Media {
                remote: Some("127.0.0.1:31000".parse().unwrap()),
                codec: careline_shared::sdp::Codec::PCMU,
                dtmf_pt: Some(101),
                send: true,
            }
        }]
    );
    // The 200 again (our ACK was lost): ACKed again.
    rig.receive(ms(3500), &ok);
    assert_eq!(rig.sent()[0].method(), Some(&Method::Ack));

    rig.phone.hang_up(rig.at(ms(9000)), line).unwrap();
    let bye = rig.sent().remove(0);
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.request_uri().unwrap().to_string(),
        "sip:careline@127.0.0.1:5060"
    );
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::LocalHangUp
        }]
    );
}

#[test]
fn a_refused_call_ends_with_its_status_and_a_silent_server_at_timer_b() {
    let mut rig = Rig::new();
    let busy = rig
        .phone
        .dial(rig.at(ms(0)), "2001", RTP.parse().unwrap())
        .unwrap();
    let invite = rig.sent().remove(0);
    rig.receive(ms(50), &respond(&invite, 486, "", ""));
    // The transaction ACKs the 486 itself.
    assert_eq!(rig.sent()[0].method(), Some(&Method::Ack));
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line: busy,
            reason: EndReason::Refused(486)
        }]
    );

    let silent = rig
        .phone
        .dial(rig.at(ms(1000)), "2002", RTP.parse().unwrap())
        .unwrap();
    rig.run_until(ms(1000 + 31_999));
    assert!(rig.events().is_empty());
    rig.run_until(ms(1000 + 32_000));
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line: silent,
            reason: EndReason::Unanswered
        }]
    );
    assert!(matches!(
        rig.phone
            .dial(rig.at(ms(40_000)), "20 01", RTP.parse().unwrap()),
        Err(PhoneError::BadTarget(_))
    ));
}

#[test]
fn hanging_up_before_the_server_answers_cancels_once_it_may() {
    let mut rig = Rig::new();
    let line = rig
        .phone
        .dial(rig.at(ms(0)), "100", RTP.parse().unwrap())
        .unwrap();
    let invite = rig.sent().remove(0);
    rig.phone.hang_up(rig.at(ms(5)), line).unwrap();
    // RFC 3261 §9.1: no CANCEL before a provisional response.
    assert!(
        rig.sent()
            .iter()
            .all(|m| m.method() != Some(&Method::Cancel))
    );
    rig.receive(
        ms(100),
        &respond(&invite, 100, "", "").replace(";tag=srv", ""),
    );
    let cancel = rig.sent().remove(0);
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.branch(), invite.branch());
    assert_eq!(cancel.cseq().unwrap().seq, invite.cseq().unwrap().seq);
    rig.receive(ms(150), &respond(&invite, 487, "", ""));
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::LocalHangUp
        }]
    );
}
