//! A transcoded browser leg on a lossy link, in virtual time: the browser
//! loses packets, says so in its receiver reports, and the Opus it gets
//! turns to the speech mode with FEC; once the link is clean again, back.

use careline_shared::rtp::G711;

use super::*;

/// One 20 ms A-law packet of something voice-like: a 140 Hz voice with
/// vibrato, its harmonics, and syllables four times a second. FEC is coded
/// only for frames the encoder hears as speech; a steady tone soon counts
/// as background.
fn voice_rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
    let tau = 2.0 * std::f64::consts::PI;
    p.extend((0..160).map(|i| {
        let t = f64::from(u32::from(seq) * 160 + i) / 8000.0;
        let phase = tau * (140.0 * t - 20.0 / (tau * 3.0) * (tau * 3.0 * t).cos());
        let voice: f64 = (1..=10)
            .map(|h| (f64::from(h) * phase).sin() / f64::from(h))
            .sum();
        let syllables = 0.6 + 0.4 * (tau * 4.0 * t).sin();
        G711::Alaw.encode((3000.0 * syllables * voice) as i16)
    }));
    p
}

/// RFC 6716 §3.1: configurations 0–11 are SILK (speech), 16–31 CELT.
fn speech_mode(opus: &[u8]) -> bool {
    opus[0] >> 3 < 12
}

fn has_fec(opus: &[u8]) -> bool {
    // SAFETY: reads `len` bytes of a live slice.
    unsafe { opusic_sys::opus_packet_has_lbrr(opus.as_ptr(), opus.len() as i32) == 1 }
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
    let mut sent = 0;
    let mut last_second = Vec::new();
    for tick in 0..seconds * 50 {
        gw.handle_inner(*now, addr(SESSION_B), &voice_rtp(*seq));
        *seq += 1;
        let had = browser.received.len();
        while let Some(d) = gw.poll_datagram() {
            assert_eq!(d.via, Via::Public);
            sent += 1;
            if lose_every.is_some_and(|n| sent % n == 0) {
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

#[test]
fn reported_loss_brings_fec_to_the_browser_and_a_clean_link_takes_it_away() {
    let (mut gw, mut browser, mut now, _) = transcoded();
    let mut seq = 0;

    // A clean link: Opus's transform mode, no FEC.
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 3, None);
    assert!(
        heard.len() >= 45,
        "{} packets in the last second",
        heard.len()
    );
    assert!(heard.iter().all(|p| !speech_mode(p) && !has_fec(p)));

    // One packet in ten lost: once the browser has reported it (receiver
    // reports come every few seconds), speech mode, with FEC in the
    // packets of the syllables (not of the dips between them).
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 15, Some(10));
    assert!(
        heard.len() >= 40,
        "{} packets in the last second",
        heard.len()
    );
    assert!(heard.iter().all(|p| speech_mode(p)));
    let with_fec = heard.iter().filter(|p| has_fec(p)).count();
    assert!(
        with_fec * 2 > heard.len(),
        "FEC in {with_fec} of {}",
        heard.len()
    );

    // Clean again: the transform mode is back within the 10 s after the
    // last report of loss (reports come every few seconds).
    let heard = talk(&mut gw, &mut browser, &mut now, &mut seq, 30, None);
    assert!(heard.iter().all(|p| !speech_mode(p) && !has_fec(p)));
}
