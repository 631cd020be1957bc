//! The `careline-server` binary under test: a guard that writes its
//! configuration, provisions users through the CLI, runs `serve` on free
//! loopback ports, waits for `/health` and kills it when dropped.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use super::process::{Spawned, run_bounded};
use super::{LOCALHOST, free_sip_port, free_tcp_port, temp_dir, write_file};

/// The binary cargo built for this test run.
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_careline-server");

/// A user provisioned before the server starts.
#[derive(Clone, Debug)]
pub struct User {
    pub ext: String,
    pub name: String,
    pub role: String,
    pub password: String,
}

impl User {
    /// An agent with the given extension and password.
    pub fn agent(ext: &str, password: &str) -> Self {
        Self {
            ext: ext.to_owned(),
            name: format!("Agent {ext}"),
            role: "agent".to_owned(),
            password: password.to_owned(),
        }
    }
}

/// The registrar settings a test may change; the rest of the
/// configuration is fixed by the guard (ports, database, domain).
#[derive(Clone, Debug)]
pub struct Options {
    pub users: Vec<User>,
    pub min_expires: Duration,
    pub max_expires: Duration,
    pub default_expires: Duration,
    pub lockout_after: u32,
    pub lockout_time: Duration,
    pub nonce_ttl: Duration,
    /// Order of the WWW-Authenticate challenges. SIPp 3.6 and svcrack
    /// answer only the first header and only with MD5; baresip 1.0 gives up
    /// if any challenge is not MD5.
    pub algorithms: Vec<String>,
    /// The shortest password `user add` accepts (the server's default is 8).
    pub min_password_length: Option<u32>,
    /// The operator API's bearer token (`[http] api_token`).
    pub api_token: Option<String>,
    /// More TOML appended to the file (`[[queues]]`, `[media]` …).
    pub extra: String,
    /// A `wss://` listener too, with this certificate and key (PEM files).
    pub wss: Option<(PathBuf, PathBuf)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            lockout_after: 5,
            lockout_time: Duration::from_secs(300),
            nonce_ttl: Duration::from_secs(300),
            algorithms: vec!["MD5".to_owned(), "SHA-256".to_owned()],
            min_password_length: None,
            api_token: None,
            extra: String::new(),
            wss: None,
        }
    }
}

impl Options {
    /// Adds an agent.
    pub fn user(mut self, ext: &str, password: &str) -> Self {
        self.users.push(User::agent(ext, password));
        self
    }

    /// Adds a member of staff with another role (`supervisor`, `senior` …).
    pub fn staff(mut self, ext: &str, password: &str, role: &str) -> Self {
        self.users.push(User {
            role: role.to_owned(),
            name: format!("{role} {ext}"),
            ..User::agent(ext, password)
        });
        self
    }

    /// Sets the digest algorithms, in challenge order.
    pub fn algorithms(mut self, algorithms: &[&str]) -> Self {
        self.algorithms = algorithms.iter().map(|a| (*a).to_owned()).collect();
        self
    }
}

/// A running `careline-server serve`.
pub struct Server {
    /// The SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// The HTTP address.
    pub http: SocketAddr,
    /// SIP over WebSocket (`ws://`).
    pub ws: SocketAddr,
    /// SIP over secure WebSocket (`wss://`), when asked for.
    pub wss: Option<SocketAddr>,
    /// The configuration file.
    pub config: PathBuf,
    // Dropped before `dir`, so the process is gone before its files.
    process: Spawned,
    dir: TempDir,
}

impl Server {
    /// Writes the configuration, adds the users and starts the server,
    /// returning once `/health` answers 200.
    pub fn start(options: Options) -> Result<Self> {
        let dir = temp_dir();
        let sip = SocketAddr::V4(SocketAddrV4::new(LOCALHOST, free_sip_port(LOCALHOST)));
        let http = SocketAddr::V4(SocketAddrV4::new(LOCALHOST, free_tcp_port(LOCALHOST)));
        let ws = loop {
            let port = free_tcp_port(LOCALHOST);
            if port != http.port() {
                break SocketAddr::V4(SocketAddrV4::new(LOCALHOST, port));
            }
        };
        let wss = options.wss.is_some().then(|| {
            loop {
                let port = free_tcp_port(LOCALHOST);
                if port != http.port() && port != ws.port() {
                    break SocketAddr::V4(SocketAddrV4::new(LOCALHOST, port));
                }
            }
        });
        let config = write_file(
            dir.path(),
            "careline.toml",
            &config_text(dir.path(), sip, http, ws, wss, &options),
        )?;
        for user in &options.users {
            add_user(&config, user)?;
        }
        let mut cmd = Command::new(SERVER_BIN);
        cmd.arg("--config").arg(&config).arg("serve");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "debug");
        }
        let process = Spawned::start("careline-server", &mut cmd, &dir.path().join("server.log"))?;
        let mut server = Self {
            sip,
            http,
            ws,
            wss,
            config,
            process,
            dir,
        };
        server.wait_healthy(Duration::from_secs(30))?;
        Ok(server)
    }

    /// Stops the server with SIGTERM (it writes what it holds on the way
    /// out), waits for it to exit, and starts it again on the same
    /// configuration and database.
    #[allow(dead_code)]
    pub fn restart(&mut self) -> Result<()> {
        let pid = self.process.pid().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()?;
        self.process
            .wait_exit(Duration::from_secs(15))
            .map_err(|e| anyhow::anyhow!("after SIGTERM: {e:#}"))?;
        let mut cmd = Command::new(SERVER_BIN);
        cmd.arg("--config").arg(&self.config).arg("serve");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "debug");
        }
        self.process = Spawned::start(
            "careline-server",
            &mut cmd,
            &self.dir.path().join("server-restarted.log"),
        )?;
        self.wait_healthy(Duration::from_secs(30))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The server's folder (configuration, database, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The last `n` lines of the server's log, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        self.process.tail(n)
    }

    /// Polls `GET /health` until it answers 200, pacing on the server's
    /// own output.
    fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http_get(self.http, "/health") {
                return Ok(());
            }
            if let Some(status) = self.process.exited() {
                bail!(
                    "careline-server exited ({status}) while starting\n{}",
                    self.tail(60)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "careline-server did not answer GET /health with 200 within {timeout:?}\n{}",
                    self.tail(60)
                );
            }
            self.process.next_line(Duration::from_millis(50));
        }
    }
}

