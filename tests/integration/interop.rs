//! Interop with real SIP clients: the real binary, on ephemeral loopback
//! ports, driven by third-party SIP stacks: sipsak (Debian) for OPTIONS over
//! UDP and TCP, SIPp (Debian's sip-tester) for calls over UDP and TCP, with
//! and without 100rel, the npm `sip` package for MESSAGE over UDP and TCP,
//! JsSIP (MESSAGE) and SIP.js (calls) over WebSocket. The Node.js scenarios live
//! in tests/interop/ (see its README); each prints one JSON line and exits 0
//! on success.
//!
//! A missing tool (`node`, `tests/interop/node_modules`, `sipsak`, `sipp`) makes a
//! test print a loud `INTEROP SKIPPED` warning and return, except under
//! `CI=true`, where it fails: CI installs them (`.ci/run`).

use crate::common::strip_ansi;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_sip-autoresponder");
const INTEROP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// The packages the Node.js scenarios import.
const NODE_PACKAGES: [&str; 4] = ["jssip", "sip.js", "sip", "ws"];
/// How long the daemon may take to log its bound listeners.
const LISTEN_WAIT: Duration = Duration::from_secs(10);
/// How long one client run may take before it is killed (the scripts stop
/// themselves after 10 s).
const CLIENT_WAIT: Duration = Duration::from_secs(20);
/// How long an expected daemon log line may lag behind the client's result.
const LOG_WAIT: Duration = Duration::from_secs(3);

/// The auto-reply body of the `im-echo` rule.
const AUTO_REPLY: &str = "I am away";

/// Rules shared by every interop daemon; the scripts' default targets
/// (sip:accept@…, sip:unavailable@…, sip:echo@…, sip:answer@…, sip:busy@…,
/// sip:ring@…) select them.
const RULES: &str = r#"
[[rule]]
name = "im-echo"
match.method = "MESSAGE"
match.request_uri = '^sips?:echo@'
accept = {}
message = { body = "I am away", content_type = "text/plain" }

[[rule]]
name = "im-accept"
match.method = "MESSAGE"
match.request_uri = '^sips?:accept@'
accept = {}

[[rule]]
name = "im-unavailable"
match.method = "MESSAGE"
match.request_uri = '^sips?:unavailable@'
reject = { status = 480 }

[[rule]]
name = "options"
match.method = "OPTIONS"
accept = { extra_headers = ["Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE"] }

[[rule]]
name = "call-answer"
match.method = "INVITE"
match.request_uri = '^sips?:answer@'
progress = [{ status = 180 }]
accept = { delay_ms = 300, body.sdp = "answer" }

[[rule]]
name = "call-busy"
match.method = "INVITE"
match.request_uri = '^sips?:busy@'
reject = { status = 486 }

[[rule]]
name = "call-ring"
match.method = "INVITE"
match.request_uri = '^sips?:ring@'
progress = [{ status = 180 }]

[[rule]]
name = "in-dialog"
match.method = "BYE"
accept = {}
"#;

