//! Test harness: an in-process daemon on ephemeral loopback ports and a
//! scripted SIP client over real sockets.

#![allow(dead_code, unreachable_pub)]

pub mod clients;

use std::net::SocketAddr;
use std::time::Duration;

use sip_autoresponder::config::Config;
use sip_autoresponder::daemon::Daemon;
use sip_autoresponder::sip::Transport;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Tests that load the machine (floods, hostile peers against the binary)
/// hold this so that they run one at a time: their time bounds are about
/// the daemon, not about each other. (Each test has its own runtime
/// thread, so waiting for it blocks nothing else.)
pub struct Exclusive(());

static HEAVY_BUSY: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static HEAVY_FREED: std::sync::Condvar = std::sync::Condvar::new();

pub fn exclusive() -> Exclusive {
    let mut busy = HEAVY_BUSY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while *busy {
        busy = HEAVY_FREED
            .wait(busy)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    *busy = true;
    Exclusive(())
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        *HEAVY_BUSY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        HEAVY_FREED.notify_one();
    }
}

/// How long a test waits for a response it expects.
pub const REPLY_WAIT: Duration = Duration::from_secs(3);
/// How long a test waits to be sure nothing arrives.
pub const SILENCE_WAIT: Duration = Duration::from_millis(300);

/// A daemon serving `toml` (whose listeners should use port 0); stopped on drop.
pub struct TestDaemon {
    pub addrs: Vec<(Transport, SocketAddr)>,
    admin: Option<SocketAddr>,
    cancel: CancellationToken,
}

impl TestDaemon {
    pub fn start(toml: &str) -> Self {
        let config = Config::parse(toml, "test.toml")
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        let daemon = Daemon::bind(&config).expect("bind test listeners");
        let addrs = daemon.listeners();
        let admin = daemon.admin_address();
        let cancel = CancellationToken::new();
        tokio::spawn(daemon.serve(cancel.clone()));
        Self {
            addrs,
            admin,
            cancel,
        }
    }

    /// The first listener of `transport`.
    pub fn addr(&self, transport: Transport) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
            .expect("listener of that transport")
    }

    /// The admin listener (the config must have `[admin]`).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("the test config has an [admin] section")
    }

    pub fn udp(&self) -> SocketAddr {
        self.addr(Transport::Udp)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A config with one UDP listener on 127.0.0.1:0, replies routed to the
/// source port (`force_rport`), plus `rules`.
pub fn config_with(rules: &str) -> String {
    format!(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n{rules}"
    )
}

/// An allowance that lets retransmissions reach a test client that never
/// ACKs: without it the daemon sends an unverified UDP source at most a few
/// times what it sent (`[server.unverified_udp]`).
pub const SILENT_CLIENT_ALLOWED: &str =
    "\n[server.unverified_udp]\nmessages_per_second = 1000\nbytes_per_second = 10000000\n";

/// A response as the test sees it: parsed by the test itself, not by the
/// crate under test.
#[derive(Debug, Clone)]
pub struct Response {
    pub raw: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Self {
        let raw = String::from_utf8(raw.to_vec()).expect("response is UTF-8");
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .expect("response has an empty line");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let rest = status_line
            .strip_prefix("SIP/2.0 ")
            .expect("SIP/2.0 status line");
        let (code, reason) = rest
            .split_once(' ')
            .expect("code and reason separated by SP");
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").expect("header line `Name: value`");
                (n.to_owned(), v.to_owned())
            })
            .collect();
        Self {
            status: code.parse().expect("numeric status"),
            reason: reason.to_owned(),
            headers,
            body: body.to_owned(),
            raw: raw.clone(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `tag` parameter of To, if any.
    pub fn to_tag(&self) -> Option<String> {
        let to = self.header("To")?;
        to.split(';')
            .find_map(|p| p.trim().strip_prefix("tag="))
            .map(str::to_owned)
    }
}

/// A SIP client on a loopback UDP socket.
pub struct UdpClient {
    pub socket: UdpSocket,
    pub server: SocketAddr,
}

impl UdpClient {
    pub async fn new(server: SocketAddr) -> Self {
        let bind = if server.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let socket = UdpSocket::bind(bind).await.expect("bind client socket");
        Self { socket, server }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local addr").port()
    }

    pub async fn send(&self, message: &str) {
        self.send_bytes(message.as_bytes()).await;
    }

    pub async fn send_bytes(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.expect("send");
    }

    /// The next response, or `None` after `wait`.
    pub async fn recv_within(&self, wait: Duration) -> Option<Response> {
        let mut buf = vec![0u8; 65_535];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => Some(Response::parse(&buf[..len])),
            _ => None,
        }
    }

    pub async fn recv(&self) -> Response {
        self.recv_within(REPLY_WAIT)
            .await
            .expect("a response within the wait")
    }

    /// Asserts nothing arrives for a short while.
    pub async fn expect_silence(&self) {
        if let Some(r) = self.recv_within(SILENCE_WAIT).await {
            panic!("expected no response, got:\n{}", r.raw);
        }
    }

    /// Sends `message` and returns the first response.
    pub async fn request(&self, message: &str) -> Response {
        self.send(message).await;
        self.recv().await
    }
}

/// A request with the mandatory headers; `extra` lines (each ending CRLF)
/// go after them, then the body with its Content-Length.
pub fn request(method: &str, uri: &str, call_id: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=from-{call_id}\r\n\
         To: <{uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         {extra}\
         Content-Length: {}\r\n\
         \r\n\
         {body}",
        body.len()
    )
}

/// A plain OPTIONS request.
pub fn options(call_id: &str) -> String {
    request("OPTIONS", "sip:responder@example.com", call_id, "", "")
}

/// Any message the client receives: a response, or a request the daemon
/// originates (BYE, MESSAGE).
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: String,
    pub from: SocketAddr,
}

