//! The server's HTTP API as the agent uses it: log in, learn the phone's
//! settings, open the live WebSocket. Plain HTTP/1.1 over one connection
//! per request (a clinic's LAN; `https://` is refused with a clear error
//! until TLS comes with the browser issue's certificates).

use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// How long one API request may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the server is: `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `host:port`, as written.
    pub authority: String,
    /// The host alone (for the SIP address when the server binds 0.0.0.0).
    pub host: String,
}

impl ServerUrl {
    /// Reads `http://host[:port][/]`.
    pub fn parse(url: &str) -> Result<ServerUrl> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            bail!("`{url}`: https is not supported yet; use http:// on the clinic's network");
        } else {
            bail!("`{url}` is not a server URL (http://host:port)");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("`{url}` is not a server URL (http://host:port, no path)");
        }
        let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
        }) {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let host = match authority.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => authority.clone(),
        };
        Ok(ServerUrl { authority, host })
    }
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The member of staff's name, for the window's title.
    pub name: String,
    /// Their role (`agent`, `senior`, `doctor` …).
    pub role: String,
}

/// `GET /api/phone`.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneSettings {
    /// Our extension.
    pub extension: String,
    /// SIP domain, also the digest realm.
    pub domain: String,
    /// The server's SIP sockets (`udp://127.0.0.1:5060` …).
    pub listen: Vec<String>,
    /// The registration interval to ask for, in seconds.
    pub register_expires: u64,
}

impl PhoneSettings {
    /// The server's UDP SIP address; a wildcard host is replaced by the
    /// API's own host.
    pub fn udp_registrar(&self, api_host: &str) -> Result<SocketAddr> {
        let listen = self
            .listen
            .iter()
            .find_map(|l| l.strip_prefix("udp://"))
            .ok_or_else(|| anyhow!("the server has no UDP SIP socket ({:?})", self.listen))?;
        let addr: SocketAddr = listen
            .parse()
            .with_context(|| format!("the server's SIP socket `{listen}`"))?;
        if addr.ip().is_unspecified() {
            // The API's host, by address or by name (resolved once, at login).
            use std::net::ToSocketAddrs;
            let ip = (api_host, addr.port())
                .to_socket_addrs()
                .with_context(|| format!("the API's host `{api_host}` does not resolve"))?
                .find(|a| a.is_ipv4() == addr.is_ipv4())
                .map(|a| a.ip())
                .with_context(|| {
                    format!(
                        "the API's host `{api_host}` has no {} address",
                        if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                    )
                })?;
            return Ok(SocketAddr::new(ip, addr.port()));
        }
        Ok(addr)
    }
}

/// The API of one server.
#[derive(Debug, Clone)]
pub struct Api {
    /// Where it is.
    pub url: ServerUrl,
}

impl Api {
    /// `POST /api/login`.
    pub async fn login(&self, extension: &str, password: &str) -> Result<Session> {
        let body = json!({ "extension": extension, "password": password });
        let (status, reply) = self.call("POST", "/api/login", None, Some(body)).await?;
        if status == 401 {
            bail!("the server refused extension {extension} and this password");
        }
        if status != 200 {
            bail!(
                "login: the server answered {status}: {}",
                error_text(&reply)
            );
        }
        let text = |k: &str| reply[k].as_str().unwrap_or_default().to_string();
        Ok(Session {
            token: text("token"),
            name: text("name"),
            role: text("role"),
        })
    }

    /// `GET /api/phone`.
    pub async fn phone_settings(&self, session: &Session) -> Result<PhoneSettings> {
        let (status, reply) = self
            .call("GET", "/api/phone", Some(&session.token), None)
            .await?;
        if status != 200 {
            bail!(
                "phone settings: the server answered {status}: {}",
                error_text(&reply)
            );
        }
        serde_json::from_value(reply).context("phone settings: an answer this agent cannot read")
    }

    /// The live WebSocket's URL for `session`, resuming after `after`.
    pub fn ws_url(&self, session: &Session, after: Option<i64>) -> String {
        let mut url = format!("ws://{}/api/ws?token={}", self.url.authority, session.token);
        if let Some(seq) = after {
            url += &format!("&after={seq}");
        }
        url
    }

    /// One request on a connection of its own: the status and the JSON
    /// body (`null` when there is none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        // A server that accepts the connection and then says nothing must
        // not hang the agent.
        tokio::time::timeout(REQUEST_TIMEOUT, self.call_once(method, path, token, body))
            .await
            .map_err(|_| {
                anyhow::Error::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{method} {path}: no answer from {} within {} s",
                        self.url.authority,
                        REQUEST_TIMEOUT.as_secs()
                    ),
                ))
            })?
    }

    async fn call_once(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let stream = TcpStream::connect(&self.url.authority)
            .await
            .with_context(|| format!("the server at {} cannot be reached", self.url.authority))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.url.authority);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let payload = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let resp = sender
            .send_request(req.body(Full::new(payload))?)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        driver.abort();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

fn error_text(reply: &Value) -> String {
    reply["error"]
        .as_str()
        .map_or_else(|| reply.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_read_or_refused_with_a_reason() {
        let u = ServerUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(
            ServerUrl::parse("http://clinic.lan").unwrap().authority,
            "clinic.lan:80"
        );
        assert_eq!(ServerUrl::parse("http://[::1]:9000").unwrap().host, "::1");
        let https = ServerUrl::parse("https://clinic.lan").unwrap_err();
        assert!(https.to_string().contains("https is not supported"));
        assert!(ServerUrl::parse("clinic.lan:8080").is_err());
        assert!(ServerUrl::parse("http://clinic.lan/api").is_err());
    }

    #[test]
    fn a_wildcard_sip_socket_is_reached_at_the_apis_host() {
        let s = PhoneSettings {
            extension: "1001".into(),
            domain: "clinic".into(),
            listen: vec!["tcp://0.0.0.0:5060".into(), "udp://0.0.0.0:5060".into()],
            register_expires: 300,
        };
        assert_eq!(
            s.udp_registrar("192.168.1.10").unwrap(),
            "192.168.1.10:5060".parse().unwrap()
        );
        assert_eq!(
            s.udp_registrar("localhost").unwrap(),
            "127.0.0.1:5060".parse().unwrap(),
            "a host name is resolved"
        );
        let tcp_only = PhoneSettings {
            listen: vec!["tcp://10.0.0.1:5060".into()],
            ..s
        };
        assert!(tcp_only.udp_registrar("10.0.0.1").is_err());
    }
}
