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

    /// Places a call to `number` with `sdp` as the offer (no Route set: the
    /// server is the only hop); the dialog so far. Answers come with
    /// [`WsPhone::final_response`].
    pub fn invite(&mut self, number: &str, sdp: &str) -> Result<Placed> {
        self.cseq += 1;
        let placed = Placed {
            call_id: format!("ws-call-{}-{}", self.ext, self.cseq),
            from: format!("<sip:{}@{}>;tag=wc{}", self.ext, self.domain, self.cseq),
            to: format!("<sip:{number}@{}>", self.domain),
            target: format!("sip:{number}@{}", self.domain),
            cseq: 1,
        };
        let request = self.request("INVITE", &placed, 1, Some(sdp));
        self.send(&request)?;
        Ok(placed)
    }

    fn request(&self, method: &str, placed: &Placed, cseq: u32, sdp: Option<&str>) -> String {
        self.request_on(method, method, placed, cseq, sdp)
    }

    /// A request in the transaction whose branch `branch_of` names: the
    /// request's own, or (the ACK of a failed INVITE, RFC 3261 §17.1.1.3)
    /// the INVITE's.
    fn request_on(
        &self,
        method: &str,
        branch_of: &str,
        placed: &Placed,
        cseq: u32,
        sdp: Option<&str>,
    ) -> String {
        let body = match sdp {
            Some(b) => format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ),
            None => "Content-Length: 0\r\n\r\n".into(),
        };
        format!(
            "{method} {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <{contact}>\r\nSupported: timer\r\nAllow: INVITE, ACK, CANCEL, BYE, UPDATE, OPTIONS\r\nUser-Agent: careline-test-ws\r\n{body}",
            target = placed.target,
            via = self.via(&format!("{}{branch_of}{cseq}", placed.call_id)),
            from = placed.from,
            to = placed.to,
            call_id = placed.call_id,
            contact = self.contact,
        )
    }

    /// The responses to the INVITE of `placed` up to its final one, which
    /// is returned with the provisional ones before it; a 2xx fills in the
    /// dialog (To tag, the server's Contact).
    pub fn final_response(
        &mut self,
        placed: &mut Placed,
        timeout: Duration,
    ) -> Result<(String, Vec<String>)> {
        let deadline = Instant::now() + timeout;
        let mut provisional = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.response(left)?;
            if header(msg.as_bytes(), "Call-ID", Some("i")).as_deref() != Some(&placed.call_id) {
                continue;
            }
            let status = status_code(msg.as_bytes()).context("no status")?;
            if status < 200 {
                provisional.push(msg);
                continue;
            }
            if status < 300 {
                placed.to = header(msg.as_bytes(), "To", Some("t")).context("no To")?;
                let contact = header(msg.as_bytes(), "Contact", Some("m")).context("no Contact")?;
                placed.target = contact
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            return Ok((msg, provisional));
        }
    }

    /// Acknowledges the 2xx of `placed`'s INVITE.
    pub fn ack(&mut self, placed: &Placed) -> Result<()> {
        let request = self.request("ACK", placed, 1, None);
        self.send(&request)
    }

    /// Sends `method` in the dialog of `placed` (with `sdp` as its body)
    /// and returns its final response.
    pub fn in_dialog(
        &mut self,
        placed: &mut Placed,
        method: &str,
        sdp: Option<&str>,
    ) -> Result<String> {
        placed.cseq += 1;
        let request = self.request(method, placed, placed.cseq, sdp);
        self.send(&request)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.response(left)?;
            let cseq = header(msg.as_bytes(), "CSeq", None).unwrap_or_default();
            if cseq == format!("{} {method}", placed.cseq)
                && status_code(msg.as_bytes()).is_some_and(|s| s >= 200)
            {
                if method == "INVITE" {
                    // A 2xx's ACK is a transaction of its own; a failure's
                    // belongs to the INVITE's.
                    let ok = status_code(msg.as_bytes()).is_some_and(|s| s < 300);
                    let branch_of = if ok { "ACK" } else { "INVITE" };
                    let ack = self.request_on("ACK", branch_of, placed, placed.cseq, None);
                    self.send(&ack)?;
                }
                return Ok(msg);
            }
        }
    }

    /// Closes the WebSocket (as a browser tab does when it is closed).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// A call a [`WsPhone`] placed.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its Call-ID.
    pub call_id: String,
    /// Our From (with our tag).
    pub from: String,
    /// Their To (with their tag once answered).
    pub to: String,
    /// Where in-dialog requests go: the dialled number, then the Contact
    /// of the answer.
    pub target: String,
    /// Our last CSeq in the dialog.
    pub cseq: u32,
}
