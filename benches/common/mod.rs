//! What the benchmarks share: the real binary spawned on a config, with
//! the address it bound read from its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The daemon as a child process; killed on drop.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) address: SocketAddr,
}

impl Daemon {
    /// Runs the release binary on `config` (written to a temporary file
    /// named after `name`) and waits for its UDP listener.
    #[allow(dead_code)] // the media bench pins its daemon (spawn_on)
    pub(crate) fn spawn(config: &str, name: &str) -> Self {
        Self::spawn_on(config, name, None)
    }

    /// [`Daemon::spawn`], pinned to CPU `core` with taskset (util-linux)
    /// when given and taskset is there; says so on stderr when it is not.
    pub(crate) fn spawn_on(config: &str, name: &str, core: Option<usize>) -> Self {
        let path = std::env::temp_dir().join(format!(
            "sip-autoresponder-{name}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, config).expect("write the config");
        let binary = env!("CARGO_BIN_EXE_sip-autoresponder");
        let taskset = core.filter(|_| {
            let found = Command::new("taskset").arg("-V").output().is_ok();
            if !found {
                eprintln!("taskset not found: the daemon is not pinned to one core");
            }
            found
        });
        let mut command = match taskset {
            Some(core) => {
                let mut command = Command::new("taskset");
                command.args(["-c", &core.to_string(), binary]);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn,sip_autoresponder::daemon=info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the daemon");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("daemon exited early")
                .expect("read stderr");
            if let Some(rest) = line.split("listening for UDP on ").nth(1) {
                let address = rest.split_whitespace().next().expect("address");
                break strip_ansi(address).parse().expect("bound address");
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, address }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
