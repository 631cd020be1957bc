//! SIPp runs: a scenario from `tests/data/sipp` (with `{{name}}`
//! placeholders filled in), an injection CSV, and the final statistics row
//! SIPp writes with `-trace_stat`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::process::{read_lossy, run_bounded};
use super::{LOCALHOST, free_udp_port, test_data, write_file};

/// One SIPp invocation, built step by step.
pub struct Sipp {
    dir: PathBuf,
    scenario: String,
    vars: Vec<(String, String)>,
    rows: Vec<String>,
    target: SocketAddr,
    local_ip: Ipv4Addr,
    calls: u32,
    rate: Option<u32>,
    timeout: Duration,
    extra: Vec<String>,
    port: Option<u16>,
}

/// SIPp's final statistics row: cumulative counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
}

/// What one run left behind.
#[derive(Debug)]
pub struct Run {
    /// SIPp's exit code: 0 every call succeeded, 1 some failed, 124 killed.
    pub exit_code: i32,
    pub stats: Stats,
    /// Status codes of the responses SIPp received, in order.
    pub responses: Vec<u16>,
    messages: PathBuf,
    errors: PathBuf,
    output: String,
}

impl Sipp {
    /// A run of `scenario` (a file in `tests/data/sipp`) against `target`,
    /// with its files kept in `dir`.
    pub fn new(dir: &Path, scenario: &str, target: SocketAddr) -> Self {
        Self {
            dir: dir.to_owned(),
            scenario: scenario.to_owned(),
            vars: Vec::new(),
            rows: Vec::new(),
            target,
            local_ip: LOCALHOST,
            calls: 1,
            rate: None,
            timeout: Duration::from_secs(20),
            extra: Vec::new(),
            port: None,
        }
    }

    /// Replaces `{{name}}` in the scenario with `value`.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a row to the injection file (fields separated by `;`).
    pub fn row(mut self, row: &str) -> Self {
        self.rows.push(row.to_owned());
        self
    }

    /// Adds a row for a user: extension, digest credentials, Expires.
    pub fn user(self, ext: &str, password: &str, expires: u32) -> Self {
        self.row(&format!(
            "{ext};[authentication username={ext} password={password}];{expires}"
        ))
    }

    /// The source address SIPp binds to.
    pub fn local_ip(mut self, ip: Ipv4Addr) -> Self {
        self.local_ip = ip;
        self
    }

    /// How many calls (scenario runs) to make.
    pub fn calls(mut self, calls: u32) -> Self {
        self.calls = calls;
        self
    }

    /// Calls started per second.
    pub fn rate(mut self, rate: u32) -> Self {
        self.rate = Some(rate);
        self
    }

