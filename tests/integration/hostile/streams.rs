//! Back-pressure on connections: peers that pipeline and never read, waves
//! of them past `max_connections`, silent connections from one host, and a
//! WebSocket ping flood.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{Target, fresh_tcp_options, ping_config, probe_tcp, probe_udp, spoofed, tcp_from};
use crate::admin::http::{get, series};
use crate::common::{options, request};

/// `count` OPTIONS (or INVITEs) over TCP in one buffer, Call-IDs unique to `tag`.
fn pipelined(method: &str, tag: &str, count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            let call_id = format!("{tag}-{i}");
            let text = match method {
                "OPTIONS" => options(&call_id),
                _ => request(method, "sip:x@example.com", &call_id, "", ""),
            };
            text.replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        })
        .collect::<String>()
        .into_bytes()
}

/// Samples the daemon's open sockets every 20 ms until `stop`; returns the
/// most seen.
fn sample_sockets(target: &Target, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let pid = target.daemon.pid();
    std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(Ordering::Acquire) {
            let open = super::open_sockets(pid);
            most = most.max(open);
            std::thread::sleep(Duration::from_millis(20));
        }
        most
    })
}

/// From the n-th spoofed source: writes OPTIONS as fast as the daemon takes
/// them for 8 s and reads nothing; returns the bytes written and when the
/// daemon cut the connection off (a write failed), if it did.
async fn pipeline_without_reading(
    n: u32,
    server: std::net::SocketAddr,
    started: Instant,
) -> (usize, Option<Duration>) {
    let mut stream = tcp_from(spoofed(n), server, Some(4096))
        .await
        .expect("connect");
    let burst = pipelined("OPTIONS", &format!("flood{n}"), 50);
    let mut written = 0usize;
    while started.elapsed() < Duration::from_secs(8) {
        match tokio::time::timeout(Duration::from_secs(1), stream.write_all(&burst)).await {
            Ok(Ok(())) => written += burst.len(),
            Ok(Err(_)) => return (written, Some(started.elapsed())),
            Err(_) => {}
        }
    }
    (written, None)
}

const PIPELINE: &str = r#"
[[listen]]
transport = "udp"
address = "127.0.0.1:0"
[[listen]]
transport = "tcp"
address = "127.0.0.1:0"
max_connections = 21
idle_timeout_ms = 3000
write_timeout_ms = 1000
max_send_queue_bytes = 16384
"#;

/// Row "20 TCP peers that pipeline requests and never read (limit 20, idle
/// 3 s): a legitimate TCP OPTIONS failed at +5, +10, +15 s; RSS +85 MB".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_pipeline_and_never_read_are_cut_off_and_the_rest_is_served() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start("pipeline", &ping_config(PIPELINE));
    let (udp, tcp) = (target.address("UDP"), target.address("TCP"));
    let stop = Arc::new(AtomicBool::new(false));
    let tcp_probe = probe_tcp(tcp, stop.clone()).await;
    let udp_probe = probe_udp(udp, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (baseline_rss, baseline_sockets) = (target.rss_kb(), target.sockets());
    let started = Instant::now();
    // 20 sources take every other slot.
    let attackers: Vec<_> = (0..20)
        .map(|n| tokio::spawn(pipeline_without_reading(n, tcp, started)))
        .collect();
    let mut peak_rss = baseline_rss;
    let mut fresh = Vec::new();
    let (mut held, mut released_after) = (false, None);
    while started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak_rss = peak_rss.max(target.rss_kb());
        let sockets = target.sockets();
        held |= sockets > baseline_sockets;
        if held && released_after.is_none() && sockets <= baseline_sockets {
            released_after = Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(2) && fresh.len() < 12 {
            fresh.push(fresh_tcp_options(tcp, &format!("fresh-{}", fresh.len())).await);
        }
    }
    stop.store(true, Ordering::Release);
    let (tcp_probes, udp_probes) = (
        tcp_probe.await.expect("tcp probe"),
        udp_probe.await.expect("udp probe"),
    );
    let mut cut = Vec::new();
    let mut sent = 0;
    for attacker in attackers {
        let (written, cut_after) = attacker.await.expect("attacker");
        sent += written;
        cut.push(cut_after);
    }
    let slowest_cut = cut.iter().flatten().max().copied();
    eprintln!(
        "pipelining non-readers: 20 peers wrote {} kB, all cut off within {slowest_cut:?}; daemon sockets back to baseline after {released_after:?}; RSS {baseline_rss} -> peak {peak_rss} kB; legit TCP probes {tcp_probes:?}, UDP probes {udp_probes:?}; fresh TCP OPTIONS from +2 s: {fresh:?}",
        sent / 1024
    );
    assert!(
        cut.iter().all(Option::is_some),
        "every non-reading peer was cut off: {cut:?}"
    );
    let released = released_after.expect("the attackers' sockets were released");
    assert!(
        released <= Duration::from_millis(1000 + 1500),
        "released within the write timeout (1 s) and a margin: {released:?}"
    );
    tcp_probes.assert_within_bound("TCP OPTIONS on a connection of its own");
    udp_probes.assert_within_bound("UDP OPTIONS");
    assert!(
        fresh
            .iter()
            .all(|f| f.is_some_and(|d| d <= super::PROBE_BOUND)),
        "new TCP connections are served once the slots came back: {fresh:?}"
    );
    assert!(
        peak_rss <= baseline_rss + 32 * 1024,
        "RSS growth bounded: {baseline_rss} -> {peak_rss} kB"
    );
}

