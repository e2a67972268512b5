//! The real binary as systemd runs it: sd_notify on a test NOTIFY_SOCKET,
//! SIGHUP reloads (good and broken files, listener and settings changes),
//! SIGTERM drains.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admin::http::{get, series};
use crate::common::clients::{Client, StreamClient};
use crate::common::{Response, UdpClient, cancel_for, options, request, strip_ansi};

/// A scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sip-autoresponder-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The real binary, its stderr collected.
pub(crate) struct Daemon {
    child: Child,
    logs: Arc<Mutex<String>>,
}

impl Daemon {
    pub(crate) fn spawn(config: &std::path::Path, notify_socket: Option<&str>) -> Self {
        Self::spawn_logging(config, notify_socket, "info")
    }

    /// Runs the binary on `config` with `RUST_LOG=rust_log`.
    pub(crate) fn spawn_logging(
        config: &std::path::Path,
        notify_socket: Option<&str>,
        rust_log: &str,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sip-autoresponder"));
        command
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match notify_socket {
            Some(socket) => command.env("NOTIFY_SOCKET", socket),
            None => command.env_remove("NOTIFY_SOCKET"),
        };
        let mut child = command.spawn().expect("spawn the daemon");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut logs = sink.lock().expect("logs");
                logs.push_str(&strip_ansi(&line));
                logs.push('\n');
            }
        });
        Self { child, logs }
    }

    pub(crate) fn logs(&self) -> String {
        self.logs.lock().expect("logs").clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing `text`; returns that line.
    pub(crate) fn wait_for_log(&self, text: &str, after: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().skip(after).find(|l| l.contains(text)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} in:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn log_lines(&self) -> usize {
        self.logs().lines().count()
    }

    /// The address a listener of `token` (UDP, TCP, …) bound, from the log.
    pub(crate) fn address(&self, token: &str, after: usize) -> SocketAddr {
        let line = self.wait_for_log(&format!("listening for {token} on "), after);
        let rest = line
            .split(&format!("listening for {token} on "))
            .nth(1)
            .expect("address");
        rest.split_whitespace()
            .next()
            .expect("address")
            .parse()
            .expect("socket address")
    }

    pub(crate) fn admin_address(&self) -> SocketAddr {
        let line = self.wait_for_log("admin listener on http://", 0);
        let rest = line.split("http://").nth(1).expect("address");
        rest.split_whitespace()
            .next()
            .expect("address")
            .parse()
            .expect("socket address")
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A notification socket like systemd's: a datagram socket the daemon
/// writes `KEY=value` lines to.
pub(crate) struct NotifySocket {
    socket: UnixDatagram,
    pub(crate) name: String,
}

impl NotifySocket {
    pub(crate) fn path(dir: &std::path::Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        Self {
            socket,
            name: path.display().to_string(),
        }
    }

    fn abstract_name() -> Self {
        let name = format!(
            "sip-autoresponder-test-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let address = UnixAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
        let socket = UnixDatagram::bind_addr(&address).expect("bind abstract notify socket");
        Self {
            socket,
            name: format!("@{name}"),
        }
    }

    pub(crate) fn next(&self) -> String {
        self.socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        let len = self
            .socket
            .recv(&mut buf)
            .expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }
}

pub(crate) const LISTEN_UDP: &str = "[server]\nforce_rport = true\ndrain_timeout_ms = 3000\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

#[tokio::test]
async fn notifies_ready_reloading_and_stopping_on_a_path_socket() {
    let dir = scratch("notify");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\naccept = {{}}\n"),
    )
    .expect("write config");
    let notify = NotifySocket::path(&dir);
    let mut daemon = Daemon::spawn(&config, Some(&notify.name));
    let address = daemon.address("UDP", 0);
    let ready = notify.next();
    assert_eq!(ready, format!("READY=1\nSTATUS=listening on udp {address}"));

    daemon.signal("HUP");
    let reloading = notify.next();
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"));
    let usec = lines
        .next()
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("MONOTONIC_USEC");
    assert!(usec.parse::<u64>().is_ok_and(|v| v > 0), "{reloading}");
    assert!(notify.next().starts_with("READY=1"));

    daemon.signal("TERM");
    assert_eq!(notify.next(), "STOPPING=1");
    let status = daemon.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn notifies_on_an_abstract_socket_and_sends_nothing_without_one() {
    let dir = scratch("abstract");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\naccept = {{}}\n"),
    )
    .expect("write config");
    let notify = NotifySocket::abstract_name();
    let daemon = Daemon::spawn(&config, Some(&notify.name));
    assert!(
        notify
            .next()
            .starts_with("READY=1\nSTATUS=listening on udp 127.0.0.1:")
    );
    drop(daemon);

    let quiet = Daemon::spawn(&config, None);
    let address = quiet.address("UDP", 0);
    let client = UdpClient::new(address).await;
    assert_eq!(client.request(&options("quiet")).await.status, 200);
}

#[tokio::test]
async fn reload_changes_answers_while_a_transaction_in_flight_keeps_its_policy() {
    let dir = scratch("reload");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"old\"\nmatch.method = \"INVITE\"\nprogress = [{{ status = 180 }}]\nreject = {{ status = 486, delay_ms = 1500 }}\n"),
    )
    .expect("write config");
    let daemon = Daemon::spawn(&config, None);
    let address = daemon.address("UDP", 0);
    let before = UdpClient::new(address).await;
    before
        .send(&request(
            "INVITE",
            "sip:x@example.com",
            "before-reload",
            "",
            "",
        ))
        .await;
    assert_eq!(before.recv().await.status, 180);

    std::fs::write(&config, format!("{LISTEN_UDP}[[rule]]\nname = \"new\"\nmatch.method = \"INVITE\"\nreject = {{ status = 603 }}\n")).expect("rewrite");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded", mark);
    let after = UdpClient::new(address).await;
    assert_eq!(
        after
            .request(&request(
                "INVITE",
                "sip:x@example.com",
                "after-reload",
                "",
                ""
            ))
            .await
            .status,
        603
    );
    assert_eq!(
        before.recv().await.status,
        486,
        "the transaction started before the reload keeps its policy"
    );
}

#[tokio::test]
async fn broken_reload_keeps_the_old_rules_and_logs_the_error_line() {
    let dir = scratch("broken");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\nreply = {{ status = 299 }}\n"),
    )
    .expect("write config");
    let daemon = Daemon::spawn(&config, None);
    let address = daemon.address("UDP", 0);
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"o\"\nreply = {{ status = 299, bogus = 1 }}\n"),
    )
    .expect("break");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    let line = daemon.wait_for_log("reload refused", mark);
    assert!(
        line.contains(&format!("{}:9:25: unknown key `bogus`", config.display())),
        "{line}"
    );
    daemon.wait_for_log("keeping the previous configuration", mark);
    let client = UdpClient::new(address).await;
    assert_eq!(client.request(&options("still-old")).await.status, 299);
}

