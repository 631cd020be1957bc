//! Careline's call server. `main.rs` wires these together:
//!
//! - [`config`]: the TOML file, typed, with defaults;
//! - [`sip`]: the sans-IO SIP side (registrar, endpoint);
//! - [`store`]: sqlx over SQLite, migrations at start-up;
//! - [`runtime`]: the tokio drivers that feed sockets and timers to the cores;
//! - [`api`]: axum: `/health`, `/metrics`, and (later issues) the REST API;
//! - [`commands`]: the command-line operations (`user add`, `users import`, `demo`);
//! - [`indicators`]: response-time indicators folded from the events (DESIGN §2.6);
//! - [`callbacks`]: call-back tasks for dropped and abandoned calls (sans-IO scheduler + its task);
//! - [`audit`]: `audit verify` and `audit export` over the hash-chained event log.

// The hand-written OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod appointments;
pub mod audit;
pub mod callbacks;
pub mod calls;
pub mod commands;
pub mod config;
pub mod indicators;
#[cfg(test)]
mod log_capture;
pub mod media;
pub mod metrics;
pub mod patients;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod timefmt;
