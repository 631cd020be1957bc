//! TCP: an accept loop, and per connection a reader (framing by
//! Content-Length, RFC 5626 CRLF keep-alive pongs) and a writer fed by the
//! core task. A framing error closes the connection, as RFC 3261 §18.3 says.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use careline_shared::sip::{Frame, StreamDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::Input;
use crate::config::Transport;
use crate::metrics::Metrics;
use crate::sip::endpoint::Flow;

pub(crate) async fn accept(
    listener: TcpListener,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let stop = super::stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, remote, tx.clone(), shutdown.clone(), metrics.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "tcp accept failed"),
            },
            _ = &mut stop => return,
        }
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let local = stream.local_addr().ok();
    let stop = super::stopped(shutdown.clone());
    tokio::pin!(stop);
    let (mut read, mut write) = stream.into_split();
    let (writer_tx, mut writer_rx) = mpsc::channel::<Bytes>(256);
    if tx
        .send(Input::Connected {
            remote,
            writer: writer_tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(data) = writer_rx.recv().await {
            if write.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let flow = Flow {
        transport: Transport::Tcp,
        remote,
        local,
    };
    let mut decoder = StreamDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = tokio::select! {
            r = read.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = &mut stop => break,
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Message(msg))) => {
                    if tx.send(Input::Stream { flow, msg }).await.is_err() {
                        break 'read;
                    }
                }
                Ok(Some(Frame::Invalid { data, error })) => {
                    metrics
                        .sip_parse_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if tx.send(Input::Invalid { flow, data, error }).await.is_err() {
                        break 'read;
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    let _ = writer_tx.send(Bytes::from_static(b"\r\n")).await;
                }
                Ok(None) => break,
                Err(e) => {
                    metrics
                        .sip_parse_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(%remote, error = %e, "closing tcp connection after a framing error");
                    break 'read;
                }
            }
        }
    }
    let _ = tx.send(Input::Closed { remote }).await;
    drop(writer_tx);
    let _ = writer.await;
}
