//! `careline-agent --headless`: the agent without a window, for tests,
//! demos and load. It logs in, learns the phone's settings from the server,
//! registers, keeps the live WebSocket open for the cards, answers calls
//! (after `--answer-after`), plays a file or silence into them and records
//! what it hears, and saves a disposition when each call ends. It prints
//! one line per fact on standard output:
//!
//! ```text
//! registered 1001 expires=300s
//! ringing line=1 call=call-00000007
//! card call=call-00000007 patients=1 mis=P-100 caller=…67
//! answered line=1 call=call-00000007 codec=PCMA remote=127.0.0.1:20002
//! ended line=1 call=call-00000007 reason=remote_hang_up sent=151 received=149 played=147 concealed=2
//! disposition call=call-00000007 saved
//! ```
//!
//! Patients' names and numbers never appear there: a card is named by its
//! MIS id and the caller by the last two digits.
//!
//! The phone and the audio streams are the same sans-IO code the window
//! uses; this file is only their driver (sockets, clocks, the WebSocket).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use careline_shared::sip::registration::{Account, RegistrationEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::api::{Api, ServerUrl, Session};
use crate::phone::{EndReason, LineId, Media, Phone, PhoneConfig, PhoneEvent};
use crate::stream::{AudioStream, Counters, FRAME_SAMPLES};

/// What `--headless` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's API.
    pub server: ServerUrl,
    /// Our extension.
    pub extension: String,
    /// Its password (the login's, also the SIP one).
    pub password: String,
    /// Answer ringing calls by ourselves.
    pub auto_answer: bool,
    /// How long to let it ring first.
    pub answer_after: Duration,
    /// Our address (default: the one that reaches the server).
    pub bind: Option<IpAddr>,
    /// 8 kHz mono WAV to play into each call, looped (default: silence).
    pub play: Option<PathBuf>,
    /// Where to record each call (`<call id>.wav`).
    pub record: Option<PathBuf>,
    /// The disposition reason saved when a call ends.
    pub disposition: Option<String>,
    /// Stop after this many calls have ended.
    pub calls: Option<u64>,
}

/// What the driver hears from its helpers.
enum Input {
    /// A message on the live WebSocket.
    Ws(Value),
    /// The WebSocket is (dis)connected.
    WsUp(bool),
    /// `--answer-after` has passed for a ringing line.
    Answer(LineId),
}

struct LineCtx {
    call_id: Option<String>,
    /// The audio task's media updates; dropping it stops the task.
    media: Option<mpsc::UnboundedSender<Media>>,
    done: Option<oneshot::Receiver<Counters>>,
    rtp: Option<std::net::SocketAddr>,
    rtp_socket: Option<UdpSocket>,
}

