//! The daemon as a service meets operations: `check --strict`, warnings in
//! `run`'s log, exit statuses systemd can tell apart (78 bad config, 69
//! cannot bind), a fatal error logged even with logging off, and what
//! systemd is told on a refused reload and while draining.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli::{EX_CONFIG, TempConfig, run, stderr, stdout};
use crate::common::{UdpClient, request};
use crate::daemon_process::{Daemon, LISTEN_UDP, NotifySocket, scratch};

const BINARY: &str = env!("CARGO_BIN_EXE_sip-autoresponder");
/// sysexits.h EX_UNAVAILABLE: a listener cannot be bound.
const EX_UNAVAILABLE: i32 = 69;

/// A valid config with one warning: `invite` never matches.
const WITH_WARNING: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\
    [[rule]]\nname = \"calls\"\nmatch.method = \"invite\"\naccept = {}\n";
const WARNING: &str = "warning: method `invite` never matches";

#[test]
fn check_prints_warnings_and_strict_makes_them_fatal() {
    let config = TempConfig::new("warned", WITH_WARNING);
    let lenient = run(&["check", "--config", config.path()]);
    assert_eq!(lenient.status.code(), Some(0), "{}", stderr(&lenient));
    let out = stdout(&lenient);
    let line = format!("{}:6:16: {WARNING}", config.path());
    assert!(out.lines().any(|l| l.starts_with(&line)), "{out}");

    let strict = run(&["check", "--strict", "--config", config.path()]);
    assert_eq!(strict.status.code(), Some(EX_CONFIG), "{}", stdout(&strict));
    let err = stderr(&strict);
    assert!(err.lines().any(|l| l.starts_with(&line)), "{err}");
    assert!(
        err.contains("1 warning(s), refused under --strict"),
        "{err}"
    );
    assert!(!stdout(&strict).contains(": OK"));

    let clean = TempConfig::new("clean", &WITH_WARNING.replace("invite", "INVITE"));
    let strict = run(&["check", "--strict", "--config", clean.path()]);
    assert_eq!(strict.status.code(), Some(0), "{}", stderr(&strict));
}

#[test]
fn run_logs_the_warnings_check_prints() {
    let dir = scratch("warnings");
    let config = dir.join("config.toml");
    std::fs::write(&config, WITH_WARNING).expect("write config");
    let daemon = Daemon::spawn(&config, None);
    daemon.address("UDP", 0);
    let line = daemon.wait_for_log(WARNING, 0);
    assert!(
        line.contains(&format!("{}:6:16: {WARNING}", config.display())),
        "{line}"
    );
    assert!(line.contains("WARN"), "{line}");
}

#[test]
fn an_invalid_log_level_stops_run_with_exit_78() {
    let config = TempConfig::new(
        "level",
        &format!("{LISTEN_UDP}[log]\nlevel = \"verbose\"\n[[rule]]\nname = \"o\"\naccept = {{}}\n"),
    );
    let output = run(&["--config", config.path()]);
    assert_eq!(output.status.code(), Some(EX_CONFIG));
    let err = stderr(&output);
    assert!(
        err.contains(":8:9: level: `verbose` is not a log level"),
        "{err}"
    );
}

/// A port another socket holds: exit 69, and the reason reaches stderr
/// even when `[log] level` (or RUST_LOG) turns logging off.
#[test]
fn a_bind_failure_exits_69_and_is_logged_even_with_logging_off() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local").port();
    let text = format!(
        "[log]\nlevel = \"off\"\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:{port}\"\n\
         [[rule]]\nname = \"o\"\naccept = {{}}\n"
    );
    let config = TempConfig::new("taken", &text);
    for rust_log in [None, Some("off")] {
        let mut command = Command::new(BINARY);
        command
            .args(["--config", config.path()])
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match rust_log {
            Some(level) => command.env("RUST_LOG", level),
            None => command.env_remove("RUST_LOG"),
        };
        let output = command.output().expect("run the binary");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(EX_UNAVAILABLE), "{err}");
        assert!(
            err.contains(&format!("cannot bind udp 127.0.0.1:{port}")),
            "RUST_LOG={rust_log:?}: {err}"
        );
    }
}

