//! The agents' screens for `bench/cardpop`, in Rust (light enough not to
//! be the thing measured): logs every agent in, holds one /api/ws per agent,
//! and writes one line per `call_offered`: call id, receipt time (epoch ms),
//! cards, the server's `sent_at`.
//!
//!     cargo bench -p careline-server --bench cardpop_client -- \
//!         HTTP FIRST LAST PASSWORD_PREFIX SECONDS CALLS OUT READY_FILE

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

async fn login(http: &str, ext: u32, password: &str) -> String {
    let body = format!(r#"{{"extension": "{ext}", "password": "{password}"}}"#);
    let mut s = TcpStream::connect(http).await.expect("connect for login");
    let req = format!(
        "POST /api/login HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("send login");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read login");
    let text = String::from_utf8_lossy(&raw);
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("login of {ext} answered {text:?}: {e}"));
    v["token"].as_str().expect("a token").to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [http, first, last, prefix, seconds, calls, out, ready] = &args[..] else {
        eprintln!(
            "usage: cardpop_client HTTP FIRST LAST PASSWORD_PREFIX SECONDS CALLS OUT READY_FILE"
        );
        std::process::exit(2);
    };
    let (first, last): (u32, u32) = (first.parse().unwrap(), last.parse().unwrap());
    let seconds: u64 = seconds.parse().unwrap();
    let calls: usize = calls.parse().unwrap();

    // Logins check argon2 hashes: a few at a time.
    let gate = Arc::new(Semaphore::new(8));
    let mut logins = Vec::new();
    for ext in first..=last {
        let (gate, http, password) = (gate.clone(), http.clone(), format!("{prefix}{ext}"));
        logins.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            (ext, login(&http, ext, &password).await)
        }));
    }
    let mut tokens = Vec::new();
    for l in logins {
        tokens.push(l.await.unwrap());
    }

    let pops: Arc<Mutex<HashMap<String, (f64, usize, i64)>>> = Arc::default();
    let done = Arc::new(Notify::new());
    let mut opened = Vec::new();
    for (_, token) in tokens {
        let url = format!("ws://{http}/api/ws?token={token}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        let hello = ws.next().await.expect("hello").expect("hello");
        assert!(
            hello.to_text().unwrap_or("").contains("\"hello\""),
            "{hello:?}"
        );
        let (pops, done) = (pops.clone(), done.clone());
        opened.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let at = now_ms();
                if !text.as_str().contains("\"call_offered\"") {
                    continue;
                }
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                let call = v["call_id"].as_str().unwrap_or("").to_string();
                let cards = v["patients"].as_array().map_or(0, Vec::len);
                let sent = v["sent_at"].as_i64().unwrap_or(0);
                let mut p = pops.lock().await;
                p.entry(call).or_insert((at, cards, sent));
                if p.len() >= calls {
                    done.notify_one();
                }
            }
        }));
    }
    std::fs::write(ready, "ready\n").unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(seconds), done.notified()).await;
    let p = pops.lock().await;
    let mut lines: Vec<String> = p
        .iter()
        .map(|(call, (at, cards, sent))| format!("{call} {at:.1} {cards} {sent}"))
        .collect();
    lines.sort();
    std::fs::write(out, lines.join("\n") + "\n").unwrap();
    eprintln!("pops {}", p.len());
    std::process::exit(0);
}
