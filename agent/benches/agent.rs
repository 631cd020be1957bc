//! The desktop agent's figures (run by `bench/agent`):
//!
//! 1. Mouth-to-ear through the agent's own path: capture framing → encode →
//!    RTP over loopback UDP → jitter buffer → decode → playout, two streams
//!    on independent 20 ms clocks as two agents would be. A click is put at
//!    the start of a captured frame; its latency is from the moment it was
//!    captured to the moment the receiving side plays it. The sound card's
//!    own buffers (a few ms to tens of ms, device-dependent) come on top.
//! 2. CPU per call: CALLS calls, each two streams sending and playing 20 ms
//!    frames over loopback, for SECONDS; the process's CPU time (from
//!    /proc/self/stat) over wall time, per agent's end of a call.
//! 3. Card drawn: from the WebSocket's `call_offered` reaching the screen to
//!    the frame with the card laid out (egui, no GPU paint).
//!
//!   cargo bench -p careline-agent --bench agent -- [CALLS [SECONDS]]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use careline_agent::engine::Notice;
use careline_agent::phone::{LineId, Media};
use careline_agent::stream::{AudioStream, FRAME_SAMPLES};
use careline_agent::ui::{AgentApp, LoginForm};
use careline_shared::script::Lang;
use careline_shared::sdp::Codec;
use eframe::egui;
use serde_json::json;
use tokio::net::UdpSocket;

