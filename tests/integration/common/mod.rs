//! Test harness: an in-process daemon on ephemeral loopback ports and a
//! scripted SIP client over a real UDP socket.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use sip_autoresponder::config::Config;
use sip_autoresponder::daemon::Daemon;
use sip_autoresponder::sip::Transport;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a response it expects.
pub const REPLY_WAIT: Duration = Duration::from_secs(3);
/// How long a test waits to be sure nothing arrives.
pub const SILENCE_WAIT: Duration = Duration::from_millis(300);

/// A daemon serving `toml` (whose listeners should use port 0); stopped on drop.
pub struct TestDaemon {
    pub addrs: Vec<(Transport, SocketAddr)>,
    cancel: CancellationToken,
}

impl TestDaemon {
    pub fn start(toml: &str) -> Self {
        let config = Config::parse(toml, "test.toml").unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        let daemon = Daemon::bind(&config).expect("bind test listeners");
        let addrs = daemon.listeners();
        let cancel = CancellationToken::new();
        tokio::spawn(daemon.serve(cancel.clone()));
        Self { addrs, cancel }
    }

    /// The first listener of `transport`.
    pub fn addr(&self, transport: Transport) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
            .expect("listener of that transport")
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
    format!("[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n{rules}")
}

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
        let (head, body) = raw.split_once("\r\n\r\n").expect("response has an empty line");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let rest = status_line.strip_prefix("SIP/2.0 ").expect("SIP/2.0 status line");
        let (code, reason) = rest.split_once(' ').expect("code and reason separated by SP");
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
        let bind = if server.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
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
        self.recv_within(REPLY_WAIT).await.expect("a response within the wait")
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