impl Received {
    pub fn is_request(&self, method: &str) -> bool {
        self.raw.starts_with(&format!("{method} "))
    }

    pub fn start_line(&self) -> &str {
        self.raw.split("\r\n").next().unwrap_or("")
    }

    /// First value of a header (long name, case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.all(name).into_iter().next()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(": "))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_owned())
            .collect()
    }

    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    pub fn status(&self) -> Option<u16> {
        self.raw.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    /// A response to this request, copying Via, From, To, Call-ID and CSeq
    /// (RFC 3261 §8.2.6), as a client answering BYE or MESSAGE would.
    pub fn response(&self, status: u16, reason: &str) -> String {
        let mut out = format!("SIP/2.0 {status} {reason}\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in self.all(name) {
                let value = if name == "To" && !value.contains("tag=") {
                    format!("{value};tag=client")
                } else {
                    value
                };
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out
    }
}

impl UdpClient {
    /// The next message of any kind, or `None` after `wait`.
    pub async fn recv_any_within(&self, wait: Duration) -> Option<Received> {
        let mut buf = vec![0u8; 65_535];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((len, from))) => Some(Received {
                raw: String::from_utf8_lossy(&buf[..len]).into_owned(),
                from,
            }),
            _ => None,
        }
    }

    pub async fn send_to(&self, message: &str, to: SocketAddr) {
        self.socket
            .send_to(message.as_bytes(), to)
            .await
            .expect("send");
    }
}

/// An ACK for a non-2xx final response: same branch as the INVITE
/// (RFC 3261 §17.1.1.3), To with the response's tag.
pub fn ack_for(invite: &str, to_tag: &str) -> String {
    in_transaction(invite, "ACK", Some(to_tag))
}

/// A CANCEL for `invite` (same branch, Request-URI, Call-ID, From, To, CSeq
/// number; no Require or Proxy-Require, RFC 3261 §9.1).
pub fn cancel_for(invite: &str) -> String {
    in_transaction(invite, "CANCEL", None)
}

fn in_transaction(invite: &str, method: &str, to_tag: Option<&str>) -> String {
    let head = invite.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").replacen("INVITE", method, 1);
    let mut out = format!("{request_line}\r\n");
    for line in lines {
        let lower = line.to_ascii_lowercase();
        let cancel_omits = method == "CANCEL"
            && (lower.starts_with("require:") || lower.starts_with("proxy-require:"));
        if lower.starts_with("content-")
            || lower.starts_with("contact")
            || lower.starts_with("record-route")
            || cancel_omits
        {
            continue;
        }
        if lower.starts_with("cseq:") {
            let number = line[5..].split_whitespace().next().unwrap_or("1");
            out.push_str(&format!("CSeq: {number} {method}\r\n"));
        } else if lower.starts_with("to:") && to_tag.is_some() {
            out.push_str(&format!("{line};tag={}\r\n", to_tag.unwrap_or_default()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// An in-dialog request (ACK for a 2xx, BYE, …) from the caller side: a new
/// branch, To with the dialog's tag, the given CSeq.
pub fn in_dialog(method: &str, call_id: &str, to_tag: &str, cseq: u32, branch: &str) -> String {
    format!(
        "{method} sip:responder@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=from-{call_id}\r\n\
         To: <sip:callee@example.com>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Collects the daemon's log lines while the guard lives (current-thread
/// runtimes only: every task runs on the test thread).
pub struct LogCapture {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    pub fn start() -> Self {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = CaptureWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("log buffer")).into_owned()
    }

    /// Lines holding every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Clone)]
struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log text without ANSI colour codes (a daemon's stderr may carry them).
pub fn strip_ansi(text: &str) -> String {
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