#[tokio::test]
async fn sigterm_drains_a_delayed_policy_then_exits_zero() {
    let dir = scratch("drain");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{LISTEN_UDP}[[rule]]\nname = \"slow\"\nmatch.method = \"INVITE\"\nreject = {{ status = 486, delay_ms = 700 }}\n[[rule]]\nname = \"o\"\naccept = {{}}\n"),
    )
    .expect("write config");
    let mut daemon = Daemon::spawn(&config, None);
    let address = daemon.address("UDP", 0);
    let client = UdpClient::new(address).await;
    let invite = request("INVITE", "sip:x@example.com", "draining", "", "");
    client.send(&invite).await;
    assert_eq!(client.recv().await.status, 100);
    let start = Instant::now();
    daemon.signal("TERM");
    daemon.wait_for_log("stopping: draining", 0);
    let late = UdpClient::new(address).await;
    let refused = late.request(&options("late")).await;
    assert_eq!(
        (refused.status, refused.header("Retry-After")),
        (503, Some("5")),
        "no new requests while draining"
    );
    let busy = client.recv().await;
    assert_eq!(
        busy.status, 486,
        "the delayed final response is still delivered"
    );
    client
        .send(&crate::common::ack_for(
            &invite,
            &busy.to_tag().expect("tag"),
        ))
        .await;
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "within the drain timeout"
    );
}

#[tokio::test]
async fn reload_adds_and_removes_listeners() {
    let dir = scratch("listeners");
    let config = dir.join("config.toml");
    let rules = "[[rule]]\nname = \"o\"\naccept = {}\n";
    let admin = "[admin]\naddress = \"127.0.0.1:0\"\n";
    std::fs::write(&config, format!("{LISTEN_UDP}{admin}{rules}")).expect("write config");
    let daemon = Daemon::spawn(&config, None);
    let udp = daemon.address("UDP", 0);
    let admin_address = daemon.admin_address();
    std::fs::write(&config, format!("[server]\nforce_rport = true\n[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n{admin}{rules}")).expect("rewrite");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    let tcp = daemon.address("TCP", mark);
    let summary = daemon.wait_for_log("configuration reloaded", mark);
    assert!(
        summary.contains(&format!("removed=[\"udp {udp}\"]"))
            && summary.contains(&format!("added=[\"tcp {tcp}\"]")),
        "{summary}"
    );
    let mut stream = Client::Stream(StreamClient::tcp(tcp).await);
    assert_eq!(stream.request(&options("over-tcp")).await.status, 200);
    let gone = UdpClient::new(udp).await;
    gone.send(&options("to-removed")).await;
    gone.expect_silence().await;
    // The admin counts the connections of the listener the reload added.
    let tcp_series = "sip_autoresponder_connections{transport=\"tcp\"}";
    let metrics = get(admin_address, "/metrics").await.body;
    assert_eq!(series(&metrics, tcp_series), 1.0, "{metrics}");

    // Without the TCP listener its series stays, at 0.
    std::fs::write(&config, format!("{LISTEN_UDP}{admin}{rules}")).expect("rewrite");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded", mark);
    let metrics = get(admin_address, "/metrics").await.body;
    assert!(
        metrics.lines().any(|l| l == format!("{tcp_series} 0")),
        "{metrics}"
    );
}