const WAVES: &str = r#"
[timers]
t1_ms = 50
t2_ms = 400
t4_ms = 500
[[listen]]
transport = "tcp"
address = "127.0.0.1:0"
max_connections = 2
write_timeout_ms = 1000
max_send_queue_bytes = 16384
[admin]
address = "127.0.0.1:0"
[[rule]]
name = "answer"
match.method = "INVITE"
progress = [{ status = 180 }]
accept = { delay_ms = 300 }
"#;

/// Row "3 waves of 2 non-reading TCP peers x 200 INVITEs (limit 2): 6
/// sockets open past max_connections, gauge at 0; 360 transactions stuck
/// 40 s later".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_of_non_readers_never_hold_more_than_the_limit_and_leave_nothing_behind() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start("waves", &ping_config(WAVES));
    let tcp = target.address("TCP");
    let admin = target.daemon.admin_address();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.sockets();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_sockets(&target, stop.clone());
    let mut peers: Vec<TcpStream> = Vec::new();
    for wave in 0..3u32 {
        for n in 0..2u32 {
            let Ok(mut stream) = tcp_from(spoofed(wave * 2 + n), tcp, Some(4096)).await else {
                continue;
            };
            let invites = pipelined("INVITE", &format!("wave{wave}-{n}"), 200);
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&invites)).await;
            peers.push(stream);
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    // The daemon cut them off; the transactions they started end with them.
    let deadline = Instant::now() + Duration::from_secs(8);
    let (in_progress, gauge) = loop {
        let metrics = get(admin, "/metrics").await;
        let in_progress = series(&metrics.body, "sip_autoresponder_transactions_in_progress");
        let gauge = series(
            &metrics.body,
            "sip_autoresponder_connections{transport=\"tcp\"}",
        );
        if (in_progress == 0.0 && gauge == 0.0) || Instant::now() > deadline {
            break (in_progress, gauge);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.store(true, Ordering::Release);
    let most = sampler.join().expect("sampler");
    let after = target.sockets();
    eprintln!(
        "waves: 3 x 2 non-reading peers x 200 INVITEs against max_connections = 2: at most {} sockets above the listeners, {} at the end; transactions in progress {in_progress}, tcp connections gauge {gauge}, {:?} after the last wave",
        most - baseline,
        after.saturating_sub(baseline),
        (deadline - Duration::from_secs(8)).elapsed()
    );
    // One more than the limit: a connection over it is accepted and closed
    // at once, and the sampler may see it in between.
    assert!(
        most <= baseline + 2 + 1,
        "never more sockets than max_connections: {most} with {baseline} listeners"
    );
    assert_eq!(in_progress, 0.0, "no transaction outlives its flow");
    assert_eq!(gauge, 0.0, "the gauge follows the sockets");
    assert!(
        after <= baseline + 1,
        "sockets released: {after} vs {baseline}"
    );
    drop(peers);
}

const SILENT: &str = r#"
[[listen]]
transport = "tcp"
address = "127.0.0.1:0"
first_message_timeout_ms = 1500
"#;

/// Row "1,024 silent TCP connections from one host: legitimate TCP refused
/// for the 300 s idle timeout".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_one_host_take_a_quarter_of_the_slots_for_a_short_while() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start("silent", &ping_config(SILENT));
    let tcp = target.address("TCP");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.sockets();
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..1024 {
        if let Ok(stream) = tcp_from(spoofed(0), tcp, None).await {
            silent.push(stream);
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = target.sockets() - baseline;
    let mut fresh = Vec::new();
    for i in 0..5 {
        fresh.push(fresh_tcp_options(tcp, &format!("legit-{i}")).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every silent connection ends: the refused ones at once, the others
    // after first_message_timeout_ms.
    let mut closed_after = Duration::ZERO;
    for stream in &mut silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout_at(
            (started + Duration::from_secs(6)).into(),
            stream.read(&mut byte),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "a silent connection was closed: {read:?}"
        );
        closed_after = closed_after.max(started.elapsed());
    }
    eprintln!(
        "silent connections: 1024 opened from 127.0.0.2 in {opened_in:?}, {held} held by the daemon, all closed within {closed_after:?}; fresh OPTIONS from 127.0.0.1 meanwhile: {fresh:?}"
    );
    assert!(
        held <= 256,
        "one source holds at most 256 connections by default: {held}"
    );
    assert!(
        fresh
            .iter()
            .all(|f| f.is_some_and(|d| d <= super::PROBE_BOUND)),
        "another host is served throughout: {fresh:?}"
    );
    assert!(
        closed_after <= opened_in + Duration::from_millis(1500 + 1000),
        "cut after first_message_timeout_ms: {closed_after:?}"
    );
}

/// A WebSocket handshake with the `sip` subprotocol on a raw stream.
async fn ws_handshake(stream: &mut TcpStream) {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
        .await
        .expect("handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.expect("read"),
            1,
            "handshake answer"
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

/// Masked ping frames (RFC 6455 §5.5.2; a zero mask leaves the payload as is).
fn pings(count: usize) -> Vec<u8> {
    let mut frame = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    frame.extend_from_slice(&[b'p'; 125]);
    frame.repeat(count)
}

const WS: &str = r#"
[[listen]]
transport = "udp"
address = "127.0.0.1:0"
[[listen]]
transport = "ws"
address = "127.0.0.1:0"
write_timeout_ms = 1000
"#;

/// Row "300 MB of WebSocket pings, never reading: RSS +288 MB while open".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_ping_flood_is_answered_at_a_bounded_rate_and_costs_no_memory() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start("ws-pings", &ping_config(WS));
    let (udp, ws) = (target.address("UDP"), target.address("WS"));
    let stop = Arc::new(AtomicBool::new(false));
    let udp_probe = probe_udp(udp, stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.rss_kb();
    // A flooder that never reads, for 3 s.
    let mut flooder = tcp_from(spoofed(0), ws, Some(4096)).await.expect("connect");
    ws_handshake(&mut flooder).await;
    let batch = pings(512);
    let started = Instant::now();
    let mut flooded = 0usize;
    let mut peak = baseline;
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(Ok(())) =
            tokio::time::timeout(Duration::from_millis(200), flooder.write_all(&batch)).await
        {
            flooded += batch.len();
        }
        peak = peak.max(target.rss_kb());
    }
    // A pinger that reads: pongs come at the bounded rate.
    let mut reader = tcp_from(spoofed(1), ws, None).await.expect("connect");
    ws_handshake(&mut reader).await;
    reader.write_all(&pings(1000)).await.expect("pings");
    let mut pong_bytes = 0usize;
    let window = Instant::now() + Duration::from_secs(2);
    let mut chunk = [0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout_at(window.into(), reader.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        pong_bytes += n;
    }
    let pongs = pong_bytes / (2 + 125);
    stop.store(true, Ordering::Release);
    let probes = udp_probe.await.expect("probe");
    eprintln!(
        "WebSocket pings: the non-reader got {} kB of pings in, RSS {baseline} -> peak {peak} kB; the reader got {pongs} pongs for 1000 pings in 2 s; UDP probes {probes:?}",
        flooded / 1024
    );
    assert!(
        peak <= baseline + 16 * 1024,
        "RSS growth bounded: {baseline} -> {peak} kB"
    );
    assert!(
        (10..=30).contains(&pongs),
        "pings are answered at about 10 a second: {pongs} in 2 s"
    );
    probes.assert_within_bound("UDP OPTIONS during the ping flood");
}

/// A peer that sends one request and stops reading while the answer is
/// bigger than every buffer on the way: the write times out, the socket
/// goes, and what else was to be sent on it fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_complete_closes_the_connection_at_the_write_timeout() {
    let _one_at_a_time = crate::common::exclusive();
    let body = "x".repeat(256 * 1024);
    let target = Target::start(
        "write-timeout",
        &format!(
            "[server]\nforce_rport = true\n[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\nwrite_timeout_ms = 1000\nmax_send_queue_bytes = 16384\n[[rule]]\nname = \"big\"\nmatch.method = \"MESSAGE\"\naccept = {{ body = \"{body}\" }}\n"
        ),
    );
    let tcp = target.address("TCP");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.sockets();
    let mut peer = tcp_from(spoofed(0), tcp, Some(4096))
        .await
        .expect("connect");
    let message = request("MESSAGE", "sip:x@example.com", "big-answer", "", "hi")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    peer.write_all(message.as_bytes()).await.expect("send");
    let sent = Instant::now();
    // The daemon holds the connection first (it may accept it a little later).
    while target.sockets() <= baseline && sent.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut released = None;
    while sent.elapsed() < Duration::from_secs(4) {
        if target.sockets() <= baseline {
            released = Some(sent.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "a 256 kB answer to a peer that reads nothing: socket released after {released:?} (write_timeout_ms = 1000)"
    );
    let released = released.expect("the socket was released");
    assert!(
        released >= Duration::from_millis(900) && released <= Duration::from_millis(1500),
        "released at the write timeout: {released:?}"
    );
    let warned = target
        .warn_lines()
        .iter()
        .any(|l| l.contains("write timed out"));
    assert!(warned, "the close says why:\n{}", target.daemon.logs());
    drop(peer);
}
