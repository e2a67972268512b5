//! The command line, as an operator meets it: the real binary run as a
//! process (`check`, `run` with a bad config, `--version`), and the config
//! files shipped in config/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sip_autoresponder::config::{Config, DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, SYSTEM_CONFIG_PATH};

const BINARY: &str = env!("CARGO_BIN_EXE_sip-autoresponder");
/// sysexits.h EX_CONFIG.
pub(crate) const EX_CONFIG: i32 = 78;
/// How long a command that must exit on its own may take.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// A config file under the temp dir, removed on drop.
pub(crate) struct TempConfig {
    path: PathBuf,
}

impl TempConfig {
    pub(crate) fn new(label: &str, text: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "sip-autoresponder-cli-{}-{}-{label}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        Self { path }
    }

    pub(crate) fn path(&self) -> &str {
        self.path.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs the binary with `args` and waits (bounded) for it to exit.
pub(crate) fn run(args: &[&str]) -> Output {
    let child = Command::new(BINARY)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(EXIT_WAIT) {
        Ok(output) => output.expect("wait for the binary"),
        Err(_) => {
            // Our own child, by its id.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "`sip-autoresponder {}` did not exit within {EXIT_WAIT:?}",
                args.join(" ")
            );
        }
    }
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Finds `N. name` in the `check` listing and returns its matches and
/// replies lines (without their labels).
fn rule_lines<'a>(lines: &[&'a str], number: usize, name: &str) -> (&'a str, &'a str) {
    let header = format!("{number}. {name}");
    let at = lines
        .iter()
        .position(|l| l.trim() == header)
        .unwrap_or_else(|| panic!("no line `{header}` in:\n{}", lines.join("\n")));
    let matches = lines
        .get(at + 1)
        .and_then(|l| l.trim().strip_prefix("matches: "));
    let replies = lines
        .get(at + 2)
        .and_then(|l| l.trim().strip_prefix("replies: "));
    match (matches, replies) {
        (Some(m), Some(r)) => (m, r),
        _ => panic!(
            "rule `{header}` is not followed by matches:/replies: lines in:\n{}",
            lines.join("\n")
        ),
    }
}

const VALID: &str = r#"# A valid config for `check`.
[server]
user_agent = "cli-test"

[[listen]]
transport = "udp"
address = "127.0.0.1:5070"

[[rule]]
name = "busy-line"
match.method = ["INVITE"]
match.request_uri = '^sips?:busy@'
progress = [{ status = 180 }]
reject = { status = 486, delay_ms = 2000, extra_headers = ["Retry-After: 60"] }

[[rule]]
name = "options"
match.method = "OPTIONS"
accept = {}

[[rule]]
name = "catch-all"
reply = { status = 299, reason = "Fine" }

[fallback]
reject = { status = 404 }
"#;

#[test]
fn check_prints_ok_listeners_and_each_rule() {
    let config = TempConfig::new("valid", VALID);
    let output = run(&["check", "--config", config.path()]);
    let out = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&output)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{}: OK", config.path()));
    assert!(
        lines.iter().any(|l| l.trim() == "udp 127.0.0.1:5070"),
        "{out}"
    );

    let (matches, replies) = rule_lines(&lines, 1, "busy-line");
    assert!(
        matches.contains("INVITE") && matches.contains("^sips?:busy@"),
        "{matches}"
    );
    assert!(
        replies.contains("180") && replies.contains("486 Busy Here"),
        "{replies}"
    );
    assert!(
        replies.contains("Retry-After: 60") && replies.contains("2000"),
        "{replies}"
    );
    let (matches, replies) = rule_lines(&lines, 2, "options");
    assert!(matches.contains("OPTIONS"), "{matches}");
    assert!(replies.contains("200 OK"), "{replies}");
    let (matches, replies) = rule_lines(&lines, 3, "catch-all");
    assert!(!matches.is_empty(), "{out}");
    assert!(replies.contains("299 Fine"), "{replies}");
    assert!(!out.contains("4. "), "only three rules:\n{out}");
    // The configured fallback is listed after the rules.
    let fallback = lines
        .iter()
        .position(|l| l.starts_with("fallback"))
        .expect("fallback line");
    assert!(
        lines[fallback + 1].trim().starts_with("replies:") && lines[fallback + 1].contains("404"),
        "{out}"
    );
}

