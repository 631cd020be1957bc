//! The agent's engine: the one driver of the phone, the audio streams and
//! the server link, used by both the window and `--headless`. It logs in,
//! learns the phone's settings from the server, registers, keeps the live
//! WebSocket open (reconnecting, resuming after the last seq) and runs each
//! line's audio; it reports what happens as [`Notice`]s and does what it is
//! told by [`Command`]s. The sans-IO parts (phone, streams) hold the logic;
//! this file only connects them to sockets and clocks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use careline_shared::sip::registration::{Account, RegistrationEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::api::{Api, ServerUrl, Session};
use crate::audio::{FileSound, Headset, Levels, Sound};
use crate::phone::{EndReason, LineId, Media, Phone, PhoneConfig, PhoneEvent};
use crate::stream::{AudioStream, Counters, FRAME_SAMPLES};

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's API.
    pub server: ServerUrl,
    /// Our extension.
    pub extension: String,
    /// Its password (the login's, also the SIP one).
    pub password: String,
    /// Our address (default: the one that reaches the server).
    pub bind: Option<IpAddr>,
    /// Where each call's audio comes from and goes to.
    pub audio: AudioChoice,
}

/// The ends of each call's audio.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioChoice {
    /// Samples (8 kHz) played into each call, looped (empty: silence), and
    /// what is heard recorded to `<dir>/<call id>.wav`.
    Files {
        /// What to play.
        play: Vec<i16>,
        /// Where to record.
        record: Option<PathBuf>,
    },
    /// The headset: devices by id (`None`: the system's default).
    Headset {
        /// The microphone.
        input: Option<String>,
        /// The speaker or headset.
        output: Option<String>,
    },
}

/// What the engine is told to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Answer a ringing line.
    Answer(LineId),
    /// Decline a ringing line, hang up a call, or cancel one ringing out.
    HangUp(LineId),
    /// Call a number through the server (a consultation, a call-back).
    Dial(String),
    /// Transfer a call by REFER (blind).
    Refer(LineId, String),
    /// Use these audio ends from the next call on (the agent chose
    /// other devices).
    Audio(AudioChoice),
    /// Send a DTMF key on a line.
    Key(LineId, char),
    /// Mute or unmute our audio on a line.
    Mute(LineId, bool),
    /// A message for the live WebSocket (state, note, disposition, identity).
    Ws(Value),
    /// Hang up, unregister and stop (the window closes, headless ends);
    /// [`Notice::Stopped`] says when it is done.
    Quit,
    /// An API request (hold, transfer …); its answer comes back as
    /// [`Notice::ApiDone`] with `tag`.
    Api {
        /// `GET`, `PUT`, `POST`.
        method: &'static str,
        /// The path.
        path: String,
        /// The JSON body.
        body: Option<Value>,
        /// Names the request in the answer.
        tag: String,
    },
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Logged in (or waiting for the server, with the reason).
    LoggedIn {
        /// The member of staff's name.
        name: String,
        /// Their role.
        role: String,
    },
    /// The server could not be reached; trying again after `retry_in`.
    ServerUnreachable {
        /// What went wrong.
        reason: String,
        /// When the next try goes.
        retry_in: Duration,
    },
    /// The engine cannot go on (a refused password, bad settings).
    Failed(String),
    /// The clinic's script prompts (`GET /api/scripts`).
    Scripts(Value),
    /// The phone's registration.
    Registration {
        /// Whether the server has it now.
        ok: bool,
        /// What to tell the agent.
        text: String,
    },
    /// The live WebSocket is up or down.
    Link(bool),
    /// A call rings this phone.
    Ringing {
        /// The line.
        line: LineId,
        /// The server's call id.
        call_id: Option<String>,
        /// The From header.
        from: String,
    },
    /// A call we dialled is out (its line).
    Dialling {
        /// The line.
        line: LineId,
        /// Whom.
        target: String,
    },
    /// A line's audio runs (or changed).
    Talking {
        /// The line.
        line: LineId,
        /// What was agreed.
        media: Media,
    },
    /// A transfer asked for by REFER: its progress.
    Transfer {
        /// The line.
        line: LineId,
        /// The SIP status.
        status: u16,
        /// Whether it is the last word.
        done: bool,
    },
    /// A line ended.
    Ended {
        /// The line.
        line: LineId,
        /// Why.
        reason: EndReason,
        /// What its audio did.
        counters: Counters,
    },
    /// A message from the live WebSocket.
    Ws(Value),
    /// An API request's answer: status (0: not sent) and body.
    ApiDone {
        /// The request's tag.
        tag: String,
        /// The HTTP status.
        status: u16,
        /// The JSON body.
        body: Value,
    },
    /// A command could not be carried out.
    Refused(String),
    /// After [`Command::Quit`]: calls hung up, registration removed (or
    /// given up on after a few seconds).
    Stopped,
}

