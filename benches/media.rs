//! `cargo bench --bench media`: concurrent G.711 echo calls (20 ms ptime,
//! 50 packets a second each way) against the release binary pinned to one
//! core (taskset), with the load generator on the other; for each call
//! count, the share of packets whose echo was late (more than one ptime
//! after it was sent) or never came, and the daemon's CPU time per packet
//! (received plus sent, from /proc).
//!
//! `MEDIA_CALLS` lists the call counts (default 250,500,1000,1500);
//! `BENCH_SECONDS` the measured time per count (default 10, after 2 s of
//! warm-up). Loopback only; it stops by itself.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Daemon;

const CONFIG: &str = r#"
[server]
udp_workers = 1
max_transactions = 100000

[log]
level = "warn"

[[listen]]
transport = "udp"
address = "127.0.0.1:0"

[media]
port_range = "30000-35999"
timeout_ms = 0

[[rule]]
name = "echo"
match.method = "INVITE"
accept = { body.sdp = "answer", media = "echo" }

[[rule]]
name = "bye"
match.method = "BYE"
accept = {}
"#;

/// RTP sockets of the generator (calls are spread over them).
const SOCKETS: usize = 4;
const PTIME: Duration = Duration::from_millis(20);
const WARM_UP: Duration = Duration::from_secs(2);

fn main() {
    let calls: Vec<usize> = std::env::var("MEDIA_CALLS")
        .unwrap_or_else(|_| "250,500,1000,1500".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!("concurrent G.711 echo calls, daemon on one core, {seconds} s each:");
    for count in calls {
        let outcome = run(count, Duration::from_secs(seconds));
        println!(
            "{count:>5} calls: {:>8} packets sent, {:.3} % late (> 20 ms) or lost, p99 echo {:.1} ms, daemon CPU {:.1} % of a core, {:.2} µs per packet (in + out){}",
            outcome.sent,
            outcome.bad_share() * 100.0,
            outcome.p99_ms,
            outcome.cpu_share * 100.0,
            outcome.cpu_per_packet_us,
            if outcome.generator_lag {
                "  [the generator fell behind: not a valid point]"
            } else {
                ""
            }
        );
    }
}

struct Outcome {
    sent: u64,
    late: u64,
    lost: u64,
    p99_ms: f64,
    cpu_share: f64,
    cpu_per_packet_us: f64,
    generator_lag: bool,
}

impl Outcome {
    fn bad_share(&self) -> f64 {
        (self.late + self.lost) as f64 / self.sent.max(1) as f64
    }
}

fn run(count: usize, measured: Duration) -> Outcome {
    let daemon = Daemon::spawn_on(CONFIG, "media-bench", Some(0));
    let sockets: Vec<Arc<UdpSocket>> = (0..SOCKETS)
        .map(|_| Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind RTP")))
        .collect();
    let targets = set_up_calls(daemon.address, count, &sockets);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = sockets
        .iter()
        .map(|socket| {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || receive(&socket, &stop, start))
        })
        .collect();
    let end = WARM_UP + measured;
    let cpu_before = std::cell::Cell::new(None);
    let generator_lag = generate(&sockets, &targets, start, end, || {
        cpu_before.set(Some((Instant::now(), cpu_time(daemon.child.id()))));
    });
    let cpu_after = (Instant::now(), cpu_time(daemon.child.id()));
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let mut echoes: HashMap<u64, u64> = HashMap::new();
    for receiver in receivers {
        echoes.extend(receiver.join().expect("receiver"));
    }
    let (mut sent, mut late, mut lost, mut rtts) = (0, 0, 0, Vec::new());
    // Every packet sent in the measured window: call, sequence, send time.
    for (call, _) in targets.iter().enumerate() {
        let first = (WARM_UP.as_micros() / PTIME.as_micros()) as u64;
        let last = (end.as_micros() / PTIME.as_micros()) as u64;
        for sequence in first..last {
            let key = ((call as u64) << 32) | sequence;
            sent += 1;
            match echoes.get(&key) {
                Some(&rtt_us) => {
                    rtts.push(rtt_us);
                    if rtt_us > PTIME.as_micros() as u64 {
                        late += 1;
                    }
                }
                None => lost += 1,
            }
        }
    }
    rtts.sort_unstable();
    let p99 = rtts.get(rtts.len() * 99 / 100).copied().unwrap_or(0);
    let (cpu_share, per_packet) = match cpu_before.get() {
        Some((at, before)) => {
            let cpu = cpu_after.1.saturating_sub(before);
            let wall = cpu_after.0 - at;
            let packets = 2.0 * count as f64 * wall.as_secs_f64() / PTIME.as_secs_f64();
            (
                cpu.as_secs_f64() / wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / packets.max(1.0),
            )
        }
        None => (0.0, 0.0),
    };
    Outcome {
        sent,
        late,
        lost,
        p99_ms: p99 as f64 / 1000.0,
        cpu_share,
        cpu_per_packet_us: per_packet,
        generator_lag,
    }
}

/// INVITE → 200 (with the daemon's media port) → ACK, one call at a time;
/// returns each call's RTP address.
fn set_up_calls(server: SocketAddr, count: usize, sockets: &[Arc<UdpSocket>]) -> Vec<SocketAddr> {
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
    sip.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = sip.local_addr().expect("addr");
    let mut targets = Vec::with_capacity(count);
    let mut buf = vec![0u8; 65536];
    for call in 0..count {
        let rtp = sockets[call % sockets.len()].local_addr().expect("addr");
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=ptime:20\r\n",
            rtp.port()
        );
        let head = |method: &str, tag: &str| {
            format!(
                "{method} sip:echo@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-media-{call}-{method};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=b{call}\r\nTo: <sip:echo@{server}>{tag}\r\n\
                 Call-ID: media-bench-{call}\r\nCSeq: 1 {method}\r\nContact: <sip:bench@{local}>\r\n"
            )
        };
        let invite = format!(
            "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            head("INVITE", ""),
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), server).expect("send INVITE");
        let (port, tag) = loop {
            let len = sip.recv(&mut buf).expect("a response to the INVITE");
            let text = String::from_utf8_lossy(&buf[..len]);
            if !text.starts_with("SIP/2.0 200") {
                assert!(text.starts_with("SIP/2.0 1"), "call {call}: {text}");
                continue;
            }
            let port: u16 = text
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|r| r.split(' ').next()?.parse().ok())
                .expect("m=audio port");
            let tag = text
                .lines()
                .find(|l| l.starts_with("To:"))
                .and_then(|l| l.split("tag=").nth(1))
                .expect("To-tag")
                .trim()
                .to_owned();
            break (port, tag);
        };
        let ack = format!(
            "{}Content-Length: 0\r\n\r\n",
            head("ACK", &format!(";tag={tag}"))
        );
        sip.send_to(ack.as_bytes(), server).expect("send ACK");
        targets.push(SocketAddr::new(server.ip(), port));
    }
    targets
}