    /// The local SIP port (a free one when not set): a phone registered
    /// from it can later be answered by a UAS on the same port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// More command-line arguments.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_owned());
        self
    }

    /// Runs SIPp to completion (bounded by `-timeout` and by coreutils
    /// `timeout` on top) and collects its results.
    pub fn run(self) -> Result<Run> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let stem = format!(
            "{}-{n}",
            self.scenario.trim_end_matches(".xml").replace('/', "_")
        );
        let source = test_data(&format!("sipp/{}", self.scenario));
        let mut xml = std::fs::read_to_string(&source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        for (name, value) in &self.vars {
            xml = xml.replace(&format!("{{{{{name}}}}}"), value);
        }
        if let Some(at) = xml.find("{{") {
            bail!(
                "{}: placeholder left unfilled near {:?}",
                self.scenario,
                &xml[at..at + 20]
            );
        }
        let scenario = write_file(&self.dir, &format!("{stem}.xml"), &xml)?;
        let path = |suffix: &str| self.dir.join(format!("{stem}{suffix}"));
        let (stats, messages, errors, screen) = (
            path("-stats.csv"),
            path("-messages.log"),
            path("-errors.log"),
            path("-screen.log"),
        );

        let mut args: Vec<String> = vec![
            self.target.to_string(),
            "-sf".into(),
            scenario.display().to_string(),
            "-m".into(),
            self.calls.to_string(),
            "-i".into(),
            self.local_ip.to_string(),
            "-p".into(),
            self.port
                .unwrap_or_else(|| free_udp_port(self.local_ip))
                .to_string(),
            "-timeout".into(),
            format!("{}s", self.timeout.as_secs()),
            "-timeout_error".into(),
            "-nostdin".into(),
            "-trace_stat".into(),
            "-stf".into(),
            stats.display().to_string(),
            "-trace_msg".into(),
            "-message_file".into(),
            messages.display().to_string(),
            "-trace_err".into(),
            "-error_file".into(),
            errors.display().to_string(),
            "-trace_screen".into(),
            "-screen_file".into(),
            screen.display().to_string(),
        ];
        if !self.rows.is_empty() {
            let csv = format!("SEQUENTIAL\n{}\n", self.rows.join("\n"));
            let inf = write_file(&self.dir, &format!("{stem}.csv"), &csv)?;
            args.extend(["-inf".into(), inf.display().to_string()]);
        }
        if let Some(rate) = self.rate {
            args.extend(["-r".into(), rate.to_string()]);
        }
        args.extend(self.extra.iter().cloned());

        let (exit_code, output) =
            run_bounded(self.timeout + Duration::from_secs(15), "sipp", &args, None)?;
        let message_log = read_lossy(&messages);
        Ok(Run {
            exit_code,
            stats: parse_stats(&read_lossy(&stats)).unwrap_or_default(),
            responses: received_statuses(&message_log),
            messages,
            errors,
            output,
        })
    }
}

impl Run {
    /// True when every call passed and SIPp said so.
    pub fn passed(&self) -> bool {
        self.exit_code == 0 && self.stats.failed == 0 && self.stats.successful > 0
    }

    /// A failure report: counters, responses, errors and the end of the
    /// message trace.
    pub fn describe(&self) -> String {
        let errors = read_lossy(&self.errors);
        let messages = read_lossy(&self.messages);
        let tail: Vec<&str> = messages.lines().rev().take(60).collect();
        format!(
            "sipp exit code {}, {:?}, responses received {:?}\n--- sipp errors ---\n{}\n--- sipp output ---\n{}\n--- end of sipp message trace ---\n{}",
            self.exit_code,
            self.stats,
            self.responses,
            errors.trim(),
            self.output.trim(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        )
    }
}

/// The last row of a `-trace_stat` file, by column name.
fn parse_stats(csv: &str) -> Option<Stats> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let column = |name: &str| -> Option<u64> {
        let at = header.iter().position(|h| h.trim() == name)?;
        last.get(at)?.trim().parse().ok()
    };
    Some(Stats {
        successful: column("SuccessfulCall(C)")?,
        failed: column("FailedCall(C)")?,
        retransmissions: column("Retransmissions(C)")?,
    })
}

/// Status codes of the responses in a `-trace_msg` file.
fn received_statuses(log: &str) -> Vec<u16> {
    let mut codes = Vec::new();
    let mut after_received = false;
    for line in log.lines() {
        if line.contains("message received") {
            after_received = true;
        } else if after_received && !line.trim().is_empty() {
            after_received = false;
            let code = line.strip_prefix("SIP/2.0 ").and_then(|r| r.get(..3));
            if let Some(code) = code.and_then(|c| c.parse().ok()) {
                codes.push(code);
            }
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_row_is_read_by_column_name() {
        let csv = "A;SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n1;0;0;0;\n2;5;1;3;\n";
        assert_eq!(
            parse_stats(csv),
            Some(Stats {
                successful: 5,
                failed: 1,
                retransmissions: 3
            })
        );
    }

    #[test]
    fn received_statuses_skip_sent_messages() {
        let log = "----\nUDP message sent (10 bytes):\n\nREGISTER sip:x SIP/2.0\n\n----\nUDP message received [20] bytes :\n\nSIP/2.0 401 Unauthorized\r\n";
        assert_eq!(received_statuses(log), vec![401]);
    }
}
