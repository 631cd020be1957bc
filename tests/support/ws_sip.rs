//! A SIP phone on a WebSocket (RFC 7118), written out by hand as a browser's
//! SIP stack would send it: for tests of the server's `ws://` transport that
//! do not need a browser. Blocking, with a read timeout on the socket.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use careline_shared::sip::Challenge;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use super::sip::{header, headers, status_code};

/// A byte stream a WebSocket can run on: plain TCP, or TLS over it.
pub trait Stream: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> Stream for T {}

/// One registered (or registering) browser-like phone.
pub struct WsPhone {
    ws: WebSocket<Box<dyn Stream>>,
    /// The extension it registers as.
    pub ext: String,
    password: String,
    domain: String,
    /// The made-up host of its Contact, as browsers use (`….invalid`).
    contact: String,
    cseq: u32,
    call_id: String,
}

impl WsPhone {
    /// Connects to `addr` asking for the `sip` subprotocol.
    pub fn connect(addr: SocketAddr, ext: &str, password: &str, domain: &str) -> Result<Self> {
        Self::connect_over(addr, None, ext, password, domain)
    }

    /// The same over TLS (`wss://`), trusting only `ca` (a PEM certificate)
    /// for the name `localhost`.
    pub fn connect_tls(
        addr: SocketAddr,
        ca: &std::path::Path,
        ext: &str,
        password: &str,
        domain: &str,
    ) -> Result<Self> {
        Self::connect_over(addr, Some(ca), ext, password, domain)
    }

    fn connect_over(
        addr: SocketAddr,
        ca: Option<&std::path::Path>,
        ext: &str,
        password: &str,
        domain: &str,
    ) -> Result<Self> {
        let tcp = TcpStream::connect(addr).context("connecting to the sip websocket")?;
        tcp.set_read_timeout(Some(Duration::from_millis(200)))?;
        let (stream, url): (Box<dyn Stream>, String) = match ca {
            None => (Box::new(tcp), format!("ws://{addr}/")),
            Some(ca) => {
                use rustls::pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca)? {
                    roots.add(cert?)?;
                }
                let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)?;
                (
                    Box::new(rustls::StreamOwned::new(conn, tcp)),
                    format!("wss://localhost:{}/", addr.port()),
                )
            }
        };
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "sip".parse()?);
        let (ws, response) =
            tungstenite::client(request, stream).map_err(|e| anyhow!("handshake: {e}"))?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if protocol != Some("sip") {
            bail!("the server did not choose the sip subprotocol: {protocol:?}");
        }
        let tag = std::process::id() ^ (ext.len() as u32) << 16;
        Ok(WsPhone {
            ws,
            ext: ext.into(),
            password: password.into(),
            domain: domain.into(),
            contact: format!("sip:w{tag:x}{ext}@b{tag:x}.invalid;transport=ws"),
            cseq: 0,
            call_id: format!("ws-reg-{ext}-{tag:x}"),
        })
    }

    /// Sends one SIP message as one text frame.
    pub fn send(&mut self, msg: &str) -> Result<()> {
        self.ws.send(Message::text(msg))?;
        Ok(())
    }

    /// The next SIP message, within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(t.as_str().to_owned()),
                Ok(Message::Binary(b)) => return Ok(String::from_utf8_lossy(&b).into_owned()),
                Ok(Message::Close(_)) => bail!("the server closed the websocket"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.into()),
            }
            if Instant::now() >= deadline {
                bail!("no SIP message within {timeout:?}");
            }
        }
    }

    /// The next request with `method`, answering nothing on the way; other
    /// messages are skipped.
    pub fn next_request(&mut self, method: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .recv(left)
                .with_context(|| format!("waiting for {method}"))?;
            if msg.starts_with(&format!("{method} ")) {
                return Ok(msg);
            }
        }
    }

    fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/WS b.invalid;branch=z9hG4bK{branch}")
    }

    fn register_request(&mut self, expires: u32, authorization: Option<&str>) -> String {
        self.cseq += 1;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 69\r\nTo: <sip:{ext}@{domain}>\r\nFrom: <sip:{ext}@{domain}>;tag=t{cseq}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <{contact}>;expires={expires}\r\n{auth}User-Agent: careline-test-ws\r\nContent-Length: 0\r\n\r\n",
            domain = self.domain,
            via = self.via(&format!("reg{}", self.cseq)),
            ext = self.ext,
            cseq = self.cseq,
            call_id = self.call_id,
            contact = self.contact,
        )
    }

    /// REGISTERs with digest; the final status.
    pub fn register(&mut self, expires: u32) -> Result<u16> {
        let request = self.register_request(expires, None);
        self.send(&request)?;
        let response = self.response(Duration::from_secs(5))?;
        if status_code(response.as_bytes()) != Some(401) {
            return status_code(response.as_bytes()).context("no status");
        }
        let challenge = headers(response.as_bytes(), "WWW-Authenticate", None)
            .into_iter()
            .find_map(|c| Challenge::parse(c.as_bytes()).filter(|c| c.algorithm.name() == "MD5"))
            .context("no MD5 challenge")?;
        let uri = format!("sip:{}", self.domain);
        let auth = challenge.authorization(&self.ext, &self.password, "REGISTER", &uri, "0a4f113b");
        let request = self.register_request(expires, Some(&auth));
        self.send(&request)?;
        let response = self.response(Duration::from_secs(5))?;
        status_code(response.as_bytes()).context("no status")
    }

    fn response(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.recv(left)?;
            if msg.starts_with("SIP/2.0 ") {
                return Ok(msg);
            }
        }
    }

    /// Answers `request` with `status`; `to_tag` goes on To (a dialog's),
    /// `sdp` becomes the body.
    pub fn respond(
        &mut self,
        request: &str,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
        sdp: Option<&str>,
    ) -> Result<()> {
        let bytes = request.as_bytes();
        let mut out = format!("SIP/2.0 {status} {reason}\r\n");
        for via in headers(bytes, "Via", Some("v")) {
            out.push_str(&format!("Via: {via}\r\n"));
        }
        let get =
            |name: &str, compact: &str| header(bytes, name, Some(compact)).unwrap_or_default();
        let to = get("To", "t");
        let to = match to_tag {
            Some(tag) if !to.contains("tag=") => format!("{to};tag={tag}"),
            _ => to,
        };
        out.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            get("From", "f"),
            get("Call-ID", "i"),
            get("CSeq", "")
        ));
        if status < 300 && request.starts_with("INVITE ") {
            out.push_str(&format!("Contact: <{}>\r\n", self.contact));
        }
        match sdp {
            Some(body) => out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send(&out)
    }

    /// Closes the WebSocket (as a browser tab does when it is closed).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