// ---------------------------------------------------------------------------
// Tools: present, or skipped loudly (failed under CI)

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Reports a missing tool: a panic under CI, else a loud warning (the caller
/// then returns without testing anything).
fn missing(test: &str, what: &str) {
    if under_ci() {
        panic!("INTEROP FAILED ({test}): {what} (CI=true: .ci/run must install it)");
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         INTEROP SKIPPED ({test}): {what}\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// `program` on PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `node` with tests/interop/node_modules installed, or `None` after
/// reporting what is missing.
fn node(test: &str) -> Option<PathBuf> {
    let Some(node) = on_path("node") else {
        missing(test, "node not found on PATH: install Node.js (>= 18)");
        return None;
    };
    let modules = Path::new(INTEROP_DIR).join("node_modules");
    if let Some(package) = NODE_PACKAGES
        .iter()
        .find(|p| !modules.join(p).join("package.json").is_file())
    {
        missing(
            test,
            &format!("node_modules missing ({package}): run npm ci in tests/interop"),
        );
        return None;
    }
    Some(node)
}

fn sipsak(test: &str) -> Option<PathBuf> {
    let found = on_path("sipsak");
    if found.is_none() {
        missing(test, "sipsak not found on PATH: apt-get install -y sipsak");
    }
    found
}

fn sipp(test: &str) -> Option<PathBuf> {
    let found = on_path("sipp");
    if found.is_none() {
        missing(
            test,
            "sipp not found on PATH: apt-get install -y sip-tester",
        );
    }
    found
}

// ---------------------------------------------------------------------------
// The daemon: the real binary with a temp config, killed on drop

/// The daemon's stderr so far (ANSI colour codes stripped), and whether it
/// has closed.
#[derive(Default)]
struct LogState {
    text: String,
    closed: bool,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    fn text(&self) -> String {
        self.state.lock().expect("daemon log").text.clone()
    }

    /// Waits until `done` holds for the log (or it closes, or `wait` passes);
    /// returns the last value of `done`.
    fn wait_for<T>(&self, wait: Duration, mut done: impl FnMut(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock().expect("daemon log");
        loop {
            if let Some(value) = done(&state.text) {
                return Some(value);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .expect("daemon log")
                .0;
        }
    }
}

struct Daemon {
    child: Child,
    config: PathBuf,
    log: Arc<Log>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Daemon {
    /// Starts the binary with one listener per `(transport, extra keys)` on
    /// 127.0.0.1:0 and the shared rules; returns once it has logged every
    /// listener's bound address.
    fn start(listeners: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut toml = String::from("[server]\nuser_agent = \"sip-autoresponder-interop\"\n");
        for (transport, extra) in listeners {
            toml.push_str(&format!(
                "\n[[listen]]\ntransport = \"{transport}\"\naddress = \"127.0.0.1:0\"\n{extra}\n"
            ));
        }
        toml.push_str(RULES);
        let config = std::env::temp_dir().join(format!(
            "sip-autoresponder-interop-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&config, &toml)
            .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));

        let mut child = Command::new(BINARY)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,sip_autoresponder=info")
            .env("NO_COLOR", "1")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the daemon");
        let stderr = child.stderr.take().expect("daemon stderr");
        let log = Arc::new(Log::default());
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line).unwrap_or(0);
                let mut state = sink.state.lock().expect("daemon log");
                if read == 0 {
                    state.closed = true;
                } else {
                    state
                        .text
                        .push_str(&strip_ansi(&String::from_utf8_lossy(&line)));
                }
                sink.changed.notify_all();
                if state.closed {
                    break;
                }
            }
        });

        let mut daemon = Self {
            child,
            config,
            log,
            listeners: Vec::new(),
        };
        let wanted: Vec<String> = listeners
            .iter()
            .map(|(t, _)| t.to_ascii_uppercase())
            .collect();
        let bound = daemon.log.wait_for(LISTEN_WAIT, |text| {
            let found = listening_lines(text);
            let complete = wanted.iter().all(|w| {
                found.iter().filter(|(t, _)| t == w).count()
                    >= wanted.iter().filter(|x| *x == w).count()
            });
            complete.then_some(found)
        });
        match bound {
            Some(found) => daemon.listeners = found,
            None => {
                let status = daemon.child.try_wait().ok().flatten();
                panic!(
                    "the daemon did not log `listening for {} on ADDRESS` within {LISTEN_WAIT:?} \
                     (exit status: {status:?}; is that transport implemented?)\n\
                     config:\n{toml}\ndaemon log:\n{}",
                    wanted.join("`, `"),
                    daemon.log.text()
                );
            }
        }
        daemon
    }

    /// The bound address of the first listener of `transport` (udp, tcp, ws…).
    fn addr(&self, transport: &str) -> SocketAddr {
        let token = transport.to_ascii_uppercase();
        self.listeners
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {token} listener in {:?}", self.listeners))
    }

    fn log(&self) -> String {
        self.log.text()
    }

    /// Asserts that some log line holds every one of `parts` (within a short wait).
    fn expect_log(&self, parts: &[&str]) {
        let found = self.log.wait_for(LOG_WAIT, |text| {
            text.lines()
                .any(|l| parts.iter().all(|p| l.contains(p)))
                .then_some(())
        });
        assert!(
            found.is_some(),
            "no daemon log line with all of {parts:?}; daemon log:\n{}",
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// Every `listening for TOKEN on ADDRESS` in the log: the Via token (UDP,
/// TCP, WS…) and the bound address (a `ws://` prefix or a path is tolerated).
fn listening_lines(text: &str) -> Vec<(String, SocketAddr)> {
    text.lines()
        .filter_map(|line| {
            let rest = &line[line.find("listening for ")? + "listening for ".len()..];
            let (token, rest) = rest.split_once(" on ")?;
            let address = rest.split_whitespace().next()?;
            let address = address.split_once("://").map_or(address, |(_, a)| a);
            let address = address.split('/').next()?.trim_end_matches([',', ';']);
            Some((token.trim().to_ascii_uppercase(), address.parse().ok()?))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Clients: bounded runs

struct Run {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The last stdout line that looks like JSON (the scripts' result).
    fn json(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or("")
    }
}

/// Runs `command` to completion, killing it after `wait`.
fn run_bounded(mut command: Command, wait: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + wait;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // Our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Run {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs tests/interop/`script` with `args` (SIP traces on its stderr) and
/// asserts it succeeded and its JSON result holds every one of `expect`;
/// returns the JSON line.
fn node_scenario(
    node: &Path,
    daemon: &Daemon,
    script: &str,
    args: &[&str],
    expect: &[&str],
) -> String {
    let mut command = Command::new(node);
    command
        .current_dir(INTEROP_DIR)
        .arg(script)
        .args(args)
        .env("SIP_INTEROP_DEBUG", "1")
        .env_remove("NODE_OPTIONS");
    let run = run_bounded(command, CLIENT_WAIT);
    let json = run.json().to_owned();
    let report = || {
        format!(
            "`node {script} {}` {}\nresult: {json}\n--- client stderr (SIP trace) ---\n{}\n--- daemon log ---\n{}",
            args.join(" "),
            match run.status {
                Some(status) => format!("exited with {status}"),
                None => format!("was killed after {CLIENT_WAIT:?}"),
            },
            run.stderr,
            daemon.log()
        )
    };
    assert!(run.success(), "{}", report());
    assert!(json.contains("\"ok\":true"), "{}", report());
    for part in expect {
        assert!(json.contains(part), "result lacks {part}: {}", report());
    }
    json
}

/// sipsak sends OPTIONS over `transport` and must see a 200.
fn sipsak_options(transport: &str) {
    let test = &format!("sipsak OPTIONS over {transport}");
    let Some(sipsak) = sipsak(test) else {
        return;
    };
    let daemon = Daemon::start(&[(transport, "")]);
    let server = daemon.addr(transport);
    let uri = format!("sip:options@{server}");
    let mut command = Command::new(sipsak);
    command.args(["-vv", "-H", "127.0.0.1", "-s", &uri]);
    if transport != "udp" {
        command.args(["-E", transport]);
    }
    let run = run_bounded(command, CLIENT_WAIT);
    let report = || {
        format!(
            "sipsak -s {uri} over {transport}: {:?}\n--- sipsak stdout ---\n{}\n--- sipsak stderr ---\n{}\n--- daemon log ---\n{}",
            run.status,
            run.stdout,
            run.stderr,
            daemon.log()
        )
    };
    // sipsak exits 0 only when it received a 200.
    assert!(run.success(), "{}", report());
    assert!(run.stdout.contains("SIP/2.0 200"), "{}", report());
    daemon.expect_log(&["accepted", "rule=\"options\"", "OPTIONS"]);
}

// ---------------------------------------------------------------------------
// sipsak (Debian): OPTIONS over UDP and TCP

#[test]
fn sipsak_options_over_udp_gets_200() {
    sipsak_options("udp");
}

#[test]
fn sipsak_options_over_tcp_gets_200() {
    sipsak_options("tcp");
}

// ---------------------------------------------------------------------------
// The npm `sip` package: MESSAGE over UDP and TCP

fn sip_package_message(transport: &str, auto_reply: bool) {
    let test = &format!("npm sip MESSAGE over {transport}");
    let Some(node) = node(test) else {
        return;
    };
    let daemon = Daemon::start(&[(transport, "")]);
    let server = daemon.addr(transport).to_string();
    let mut args = vec!["--server", &server, "--transport", transport];
    if auto_reply {
        args.extend(["--target-user", "echo", "--reply-body", AUTO_REPLY]);
        node_scenario(
            &node,
            &daemon,
            "sip-message.js",
            &args,
            &["\"status\":200", "\"body\":\"I am away\""],
        );
        daemon.expect_log(&["succeeded", "rule=\"im-echo\""]);
    } else {
        node_scenario(&node, &daemon, "sip-message.js", &args, &["\"status\":200"]);
        daemon.expect_log(&["accepted", "rule=\"im-accept\"", "MESSAGE"]);
    }
}

#[test]
fn sip_package_message_over_udp_gets_200() {
    sip_package_message("udp", false);
}

#[test]
fn sip_package_message_over_udp_gets_auto_reply() {
    sip_package_message("udp", true);
}

#[test]
fn sip_package_message_over_tcp_gets_200() {
    sip_package_message("tcp", false);
}

#[test]
fn sip_package_message_over_tcp_gets_auto_reply() {
    sip_package_message("tcp", true);
}

// ---------------------------------------------------------------------------
// JsSIP over WebSocket: ua.sendMessage()

/// A daemon with one WebSocket listener (`extra` keys, e.g. a path) and the
/// URL to reach it.
fn ws_daemon(extra: &str, path: &str) -> (Daemon, String) {
    let daemon = Daemon::start(&[("ws", extra)]);
    let url = format!("ws://{}{path}", daemon.addr("ws"));
    (daemon, url)
}

#[test]
fn jssip_message_accepted_over_ws() {
    let Some(node) = node("JsSIP MESSAGE accepted") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "accept"],
        &["\"event\":\"succeeded\"", "\"status\":200"],
    );
    daemon.expect_log(&["accepted", "rule=\"im-accept\"", "ws"]);
}

#[test]
fn jssip_message_accepted_over_ws_with_path() {
    let Some(node) = node("JsSIP MESSAGE over a WebSocket path") else {
        return;
    };
    let (daemon, url) = ws_daemon("path = \"/sip\"", "/sip");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "accept"],
        &["\"event\":\"succeeded\""],
    );
}

#[test]
fn jssip_message_rejected_480_fails_with_cause_unavailable_over_ws() {
    let Some(node) = node("JsSIP MESSAGE rejected") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "reject"],
        &[
            "\"event\":\"failed\"",
            "\"cause\":\"Unavailable\"",
            "\"status\":480",
        ],
    );
    daemon.expect_log(&["rejected", "rule=\"im-unavailable\"", "Unavailable"]);
}

#[test]
fn jssip_receives_the_auto_reply_message_over_ws() {
    let Some(node) = node("JsSIP auto-reply") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &[
            "--server",
            &url,
            "--scenario",
            "auto-reply",
            "--reply-body",
            AUTO_REPLY,
        ],
        &[
            "\"event\":\"succeeded\"",
            "\"body\":\"I am away\"",
            "\"replied_200\":true",
        ],
    );
    daemon.expect_log(&["succeeded", "rule=\"im-echo\""]);
}

// ---------------------------------------------------------------------------
// SIP.js over WebSocket: Inviter calls

#[test]
fn sipjs_call_rings_is_answered_acked_and_hung_up_over_ws() {
    let Some(node) = node("SIP.js call answered") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "answer"],
        &[
            "\"provisional\":[180]",
            "\"final_status\":200",
            "\"bye_status\":200",
            "\"Established\"",
            "> ACK ",
        ],
    );
    daemon.expect_log(&["accepted", "rule=\"call-answer\"", "INVITE"]);
    // The BYE that ends the dialog is answered by the transaction layer.
    daemon.expect_log(&["method=\"BYE\"", "status=200"]);
}

/// RFC 3262: SIP.js requires 100rel, the 180 comes reliably, SIP.js PRACKs
/// it and the PRACK gets 200; the call goes on as usual.
#[test]
fn sipjs_call_requiring_100rel_pracks_a_reliable_180_over_ws() {
    let Some(node) = node("SIP.js call with 100rel") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &[
            "--server",
            &url,
            "--scenario",
            "answer",
            "--rel100",
            "required",
        ],
        &[
            "\"provisional\":[180]",
            "\"final_status\":200",
            "\"bye_status\":200",
            "\"prack_200\":true",
        ],
    );
    daemon.expect_log(&["method=\"PRACK\"", "status=200"]);
}