/// Runs until `--calls` calls have ended, or until interrupted.
pub async fn run(opts: Options) -> Result<()> {
    let api = Api {
        url: opts.server.clone(),
    };
    let session = login(&api, &opts).await?;
    let settings = api.phone_settings(&session).await?;
    let registrar = settings.udp_registrar(&api.url.host)?;
    let local_ip = match opts.bind {
        Some(ip) => ip,
        None => route_to(registrar)?,
    };
    let sip = UdpSocket::bind((local_ip, 0))
        .await
        .context("binding the SIP socket")?;
    let account = Account {
        name: settings.extension.clone(),
        remote: registrar,
        reliable: false,
        domain: settings.domain.clone(),
        username: settings.extension.clone(),
        password: opts.password.clone(),
        expires: Duration::from_secs(settings.register_expires),
    };
    let config = PhoneConfig::new(account, sip.local_addr()?);
    let mut phone = Phone::new(config, Instant::now().into_std(), rand::random());
    let source = match &opts.play {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("--play {}", path.display()))?;
            crate::wav::read(file).with_context(|| format!("--play {}", path.display()))?
        }
        None => Vec::new(),
    };

    let (input_tx, mut input) = mpsc::unbounded_channel();
    let (ws_out, ws_out_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(websocket(api.clone(), session, input_tx.clone(), ws_out_rx));

    let mut lines: HashMap<LineId, LineCtx> = HashMap::new();
    let mut cards: HashMap<String, Value> = HashMap::new();
    let mut ended = 0u64;
    // Dispositions sent and not yet confirmed; `--calls` waits for them.
    let mut unconfirmed = 0usize;
    let mut leaving: Option<Instant> = None;
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(t) = phone.poll_transmit() {
            if let Err(e) = sip.send_to(&t.bytes, t.destination).await {
                tracing::warn!(destination = %t.destination, "SIP send failed: {e}");
            }
        }
        while let Some(event) = phone.poll_event() {
            match event {
                PhoneEvent::Registration(RegistrationEvent::Registered { name, expires }) => {
                    println!("registered {name} expires={}s", expires.as_secs());
                }
                PhoneEvent::Registration(RegistrationEvent::Failed {
                    name,
                    status,
                    retry_in,
                }) => {
                    let why = status.map_or_else(
                        || format!("the server at {registrar} does not answer"),
                        |s| format!("the server answered {s}"),
                    );
                    println!(
                        "unregistered {name}: {why}; retrying in {}s",
                        retry_in.as_secs()
                    );
                }
                PhoneEvent::Ringing {
                    line,
                    call_id,
                    from: _,
                } => {
                    let call = call_id.clone().unwrap_or_else(|| "-".into());
                    println!("ringing line={} call={call}", line.0);
                    lines.insert(
                        line,
                        LineCtx {
                            call_id,
                            media: None,
                            done: None,
                            rtp: None,
                            rtp_socket: None,
                        },
                    );
                    if opts.auto_answer {
                        let tx = input_tx.clone();
                        let after = opts.answer_after;
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            let _ = tx.send(Input::Answer(line));
                        });
                    }
                }
                PhoneEvent::Media { line, media } => {
                    let Some(ctx) = lines.get_mut(&line) else {
                        continue;
                    };
                    if let Some(tx) = &ctx.media {
                        let _ = tx.send(media);
                        continue;
                    }
                    let Some(stream) = AudioStream::new(&media, rand::random()) else {
                        println!(
                            "no audio line={} codec={} (G.711 only)",
                            line.0, media.codec.name
                        );
                        continue;
                    };
                    let call = ctx.call_id.clone().unwrap_or_else(|| "-".into());
                    println!(
                        "answered line={} call={call} codec={} remote={}",
                        line.0,
                        media.codec.name,
                        media.remote.map_or("-".into(), |r| r.to_string())
                    );
                    let Some(socket) = ctx.rtp_socket.take() else {
                        continue;
                    };
                    let (tx, rx) = mpsc::unbounded_channel();
                    let (done_tx, done_rx) = oneshot::channel();
                    let record = opts
                        .record
                        .as_ref()
                        .map(|dir| dir.join(format!("{call}.wav")));
                    tokio::spawn(audio(
                        socket,
                        stream,
                        media,
                        rx,
                        source.clone(),
                        record,
                        done_tx,
                    ));
                    ctx.media = Some(tx);
                    ctx.done = Some(done_rx);
                }
                PhoneEvent::Ended { line, reason } => {
                    let Some(mut ctx) = lines.remove(&line) else {
                        continue;
                    };
                    ctx.media = None;
                    let counters = match ctx.done.take() {
                        Some(done) => done.await.unwrap_or_default(),
                        None => Counters::default(),
                    };
                    let call = ctx.call_id.clone().unwrap_or_else(|| "-".into());
                    println!(
                        "ended line={} call={call} reason={} sent={} received={} played={} concealed={} lost={} late={} underruns={}",
                        line.0,
                        reason_name(reason),
                        counters.sent,
                        counters.received,
                        counters.played,
                        counters.concealed,
                        counters.jitter.lost,
                        counters.jitter.late,
                        counters.jitter.underruns,
                    );
                    if let (Some(reason), Some(call)) = (&opts.disposition, &ctx.call_id)
                        && ctx.rtp.is_some()
                    {
                        unconfirmed += 1;
                        let _ = ws_out.send(json!({
                            "type": "disposition",
                            "call_id": call,
                            "reason": reason,
                            "note": "answered by the headless agent",
                        }));
                    }
                    cards.remove(&call);
                    ended += 1;
                }
            }
        }
        if opts.calls.is_some_and(|n| ended >= n) && lines.is_empty() {
            // The last dispositions must reach the server first (for as
            // long as a reconnecting WebSocket reasonably takes).
            let give_up = *leaving.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
            if unconfirmed == 0 {
                return Ok(());
            }
            if Instant::now() >= give_up {
                anyhow::bail!("{unconfirmed} disposition(s) were not confirmed by the server");
            }
        }
        let deadline = phone
            .poll_timeout()
            .map(Instant::from_std)
            .into_iter()
            .chain(leaving)
            .min();
        tokio::select! {
            r = sip.recv_from(&mut buf) => match r {
                Ok((n, from)) => phone.handle_datagram(
                    Instant::now().into_std(),
                    Bytes::copy_from_slice(&buf[..n]),
                    from,
                ),
                // ICMP port unreachable from an earlier send: the
                // transaction's retransmissions and timeout handle it.
                Err(e) => tracing::debug!("SIP receive: {e}"),
            },
            _ = sleep_until(deadline) => phone.handle_timeout(Instant::now().into_std()),
            Some(msg) = input.recv() => match msg {
                Input::Answer(line) => {
                    let Some(ctx) = lines.get_mut(&line) else { continue };
                    let socket = UdpSocket::bind((local_ip, 0)).await.context("binding an RTP socket")?;
                    let addr = socket.local_addr()?;
                    ctx.rtp = Some(addr);
                    ctx.rtp_socket = Some(socket);
                    if let Err(e) = phone.answer(Instant::now().into_std(), line, addr) {
                        println!("cannot answer line={}: {e}", line.0);
                    }
                }
                Input::WsUp(up) => println!("server link {}", if up { "up" } else { "down; retrying" }),
                Input::Ws(msg) => {
                    if msg["for"] == "disposition" {
                        unconfirmed = unconfirmed.saturating_sub(1);
                    }
                    on_ws(&msg, &mut cards);
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Logs in, retrying while the server cannot be reached.
async fn login(api: &Api, opts: &Options) -> Result<Session> {
    let mut wait = Duration::from_secs(1);
    loop {
        match api.login(&opts.extension, &opts.password).await {
            Ok(s) => {
                println!("logged in {} role={}", opts.extension, s.role);
                return Ok(s);
            }
            Err(e) if is_unreachable(&e) => {
                println!("{e:#}; retrying in {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The local address the kernel would send to `to` from.
fn route_to(to: SocketAddr) -> Result<IpAddr> {
    let any: SocketAddr = match to {
        SocketAddr::V4(_) => "0.0.0.0:0".parse()?,
        SocketAddr::V6(_) => "[::]:0".parse()?,
    };
    let probe = std::net::UdpSocket::bind(any)?;
    probe
        .connect(to)
        .with_context(|| format!("no route to the server's SIP socket {to}"))?;
    Ok(probe.local_addr()?.ip())
}

fn on_ws(msg: &Value, cards: &mut HashMap<String, Value>) {
    match msg["type"].as_str() {
        Some("call_offered") => {
            let call = msg["call_id"].as_str().unwrap_or("-").to_string();
            let patients = msg["patients"].as_array().map_or(&[][..], Vec::as_slice);
            let ids: Vec<&str> = patients
                .iter()
                .filter_map(|p| p["mis_id"].as_str())
                .collect();
            let caller = msg["caller"].as_str().unwrap_or("");
            let tail: String = caller
                .chars()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            println!(
                "card call={call} patients={} mis={} caller=…{tail}",
                patients.len(),
                if ids.is_empty() {
                    "-".into()
                } else {
                    ids.join(",")
                }
            );
            cards.insert(call, msg.clone());
        }
        Some("ok") if msg["for"] == "disposition" => println!("disposition saved"),
        Some("error") => println!(
            "server refused {}: {}",
            msg["for"].as_str().unwrap_or("a message"),
            msg["error"].as_str().unwrap_or("")
        ),
        _ => {}
    }
}

/// The live WebSocket: reconnects (resuming after the last seq) while the
/// server is away; forwards what it hears and sends what it is given.
async fn websocket(
    api: Api,
    session: Session,
    input: mpsc::UnboundedSender<Input>,
    mut outgoing: mpsc::UnboundedReceiver<Value>,
) {
    let mut last_seq: Option<i64> = None;
    let mut wait = Duration::from_secs(1);
    loop {
        let url = api.ws_url(&session, last_seq);
        let Ok((ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            let _ = input.send(Input::WsUp(false));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            continue;
        };
        wait = Duration::from_secs(1);
        let _ = input.send(Input::WsUp(true));
        let (mut tx, mut rx) = ws.split();
        loop {
            tokio::select! {
                m = rx.next() => match m {
                    Some(Ok(WsMessage::Text(text))) => {
                        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                        if let Some(seq) = v["seq"].as_i64() {
                            last_seq = Some(last_seq.map_or(seq, |l| l.max(seq)));
                        }
                        if input.send(Input::Ws(v)).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
                out = outgoing.recv() => match out {
                    Some(v) => {
                        if tx.send(WsMessage::text(v.to_string())).await.is_err() {
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        let _ = input.send(Input::WsUp(false));
    }
}

/// One line's audio: a frame out and a frame played every 20 ms, packets in
/// as they come. Ends when `updates` closes, handing back its counters.
async fn audio(
    socket: UdpSocket,
    mut stream: AudioStream,
    mut media: Media,
    mut updates: mpsc::UnboundedReceiver<Media>,
    source: Vec<i16>,
    record: Option<PathBuf>,
    done: oneshot::Sender<Counters>,
) {
    let mut recorder = record.and_then(|path| {
        std::fs::File::create(&path)
            .and_then(|f| crate::wav::Writer::new(std::io::BufWriter::new(f)))
            .map_err(|e| tracing::warn!(path = %path.display(), "cannot record: {e}"))
            .ok()
    });
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut at = 0usize;
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut heard = [0i16; FRAME_SAMPLES];
    let mut packet = [0u8; 1500];
    let mut incoming = [0u8; 1500];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                for s in &mut frame {
                    *s = if source.is_empty() { 0 } else { source[at % source.len()] };
                    at += 1;
                }
                if let (Some(n), Some(remote)) = (stream.send_frame(&frame, &mut packet), media.remote) {
                    let _ = socket.send_to(&packet[..n], remote).await;
                }
                stream.play_frame(Instant::now().into_std(), &mut heard);
                if let Some(w) = &mut recorder {
                    let _ = w.frame(&heard);
                }
            }
            r = socket.recv_from(&mut incoming) => {
                if let Ok((n, _)) = r {
                    stream.receive(Instant::now().into_std(), &incoming[..n]);
                }
            }
            update = updates.recv() => match update {
                Some(m) => {
                    stream.update(&m);
                    media = m;
                }
                None => break,
            },
        }
    }
    if let Some(w) = recorder {
        let _ = w.finish();
    }
    let _ = done.send(stream.counters());
}

fn reason_name(r: EndReason) -> &'static str {
    match r {
        EndReason::RemoteHangUp => "remote_hang_up",
        EndReason::Cancelled => "cancelled",
        EndReason::LocalHangUp => "local_hang_up",
        EndReason::NoAck => "no_ack",
    }
}
