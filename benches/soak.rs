//! `cargo bench --bench soak`: an hour of mixed traffic against the release
//! binary at a fixed rate, with the daemon's resident memory every minute.
//! What a permanent service sees: normal calls, abandoned calls (no BYE, and
//! the client gone when the daemon's BYE comes), calls with a large
//! Record-Route, OPTIONS with fresh sequence keys, REGISTERs of fresh
//! addresses of record. The curve must be flat after the first minutes.
//!
//! `SOAK_MINUTES` (default 60) sets the length, `SOAK_RATE` (default 1)
//! multiplies the per-second mix below. Loopback only; it stops by itself.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Daemon;
use tokio::net::UdpSocket;

/// Dialogs expire after 2 minutes, so abandoned calls end within the run.
const CONFIG: &str = r#"
[server]
max_message_size = 65536

[dialog]
max_duration_ms = 120000
max_bytes = 16384

[log]
level = "warn"

[[listen]]
transport = "udp"
address = "127.0.0.1:0"

[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { min_expires = 60, max_expires = 120 }

[[rule]]
name = "retry-then-ok"
match.method = "OPTIONS"
[rule.sequence]
key = "call_id"
ttl_ms = 30000
max_keys = 20000
[[rule.sequence.policy]]
reject = { status = 503, extra_headers = ["Retry-After: 1"] }
[[rule.sequence.policy]]
accept = {}

[[rule]]
name = "answer"
match.method = "INVITE"
progress = [{ status = 180 }]
accept = { delay_ms = 200, body.sdp = "answer" }
"#;

/// Scenarios started each second (times `SOAK_RATE`).
const MIX: [(Scenario, u32); 5] = [
    (Scenario::Call, 20),
    (Scenario::Abandoned, 10),
    (Scenario::LargeRoute, 5),
    (Scenario::FreshKey, 50),
    (Scenario::Register, 10),
];

#[derive(Debug, Clone, Copy)]
enum Scenario {
    Call,
    Abandoned,
    LargeRoute,
    FreshKey,
    Register,
}

fn main() {
    let minutes: u64 = env("SOAK_MINUTES", 60);
    let rate: u32 = env("SOAK_RATE", 1);
    let daemon = Daemon::spawn(CONFIG, "soak");
    println!(
        "soak: {minutes} min against {} (pid {}), per second: {}",
        daemon.address,
        daemon.child.id(),
        MIX.iter()
            .map(|(s, n)| format!("{} {s:?}", n * rate))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let failures = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let curve = runtime.block_on(run(
        daemon.address,
        daemon.child.id(),
        Duration::from_secs(minutes * 60),
        rate,
        failures.clone(),
        started.clone(),
    ));
    let at = |minute: usize| curve.get(minute).copied().unwrap_or_default();
    let peak = curve.iter().copied().max().unwrap_or_default();
    println!(
        "scenarios started {}, failed {}",
        started.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    println!("RSS (kB) per minute: {curve:?}");
    if curve.len() > 10 {
        let last = curve.len() - 1;
        println!(
            "peak {peak} kB; minute 10: {} kB, minute {last}: {} kB, growth {} kB",
            at(10),
            at(last),
            at(last) as i64 - at(10) as i64
        );
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts the mix every second for `length`; samples RSS every minute.
async fn run(
    server: SocketAddr,
    pid: u32,
    length: Duration,
    rate: u32,
    failures: Arc<AtomicU64>,
    started: Arc<AtomicU64>,
) -> Vec<u64> {
    let start = Instant::now();
    let mut curve = vec![rss_kb(pid)];
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut serial = 0u64;
    while start.elapsed() < length {
        second.tick().await;
        for (scenario, count) in MIX {
            for _ in 0..count * rate {
                serial += 1;
                started.fetch_add(1, Ordering::Relaxed);
                let failures = failures.clone();
                tokio::spawn(async move {
                    if play(scenario, server, serial).await.is_none() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        }
        let minute = (start.elapsed().as_secs() / 60) as usize;
        if minute >= curve.len() {
            let kb = rss_kb(pid);
            println!("minute {minute}: {kb} kB");
            curve.push(kb);
        }
    }
    curve
}

/// One scenario from its own socket; `None` when an answer was missing or
/// wrong.
async fn play(scenario: Scenario, server: SocketAddr, serial: u64) -> Option<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let port = socket.local_addr().ok()?.port();
    let call_id = format!("soak-{serial}");
    match scenario {
        Scenario::Call | Scenario::Abandoned | Scenario::LargeRoute => {
            let routes = if matches!(scenario, Scenario::LargeRoute) {
                let hops: Vec<String> = (0..24)
                    .map(|n| format!("<sip:proxy-{n}.soak.example.com;lr;x={}>", "r".repeat(200)))
                    .collect();
                format!("Record-Route: {}\r\n", hops.join(", "))
            } else {
                String::new()
            };
            let invite = request("INVITE", &call_id, port, 1, "", &routes);
            let answer = exchange(&socket, server, &invite, 200).await?;
            let tag = to_tag(&answer)?;
            let ack = request("ACK", &call_id, port, 1, &tag, "");
            socket.send_to(ack.as_bytes(), server).await.ok()?;
            if matches!(scenario, Scenario::Abandoned) {
                // The client is gone: the daemon's BYE at max_duration_ms
                // finds a closed port.
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let bye = request("BYE", &call_id, port, 2, &tag, "");
            exchange(&socket, server, &bye, 200).await.map(|_| ())
        }
        Scenario::FreshKey => {
            let options = request("OPTIONS", &call_id, port, 1, "", "");
            exchange(&socket, server, &options, 503).await.map(|_| ())
        }
        Scenario::Register => {
            let register = request("REGISTER", &call_id, port, 1, "", "")
                .replace("sip:callee@soak.example.com", &format!("sip:user-{serial}@soak.example.com"))
                .replace(
                    "Content-Length: 0",
                    &format!("Contact: <sip:user-{serial}@127.0.0.1:{port}>;expires=60\r\nContent-Length: 0"),
                );
            exchange(&socket, server, &register, 200).await.map(|_| ())
        }
    }
}

/// Sends `message` and waits (up to 5 s) for a final response with
/// `status`; earlier provisional responses are skipped.
async fn exchange(
    socket: &UdpSocket,
    server: SocketAddr,
    message: &str,
    status: u16,
) -> Option<String> {
    socket.send_to(message.as_bytes(), server).await.ok()?;
    let mut buf = vec![0u8; 65_536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.get(8..11)?.parse().ok()?;
        if code >= 200 {
            return (code == status).then_some(text);
        }
    }
}

fn request(method: &str, call_id: &str, port: u16, cseq: u32, to_tag: &str, extra: &str) -> String {
    let to_tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    format!(
        "{method} sip:callee@soak.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id}-{method}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@soak.example.com>;tag=f-{call_id}\r\n\
         To: <sip:callee@soak.example.com>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:caller@127.0.0.1:{port}>\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

fn to_tag(response: &str) -> Option<String> {
    let to = response.lines().find(|l| l.starts_with("To:"))?;
    Some(to.split("tag=").nth(1)?.trim().to_owned())
}

/// The daemon's resident set size, from /proc.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
