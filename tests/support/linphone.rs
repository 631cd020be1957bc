//! linphonec (Debian's `linphone-cli`) as a second, independent softphone:
//! it can do what baresip 1.0 cannot — an attended transfer, sending REFER
//! with `Replaces` for its consulting call (`transfer 1 --to-call 2`). It is
//! started with a config file and a home folder of its own, driven through
//! its standard input, and read through its output (PEERS.md: loopback
//! only, inside the suite's private network namespace). Audio comes from
//! and goes to files, so no sound card is needed.

use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command};
use std::time::Duration;

use anyhow::{Context, Result};

use super::process::Spawned;
use super::{LOCALHOST, free_sip_port, write_file};

/// A running linphonec. Only loopback exists in the suite's namespace, so
/// its network monitor is off (it would call the network down and stop).
pub struct Linphone {
    input: ChildStdin,
    process: Spawned,
}

impl Linphone {
    /// Starts linphonec in a folder of its own under `dir` and registers
    /// `ext` with `password` at `registrar` (a UDP address). `auto_answer`
    /// makes it pick up incoming calls at once.
    pub fn start(
        dir: &Path,
        ext: &str,
        password: &str,
        registrar: std::net::SocketAddr,
        auto_answer: bool,
    ) -> Result<Self> {
        let sip_port = free_sip_port(LOCALHOST);
        let home = dir.join(format!("linphone-{sip_port}"));
        std::fs::create_dir_all(home.join(".local/share/linphone"))?;
        let rtp_port = super::free_udp_block(LOCALHOST, 4);
        write_file(
            &home,
            "linphonerc",
            &format!(
                "[sip]\nsip_port={sip_port}\nsip_tcp_port=-1\nsip_tls_port=-1\nguess_hostname=0\ncontact=sip:{ext}@127.0.0.1:{sip_port}\n\
                 auto_net_state_mon=0\nregister_only_when_network_is_up=0\n\
                 [rtp]\naudio_rtp_port={rtp_port}\naudio_rtcp_mux=0\n\
                 [net]\nmtu=1300\n\
                 [video]\nenabled=0\ncapture=0\ndisplay=0\n\
                 [sound]\necho_cancellation=0\n"
            ),
        )?;
        let mut cmd = Command::new("linphonec");
        cmd.arg("-c")
            .arg(home.join("linphonerc"))
            .arg("-d")
            .arg("1");
        if auto_answer {
            cmd.arg("-a");
        }
        cmd.env("HOME", &home);
        let (process, input) =
            Spawned::start_with_input("linphonec", &mut cmd, &home.join("linphonec.log"))?;
        let mut phone = Self { input, process };
        // Files instead of a sound card; then the account.
        phone.command("soundcard use files")?;
        phone.command(&format!(
            "register sip:{ext}@{registrar} sip:{registrar} {password}"
        ))?;
        phone
            .process
            .wait_for_line("to [LinphoneRegistrationOk]", Duration::from_secs(15))
            .context("linphonec did not register")?;
        Ok(phone)
    }

    /// Types one command at the prompt.
    pub fn command(&mut self, line: &str) -> Result<()> {
        writeln!(self.input, "{line}").context("linphonec's input is closed")?;
        self.input.flush()?;
        Ok(())
    }

    /// Waits until linphonec prints a line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.process.wait_for_line(needle, timeout)
    }

    /// Its output lines that mention `what` (its log is verbose).
    pub fn lines_with(&self, what: &str) -> String {
        self.process
            .log()
            .lines()
            .filter(|l| l.contains(what))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last `n` lines of its output.
    pub fn tail(&self, n: usize) -> String {
        self.process.tail(n)
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        // Ask politely first; the process guard kills it by its pid anyway.
        let _ = writeln!(self.input, "quit");
    }
}