/// One error per line of kind; `(line, column, message)` of each.
const BROKEN: &str = r#"[server]
user_agnt = "typo"

[[listen]]
transport = "udp"
address = "127.0.0.1:0"

[[rule]]
name = "dup"
match.request_uri = '^(sip'
accept = {}

[[rule]]
name = "dup"
accept = { status = 300 }

[[rule]]
name = "headers"
reject = { extra_headers = ["NoColon"] }

[[rule]]
name = "cidr"
match.source = "10.0.0.0/33"
accept = {}
"#;

const BROKEN_ERRORS: &[(usize, usize, &str)] = &[
    (
        2,
        1,
        "unknown key `user_agnt` in [server]; did you mean `user_agent`?",
    ),
    (10, 21, "bad regex for request_uri"),
    (14, 8, "duplicate rule name `dup`"),
    (15, 21, "status 300 is outside accept's range 200-299"),
    (19, 29, "extra header `NoColon` is not `Name: value`"),
    (23, 16, "`10.0.0.0/33` is not a CIDR"),
];

#[test]
fn check_reports_every_error_with_its_position_and_exits_78() {
    let config = TempConfig::new("broken", BROKEN);
    let output = run(&["check", "--config", config.path()]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(EX_CONFIG), "stderr:\n{err}");
    let prefix = format!("{}:", config.path());
    let error_lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with(&prefix) && !l.contains(": warning: "))
        .collect();
    for (line, column, message) in BROKEN_ERRORS {
        let at = format!("{}:{line}:{column}: ", config.path());
        assert!(
            error_lines
                .iter()
                .any(|l| l.starts_with(&at) && l.contains(message)),
            "no `{at}… {message}` in:\n{err}"
        );
    }
    assert_eq!(error_lines.len(), BROKEN_ERRORS.len(), "{err}");
    assert!(!stdout(&output).contains(": OK"), "{}", stdout(&output));
}

#[test]
fn check_of_a_missing_file_exits_78() {
    let missing = std::env::temp_dir().join(format!(
        "sip-autoresponder-cli-{}-missing.toml",
        std::process::id()
    ));
    let output = run(&["check", "--config", missing.to_str().expect("UTF-8 path")]);
    assert_eq!(output.status.code(), Some(EX_CONFIG), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(missing.to_str().expect("UTF-8 path")),
        "{}",
        stderr(&output)
    );
}

/// `run` (the default command) validates before binding: the port of the
/// config is held by this test, so a daemon that bound first would fail
/// with "address in use" (exit 1), not 78.
#[test]
fn run_with_a_bad_config_exits_78_before_binding() {
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a port to hold");
    let port = held.local_addr().expect("local addr").port();
    let text = format!(
        "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:{port}\"\n\n[[rule]]\nname = \"bad\"\naccept = {{ status = 600 }}\n"
    );
    let config = TempConfig::new("run-bad", &text);
    for args in [
        vec!["--config", config.path()],
        vec!["run", "--config", config.path()],
    ] {
        let output = run(&args);
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(EX_CONFIG),
            "{args:?}: stderr:\n{err}"
        );
        let at = format!(
            "{}:7:21: status 600 is outside accept's range 200-299",
            config.path()
        );
        assert!(
            err.lines().any(|l| l.contains(&at)),
            "{args:?}: no `{at}` in:\n{err}"
        );
    }
    drop(held);
}

#[test]
fn check_without_config_uses_the_embedded_default() {
    let output = run(&["check"]);
    let out = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&output)
    );
    let lines: Vec<&str> = out.lines().collect();
    if Path::new(SYSTEM_CONFIG_PATH).exists() {
        // This machine has a system config: that one is checked instead.
        assert_eq!(lines[0], format!("{SYSTEM_CONFIG_PATH}: OK"), "{out}");
        return;
    }
    assert_eq!(lines[0], format!("{DEFAULT_CONFIG_NAME}: OK"));
    assert_eq!(lines[0], "<embedded default config>: OK");
    let config = Config::embedded_default().expect("embedded default loads");
    for listener in &config.listeners {
        let line = format!("{} {}", listener.transport, listener.address);
        assert!(
            lines.iter().any(|l| l.trim() == line),
            "no listener `{line}` in:\n{out}"
        );
    }
    assert!(!config.rules.rules().is_empty());
    for (i, rule) in config.rules.rules().iter().enumerate() {
        rule_lines(&lines, i + 1, &rule.name);
    }
}

