//! The real binary for interop tests: a temp config with the shared rules,
//! listeners on 127.0.0.1:0, its stderr collected, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::strip_ansi;

pub const BINARY: &str = env!("CARGO_BIN_EXE_sip-autoresponder");
/// How long the daemon may take to log its bound listeners.
const LISTEN_WAIT: Duration = Duration::from_secs(10);
/// How long an expected daemon log line may lag behind the client's result.
const LOG_WAIT: Duration = Duration::from_secs(3);

/// Rules shared by every interop daemon; the scripts' default targets
/// (sip:accept@…, sip:unavailable@…, sip:echo@…, sip:answer@…, sip:busy@…,
/// sip:ring@…) select them.
pub const RULES: &str = r#"
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

/// Digest authentication (issue 17), for `Daemon::start_with`: the users,
/// and rules before the shared ones that ask credentials of MESSAGE and
/// INVITE to sip:auth@… and of every REGISTER. MD5 only: JsSIP and SIP.js
/// read only the first challenge and give up on any other algorithm.
pub const AUTH: &str = r#"
[auth]
realm = "interop"
users = { alice = "secret", sipp = "sipp-secret" }

[[rule]]
name = "im-auth"
match.method = "MESSAGE"
match.request_uri = '^sips?:auth@'
auth = "required"
accept = {}

[[rule]]
name = "call-auth"
match.method = "INVITE"
match.request_uri = '^sips?:auth@'
auth = "required"
progress = [{ status = 180 }]
accept = { delay_ms = 300, body.sdp = "answer" }

[[rule]]
name = "registrar-auth"
match.method = "REGISTER"
register = { auth = "required", min_expires = 60, max_expires = 3600 }
"#;

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

pub struct Daemon {
    child: Child,
    config: PathBuf,
    log: Arc<Log>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Daemon {
    /// Starts the binary with one listener per `(transport, extra keys)` on
    /// 127.0.0.1:0 and the shared rules; returns once it has logged every
    /// listener's bound address.
    pub fn start(listeners: &[(&str, &str)]) -> Self {
        Self::start_with(listeners, "")
    }

    /// [`Daemon::start`] with more config (`[admin]`, rules that come
    /// first, say) before the rules. A listener's extra keys may set its
    /// `address` (else 127.0.0.1:0).
    pub fn start_with(listeners: &[(&str, &str)], extra: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut toml = String::from("[server]\nuser_agent = \"sip-autoresponder-interop\"\n");
        for (transport, extra) in listeners {
            let address = if extra.contains("address") {
                ""
            } else {
                "address = \"127.0.0.1:0\"\n"
            };
            toml.push_str(&format!(
                "\n[[listen]]\ntransport = \"{transport}\"\n{address}{extra}\n"
            ));
        }
        toml.push_str(extra);
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
    pub fn addr(&self, transport: &str) -> SocketAddr {
        let token = transport.to_ascii_uppercase();
        self.listeners
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {token} listener in {:?}", self.listeners))
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Asserts that some log line holds every one of `parts` (within a short wait).
    pub fn expect_log(&self, parts: &[&str]) {
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

pub fn listening_lines_are_parsed_with_and_without_colour() {
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
