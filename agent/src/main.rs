//! `careline-agent`: the desktop agent's window, or with `--headless` the
//! same engine without one (tests, demos, load).

use std::io::BufRead;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use careline_agent::api::ServerUrl;
use careline_agent::headless;
use clap::Parser;

/// Careline's softphone agent.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Run without a window: log each call and card on standard output.
    #[arg(long)]
    headless: bool,
    /// Answer calls without anyone pressing a key.
    #[arg(long)]
    auto_answer: bool,
    /// How long to let a call ring before auto-answering (`0s`, `800ms`, `2s`).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    answer_after: Duration,
    /// The server's API, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Our extension (the window's login form starts with it).
    #[arg(long)]
    ext: Option<String>,
    /// The window's language (en, ru, fr, zh; default: the system's).
    #[arg(long)]
    lang: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The local address for SIP and RTP (default: the one that reaches the server).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// An 8 kHz mono 16-bit WAV file played into every call (default: silence).
    #[arg(long)]
    play: Option<PathBuf>,
    /// A directory where each call is recorded as `<call id>.wav`.
    #[arg(long)]
    record: Option<PathBuf>,
    /// The disposition reason saved when a call ends.
    #[arg(long)]
    disposition: Option<String>,
    /// Exit after this many calls.
    #[arg(long)]
    calls: Option<u64>,
    /// The window's microphone, by device id (`alsa:hw:1,0`; default: the system's).
    #[arg(long)]
    input_device: Option<String>,
    /// The window's speaker or headset, by device id.
    #[arg(long)]
    output_device: Option<String>,
    /// Where the window's ringtone plays, by device id.
    #[arg(long)]
    ring_device: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (like 0s, 800ms, 2s)");
    let (number, unit) = match s.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => (s.strip_suffix('s').ok_or_else(bad)?, 1000),
    };
    let n: u64 = number.trim().parse().map_err(|_| bad())?;
    Ok(Duration::from_millis(n * unit))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("careline-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let password = if cli.password_stdin {
        let mut password = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut password)
            .context("reading the password from standard input")?;
        let password = password.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            bail!("standard input gave an empty password");
        }
        Some(password)
    } else {
        None
    };
    if !cli.headless {
        return careline_agent::ui::window::run(careline_agent::ui::window::Start {
            server: cli.server,
            extension: cli.ext.unwrap_or_default(),
            password,
            lang: cli
                .lang
                .as_deref()
                .map(careline_shared::script::Lang::from_locale),
            auto_answer: cli.auto_answer,
            input_device: cli.input_device,
            output_device: cli.output_device,
            ring_device: cli.ring_device,
        });
    }
    let Some(ext) = cli.ext else {
        bail!("--headless needs --ext");
    };
    let Some(password) = password else {
        bail!(
            "give the password on standard input with --password-stdin (never on the command line)"
        );
    };
    let play = match &cli.play {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("--play {}", path.display()))?;
            careline_agent::wav::read(file).with_context(|| format!("--play {}", path.display()))?
        }
        None => Vec::new(),
    };
    let opts = headless::Options {
        engine: careline_agent::engine::Settings {
            server: ServerUrl::parse(&cli.server)?,
            extension: ext,
            password,
            bind: cli.bind,
            audio: careline_agent::engine::AudioChoice::Files {
                play,
                record: cli.record,
            },
        },
        auto_answer: cli.auto_answer,
        answer_after: cli.answer_after,
        disposition: cli.disposition,
        calls: cli.calls,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(headless::run(opts))
}
