//! SIP over WebSocket (RFC 7118): the browser softphone's transport. An
//! HTTP listener of its own upgrades any path to a WebSocket when the client
//! asks for the `sip` subprotocol; every text or binary frame is one SIP
//! message, and every message we send is one text frame. The connection is
//! the only way to reach the browser (its Contact is a made-up `.invalid`
//! host), so the core keeps its writer by remote address, like a TCP
//! connection's, and a closed socket ends the browser's calls and bindings.
//!
//! A `wss://` listener is the same behind TLS (rustls, the certificate
//! and key from `[sip] tls_cert` and `tls_key`). Each connection runs in a
//! task of its own, served by hyper: its TLS handshake (on `wss://`) and
//! its request's headers must each arrive within [`HANDSHAKE`], so a
//! client that connects and sends nothing, or a byte at a time, is closed
//! rather than holding a socket for ever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::Input;
use crate::config::Transport;
use crate::metrics::Metrics;
use crate::sip::endpoint::Flow;

/// Largest SIP message taken in one frame.
const MAX_MESSAGE: usize = 64 * 1024;

/// A WebSocket ping this often keeps NAT bindings and proxies open and finds
/// a dead browser (one that stops answering pongs is closed).
const PING_EVERY: Duration = Duration::from_secs(25);

#[derive(Clone)]
struct Shared {
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    local: SocketAddr,
    transport: Transport,
}

/// How long a client may take over its TLS handshake, and then over its
/// request's headers.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The TLS acceptor for `wss://` listeners, from PEM files; the error says
/// which file is wrong and how.
pub(crate) fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "reading the certificate {} ([sip] tls_cert)",
                cert.display()
            )
        })?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate in {} ([sip] tls_cert)",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {} ([sip] tls_key)", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key of [sip] tls_cert and tls_key do not go together")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves SIP over WebSocket on `listener` until shutdown; over TLS with
/// `tls`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let shared = Shared {
        tx,
        shutdown: shutdown.clone(),
        metrics,
        local,
        transport: if tls.is_some() {
            Transport::Wss
        } else {
            Transport::Ws
        },
    };
    let app = axum::Router::new().fallback(upgrade).with_state(shared);
    accept(listener, tls, app, shutdown, HANDSHAKE).await;
}

/// The accept loop: each connection in a task of its own, TLS first when
/// `tls` is set, then the router over hyper; `handshake` bounds the TLS
/// handshake and the request's headers.
async fn accept(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    shutdown: watch::Receiver<bool>,
    handshake: Duration,
) {
    let stop = super::stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "sip websocket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let (tls, app, shutdown) = (tls.clone(), app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let Some(tls) = tls else {
                serve_connection(stream, remote, app, shutdown, handshake).await;
                return;
            };
            match tokio::time::timeout(handshake, tls.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, remote, app, shutdown, handshake).await,
                Ok(Err(e)) => tracing::info!(%remote, error = %e, "wss handshake failed"),
                Err(_) => tracing::info!(%remote, "wss handshake timed out"),
            }
        });
    }
}

/// One connection's HTTP (the upgrade, then the WebSocket), until it ends
/// or the server stops.
async fn serve_connection<S>(
    stream: S,
    remote: SocketAddr,
    app: axum::Router,
    shutdown: watch::Receiver<bool>,
    handshake: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let app = app.layer(axum::Extension(ConnectInfo(remote)));
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(handshake)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    let stop = super::stopped(shutdown);
    tokio::select! {
        r = conn => if let Err(e) = r {
            tracing::debug!(%remote, error = %e, "sip websocket connection ended");
        },
        _ = stop => {}
    }
}

async fn upgrade(
    State(shared): State<Shared>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "this port takes SIP over WebSocket (RFC 7118): connect with Upgrade: websocket and Sec-WebSocket-Protocol: sip\n",
        )
            .into_response();
    };
    // A small read buffer: the WebSocket library zero-fills all of it on
    // every read attempt (128 KiB by default).
    let ws = ws
        .protocols(["sip"])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(16 * 1024);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol `sip` is required (Sec-WebSocket-Protocol: sip)\n",
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| connection(socket, remote, shared))
}

