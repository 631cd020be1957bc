//! SIP over WebSocket (RFC 7118): the browser softphone's transport. An
//! HTTP listener of its own upgrades any path to a WebSocket when the client
//! asks for the `sip` subprotocol; every text or binary frame is one SIP
//! message, and every message we send is one text frame. The connection is
//! the only way to reach the browser (its Contact is a made-up `.invalid`
//! host), so the core keeps its writer by remote address, like a TCP
//! connection's, and a closed socket ends the browser's calls and bindings.

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
}

/// Serves SIP over WebSocket on `listener` until shutdown.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
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
    };
    let app = axum::Router::new().fallback(upgrade).with_state(shared);
    let stop = super::stopped(shutdown);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop);
    if let Err(e) = server.await {
        tracing::warn!(error = %e, "sip websocket listener failed");
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
    let ws = ws.protocols(["sip"]).max_message_size(MAX_MESSAGE);
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
        transport: Transport::Ws,
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