/// The configuration file for one test server.
fn config_text(
    dir: &Path,
    sip: SocketAddr,
    http: SocketAddr,
    ws: SocketAddr,
    wss: Option<SocketAddr>,
    o: &Options,
) -> String {
    let secs = |d: Duration| format!("\"{}s\"", d.as_secs());
    let algorithms = o
        .algorithms
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = String::new();
    let _ = write!(
        text,
        r#"# Written by the integration tests.
[database]
url = "sqlite://{db}"

[sip]
listen = ["udp://{sip}", "tcp://{sip}", "ws://{ws}"{wss_listen}]{tls}
domain = "{domain}"

[registrar]
min_expires = {min}
max_expires = {max}
default_expires = {default}
lockout_after = {lockout_after}
lockout_time = {lockout_time}
nonce_ttl = {nonce_ttl}
algorithms = [{algorithms}]

[http]
listen = "{http}"
{token}
"#,
        wss_listen = wss.map(|a| format!(", \"wss://{a}\"")).unwrap_or_default(),
        tls = o
            .wss
            .as_ref()
            .map(|(c, k)| format!(
                "\ntls_cert = {:?}\ntls_key = {:?}",
                c.display().to_string(),
                k.display().to_string()
            ))
            .unwrap_or_default(),
        token = o
            .api_token
            .as_ref()
            .map(|t| format!("api_token = \"{t}\""))
            .unwrap_or_default(),
        db = dir.join("careline.db").display(),
        domain = sip.ip(),
        min = secs(o.min_expires),
        max = secs(o.max_expires),
        default = secs(o.default_expires),
        lockout_after = o.lockout_after,
        lockout_time = secs(o.lockout_time),
        nonce_ttl = secs(o.nonce_ttl),
    );
    if let Some(min) = o.min_password_length {
        let _ = write!(text, "\n[users]\nmin_password_length = {min}\n");
    }
    // The WebRTC gateway runs beside the ws:// listener; on a free port, so
    // servers of suites running side by side do not collide.
    if !o.extra.contains("[media]") {
        text.push_str("\n[media]\nwebrtc_port = 0\n");
    }
    text.push_str(&o.extra);
    text
}

/// `careline-server user add`, with the password on stdin.
fn add_user(config: &Path, user: &User) -> Result<()> {
    let args: Vec<String> = [
        "--config",
        &config.display().to_string(),
        "user",
        "add",
        "--ext",
        &user.ext,
        "--name",
        &user.name,
        "--role",
        &user.role,
        "--password-stdin",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let stdin = format!("{}\n", user.password);
    let (code, out) = run_bounded(Duration::from_secs(60), SERVER_BIN, &args, Some(&stdin))?;
    if code != 0 {
        bail!(
            "careline-server user add --ext {} failed ({code}):\n{out}",
            user.ext
        );
    }
    Ok(())
}

/// A minimal HTTP/1.1 GET: returns the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    http_get_with(addr, path, "")
}

/// A GET with a bearer token.
pub fn http_get_auth(addr: SocketAddr, path: &str, token: &str) -> Result<(u16, String)> {
    http_get_with(addr, path, &format!("Authorization: Bearer {token}\r\n"))
}

fn http_get_with(addr: SocketAddr, path: &str, extra_headers: &str) -> Result<(u16, String)> {
    http_request(addr, "GET", path, extra_headers, "")
}

/// A request with a JSON body (POST, PUT …) and, when given, a bearer token.
#[allow(dead_code)]
pub fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String)> {
    let mut headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        headers.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    http_request(addr, method, path, &headers, body)
}

fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: &str,
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n{extra_headers}\r\n{body}"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {:?}", text.lines().next()))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
