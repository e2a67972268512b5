//! `cargo bench --bench media`: concurrent G.711 echo calls (20 ms ptime,
//! 50 packets a second each way) against the release binary pinned to one
//! core (taskset), with the load generator on the other; for each call
//! count, the share of packets whose echo was late (more than one ptime
//! after it was sent) or never came, and the daemon's CPU time per packet
//! (received plus sent, from /proc).
//!
//! `MEDIA_CALLS` lists the call counts (default 250,500,1000,1500);
//! `BENCH_SECONDS` the measured time per count (default 10, after 2 s of
//! warm-up). Loopback only; it stops by itself. Run the load on the other
//! core: `taskset -c 1 cargo bench --bench media`.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
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
    let sockets: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind RTP"))
        .collect();
    let targets = set_up_calls(daemon.address, count, &sockets);
    for socket in &sockets {
        socket.set_nonblocking(true).expect("non-blocking");
    }
    let start = Instant::now();
    let end = WARM_UP + measured;
    let mut cpu_before = None;
    let mut load = Load {
        sockets: &sockets,
        targets: &targets,
        start,
        echoes: HashMap::new(),
        buf: [0u8; 2048],
    };
    let generator_lag = load.run(end, || {
        cpu_before = Some((Instant::now(), cpu_time(daemon.child.id())));
    });
    let cpu_after = (Instant::now(), cpu_time(daemon.child.id()));
    // The last echoes.
    let drain_until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < drain_until {
        load.drain();
        std::thread::sleep(Duration::from_millis(1));
    }
    let echoes = load.echoes;
    let (mut sent, mut late, mut lost, mut rtts) = (0, 0, 0, Vec::new());
    // Every packet sent in the measured window: call, sequence, send time.
    let first = (WARM_UP.as_micros() / PTIME.as_micros()) as u64;
    let last = (end.as_micros() / PTIME.as_micros()) as u64;
    for call in 0..targets.len() {
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
    let (cpu_share, per_packet) = match cpu_before {
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
fn set_up_calls(server: SocketAddr, count: usize, sockets: &[UdpSocket]) -> Vec<SocketAddr> {
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

/// The load: one thread that sends each call's packets at the ptime (the
/// calls spread evenly over it) and reads the echoes from non-blocking
/// sockets in between, so that no thread of ours sleeps on a socket (on
/// loopback the daemon's send would pay for waking it).
struct Load<'a> {
    sockets: &'a [UdpSocket],
    targets: &'a [SocketAddr],
    start: Instant,
    /// (call << 32 | sequence) → round trip, µs.
    echoes: HashMap<u64, u64>,
    buf: [u8; 2048],
}

impl Load<'_> {
    /// Runs until `end`; `measuring` runs once the warm-up is over. True
    /// when the generator fell more than a ptime behind.
    fn run(&mut self, end: Duration, mut measuring: impl FnMut()) -> bool {
        let count = self.targets.len();
        let slot = PTIME / count as u32;
        let mut packet = vec![0u8; 172];
        packet[0] = 0x80;
        let (mut next, mut lag, mut warm) = (0u64, false, false);
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
            let now = self.start.elapsed();
            if due > now {
                if self.drain() == 0 {
                    std::thread::sleep((due - now).min(Duration::from_micros(200)));
                }
                continue;
            }
            lag |= now - due > PTIME;
            packet[2..4].copy_from_slice(&(sequence as u16).to_be_bytes());
            packet[4..8].copy_from_slice(&((sequence as u32) * 160).to_be_bytes());
            packet[8..12].copy_from_slice(&(call as u32 + 1).to_be_bytes());
            packet[12..16].copy_from_slice(&(call as u32).to_be_bytes());
            packet[16..24].copy_from_slice(&sequence.to_be_bytes());
            let sent_us = self.start.elapsed().as_micros() as u64;
            packet[24..32].copy_from_slice(&sent_us.to_be_bytes());
            let _ = self.sockets[call % self.sockets.len()].send_to(&packet, self.targets[call]);
            next += 1;
        }
    }

    /// Reads every echo waiting; returns how many.
    fn drain(&mut self) -> usize {
        let mut read = 0;
        for socket in self.sockets {
            while let Ok(len) = socket.recv(&mut self.buf) {
                read += 1;
                if len < 32 {
                    continue;
                }
                let now_us = self.start.elapsed().as_micros() as u64;
                let word = |at: usize| {
                    u64::from_be_bytes(self.buf[at..at + 8].try_into().unwrap_or_default())
                };
                let call = u64::from(u32::from_be_bytes(
                    self.buf[12..16].try_into().unwrap_or_default(),
                ));
                let (sequence, sent_us) = (word(16), word(24));
                self.echoes
                    .insert((call << 32) | sequence, now_us.saturating_sub(sent_us));
            }
        }
        read
    }
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
