//! `careline-agent --headless`: the agent without a window, for tests,
//! demos and load. The same engine as the window's (login, settings from
//! the server, registration, the WebSocket, each line's audio); this loop
//! stands in for the person: it answers after `--answer-after`, and saves
//! a disposition when each call it answered ends. It prints one line per
//! fact on standard output:
//!
//! ```text
//! registered 1001 expires=300s
//! ringing line=1 call=call-00000007
//! card call=call-00000007 patients=1 mis=P-100 caller=…67
//! answered line=1 call=call-00000007 codec=PCMA remote=127.0.0.1:20002
//! ended line=1 call=call-00000007 reason=remote_hang_up sent=151 received=149 played=147 concealed=2 lost=0 late=0 underruns=2
//! disposition saved
//! ```
//!
//! Patients' names and numbers never appear there: a card is named by its
//! MIS id and the caller by the last two digits of the number.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::engine::{self, Command, Notice};
use crate::phone::LineId;

/// What `--headless` was asked to do besides the engine's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine's settings.
    pub engine: engine::Settings,
    /// Answer ringing calls by ourselves.
    pub auto_answer: bool,
    /// How long to let it ring first.
    pub answer_after: Duration,
    /// The disposition reason saved when a call we answered ends.
    pub disposition: Option<String>,
    /// Stop after this many calls have ended.
    pub calls: Option<u64>,
}

/// Runs until `--calls` calls have ended, or until interrupted.
pub async fn run(opts: Options) -> Result<()> {
    let engine::Handle {
        commands,
        mut notices,
        ..
    } = engine::spawn(opts.engine.clone());
    // The server's call id of each line, and which lines we answered.
    let mut calls: HashMap<LineId, Option<String>> = HashMap::new();
    let mut answered: HashMap<LineId, bool> = HashMap::new();
    let (answer_tx, mut answer_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ended = 0u64;
    // Dispositions sent and not yet confirmed; `--calls` waits for them.
    let mut unconfirmed = 0usize;
    let mut leaving: Option<Instant> = None;
    loop {
        if opts.calls.is_some_and(|n| ended >= n) && calls.is_empty() {
            let give_up = *leaving.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
            if unconfirmed == 0 {
                return leave(&commands, &mut notices).await;
            }
            if Instant::now() >= give_up {
                bail!("{unconfirmed} disposition(s) were not confirmed by the server");
            }
        }
        let notice = tokio::select! {
            n = notices.recv() => match n {
                Some(n) => n,
                None => bail!("the engine stopped"),
            },
            Some(line) = answer_rx.recv() => {
                let _ = commands.send(Command::Answer(line));
                continue;
            }
            _ = sleep_until(leaving) => continue,
            _ = tokio::signal::ctrl_c() => return leave(&commands, &mut notices).await,
        };
        match notice {
            Notice::LoggedIn { role, .. } => {
                println!("logged in {} role={role}", opts.engine.extension);
            }
            Notice::ServerUnreachable { reason, retry_in } => {
                println!("{reason}; retrying in {}s", retry_in.as_secs());
            }
            Notice::Failed(why) => bail!("{why}"),
            Notice::Registration { text, .. } => println!("{text}"),
            Notice::Link(up) => {
                println!("server link {}", if up { "up" } else { "down; retrying" })
            }
            Notice::Ringing { line, call_id, .. } => {
                let call = call_id.clone().unwrap_or_else(|| "-".into());
                println!("ringing line={} call={call}", line.0);
                calls.insert(line, call_id);
                if opts.auto_answer {
                    let (tx, after) = (answer_tx.clone(), opts.answer_after);
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(line);
                    });
                }
            }
            Notice::Dialling { line, target } => {
                // A patient's number (a call-back) is shown by its tail only.
                let shown = if target.chars().filter(char::is_ascii_digit).count() > 6 {
                    format!("…{}", number_tail(&target))
                } else {
                    target
                };
                println!("dialling line={} to={shown}", line.0);
                calls.insert(line, None);
            }
            Notice::Talking { line, media } => {
                if answered.insert(line, true).is_none() {
                    let call = calls.get(&line).cloned().flatten().unwrap_or("-".into());
                    println!(
                        "answered line={} call={call} codec={} remote={}",
                        line.0,
                        media.codec.name,
                        media.remote.map_or("-".into(), |r| r.to_string())
                    );
                }
            }
            Notice::Ended {
                line,
                reason,
                counters: c,
            } => {
                let call_id = calls.remove(&line).flatten();
                let call = call_id.clone().unwrap_or_else(|| "-".into());
                println!(
                    "ended line={} call={call} reason={} sent={} received={} played={} concealed={} lost={} late={} underruns={}",
                    line.0,
                    reason.name(),
                    c.sent,
                    c.received,
                    c.played,
                    c.concealed,
                    c.jitter.lost,
                    c.jitter.late,
                    c.jitter.underruns,
                );
                if let (Some(reason), Some(call), Some(true)) =
                    (&opts.disposition, call_id, answered.remove(&line))
                {
                    unconfirmed += 1;
                    let _ = commands.send(Command::Ws(json!({
                        "type": "disposition",
                        "call_id": call,
                        "reason": reason,
                        "note": "answered by the headless agent",
                    })));
                }
                ended += 1;
            }
            Notice::Ws(msg) => {
                if msg["for"] == "disposition" {
                    unconfirmed = unconfirmed.saturating_sub(1);
                }
                log_ws(&msg);
            }
            Notice::ApiDone { .. } | Notice::Stopped => {}
            Notice::Transfer { line, status, done } => {
                println!("transfer line={} status={status} done={done}", line.0);
            }
            Notice::Scripts(doc) => println!(
                "scripts clinic={:?} languages={}",
                doc["clinic"].as_str().unwrap_or(""),
                doc["languages"].as_array().map_or(0, Vec::len)
            ),
            Notice::Refused(why) => println!("{why}"),
        }
    }
}

