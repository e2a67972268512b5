//! Hostile peers (issue 13), against the real binary: each test repeats one
//! attack of the table and asserts as a bound the figure that broke
//! (legitimate OPTIONS answered within 200 ms throughout, sockets released
//! within the write timeout, RSS growth, log lines per second, `/metrics`
//! size). Spoofed sources are other loopback addresses (127.0.0.2, …),
//! which Linux routes to `lo` without setup. Loopback only, bounded in
//! count and time.

mod admission;
mod observability;
mod streams;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::common::options;
use crate::daemon_process::{Daemon, scratch};

/// The latency every legitimate probe must stay within.
pub(crate) const PROBE_BOUND: Duration = Duration::from_millis(200);

/// Log filter of these tests: warnings, and the lines that name addresses.
const RUST_LOG: &str = "warn,sip_autoresponder::daemon=info";

/// A config of `sections` (listeners, `[admin]`, rules, …) after `[server]
/// force_rport = true`, with an OPTIONS rule at the end (what the probes ask).
pub(crate) fn ping_config(sections: &str) -> String {
    format!(
        "[server]\nforce_rport = true\n{sections}\n[[rule]]\nname = \"ping\"\nmatch.method = \"OPTIONS\"\naccept = {{}}\n"
    )
}

/// The binary on `toml`, in a scratch directory of its own.
pub(crate) struct Target {
    pub(crate) daemon: Daemon,
    pub(crate) dir: PathBuf,
}

impl Target {
    pub(crate) fn start(name: &str, toml: &str) -> Self {
        let dir = scratch(name);
        let toml = toml.replace("@DIR@", &dir.display().to_string());
        let config = dir.join("config.toml");
        std::fs::write(&config, toml).expect("write config");
        let daemon = Daemon::spawn_logging(&config, None, RUST_LOG);
        Self { daemon, dir }
    }

    pub(crate) fn address(&self, token: &str) -> SocketAddr {
        self.daemon.address(token, 0)
    }

    pub(crate) fn rss_kb(&self) -> u64 {
        proc_status(self.daemon.pid(), "VmRSS:")
    }

    /// Sockets the process holds open (listeners included).
    pub(crate) fn sockets(&self) -> usize {
        open_sockets(self.daemon.pid())
    }

    /// Log lines at WARN (or ERROR) so far.
    pub(crate) fn warn_lines(&self) -> Vec<String> {
        self.daemon
            .logs()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .map(str::to_owned)
            .collect()
    }
}

/// Sockets process `pid` holds open, from /proc/<pid>/fd.
pub(crate) fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A field of /proc/<pid>/status in kB.
fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The n-th spoofed source: 127.0.0.2, 127.0.0.3, … (then 127.0.1.x …).
pub(crate) fn spoofed(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f00_0002 + n))
}

/// A TCP connection to `server` from `source`, with a small receive buffer
/// when `receive_buffer` is set (a peer that reads nothing fills it soon).
pub(crate) async fn tcp_from(
    source: IpAddr,
    server: SocketAddr,
    receive_buffer: Option<u32>,
) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

/// What a legitimate client saw while an attack ran.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    pub(crate) sent: u32,
    pub(crate) answered: u32,
    pub(crate) slowest: Duration,
}

impl Probes {
    /// Every probe answered within [`PROBE_BOUND`].
    pub(crate) fn assert_within_bound(&self, what: &str) {
        assert!(self.sent >= 5, "{what}: too few probes ({self:?})");
        assert_eq!(self.answered, self.sent, "{what}: probes lost ({self:?})");
        assert!(
            self.slowest <= PROBE_BOUND,
            "{what}: slowest probe {:?} ({self:?})",
            self.slowest
        );
    }
}

/// Sends an OPTIONS over UDP from 127.0.0.1 every 100 ms until `stop`.
pub(crate) fn probe_udp(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Probes> {
    tokio::spawn(async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind probe");
        let mut probes = Probes::default();
        let mut buf = vec![0u8; 65_535];
        while !stop.load(Ordering::Acquire) {
            probes.sent += 1;
            let call_id = format!("probe-{}", probes.sent);
            let started = Instant::now();
            socket
                .send_to(options(&call_id).as_bytes(), server)
                .await
                .expect("send probe");
            let deadline = started + Duration::from_secs(2);
            // Skip answers to earlier probes.
            while let Ok(Ok((len, _))) =
                tokio::time::timeout_at(deadline.into(), socket.recv_from(&mut buf)).await
            {
                if String::from_utf8_lossy(&buf[..len]).contains(&format!("Call-ID: {call_id}\r\n"))
                {
                    probes.answered += 1;
                    probes.slowest = probes.slowest.max(started.elapsed());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        probes
    })
}

/// Sends an OPTIONS every 100 ms over one TCP connection (opened now) until
/// `stop`.
pub(crate) async fn probe_tcp(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Probes> {
    let mut client = crate::common::clients::StreamClient::tcp(server).await;
    tokio::spawn(async move {
        let mut probes = Probes::default();
        while !stop.load(Ordering::Acquire) {
            probes.sent += 1;
            let message = options(&format!("tcp-probe-{}", probes.sent))
                .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
            let started = Instant::now();
            client.send_bytes(message.as_bytes()).await;
            if client.recv_within(Duration::from_secs(2)).await.is_some() {
                probes.answered += 1;
                probes.slowest = probes.slowest.max(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        probes
    })
}

/// A fresh TCP connection from 127.0.0.1 that sends one OPTIONS: how long
/// the answer took, or `None` when it never came (refused, closed, silent).
pub(crate) async fn fresh_tcp_options(server: SocketAddr, call_id: &str) -> Option<Duration> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut stream = tokio::time::timeout_at(deadline, TcpStream::connect(server))
        .await
        .ok()?
        .ok()?;
    let message = options(call_id).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    stream.write_all(message.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    answer
        .starts_with(b"SIP/2.0 200")
        .then(|| started.elapsed())
}
