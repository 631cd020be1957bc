//! `careline-server`: command line, configuration, logging and wiring.

use std::path::PathBuf;

use anyhow::Context;
use careline_server::config::Config;
use careline_server::store::Store;
use careline_server::{commands, runtime};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Many small, short-lived allocations per SIP message, from several
/// threads: mimalloc's thread-local pages cost less than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Careline call server.
#[derive(Parser)]
#[command(version, about = "Careline: SIP call server for clinics")]
struct Cli {
    /// Configuration file (TOML); without it every default applies.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Run on a fresh SQLite file with demo users, and print their logins.
    Demo,
    /// Check the configuration file and print the effective settings.
    CheckConfig,
    /// Manage one user.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage many users.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Manage the patient directory.
    Patients {
        #[command(subcommand)]
        action: PatientsAction,
    },
    /// Manage appointments (teleconsult slots).
    Appointments {
        #[command(subcommand)]
        action: AppointmentsAction,
    },
    /// Check or export the tamper-evident audit trail (the event log).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

#[derive(Subcommand)]
enum PatientsAction {
    /// Create or update patients from a CSV file (header: mis_id,full_name,phones,
    /// and optionally birth_date,address_as,consent,marketing,pregnancy_lmp,
    /// preferences,reminders,lateness,difficulties,negative; phones separated by ';').
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AppointmentsAction {
    /// Create or replace appointments from a CSV file (header: id,patient,doctor,
    /// starts_at,service, and optionally teleconsult,consent,paid,phone); every
    /// row is checked and nothing is written if one is bad.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the hash chain; exits non-zero and names the first altered event if it is broken.
    Verify,
    /// Write the events of a time range (UTC) with their hashes.
    Export {
        /// Start, inclusive: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
        #[arg(long)]
        from: String,
        /// End, exclusive.
        #[arg(long)]
        to: String,
        /// csv or json.
        #[arg(long, value_enum, default_value = "csv")]
        format: careline_server::audit::Format,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Who is exporting (recorded in the trail); default: $USER.
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is read from standard input.
    Add {
        /// Extension (SIP user name and login).
        #[arg(long)]
        ext: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// agent, senior, doctor, supervisor or admin.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Import users from a CSV file with columns ext,name,role,password.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::parse("")?),
    }
}

fn init_tracing(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> anyhow::Result<()> {
    // Before the work starts; a kernel that refuses only costs speed.
    let thp = runtime::thp::disable_unless(std::env::var_os("MIMALLOC_ALLOW_THP").as_deref());
    let cli = Cli::parse();
    let mut config = match load_config(cli.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("careline-server: configuration error: {e}");
            std::process::exit(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        println!("configuration is valid");
        println!("  database  {}", config.database.url);
        println!(
            "  sip       {} (domain {})",
            config
                .sip
                .listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            config.sip.domain
        );
        println!("  http      {}", config.http.listen);
        return Ok(());
    }
    let demo = matches!(cli.command, Command::Demo);
    if demo && config.queues.is_empty() {
        config.queues.push(commands::demo_queue());
    }
    if demo && cli.config.is_none() {
        let path = std::env::temp_dir().join(format!("careline-demo-{}.db", std::process::id()));
        config.database.url = format!("sqlite://{}", path.display());
    }
    init_tracing(&config);
    match thp {
        Ok(true) => tracing::info!("transparent huge pages off for this process"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "transparent huge pages stay on for this process"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        if demo {
            // A fresh database every time: drop whatever an earlier demo left.
            if let Some(path) = config.database.url.strip_prefix("sqlite://") {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
        }
        let store = Store::open_with(&config.database.url, config.database.durability.into())
            .await
            .with_context(|| format!("opening the database {}", config.database.url))?;
        match cli.command {
            Command::Serve => runtime::serve(config, store, None).await,
            Command::Demo => {
                commands::seed_demo(&config, &store).await?;
                runtime::serve(
                    config.clone(),
                    store,
                    Some(Box::new(move |sip: &[String], http: &str| {
                        println!("{}", commands::demo_banner(&config, sip, http));
                    })),
                )
                .await
            }
            Command::User {
                action: UserAction::Add {
                    ext, name, role, ..
                },
            } => commands::user_add(&config, &store, ext, name, &role).await,
            Command::Users {
                action: UsersAction::Import { file },
            } => commands::users_import(&config, &store, &file).await,
            Command::Patients {
                action: PatientsAction::Import { file },
            } => commands::patients_import(&config, &store, &file).await,
            Command::Appointments {
                action: AppointmentsAction::Import { file },
            } => commands::appointments_import(&config, &store, &file).await,
            Command::Audit {
                action: AuditAction::Verify,
            } => careline_server::audit::verify(&store).await,
            Command::Audit {
                action:
                    AuditAction::Export {
                        from,
                        to,
                        format,
                        output,
                        by,
                    },
            } => {
                let who = by
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "command line".into());
                let mut out: Box<dyn std::io::Write> = match &output {
                    Some(path) => Box::new(std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    )),
                    None => Box::new(std::io::stdout().lock()),
                };
                let n = careline_server::audit::export(&store, &from, &to, format, &who, &mut out)
                    .await?;
                eprintln!("exported {n} events");
                Ok(())
            }
            Command::CheckConfig => unreachable!("handled before the runtime starts"),
        }
    })
}