/// Hangs up and unregisters before the process goes (bounded: the engine
/// gives up on a silent server after three seconds).
async fn leave(
    commands: &tokio::sync::mpsc::UnboundedSender<Command>,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<Notice>,
) -> Result<()> {
    let _ = commands.send(Command::Quit);
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(n) = notices.recv().await {
            match n {
                Notice::Registration { text, .. } => println!("{text}"),
                Notice::Stopped => return,
                _ => {}
            }
        }
    })
    .await;
    if waited.is_err() {
        println!("left without the server's answer");
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The last two digits of a number: enough to tell calls apart in a log,
/// too little to identify anyone.
pub fn number_tail(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(2)..].iter().collect()
}

fn log_ws(msg: &Value) {
    match msg["type"].as_str() {
        Some("call_offered") => {
            let call = msg["call_id"].as_str().unwrap_or("-");
            let patients = msg["patients"].as_array().map_or(&[][..], Vec::as_slice);
            let ids: Vec<&str> = patients
                .iter()
                .filter_map(|p| p["mis_id"].as_str())
                .collect();
            println!(
                "card call={call} patients={} mis={} caller=…{}",
                patients.len(),
                if ids.is_empty() {
                    "-".into()
                } else {
                    ids.join(",")
                },
                number_tail(msg["caller"].as_str().unwrap_or(""))
            );
        }
        Some("ok") if msg["for"] == "disposition" => println!("disposition saved"),
        Some("error") => println!(
            "server refused {}: {}",
            msg["for"].as_str().unwrap_or("a message"),
            msg["error"].as_str().unwrap_or("")
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_last_two_digits_of_a_number_are_logged() {
        assert_eq!(super::number_tail("+7 921 000-00-67"), "67");
        assert_eq!(super::number_tail("5"), "5");
        assert_eq!(super::number_tail(""), "");
    }
}