/// A reload applies `[server]`, `[timers]` and `[sdp]` to what starts after
/// it: the Server header, T1 (the 2xx retransmission interval),
/// `max_transactions`, the SDP codecs and `public_address` (the UDP listener
/// served again, on the same socket, for its new Contact).
#[tokio::test]
async fn reload_applies_settings_to_new_requests() {
    let dir = scratch("settings");
    let config = dir.join("config.toml");
    let write = |agent: &str, t1_ms: u32, max: u32, codec: &str, public: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nforce_rport = true\nuser_agent = \"{agent}\"\nmax_transactions = {max}\n{public}\
                 [timers]\nt1_ms = {t1_ms}\n[sdp]\ncodecs = [\"{codec}\"]\n\
                 [[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\
                 [[rule]]\nname = \"ring\"\nmatch.request_uri = '^sip:ring@'\nprogress = [{{}}]\n\
                 [[rule]]\nname = \"call\"\nmatch.method = \"INVITE\"\naccept = {{ body.sdp = \"answer\" }}\n"
            ),
        )
        .expect("write config");
    };
    let ring = |call_id: &str| request("INVITE", "sip:ring@example.com", call_id, "", "");
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";
    let invite = |call_id: &str| {
        request(
            "INVITE",
            "sip:x@example.com",
            call_id,
            "Contact: <sip:alice@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n",
            offer,
        )
    };
    write("before/1", 50, 2, "PCMU", "");
    let daemon = Daemon::spawn(&config, None);
    let udp = daemon.address("UDP", 0);
    let client = UdpClient::new(udp).await;
    client.send(&invite("settings-before")).await;
    assert_answered_with(&client.recv().await, "before/1", 0, "127.0.0.1");
    // T1 = 50 ms: the unacknowledged 2xx comes again at once.
    let again = client.recv_within(Duration::from_millis(1000)).await;
    assert_eq!(
        again.map(|r| r.status),
        Some(200),
        "2xx retransmitted after T1"
    );
    // max_transactions = 2: two ringing INVITEs fill the table.
    let ringing_before = UdpClient::new(client.server).await;
    for call_id in ["ring-1", "ring-2"] {
        assert_eq!(ringing_before.request(&ring(call_id)).await.status, 180);
    }
    assert_eq!(ringing_before.request(&ring("ring-3")).await.status, 503);

    write(
        "after/2",
        2000,
        4,
        "PCMA",
        "public_address = \"192.0.2.7\"\n",
    );
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    let rebound = daemon.address("UDP", mark);
    let summary = daemon.wait_for_log("configuration reloaded", mark);
    // The same socket serves again: the call and the ringing INVITEs above
    // still answer through it, so binding the address anew could fail.
    assert_eq!(rebound, udp, "{summary}");
    assert!(
        summary.contains(&format!("changed=[\"udp {udp}\"]")) && summary.contains("removed=[]"),
        "{summary}"
    );
    assert!(
        !daemon.logs().contains("takes effect after a restart"),
        "{}",
        daemon.logs()
    );
    let client = UdpClient::new(rebound).await;
    client.send(&invite("settings-after")).await;
    let answered = client.recv().await;
    assert_answered_with(&answered, "after/2", 8, "192.0.2.7");
    let contact = answered.header("Contact").unwrap_or_default();
    assert!(contact.contains("192.0.2.7"), "Contact: {contact}");
    // T1 = 2 s: no retransmission within a second.
    let again = client.recv_within(Duration::from_millis(1000)).await;
    assert!(again.is_none(), "2xx retransmitted too early: {again:?}");
    // max_transactions = 4: with the two INVITEs still ringing, one more
    // finds room.
    let ringing = UdpClient::new(rebound).await;
    assert_eq!(ringing.request(&ring("ring-4")).await.status, 180);
    // A transaction from before the reload still answers on that socket.
    let cancelled = ringing_before.request(&cancel_for(&ring("ring-1"))).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.raw);
    assert_eq!(ringing_before.recv().await.status, 487);
}

/// A 200 with the given Server header, SDP payload type and `c=` address.
fn assert_answered_with(answered: &Response, server: &str, payload: u8, address: &str) {
    assert_eq!(answered.header("Server"), Some(server), "{}", answered.raw);
    for line in [
        format!("m=audio 40000 RTP/AVP {payload}\r\n"),
        format!("c=IN IP4 {address}\r\n"),
    ] {
        assert!(
            answered.body.contains(&line),
            "{line:?} in:\n{}",
            answered.body
        );
    }
}