async fn connection(socket: WebSocket, remote: SocketAddr, shared: Shared) {
    use futures_util::{SinkExt, StreamExt};

    let (mut sink, mut stream) = socket.split();
    let (writer_tx, mut writer_rx) = mpsc::channel::<Bytes>(256);
    if shared
        .tx
        .send(Input::Connected {
            remote,
            writer: writer_tx,
        })
        .await
        .is_err()
    {
        return;
    }
    tracing::debug!(%remote, "sip websocket connected");
    let flow = Flow {
        transport: shared.transport,
        remote,
        local: Some(shared.local),
    };
    let stop = super::stopped(shared.shutdown.clone());
    tokio::pin!(stop);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // Pings sent since the last pong: two unanswered and the browser is gone.
    let mut unanswered = 0u32;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let data = match frame {
                    Some(Ok(WsMessage::Text(text))) => Bytes::from(text),
                    Some(Ok(WsMessage::Binary(data))) => data,
                    Some(Ok(WsMessage::Pong(_))) => {
                        unanswered = 0;
                        continue;
                    }
                    Some(Ok(WsMessage::Ping(_))) => continue,
                    Some(Ok(WsMessage::Close(_))) | None => break,
                    Some(Err(e)) => {
                        shared.metrics.sip_parse_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%remote, error = %e, "closing sip websocket after a bad frame");
                        break;
                    }
                };
                // A CRLF keep-alive (RFC 5626) needs no answer here: the
                // WebSocket's own ping does that job.
                if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    continue;
                }
                if shared.tx.send(Input::Datagram { flow, data }).await.is_err() {
                    break;
                }
            }
            out = writer_rx.recv() => {
                let Some(data) = out else { break };
                // Text when it is UTF-8 (every SIP message we write is).
                let frame = match axum::extract::ws::Utf8Bytes::try_from(data.clone()) {
                    Ok(text) => WsMessage::Text(text),
                    Err(_) => WsMessage::Binary(data),
                };
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if unanswered >= 2 {
                    tracing::info!(%remote, "sip websocket stopped answering pings; closing it");
                    break;
                }
                unanswered += 1;
                if sink.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = sink.send(WsMessage::Close(None)).await;
    tracing::debug!(%remote, "sip websocket closed");
    let _ = shared.tx.send(Input::Closed { remote }).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A `ws://` listener on loopback with the real router, its headers
    /// bounded by `handshake`; what the core would get, and its stop.
    async fn ws_listener(
        handshake: Duration,
    ) -> (SocketAddr, mpsc::Receiver<Input>, watch::Sender<bool>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(16);
        let (stop, shutdown) = watch::channel(false);
        let shared = Shared {
            tx,
            shutdown: shutdown.clone(),
            metrics: Arc::new(Metrics::default()),
            local,
            transport: Transport::Ws,
        };
        let app = axum::Router::new().fallback(upgrade).with_state(shared);
        tokio::spawn(accept(listener, None, app, shutdown, handshake));
        (local, rx, stop)
    }

    /// Reads until the server closes the connection; what it said first.
    /// (Bounded, so that a connection left open fails the test.)
    async fn until_closed(c: &mut tokio::net::TcpStream) -> Option<String> {
        let mut said = Vec::new();
        let mut buf = [0u8; 1024];
        let read_all = async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => said.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read_all)
            .await
            .ok()
            .map(|()| String::from_utf8_lossy(&said).into_owned())
    }

    #[tokio::test]
    async fn a_client_that_sends_no_whole_request_is_closed() {
        let (at, _core, _stop) = ws_listener(Duration::from_millis(200)).await;
        // Nothing at all, and headers that stop half way (slowloris).
        for sent in [&b""[..], b"GET / HTTP/1.1\r\nHost: careline\r\n"] {
            let mut c = tokio::net::TcpStream::connect(at).await.unwrap();
            c.write_all(sent).await.unwrap();
            assert!(
                until_closed(&mut c).await.is_some(),
                "left open after {:?}",
                String::from_utf8_lossy(sent)
            );
        }
    }

    #[tokio::test]
    async fn a_plain_http_request_is_told_how_to_connect() {
        let (at, _core, _stop) = ws_listener(HANDSHAKE).await;
        let mut c = tokio::net::TcpStream::connect(at).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: careline\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let said = until_closed(&mut c).await.expect("closed after the answer");
        assert!(said.starts_with("HTTP/1.1 426"), "{said}");
        assert!(said.contains("Sec-WebSocket-Protocol: sip"), "{said}");
    }
}