/// The engine's handle: commands in, notices out.
pub struct Handle {
    /// Where commands go.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Where notices come from.
    pub notices: mpsc::UnboundedReceiver<Notice>,
    /// The current call's audio levels, for the meters.
    pub levels: std::sync::Arc<std::sync::Mutex<Levels>>,
}

/// Starts the engine on the current tokio runtime.
pub fn spawn(settings: Settings) -> Handle {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (notice_tx, notices) = mpsc::unbounded_channel();
    let levels = std::sync::Arc::new(std::sync::Mutex::new(Levels::default()));
    let meters = std::sync::Arc::clone(&levels);
    tokio::spawn(async move {
        if let Err(e) = run(settings, command_rx, notice_tx.clone(), meters).await {
            let _ = notice_tx.send(Notice::Failed(format!("{e:#}")));
        }
    });
    Handle {
        commands,
        notices,
        levels,
    }
}

/// What the main loop hears from its helpers.
enum Input {
    Ws(Value),
    Link(bool),
    ApiDone(String, u16, Value),
}

/// What a line's audio task is told.
enum AudioControl {
    Media(Media),
    Mute(bool),
    Key(char),
}

#[derive(Default)]
struct LineCtx {
    /// The audio task's controls; dropping them stops it.
    audio: Option<mpsc::UnboundedSender<AudioControl>>,
    done: Option<oneshot::Receiver<Counters>>,
    call_id: Option<String>,
    rtp_socket: Option<UdpSocket>,
}

