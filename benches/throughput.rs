//! `cargo bench`: what the responder costs.
//!
//! 1. In-process: parse + validate + rule match + response build, per
//!    message, for an OPTIONS and a ~600-byte INVITE; and the stream
//!    framer's cost for a 64 KB message whose head arrives a byte per read
//!    (what a slow-loris peer sends).
//! 2. Over loopback UDP against the real binary (spawned as its own
//!    process): OPTIONS answered per second, INVITE-to-BYE calls per second,
//!    and the daemon's CPU time per request (from /proc).
//!
//! `BENCH_SECONDS` sets each load phase's length (default 5).

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::Daemon;
use sip_autoresponder::config::Config;
use sip_autoresponder::rules::MatchInput;
use sip_autoresponder::rules::template::Vars;
use sip_autoresponder::sip::{
    Frame, Limits, Request, ResponseParts, ResponseTemplate, StreamFramer, Transport,
    parse_datagram,
};

const RULES: &str = r#"
[[listen]]
transport = "udp"
address = "127.0.0.1:0"

[[rule]]
name = "busy"
match.method = "INVITE"
match.request_uri = '^sip:busy@'
reject = { status = 486 }

[[rule]]
name = "scenario"
match.headers."X-Scenario" = '^ring$'
progress = [{}]

[[rule]]
name = "options"
match.method = "OPTIONS"
accept = { extra_headers = ["Allow: INVITE, ACK, CANCEL, BYE, OPTIONS"] }

[[rule]]
name = "answer"
match.method = "INVITE"
accept = { body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n", content_type = "application/sdp" }

[[rule]]
name = "bye"
match.method = "BYE"
accept = {}
"#;

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    per_message_cost();
    trickled_head_cost();
    let daemon = Daemon::spawn(RULES, "bench");
    CHILD_PID.with(|pid| pid.set(daemon.child.id()));
    let options = load(daemon.address, Duration::from_secs(seconds), Mode::Options);
    report("OPTIONS over UDP", &options);
    let calls = load(daemon.address, Duration::from_secs(seconds), Mode::Calls);
    report("INVITE-to-BYE calls over UDP", &calls);
}

fn per_message_cost() {
    let config = Config::parse(RULES, "bench").expect("bench config");
    let source: SocketAddr = "127.0.0.1:5999".parse().expect("addr");
    let options = include_bytes!("../tests/fixtures/sip/options-softphone.sip");
    let invite = include_bytes!("../tests/fixtures/sip/invite-sdp.sip");
    for (name, message) in [("OPTIONS", &options[..]), ("INVITE", &invite[..])] {
        let iterations = 200_000;
        let mut out = Vec::with_capacity(1024);
        let start = Instant::now();
        for _ in 0..iterations {
            let parsed = parse_datagram(black_box(message), &Limits::default()).expect("parses");
            let request = Request::validate(parsed).expect("valid");
            let input = MatchInput {
                request: &request,
                source,
                transport: Transport::Udp,
                scope: config.server.scope.of(&request),
                auth: None,
            };
            let selected = config.rules.select(&input);
            let step = selected.policy.steps().last().expect("a step");
            let vars = Vars {
                request: &request,
                source,
                transport: Transport::Udp,
                local: source,
                rule: &selected.rule,
                counter: selected.counter,
                captures: &selected.captures,
                auth: None,
            };
            let Ok(rendered) =
                step.render(&vars, || Ok::<_, std::convert::Infallible>(String::new()));
            let template =
                ResponseTemplate::for_request(&request, source, "abcdefghij", "sip:127.0.0.1:5060");
            template.write(
                &mut out,
                b"Server: bench\r\n",
                &ResponseParts {
                    status: step.status,
                    reason: &rendered.reason,
                    extra_headers: &rendered.extra_headers,
                    content_type: rendered.content_type,
                    body: &rendered.body,
                },
            );
            black_box(&out);
        }
        let per = start.elapsed() / iterations;
        println!(
            "parse + validate + match + build, {name} ({} bytes): {:.2} µs per message",
            message.len(),
            per.as_nanos() as f64 / 1000.0
        );
    }
}