/// Sends each call's packets at the ptime, the calls spread evenly over
/// it, until `end`; `measuring` runs once the warm-up is over. True when
/// the generator fell more than a ptime behind.
fn generate(
    sockets: &[Arc<UdpSocket>],
    targets: &[SocketAddr],
    start: Instant,
    end: Duration,
    mut measuring: impl FnMut(),
) -> bool {
    let count = targets.len();
    let slot = PTIME / count as u32;
    let mut packet = vec![0u8; 172];
    packet[0] = 0x80;
    let mut next = 0u64;
    let mut lag = false;
    let mut warm = false;
    loop {
        let sequence = next / count as u64;
        let call = (next % count as u64) as usize;
        let due = PTIME * sequence as u32 + slot * call as u32;
        if due >= end {
            return lag;
        }
        if !warm && due >= WARM_UP {
            measuring();
            warm = true;
        }
        let now = start.elapsed();
        if due > now {
            std::thread::sleep((due - now).min(Duration::from_millis(1)));
            continue;
        }
        if now - due > PTIME {
            lag = true;
        }
        packet[2..4].copy_from_slice(&(sequence as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&((sequence as u32) * 160).to_be_bytes());
        packet[8..12].copy_from_slice(&(call as u32 + 1).to_be_bytes());
        packet[12..16].copy_from_slice(&(call as u32).to_be_bytes());
        packet[16..24].copy_from_slice(&sequence.to_be_bytes());
        let sent_us = start.elapsed().as_micros() as u64;
        packet[24..32].copy_from_slice(&sent_us.to_be_bytes());
        let _ = sockets[call % sockets.len()].send_to(&packet, targets[call]);
        next += 1;
    }
}

/// Echoes received: (call << 32 | sequence) → round trip, µs.
fn receive(socket: &UdpSocket, stop: &AtomicBool, start: Instant) -> HashMap<u64, u64> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut echoes = HashMap::new();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        if len < 32 {
            continue;
        }
        let now_us = start.elapsed().as_micros() as u64;
        let word = |at: usize| u64::from_be_bytes(buf[at..at + 8].try_into().unwrap_or_default());
        let call = u64::from(u32::from_be_bytes(
            buf[12..16].try_into().unwrap_or_default(),
        ));
        let sequence = word(16);
        let sent_us = word(24);
        echoes.insert((call << 32) | sequence, now_us.saturating_sub(sent_us));
    }
    echoes
}

/// The process's user + system CPU time (/proc/PID/stat, clock ticks of
/// 1/100 s on Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
