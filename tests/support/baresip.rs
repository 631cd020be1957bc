//! baresip as a real softphone: a config folder per instance (see
//! PEERS.md), started headless and driven over `ctrl_tcp`, whose messages
//! are netstring-framed JSON: `{"command":..,"params":..,"token":..}` out,
//! `{"response":true,"ok":..,"data":..,"token":..}` and
//! `{"event":true,"type":..,..}` back.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::process::Spawned;
use super::{LOCALHOST, free_sip_port, free_tcp_port, write_file};

/// One account line for baresip's `accounts` file.
#[derive(Clone, Debug)]
pub struct Account {
    pub ext: String,
    pub password: String,
    /// The registrar (its UDP address).
    pub registrar: SocketAddr,
    /// Registration interval in seconds (`regint`).
    pub regint: u32,
    /// `auto` or `manual`.
    pub answermode: String,
}

impl Account {
    /// An account that registers `ext` at `registrar` every `regint` s.
    pub fn new(ext: &str, password: &str, registrar: SocketAddr, regint: u32) -> Self {
        Self {
            ext: ext.to_owned(),
            password: password.to_owned(),
            registrar,
            regint,
            answermode: "auto".to_owned(),
        }
    }

    fn line(&self) -> String {
        format!(
            "<sip:{}@{};transport=udp>;auth_pass={};answermode={};regint={}",
            self.ext, self.registrar, self.password, self.answermode, self.regint
        )
    }
}

/// A running baresip with a connected control channel.
pub struct Baresip {
    /// Where baresip listens for SIP.
    pub sip: SocketAddr,
    ctrl: Ctrl,
    // Dropped last: the process is killed after the control socket closes.
    process: Spawned,
}

impl Baresip {
    /// Writes a config folder in `dir` and starts baresip with `accounts`.
    /// Its ports are found free just before it starts; when another test
    /// takes one in between (baresip exits: address in use), it starts
    /// again on others, up to five times.
    pub fn start(dir: &Path, accounts: &[Account]) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once(dir, accounts) {
                Err(e) if attempt < 5 && format!("{e:#}").contains("Address already in use") => {
                    attempt += 1;
                }
                started => return started,
            }
        }
    }

    fn start_once(dir: &Path, accounts: &[Account]) -> Result<Self> {
        let sip_port = free_sip_port(LOCALHOST);
        let ctrl_port = free_tcp_port(LOCALHOST);
        let conf = dir.join(format!("baresip-{sip_port}"));
        std::fs::create_dir_all(&conf)?;
        write_file(&conf, "config", &config_text(sip_port, ctrl_port))?;
        let lines: Vec<String> = accounts.iter().map(Account::line).collect();
        write_file(&conf, "accounts", &format!("{}\n", lines.join("\n")))?;

        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(&conf);
        let mut process = Spawned::start("baresip", &mut cmd, &conf.join("baresip.log"))?;
        process.wait_for_line("baresip is ready", Duration::from_secs(20))?;
        let ctrl_addr = SocketAddr::V4(SocketAddrV4::new(LOCALHOST, ctrl_port));
        let ctrl = Ctrl::connect(ctrl_addr, &mut process, Duration::from_secs(10))?;
        Ok(Self {
            sip: SocketAddr::V4(SocketAddrV4::new(LOCALHOST, sip_port)),
            ctrl,
            process,
        })
    }

    /// Sends a command and returns its response (`ok`, `data`, ...).
    pub fn command(&mut self, command: &str, params: Option<&str>) -> Result<Value> {
        self.ctrl.command(command, params, Duration::from_secs(5))
    }

    /// Waits for an event for which `want` holds; events that do not
    /// match are dropped.
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(event) = self.ctrl.events.pop_front() {
                if want(&event) {
                    return Ok(event);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("baresip sent no matching event within {timeout:?}");
            }
            self.ctrl.read_one(left)?;
        }
    }

    /// Forgets the events received so far, so that the next wait sees
    /// only what happens from now on.
    pub fn forget_events(&mut self) {
        self.ctrl.events.clear();
    }

    /// Polls `reginfo` until every account shows `OK`, waiting on
    /// baresip's events between polls.
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.reginfo()?;
            if registered(&info) {
                return Ok(info);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("baresip is not registered after {timeout:?}: {info}");
            }
            // The next event (REGISTER_OK, REGISTER_FAIL ...) or half a second.
            self.ctrl.read_one(left.min(Duration::from_millis(500)))?;
        }
    }

    /// The text of `reginfo`, without terminal colour codes.
    pub fn reginfo(&mut self) -> Result<String> {
        let response = self.command("reginfo", None)?;
        Ok(strip_ansi(response["data"].as_str().unwrap_or_default()))
    }

    /// The end of baresip's log, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        self.process.tail(n)
    }
}