async fn run(
    mut settings: Settings,
    mut commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::UnboundedSender<Notice>,
    meters: std::sync::Arc<std::sync::Mutex<Levels>>,
) -> Result<()> {
    let tell = |n: Notice| {
        let _ = notices.send(n);
    };
    let api = Api {
        url: settings.server.clone(),
    };
    let session = login(&api, &settings, &notices).await?;
    tell(Notice::LoggedIn {
        name: session.name.clone(),
        role: session.role.clone(),
    });
    let phone_settings = api.phone_settings(&session).await?;
    // The clinic's scripts; the screen keeps its built-in set without them.
    match api
        .call("GET", "/api/scripts", Some(&session.token), None)
        .await
    {
        Ok((200, doc)) => tell(Notice::Scripts(doc)),
        Ok((status, _)) => tracing::info!(status, "no scripts from the server"),
        Err(e) => tracing::info!("no scripts from the server: {e:#}"),
    }
    let registrar = phone_settings.udp_registrar(&api.url.host)?;
    let local_ip = match settings.bind {
        Some(ip) => ip,
        None => route_to(registrar)?,
    };
    let sip = UdpSocket::bind((local_ip, 0))
        .await
        .context("binding the SIP socket")?;
    let account = Account {
        name: phone_settings.extension.clone(),
        remote: registrar,
        reliable: false,
        domain: phone_settings.domain.clone(),
        username: phone_settings.extension.clone(),
        password: settings.password.clone(),
        expires: Duration::from_secs(phone_settings.register_expires),
    };
    let mut phone = Phone::new(
        PhoneConfig::new(account, sip.local_addr()?),
        Instant::now().into_std(),
        rand::random(),
    );

    let (input_tx, mut input) = mpsc::unbounded_channel();
    let (ws_out, ws_out_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(websocket(
        api.clone(),
        session.clone(),
        input_tx.clone(),
        ws_out_rx,
    ));

    let mut lines: HashMap<LineId, LineCtx> = HashMap::new();
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
                    tell(Notice::Registration {
                        ok: true,
                        text: format!("registered {name} expires={}s", expires.as_secs()),
                    });
                }
                PhoneEvent::Registration(RegistrationEvent::Unregistered { name }) => {
                    tell(Notice::Registration {
                        ok: false,
                        text: format!("unregistered {name}"),
                    });
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
                    tell(Notice::Registration {
                        ok: false,
                        text: format!(
                            "unregistered {name}: {why}; retrying in {}s",
                            retry_in.as_secs()
                        ),
                    });
                }
                PhoneEvent::Ringing {
                    line,
                    call_id,
                    from,
                } => {
                    lines.insert(
                        line,
                        LineCtx {
                            call_id: call_id.clone(),
                            ..LineCtx::default()
                        },
                    );
                    tell(Notice::Ringing {
                        line,
                        call_id,
                        from,
                    });
                }
                PhoneEvent::Media { line, media } => {
                    let Some(ctx) = lines.get_mut(&line) else {
                        continue;
                    };
                    if let Some(tx) = &ctx.audio {
                        let _ = tx.send(AudioControl::Media(media.clone()));
                    } else if let (Some(stream), Some(socket)) = (
                        AudioStream::new(&media, rand::random()),
                        ctx.rtp_socket.take(),
                    ) {
                        let (tx, rx) = mpsc::unbounded_channel();
                        let (done_tx, done_rx) = oneshot::channel();
                        let call = ctx
                            .call_id
                            .clone()
                            .unwrap_or_else(|| format!("line-{}", line.0));
                        let sound: Box<dyn Sound> = match &settings.audio {
                            AudioChoice::Files { play, record } => Box::new(FileSound::new(
                                play.clone(),
                                record.as_ref().map(|dir| dir.join(format!("{call}.wav"))),
                            )),
                            AudioChoice::Headset { input, output } => {
                                // Opening a device blocks (ALSA): not on the loop's thread.
                                let (input, output) = (input.clone(), output.clone());
                                let opened = tokio::task::spawn_blocking(move || {
                                    Headset::open(input.as_deref(), output.as_deref())
                                })
                                .await
                                .map_err(|e| anyhow::anyhow!("the headset thread: {e}"))
                                .and_then(|r| r);
                                match opened {
                                    Ok(h) => Box::new(h),
                                    Err(e) => {
                                        // The call goes on; the agent is told why it is silent.
                                        tell(Notice::Refused(format!("the headset: {e:#}")));
                                        Box::new(FileSound::new(Vec::new(), None))
                                    }
                                }
                            }
                        };
                        tokio::spawn(audio(
                            socket,
                            stream,
                            media.clone(),
                            rx,
                            sound,
                            std::sync::Arc::clone(&meters),
                            done_tx,
                        ));
                        ctx.audio = Some(tx);
                        ctx.done = Some(done_rx);
                    }
                    tell(Notice::Talking { line, media });
                }
                PhoneEvent::Transfer { line, status, done } => {
                    tell(Notice::Transfer { line, status, done });
                }
                PhoneEvent::Ended { line, reason } => {
                    let mut ctx = lines.remove(&line).unwrap_or_default();
                    ctx.audio = None;
                    let counters = match ctx.done.take() {
                        Some(done) => done.await.unwrap_or_default(),
                        None => Counters::default(),
                    };
                    tell(Notice::Ended {
                        line,
                        reason,
                        counters,
                    });
                }
            }
        }
        let deadline = phone.poll_timeout().map(Instant::from_std);
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
                Input::Ws(v) => tell(Notice::Ws(v)),
                Input::Link(up) => tell(Notice::Link(up)),
                Input::ApiDone(tag, status, body) => tell(Notice::ApiDone { tag, status, body }),
            },
            command = commands.recv() => {
                let Some(command) = command else {
                    // The window or headless loop has gone: leave cleanly.
                    return leave(&mut phone, &sip, &notices).await;
                };
                let now = Instant::now().into_std();
                match command {
                    Command::Answer(line) => {
                        // A second press, or a line already gone: nothing to bind.
                        let Some(ctx) = lines.get_mut(&line).filter(|_| phone.is_ringing(line)) else {
                            continue;
                        };
                        let socket = match UdpSocket::bind((local_ip, 0)).await {
                            Ok(s) => s,
                            Err(e) => {
                                tell(Notice::Refused(format!("cannot answer: no RTP socket: {e}")));
                                continue;
                            }
                        };
                        let Ok(addr) = socket.local_addr() else { continue };
                        ctx.rtp_socket = Some(socket);
                        if let Err(e) = phone.answer(now, line, addr) {
                            tell(Notice::Refused(format!("cannot answer: {e}")));
                        }
                    }
                    Command::HangUp(line) => {
                        if let Err(e) = phone.hang_up(now, line) {
                            tell(Notice::Refused(format!("cannot hang up: {e}")));
                        }
                    }
                    Command::Dial(target) => {
                        let bound = UdpSocket::bind((local_ip, 0)).await;
                        let Some((socket, addr)) = bound
                            .ok()
                            .and_then(|s| s.local_addr().ok().map(|a| (s, a)))
                        else {
                            tell(Notice::Refused("cannot call: no RTP socket".into()));
                            continue;
                        };
                        match phone.dial(now, &target, addr) {
                            Ok(line) => {
                                lines.insert(line, LineCtx { rtp_socket: Some(socket), ..LineCtx::default() });
                                tell(Notice::Dialling { line, target });
                            }
                            Err(e) => tell(Notice::Refused(format!("cannot call: {e}"))),
                        }
                    }
                    Command::Audio(choice) => settings.audio = choice,
                    Command::Refer(line, target) => {
                        if let Err(e) = phone.refer(now, line, &target) {
                            tell(Notice::Refused(format!("cannot transfer: {e}")));
                        }
                    }
                    Command::Key(line, key) => {
                        if let Some(tx) = lines.get(&line).and_then(|c| c.audio.as_ref()) {
                            let _ = tx.send(AudioControl::Key(key));
                        }
                    }
                    Command::Mute(line, on) => {
                        if let Some(tx) = lines.get(&line).and_then(|c| c.audio.as_ref()) {
                            let _ = tx.send(AudioControl::Mute(on));
                        }
                    }
                    Command::Ws(v) => {
                        let _ = ws_out.send(v);
                    }
                    Command::Quit => return leave(&mut phone, &sip, &notices).await,
                    Command::Api { method, path, body, tag } => {
                        let (api, token, tx) = (api.clone(), session.token.clone(), input_tx.clone());
                        tokio::spawn(async move {
                            let (status, body) = match api.call(method, &path, Some(&token), body).await {
                                Ok(r) => r,
                                Err(e) => (0, serde_json::json!({ "error": format!("{e:#}") })),
                            };
                            let _ = tx.send(Input::ApiDone(tag, status, body));
                        });
                    }
                }
            }
        }
    }
}