fn media(codec: Codec, remote: SocketAddr) -> Media {
    Media {
        remote: Some(remote),
        codec,
        dtmf_pt: Some(101),
        send: true,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One agent's end: sends `frame_of(n)` every 20 ms, plays what comes.
/// Returns, for each click it hears, when it played it.
async fn end(
    socket: UdpSocket,
    mut stream: AudioStream,
    remote: SocketAddr,
    start: tokio::time::Instant,
    frames: u32,
    clicks_every: Option<u32>,
) -> (Vec<Instant>, Vec<Instant>) {
    let mut tick = tokio::time::interval_at(start, Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut packet = [0u8; 1500];
    let mut incoming = [0u8; 1500];
    let (mut sent_clicks, mut heard_clicks) = (Vec::new(), Vec::new());
    let quiet = [0i16; FRAME_SAMPLES];
    let mut click = [0i16; FRAME_SAMPLES];
    click[..8].fill(20_000);
    let mut n = 0;
    while n < frames {
        tokio::select! {
            t = tick.tick() => {
                n += 1;
                let t = t.into_std();
                // This frame was captured over the 20 ms before `t`.
                let clicking = clicks_every.is_some_and(|k| n % k == 0);
                if clicking {
                    sent_clicks.push(t - Duration::from_millis(20));
                }
                let frame = if clicking { &click } else { &quiet };
                if let Some(len) = stream.send_frame(frame, &mut packet) {
                    let _ = socket.send_to(&packet[..len], remote).await;
                }
                let mut out = [0i16; FRAME_SAMPLES];
                stream.play_frame(t, &mut out);
                // The frame plays over the 20 ms from `t`.
                if let Some(k) = out.iter().position(|&s| s.unsigned_abs() > 5_000) {
                    heard_clicks.push(t + Duration::from_secs_f64(k as f64 / 8000.0));
                }
            }
            r = socket.recv_from(&mut incoming) => {
                if let Ok((len, _)) = r {
                    stream.receive(Instant::now(), &incoming[..len]);
                }
            }
        }
    }
    (sent_clicks, heard_clicks)
}

async fn pair(codec: Codec, seconds: u32, clicks_every: Option<u32>, offset: Duration) -> Vec<f64> {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let sa = AudioStream::new(&media(codec.clone(), b_addr), rand::random()).unwrap();
    let sb = AudioStream::new(&media(codec, a_addr), rand::random()).unwrap();
    let frames = seconds * 50;
    let now = tokio::time::Instant::now();
    let ta = tokio::spawn(end(a, sa, b_addr, now, frames, clicks_every));
    // The other agent's clock ticks at its own phase.
    let tb = tokio::spawn(end(b, sb, a_addr, now + offset, frames, None));
    let (sent, _) = ta.await.unwrap();
    let (_, heard) = tb.await.unwrap();
    // Pair each click with the first playout after it.
    sent.iter()
        .filter_map(|s| {
            heard
                .iter()
                .find(|h| *h > s)
                .map(|h| (*h - *s).as_secs_f64() * 1000.0)
        })
        .filter(|ms| *ms < 500.0)
        .collect()
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15, after the command in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after ')' start at field 3; utime is field 14 → index 11.
    (ticks(11) + ticks(12)) / 100.0
}

fn card_drawn(samples: usize) -> Vec<f64> {
    let ctx = egui::Context::default();
    ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Tofu);
    let mut out = Vec::with_capacity(samples);
    let t0 = Instant::now();
    for i in 0..samples {
        let mut app = AgentApp::new(Lang::En, LoginForm::default());
        let now = t0;
        app.notice(
            Notice::LoggedIn {
                name: "Maria Ivanova".into(),
                role: "agent".into(),
            },
            now,
        );
        let call = format!("call-{i:08}");
        app.notice(
            Notice::Ringing {
                line: LineId(1),
                call_id: Some(call.clone()),
                from: "<sip:+79211234567@clinic>".into(),
            },
            now,
        );
        // One frame before, as the screen is already up.
        let _ = ctx.run_ui(egui::RawInput::default(), |ui| app.ui(ui, now));
        let offered = json!({
            "type": "call_offered", "call_id": call, "caller": "+79211234567",
            "patients": [{ "mis_id": "mis-42", "full_name": "Anna Petrova", "address_as": "Anna Sergeevna",
                "birth_date": "1990-11-25", "notes": { "reminders": "bring the scan" },
                "today": { "age": 36 }, "appointments": { "next": null, "last": null } }]
        });
        let start = Instant::now();
        app.notice(Notice::Ws(offered), now);
        let output = ctx.run_ui(egui::RawInput::default(), |ui| app.ui(ui, now));
        let _ = ctx.tessellate(output.shapes, output.pixels_per_point);
        out.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(50).clamp(1, 500);
    let seconds = args.get(1).copied().unwrap_or(10).clamp(2, 120);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    for codec in [Codec::PCMA, Codec::OPUS] {
        // Clicks every 200 ms; the receiver's clock at several phases.
        let mut ms: Vec<f64> = Vec::new();
        for offset in [0u64, 5, 10, 15] {
            ms.extend(rt.block_on(pair(
                codec.clone(),
                4,
                Some(10),
                Duration::from_millis(offset),
            )));
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "mouth_to_ear codec={} clicks={} p50_ms={:.1} p95_ms={:.1} max_ms={:.1} goal_ms=40 ratio_p50={:.2}",
            codec.name,
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            ms.last().copied().unwrap_or(f64::NAN),
            percentile(&ms, 0.5) / 40.0
        );
    }

    for codec in [Codec::PCMA, Codec::OPUS] {
        let cpu0 = cpu_seconds();
        let wall0 = Instant::now();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..calls {
                let offset = Duration::from_micros(u64::from(i) * 20_000 / u64::from(calls));
                tasks.push(tokio::spawn(pair(codec.clone(), seconds, None, offset)));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let cpu = cpu_seconds() - cpu0;
        let wall = wall0.elapsed().as_secs_f64();
        let ends = f64::from(calls) * 2.0;
        println!(
            "cpu_per_call codec={} calls={calls} seconds={seconds} process_cpu_s={cpu:.2} wall_s={wall:.2} percent_core_per_agent_call={:.3} goal_percent=3 ratio={:.3}",
            codec.name,
            cpu / wall / ends * 100.0,
            cpu / wall / ends * 100.0 / 3.0
        );
    }

    let mut drawn = card_drawn(300);
    drawn.sort_by(f64::total_cmp);
    println!(
        "card_drawn samples={} p50_ms={:.2} p99_ms={:.2}",
        drawn.len(),
        percentile(&drawn, 0.5),
        percentile(&drawn, 0.99)
    );
}