/// True when `reginfo` lists accounts and each one says OK.
pub fn registered(reginfo: &str) -> bool {
    let accounts: Vec<&str> = reginfo.lines().filter(|l| l.contains("sip:")).collect();
    !accounts.is_empty()
        && accounts
            .iter()
            .all(|l| l.split_whitespace().any(|word| word == "OK"))
}

/// The `config` file: loopback only, a sine tone as microphone, no sound
/// card, and the control socket.
fn config_text(sip_port: u16, ctrl_port: u16) -> String {
    format!(
        "# Written by the integration tests.
poll_method epoll
module_path /usr/lib/baresip/modules
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
dns_server 127.0.0.1:53
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
audio_player aubridge,null_{sip_port}
audio_alert aubridge,null_{sip_port}
module g711.so
module ausine.so
module aufile.so
module aubridge.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
"
    )
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip "ESC [ ... letter".
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `ctrl_tcp` connection.
struct Ctrl {
    stream: TcpStream,
    buf: Vec<u8>,
    events: VecDeque<Value>,
    responses: VecDeque<Value>,
    next_token: u64,
}

impl Ctrl {
    fn connect(addr: SocketAddr, process: &mut Spawned, timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() >= deadline => {
                    bail!(
                        "cannot reach baresip's ctrl_tcp at {addr}: {e}\n{}",
                        process.tail(40)
                    )
                }
                Err(_) => {
                    if let Some(status) = process.exited() {
                        bail!("baresip exited ({status})\n{}", process.tail(40));
                    }
                    process.next_line(Duration::from_millis(100));
                }
            }
        };
        Ok(Self {
            stream,
            buf: Vec::new(),
            events: VecDeque::new(),
            responses: VecDeque::new(),
            next_token: 1,
        })
    }

    fn command(&mut self, command: &str, params: Option<&str>, timeout: Duration) -> Result<Value> {
        let token = self.next_token.to_string();
        self.next_token += 1;
        let mut msg = json!({ "command": command, "token": token });
        if let Some(params) = params {
            msg["params"] = json!(params);
        }
        let body = msg.to_string();
        self.stream
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .context("cannot write to baresip's ctrl_tcp")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self
                .responses
                .iter()
                .position(|r| r["token"] == json!(token))
            {
                return Ok(self.responses.remove(at).expect("position is in range"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("baresip did not answer {command:?} within {timeout:?}");
            }
            self.read_one(left)?;
        }
    }

    /// Reads until one more message is queued or `timeout` passes.
    fn read_one(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(msg) = self.take_message()? {
                if msg["event"] == json!(true) {
                    self.events.push_back(msg);
                } else {
                    self.responses.push_back(msg);
                }
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("baresip closed its ctrl_tcp connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes one complete netstring from the buffer, if there is one.
    fn take_message(&mut self) -> Result<Option<Value>> {
        let Some(colon) = self.buf.iter().position(|&b| b == b':') else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buf[..colon])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "bad netstring length from baresip: {:?}",
                    &self.buf[..colon]
                )
            })?;
        let end = colon + 1 + len;
        if self.buf.len() < end + 1 {
            return Ok(None);
        }
        if self.buf[end] != b',' {
            bail!("netstring from baresip does not end with ','");
        }
        let value = serde_json::from_slice(&self.buf[colon + 1..end])
            .context("baresip sent a netstring that is not JSON")?;
        self.buf.drain(..=end);
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reginfo_with_colour_codes_reads_as_registered() {
        let data = "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:5060   \u{1b}[32mOK \u{1b}[;m  Expires 5s\n\n";
        assert!(registered(&strip_ansi(data)));
        assert!(!registered(
            "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1  ERR\n"
        ));
        assert!(!registered("--- User Agents (0) ---"));
    }
}