/// Hangs up every line and removes the registration, so the server stops
/// ringing a phone that has gone; waits at most three seconds for the
/// server's answers.
async fn leave(
    phone: &mut Phone,
    sip: &UdpSocket,
    notices: &mpsc::UnboundedSender<Notice>,
) -> Result<()> {
    let now = Instant::now().into_std();
    phone.shut_down(now);
    let give_up = Instant::now() + Duration::from_secs(3);
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(t) = phone.poll_transmit() {
            let _ = sip.send_to(&t.bytes, t.destination).await;
        }
        while let Some(e) = phone.poll_event() {
            if let PhoneEvent::Registration(RegistrationEvent::Unregistered { name }) = e {
                let _ = notices.send(Notice::Registration {
                    ok: false,
                    text: format!("unregistered {name}"),
                });
            }
        }
        if phone.is_idle() || Instant::now() >= give_up {
            let _ = notices.send(Notice::Stopped);
            return Ok(());
        }
        let deadline = phone
            .poll_timeout()
            .map_or(give_up, Instant::from_std)
            .min(give_up);
        tokio::select! {
            r = sip.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    phone.handle_datagram(Instant::now().into_std(), Bytes::copy_from_slice(&buf[..n]), from);
                }
            }
            _ = tokio::time::sleep_until(deadline) => phone.handle_timeout(Instant::now().into_std()),
        }
    }
}

