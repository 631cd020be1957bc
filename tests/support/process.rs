//! A child process started by a test: its stdout and stderr go to a log
//! file and, line by line, to a channel, so a test can wait for what the
//! process says (with a deadline) instead of sleeping. The process is
//! killed, by its own pid, when the guard is dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running child whose output is kept in `log`.
pub struct Spawned {
    name: String,
    child: Child,
    log: PathBuf,
    lines: Receiver<String>,
}

impl Spawned {
    /// Starts `cmd` with stdin closed and both output streams captured.
    pub fn start(name: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        cmd.stdin(Stdio::null());
        Self::spawn(name, cmd, log)
    }

    /// The same with a pipe to the child's stdin, to talk to it.
    pub fn start_with_input(
        name: &str,
        cmd: &mut Command,
        log: &Path,
    ) -> Result<(Self, std::process::ChildStdin)> {
        cmd.stdin(Stdio::piped());
        let mut spawned = Self::spawn(name, cmd, log)?;
        let input = spawned.child.stdin.take().expect("stdin is piped");
        Ok((spawned, input))
    }

    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        let file = Arc::new(Mutex::new(file));
        let (tx, lines) = mpsc::channel();
        pump(child.stdout.take().expect("stdout is piped"), &file, &tx);
        pump(child.stderr.take().expect("stderr is piped"), &file, &tx);
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            lines,
        })
    }

    /// The process id, for /proc look-ups.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the process ends, at most `timeout`: its output closing
    /// is the event (both pumps gone), then its status is collected. Lines
    /// still arriving are in the log file.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(self.child.wait()?),
                Err(RecvTimeoutError::Timeout) => bail!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.tail(40)
                ),
            }
        }
    }

    /// Waits at most `timeout` for the next line of output. Used both to
    /// react to what the process says and to pace bounded polling loops.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            // Both pumps ended: the process closed its output. Keep the
            // caller's pace rather than spinning on a dead channel.
            Err(RecvTimeoutError::Disconnected) => {
                wait_quietly(timeout);
                None
            }
        }
    }

    /// Waits until a line containing `needle` appears, the process ends or
    /// `timeout` passes.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.tail(40)
                );
            }
            if let Some(line) = self.next_line(left.min(Duration::from_millis(200))) {
                if line.contains(needle) {
                    return Ok(line);
                }
            } else if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({status}) before printing {needle:?}\n{}",
                    self.name,
                    self.tail(40)
                );
            }
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// The path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of the log, headed by the process name.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- last {} lines of {} ({}) ---\n{}",
            lines.len() - from,
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Child::kill signals this child's own pid and nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.tail(60));
        }
    }
}

/// Copies one output stream into the shared log file and the channel.
fn pump(stream: impl Read + Send + 'static, file: &Arc<Mutex<File>>, tx: &Sender<String>) {
    let file = Arc::clone(file);
    let tx = tx.clone();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Ok(mut f) = file.lock() {
                        let _ = f.write_all(&buf);
                    }
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    // The receiver may be gone once the test is over.
                    let _ = tx.send(line);
                }
            }
        }
    });
}

/// Blocks for `timeout` on a channel nobody writes to: the only way to
/// keep a caller's pace once a process has closed its output.
fn wait_quietly(timeout: Duration) {
    let (_tx, rx) = mpsc::channel::<()>();
    let _ = rx.recv_timeout(timeout);
}

/// Reads a file as text, replacing invalid UTF-8; empty if unreadable.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Runs a short-lived command to completion under coreutils `timeout`
/// (so it cannot hang the test), feeding `stdin` to it. Returns the exit
/// code (124 when the time ran out) and the combined output.
pub fn run_bounded(
    limit: Duration,
    program: &str,
    args: &[String],
    stdin: Option<&str>,
) -> Result<(i32, String)> {
    let mut cmd = Command::new("timeout");
    cmd.arg("--kill-after=5s")
        .arg(format!("{}s", limit.as_secs().max(1)))
        .arg(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code().unwrap_or(-1), text))
}
