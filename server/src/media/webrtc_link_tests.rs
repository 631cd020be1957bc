//! A transcoded browser leg, in virtual time: FEC in the Opus it gets from
//! the start, off once its receiver reports show a clean link, on again
//! when it loses packets and says so, and off 30 s after the loss ends.

use careline_shared::rtp::G711;

use super::*;
use crate::media::transcode::{carries_fec, voice_sample};

/// One 20 ms A-law packet of something voice-like.
fn voice_rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
    let first = u32::from(seq) * 160;
    p.extend((first..first + 160).map(|n| G711::Alaw.encode(voice_sample(n))));
    p
}

/// The caller talks for `seconds` (a packet every 20 ms); the network drops
/// every `lose_every`th datagram to the browser, if set. The Opus payloads
/// the browser got in the last second.
fn talk(
    gw: &mut Gateway,
    browser: &mut Browser,
    now: &mut Instant,
    seq: &mut u16,
    seconds: u32,
    lose_every: Option<usize>,
) -> Vec<Vec<u8>> {
    let mut sent = 0usize;
    let mut last_second = Vec::new();
    for tick in 0..seconds * 50 {
        gw.handle_inner(*now, addr(SESSION_B), &voice_rtp(*seq));
        *seq += 1;
        let had = browser.received.len();
        while let Some(d) = gw.poll_datagram() {
            assert_eq!(d.via, Via::Public);
            sent += 1;
            if lose_every.is_some_and(|n| sent.is_multiple_of(n)) {
                continue;
            }
            browser.receive(*now, addr(PUBLIC), &d.data);
        }
        if tick >= (seconds - 1) * 50 {
            last_second.extend(browser.received[had..].iter().map(|(_, p)| p.clone()));
        }
        for _ in 0..4 {
            let mut to_gateway = std::mem::take(&mut browser.outbox);
            browser.drain(&mut to_gateway);
            for (_, data) in to_gateway {
                gw.handle_public(*now, addr(BROWSER), &data);
            }
            *now += Duration::from_millis(5);
            if gw.poll_timeout().is_some_and(|t| t <= *now) {
                gw.handle_timeout(*now);
            }
            if browser.timeout <= *now {
                browser.rtc.handle_input(Input::Timeout(*now)).unwrap();
            }
        }
    }
    last_second
}

/// Of the packets the browser got in a second, how many carry FEC.
fn fec_in(heard: &[Vec<u8>]) -> usize {
    // 50 sent; a lossy stretch loses one datagram in ten, RTCP included.
    assert!(
        heard.len() >= 40,
        "{} packets in the last second",
        heard.len()
    );
    heard.iter().filter(|p| carries_fec(p)).count()
}

#[test]
fn fec_follows_the_loss_the_browser_reports() {
    let (mut gw, mut browser, mut now, _, peer) = transcoded();
    let mut seq = 0;
    let fec_for = |gw: &Gateway| gw.stats(peer).and_then(|s| s.fec_for);

    // The first second, before any report: FEC for 5 %, in the packets of
    // the syllables (not of the dips between them).
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 1, None);
    let fec = fec_in(&heard);
    assert!(fec * 2 > heard.len(), "FEC in {fec} of {}", heard.len());
    assert_eq!(fec_for(&gw), Some(5));

    // Receiver reports of a clean link (str0m needs two, 5 s apart): none.
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 15, None);
    assert_eq!(fec_in(&heard), 0);
    assert_eq!(fec_for(&gw), Some(0));

    // One datagram in ten lost: once the browser has reported it, FEC for
    // about that.
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 15, Some(10));
    let fec = fec_in(&heard);
    assert!(fec * 2 > heard.len(), "FEC in {fec} of {}", heard.len());
    let lossy = fec_for(&gw).unwrap();
    assert!((9..=11).contains(&lossy), "FEC for {lossy} %");

    // Clean again: FEC kept for a while (bursts; a report spanning the end
    // of the loss may size it down), none 30 s after the last report of
    // loss.
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 10, None);
    assert!(fec_in(&heard) * 2 > heard.len());
    assert!(fec_for(&gw).is_some_and(|p| (1..=lossy).contains(&p)));
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 35, None);
    assert_eq!(fec_in(&heard), 0);
    assert_eq!(fec_for(&gw), Some(0));
}