/// Logs in, retrying while the server cannot be reached.
async fn login(
    api: &Api,
    settings: &Settings,
    notices: &mpsc::UnboundedSender<Notice>,
) -> Result<Session> {
    let mut wait = Duration::from_secs(1);
    loop {
        match api.login(&settings.extension, &settings.password).await {
            Ok(s) => return Ok(s),
            Err(e) if is_unreachable(&e) => {
                let _ = notices.send(Notice::ServerUnreachable {
                    reason: format!("{e:#}"),
                    retry_in: wait,
                });
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
    // A message that could not be sent goes again after reconnecting (an
    // identity check or a disposition is an audit fact: none may be lost).
    let mut unsent: Option<Value> = None;
    loop {
        let url = api.ws_url(&session, last_seq);
        let Ok((ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            let _ = input.send(Input::Link(false));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            continue;
        };
        wait = Duration::from_secs(1);
        let _ = input.send(Input::Link(true));
        let (mut tx, mut rx) = ws.split();
        if let Some(v) = unsent.take()
            && tx.send(WsMessage::text(v.to_string())).await.is_err()
        {
            unsent = Some(v);
            let _ = input.send(Input::Link(false));
            continue;
        }
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
                            unsent = Some(v);
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        let _ = input.send(Input::Link(false));
    }
}

/// One line's audio: a frame out and a frame played every 20 ms, packets in
/// as they come. Ends when `control` closes, handing back its counters.
async fn audio(
    socket: UdpSocket,
    mut stream: AudioStream,
    mut media: Media,
    mut control: mpsc::UnboundedReceiver<AudioControl>,
    mut sound: Box<dyn Sound>,
    meters: std::sync::Arc<std::sync::Mutex<Levels>>,
    done: oneshot::Sender<Counters>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut heard = [0i16; FRAME_SAMPLES];
    let mut packet = [0u8; 1500];
    let mut incoming = [0u8; 1500];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                sound.capture(&mut frame);
                if let (Some(n), Some(remote)) = (stream.send_frame(&frame, &mut packet), media.remote) {
                    let _ = socket.send_to(&packet[..n], remote).await;
                }
                stream.play_frame(Instant::now().into_std(), &mut heard);
                sound.play(&heard);
                if let Ok(mut m) = meters.lock() {
                    *m = sound.levels();
                }
            }
            r = socket.recv_from(&mut incoming) => {
                // Only the server's relay speaks on this line: nobody else
                // on the network can play into a patient's call.
                if let Ok((n, from)) = r
                    && media.remote.is_some_and(|m| m.ip() == from.ip())
                {
                    stream.receive(Instant::now().into_std(), &incoming[..n]);
                }
            }
            c = control.recv() => match c {
                Some(AudioControl::Media(m)) => {
                    stream.update(&m);
                    media = m;
                }
                Some(AudioControl::Mute(on)) => stream.set_muted(on),
                Some(AudioControl::Key(k)) => {
                    stream.press(k);
                }
                None => break,
            },
        }
    }
    // Closes the recording (or the headset, which joins its device thread)
    // before the counters go back, off the runtime's threads.
    let _ = tokio::task::spawn_blocking(move || drop(sound)).await;
    if let Ok(mut m) = meters.lock() {
        *m = Levels::default();
    }
    let _ = done.send(stream.counters());
}
