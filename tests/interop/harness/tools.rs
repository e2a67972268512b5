//! The outside tools interop tests drive: where each comes from (its Debian
//! package) and whether it is here. The pinned npm clients are installed on
//! first use (`npm ci`, once, when tests/interop/node_modules is missing or
//! older than package-lock.json).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// tests/interop: the npm project of the Node.js scenarios.
pub const INTEROP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// The packages the Node.js scenarios import.
const NODE_PACKAGES: [&str; 4] = ["jssip", "sip.js", "sip", "ws"];
/// Written into node_modules after a successful `npm ci`: a copy of the
/// package-lock.json it installed, so a changed lock file installs again.
const INSTALLED_LOCK: &str = "node_modules/.sip-autoresponder-installed-lock.json";

/// An outside tool a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Node.js with the pinned npm clients (JsSIP, SIP.js, sip, ws).
    NodeClients,
    Sipsak,
    /// SIPp, Debian's sip-tester.
    Sipp,
    /// baresip, from Debian's baresip-core.
    Baresip,
    Kamailio,
    /// promtool, from Debian's prometheus.
    Promtool,
    SystemdAnalyze,
    /// Any other program on PATH, from a Debian package.
    Program {
        program: &'static str,
        package: &'static str,
    },
}

impl Tool {
    /// What the test list shows in brackets: the program.
    pub fn name(self) -> &'static str {
        match self {
            Self::NodeClients => "node",
            Self::Sipsak => "sipsak",
            Self::Sipp => "sipp",
            Self::Baresip => "baresip",
            Self::Kamailio => "kamailio",
            Self::Promtool => "promtool",
            Self::SystemdAnalyze => "systemd-analyze",
            Self::Program { program, .. } => program,
        }
    }

    /// The Debian package(s) that bring it.
    pub fn debian_package(self) -> &'static str {
        match self {
            Self::NodeClients => "nodejs and npm",
            Self::Sipsak => "sipsak",
            Self::Sipp => "sip-tester",
            Self::Baresip => "baresip-core",
            Self::Kamailio => "kamailio",
            Self::Promtool => "prometheus",
            Self::SystemdAnalyze => "systemd",
            Self::Program { package, .. } => package,
        }
    }

    /// `Ok` when the tool can be used, else why not. Looked for once per
    /// run (the npm install too).
    pub fn available(self) -> Result<(), String> {
        static FOUND: [OnceLock<Result<(), String>>; 7] = [const { OnceLock::new() }; 7];
        let slot = match self {
            Self::NodeClients => 0,
            Self::Sipsak => 1,
            Self::Sipp => 2,
            Self::Baresip => 3,
            Self::Kamailio => 4,
            Self::Promtool => 5,
            Self::SystemdAnalyze => 6,
            Self::Program { program, .. } => return on_path(program).map(drop),
        };
        FOUND[slot]
            .get_or_init(|| match self {
                Self::NodeClients => node_clients().map(drop),
                _ => on_path(self.name()).map(drop),
            })
            .clone()
    }
}

/// `program` on PATH, or why not.
pub fn on_path(program: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{program} not found on PATH"))
}

/// `node`, with the pinned clients installed (running `npm ci` when
/// node_modules is missing or stale).
pub fn node_clients() -> Result<PathBuf, String> {
    let node = on_path("node")?;
    let dir = Path::new(INTEROP_DIR);
    if !installed_is_current(dir) {
        let npm = on_path("npm")?;
        eprintln!("interop: installing the pinned npm clients (npm ci in tests/interop)");
        let output = Command::new(npm)
            .current_dir(dir)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm ci: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "npm ci in tests/interop failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        std::fs::copy(dir.join("package-lock.json"), dir.join(INSTALLED_LOCK))
            .map_err(|e| format!("cannot record the npm install: {e}"))?;
    }
    match NODE_PACKAGES.iter().find(|p| {
        !dir.join("node_modules")
            .join(p)
            .join("package.json")
            .is_file()
    }) {
        Some(package) => Err(format!("node_modules lacks {package} after npm ci")),
        None => Ok(node),
    }
}

/// Whether node_modules holds what package-lock.json pins: installed by us
/// from the same lock file, with every package present.
fn installed_is_current(dir: &Path) -> bool {
    let (Ok(lock), Ok(installed)) = (
        std::fs::read(dir.join("package-lock.json")),
        std::fs::read(dir.join(INSTALLED_LOCK)),
    ) else {
        return false;
    };
    lock == installed
        && NODE_PACKAGES.iter().all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .is_file()
        })
}