#[test]
fn sipjs_call_rejected_with_the_configured_code_over_ws() {
    let Some(node) = node("SIP.js call rejected") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "reject", "--status", "486"],
        &["\"final_status\":486", "\"Terminated\""],
    );
    daemon.expect_log(&["rejected", "rule=\"call-busy\"", "Busy"]);
}

#[test]
fn sipjs_cancel_while_ringing_gets_200_and_487_over_ws() {
    let Some(node) = node("SIP.js call canceled") else {
        return;
    };
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "cancel"],
        &[
            "\"provisional\":[180]",
            "\"final_status\":487",
            "\"cancel_200\":true",
            "\"Terminated\"",
        ],
    );
    daemon.expect_log(&["failed", "rule=\"call-ring\"", "Canceled"]);
}

// ---------------------------------------------------------------------------
// SIPp (Debian's sip-tester): calls to sip:answer@ (180, then 200 with an
// SDP answer after 300 ms), each ACKed and ended with BYE

/// Runs SIPp for `calls` calls to sip:answer@ over `transport` ("u1" or
/// "t1"), with its built-in `uac` scenario or tests/interop/sipp/`scenario`;
/// every call must succeed (SIPp exits 0 only then).
fn sipp_calls(transport: &str, scenario: Option<&str>, calls: u32) {
    let test = &format!("SIPp {} over {transport}", scenario.unwrap_or("uac"));
    let Some(sipp) = sipp(test) else {
        return;
    };
    let listener = if transport == "t1" { "tcp" } else { "udp" };
    let daemon = Daemon::start(&[(listener, "")]);
    let server = daemon.addr(listener);
    // SIPp writes its logs to the working directory, and binds a media
    // port (6000 by default): a scratch directory and a free port.
    let scratch = std::env::temp_dir().join(format!(
        "sip-autoresponder-sipp-{}-{transport}-{}",
        std::process::id(),
        scenario.is_some()
    ));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let media_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(sipp);
    command.current_dir(&scratch);
    match scenario {
        Some(file) => command
            .arg("-sf")
            .arg(Path::new(INTEROP_DIR).join("sipp").join(file)),
        None => command.args(["-sn", "uac"]),
    };
    command
        .arg(server.to_string())
        .args(["-s", "answer", "-i", "127.0.0.1", "-t", transport])
        .args(["-mp", &media_port.to_string()])
        .args(["-m", &calls.to_string(), "-r", "20", "-l", "20"])
        .args([
            "-nostdin",
            "-timeout",
            "15s",
            "-timeout_error",
            "-trace_err",
        ]);
    let run = run_bounded(command, CLIENT_WAIT);
    let errors: String = std::fs::read_dir(&scratch)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with("_errors.log"))
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        run.success(),
        "{test}: {:?}\n--- sipp stdout ---\n{}\n--- sipp stderr ---\n{}\n--- sipp errors ---\n{errors}\n--- daemon log ---\n{}",
        run.status,
        run.stdout,
        run.stderr,
        daemon.log()
    );
    daemon.expect_log(&["accepted", "rule=\"call-answer\"", "INVITE"]);
}

#[test]
fn sipp_uac_calls_over_udp_succeed() {
    sipp_calls("u1", None, 10);
}

#[test]
fn sipp_uac_calls_over_tcp_succeed() {
    sipp_calls("t1", None, 10);
}

/// SIPp requires 100rel: each 180 comes reliably, SIPp PRACKs it and the
/// PRACK gets 200 before the 200 to the INVITE (checked by the scenario).
#[test]
fn sipp_calls_requiring_100rel_pracks_over_udp_succeed() {
    sipp_calls("u1", Some("uac-100rel.xml"), 10);
}

// ---------------------------------------------------------------------------
// The harness itself

#[test]
fn listening_lines_are_parsed_with_and_without_colour() {
    let log = "2026-01-01T00:00:00Z  INFO sip_autoresponder::daemon: listening for UDP on 127.0.0.1:5060 transport=\"udp\"\n\
               \u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening for WS on ws://[::1]:8080/sip\n";
    let found = listening_lines(&strip_ansi(log));
    assert_eq!(
        found,
        vec![
            ("UDP".to_owned(), "127.0.0.1:5060".parse().expect("addr")),
            ("WS".to_owned(), "[::1]:8080".parse().expect("addr")),
        ]
    );
}