#[tokio::test]
async fn a_refused_reload_says_so_in_status() {
    let dir = scratch("refused-status");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\naccept = {{}}\n"),
    )
    .expect("write config");
    let notify = NotifySocket::path(&dir);
    let daemon = Daemon::spawn(&config, Some(&notify.name));
    let address = daemon.address("UDP", 0);
    assert!(notify.next().starts_with("READY=1"));

    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\naccept = {{ staus = 1, dealy_ms = 2 }}\n"),
    )
    .expect("break");
    daemon.signal("HUP");
    assert!(notify.next().starts_with("RELOADING=1"));
    let ready = notify.next();
    let expected = format!(
        "READY=1\nSTATUS=reload refused ({}:9:12: unknown key `staus` in [[rule]].accept; did you mean `status`?, \
         and 1 more error(s) in the log), previous configuration kept; listening on udp {address}",
        config.display()
    );
    assert_eq!(ready, expected);
}

/// SIGTERM with an INVITE still ringing: STOPPING=1, then STATUS= saying
/// what is being drained with EXTEND_TIMEOUT_USEC= covering what is left,
/// renewed until the transaction ends.
#[tokio::test]
async fn draining_reports_status_and_extends_the_stop_timeout() {
    let dir = scratch("drain-status");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{LISTEN_UDP}[[rule]]\nname = \"slow\"\nmatch.method = \"INVITE\"\n\
             progress = [{{ status = 180 }}]\nreject = {{ status = 486, delay_ms = 1500 }}\n"
        ),
    )
    .expect("write config");
    let notify = NotifySocket::path(&dir);
    let mut daemon = Daemon::spawn(&config, Some(&notify.name));
    let address = daemon.address("UDP", 0);
    assert!(notify.next().starts_with("READY=1"));
    let client = UdpClient::new(address).await;
    client
        .send(&request(
            "INVITE",
            "sip:x@example.com",
            "drain-status",
            "",
            "",
        ))
        .await;
    assert_eq!(client.recv().await.status, 180);

    daemon.signal("TERM");
    assert_eq!(notify.next(), "STOPPING=1");
    let draining = notify.next();
    let (status, extend) = draining.split_once('\n').expect("two lines");
    assert!(
        status.starts_with("STATUS=draining: 1 transaction(s) in flight, at most 3 s left"),
        "{draining}"
    );
    // drain_timeout_ms = 3000: what is left plus a margin.
    let usec: u64 = extend
        .strip_prefix("EXTEND_TIMEOUT_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{draining}"));
    assert!((5_000_000..=8_000_000).contains(&usec), "{draining}");
    assert_eq!(client.recv().await.status, 486);
    let status = daemon.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{status:?}");
}

/// The unit gives the transient user the directories the README's paths
/// use, and does not restart on the exit statuses that mean "fix it first".
#[test]
fn the_unit_has_its_directories_and_does_not_restart_on_fatal_statuses() {
    let unit = include_str!("../../systemd/sip-autoresponder.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for expected in [
        "LogsDirectory=sip-autoresponder",
        "StateDirectory=sip-autoresponder",
    ] {
        assert!(lines.contains(&expected), "{expected} missing");
    }
    let prevent = lines
        .iter()
        .find_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .expect("RestartPreventExitStatus=");
    let statuses: Vec<&str> = prevent.split_whitespace().collect();
    for status in ["78", "69", "73"] {
        assert!(statuses.contains(&status), "{prevent}");
    }
    let readme = include_str!("../../README.md");
    let journal = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("journal_file = \""))
        .expect("the README's journal_file example");
    assert!(
        journal.starts_with("/var/log/sip-autoresponder/"),
        "{journal}"
    );
}
