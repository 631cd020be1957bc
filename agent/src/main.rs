//! The Careline desktop agent. The softphone, the patient card and the script
//! prompts arrive with the agent issue; until then this binary only says so.

fn main() {
    eprintln!(
        "careline-agent {}: the desktop agent is not built yet; point any SIP softphone at the server (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