#[test]
fn version_flag_prints_the_crate_version() {
    let output = run(&["--version"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("sip-autoresponder {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_shipped_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut loaded = Vec::new();
    for dir in ["config", "config/examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Err(error) = Config::load_file(&path) {
                    panic!("{} does not load:\n{error}", path.display());
                }
                loaded.push(path);
            }
        }
    }
    let default = root.join("config/default.toml");
    assert!(
        loaded.contains(&default),
        "config/default.toml not found among {loaded:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&default).expect("read default"),
        DEFAULT_CONFIG
    );
}

#[test]
fn an_unknown_key_in_the_embedded_default_is_refused() {
    // In the first rule.
    let first_rule = DEFAULT_CONFIG
        .find("[[rule]]\n")
        .expect("the default has rules")
        + "[[rule]]\n".len();
    let line = DEFAULT_CONFIG[..first_rule].matches('\n').count() + 1;
    let text = format!(
        "{}colour = \"blue\"\n{}",
        &DEFAULT_CONFIG[..first_rule],
        &DEFAULT_CONFIG[first_rule..]
    );
    let errors = Config::parse(&text, "typo.toml").expect_err("an unknown rule key is refused");
    let rendered: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 1, "{rendered:#?}");
    assert!(
        rendered[0].starts_with(&format!(
            "typo.toml:{line}:1: unknown key `colour` in [[rule]]"
        )),
        "{rendered:#?}"
    );

    // In the first listener.
    let listen = DEFAULT_CONFIG
        .find("[[listen]]\n")
        .expect("the default has listeners")
        + "[[listen]]\n".len();
    let line = DEFAULT_CONFIG[..listen].matches('\n').count() + 1;
    let text = format!(
        "{}backlog = 5\n{}",
        &DEFAULT_CONFIG[..listen],
        &DEFAULT_CONFIG[listen..]
    );
    let errors = Config::parse(&text, "typo.toml").expect_err("an unknown listener key is refused");
    assert!(
        errors.errors.iter().any(|e| (e.line, e.column) == (line, 1)
            && e.message.contains("unknown key `backlog` in [[listen]]")),
        "{errors}"
    );

    // At the top level, before any table.
    let errors = Config::parse(&format!("verbose = true\n{DEFAULT_CONFIG}"), "typo.toml")
        .expect_err("an unknown section is refused");
    assert!(
        errors.errors.iter().any(
            |e| (e.line, e.column) == (1, 1) && e.message.contains("unknown section `verbose`")
        ),
        "{errors}"
    );

    // The unmodified default still loads.
    Config::parse(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME).expect("the embedded default loads");
}

/// `check` prints the warnings of a config that loads, with their
/// positions, and exits 0; `run` logs them before it starts.
#[test]
fn check_warns_about_an_open_admin_listener_and_an_unusable_journal_directory() {
    let text = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n[admin]\naddress = \"0.0.0.0:0\"\njournal_file = \"/nonexistent-sip-autoresponder/journal.jsonl\"\n";
    let config = TempConfig::new("warnings", text);
    let output = run(&["check", "--config", config.path()]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{out}");
    for (at, what) in [
        (
            "6:11",
            "the admin listener on 0.0.0.0:0 is reachable from other hosts and has no `token`",
        ),
        (
            "7:16",
            "journal_file /nonexistent-sip-autoresponder/journal.jsonl: directory /nonexistent-sip-autoresponder unusable",
        ),
    ] {
        let line = format!("{}:{at}: warning: {what}", config.path());
        assert!(
            out.lines().any(|l| l.starts_with(&line)),
            "no `{line}` in:\n{out}"
        );
    }

    // `run` logs the same warnings; here the journal file then cannot be
    // opened, so it stops before serving (loopback only: nothing is bound
    // off it).
    let text = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n[admin]\naddress = \"127.0.0.1:0\"\njournal_file = \"/nonexistent-sip-autoresponder/journal.jsonl\"\n";
    let config = TempConfig::new("run-warnings", text);
    let output = run(&["--config", config.path()]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(73), "stderr:\n{err}");
    let logged = format!(
        "{}:7:16: warning: journal_file /nonexistent-sip-autoresponder/journal.jsonl",
        config.path()
    );
    assert!(
        err.lines()
            .any(|l| l.contains("WARN") && l.contains(&logged)),
        "the warning is logged:\n{err}"
    );
}