/// A head just under the 64 KB limit sent a byte per read: with the framer
/// resuming its search this is linear; a rescan per read would be ~2·10⁹
/// byte comparisons.
fn trickled_head_cost() {
    let mut message = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while message.len() < 64_000 {
        message.extend_from_slice(b"X-Padding: abcdefghijklmnopqrstuvwxyz\r\n");
    }
    message.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let mut framer = StreamFramer::new(Limits::default());
    let mut buf = BytesMut::new();
    let start = Instant::now();
    let mut framed = 0;
    for byte in &message {
        buf.extend_from_slice(std::slice::from_ref(byte));
        if let Ok(Some(Frame::Message(_))) = framer.next_frame(black_box(&mut buf)) {
            framed += 1;
        }
    }
    assert_eq!(framed, 1, "the trickled message is framed once");
    println!(
        "stream framing, a {} byte head one byte per read: {:.2} ms",
        message.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Options,
    Calls,
}

struct LoadResult {
    /// OPTIONS answered, or calls completed.
    done: u64,
    /// Requests the daemon answered (for CPU per request).
    requests: u64,
    elapsed: Duration,
    cpu: Duration,
}

fn report(label: &str, result: &LoadResult) {
    let rate = result.done as f64 / result.elapsed.as_secs_f64();
    let cpu_per_request = result.cpu.as_secs_f64() * 1e6 / result.requests.max(1) as f64;
    println!(
        "{label}: {rate:.0}/s ({} in {:.1} s), daemon CPU {:.2} s = {cpu_per_request:.1} µs per request",
        result.done,
        result.elapsed.as_secs_f64(),
        result.cpu.as_secs_f64()
    );
}

/// Keeps a window of requests in flight from one socket and counts answers.
fn load(target: SocketAddr, duration: Duration, mode: Mode) -> LoadResult {
    const WINDOW: usize = 64;
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind load socket");
    socket.connect(target).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let cpu_before = cpu_of(target);
    let mut next_id: u64 = 0;
    let mut calls: HashMap<String, u8> = HashMap::new();
    let mut start_one = |socket: &UdpSocket, calls: &mut HashMap<String, u8>| {
        next_id += 1;
        let call_id = format!("load-{port}-{next_id}");
        let method = if mode == Mode::Options {
            "OPTIONS"
        } else {
            "INVITE"
        };
        let _ = socket.send(request(method, &call_id, port, 1, None).as_bytes());
        if mode == Mode::Calls {
            calls.insert(call_id, 0);
        }
    };
    for _ in 0..WINDOW {
        start_one(&socket, &mut calls);
    }
    let start = Instant::now();
    let (mut done, mut requests) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    while start.elapsed() < duration {
        let Ok(len) = socket.recv(&mut buf) else {
            // Lost in a burst: refill the window.
            calls.clear();
            for _ in 0..WINDOW {
                start_one(&socket, &mut calls);
            }
            continue;
        };
        let text = std::str::from_utf8(&buf[..len]).unwrap_or("");
        if !text.starts_with("SIP/2.0 200") {
            continue;
        }
        requests += 1;
        match mode {
            Mode::Options => {
                done += 1;
                start_one(&socket, &mut calls);
            }
            Mode::Calls => {
                let call_id = header(text, "Call-ID").unwrap_or("").to_owned();
                let cseq = header(text, "CSeq").unwrap_or("");
                if cseq.ends_with("INVITE") && calls.get(&call_id) == Some(&0) {
                    let tag = header(text, "To")
                        .and_then(|t| t.split(";tag=").nth(1))
                        .unwrap_or("")
                        .to_owned();
                    calls.insert(call_id.clone(), 1);
                    let _ = socket.send(request("ACK", &call_id, port, 1, Some(&tag)).as_bytes());
                    let _ = socket.send(request("BYE", &call_id, port, 2, Some(&tag)).as_bytes());
                } else if cseq.ends_with("BYE") && calls.remove(&call_id).is_some() {
                    done += 1;
                    start_one(&socket, &mut calls);
                }
            }
        }
    }
    LoadResult {
        done,
        requests: if mode == Mode::Calls {
            requests + done
        } else {
            requests
        },
        elapsed: start.elapsed(),
        cpu: cpu_of(target).saturating_sub(cpu_before),
    }
}

/// User + system CPU time of the spawned daemon (/proc/PID/stat).
fn cpu_of(_target: SocketAddr) -> Duration {
    CHILD_PID.with(|pid| {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.get())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        Duration::from_millis(ticks * 10)
    })
}

thread_local! {
    static CHILD_PID: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn request(method: &str, call_id: &str, port: u16, cseq: u32, to_tag: Option<&str>) -> String {
    let branch = if method == "ACK" {
        format!("{call_id}-ack")
    } else {
        format!("{call_id}-{cseq}")
    };
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:bench@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:load@127.0.0.1>;tag=f{call_id}\r\n\
         To: <sip:bench@127.0.0.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:load@127.0.0.1:{port}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}
