//! Admission before parsing (the per-source limit on raw datagrams) and
//! warnings that a flood of bad input cannot multiply.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::{Target, ping_config, spoofed};
use crate::admin::http::{get, series};
use crate::common::{options, request};

/// Sends every datagram from `socket` within about a second, then counts
/// the answers that arrive until the line is quiet.
async fn flood_and_count(
    socket: &UdpSocket,
    server: std::net::SocketAddr,
    datagrams: &[Vec<u8>],
) -> (usize, Duration) {
    let started = Instant::now();
    for (i, datagram) in datagrams.iter().enumerate() {
        let _ = socket.send_to(datagram, server).await;
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = started.elapsed();
    let mut answers = 0;
    let mut buf = vec![0u8; 65_535];
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
    {
        answers += 1;
    }
    (answers, elapsed)
}

fn valid_and_malformed(tag: &str) -> Vec<Vec<u8>> {
    (0..2_000)
        .flat_map(|i| {
            let valid = options(&format!("{tag}-ok-{i}"));
            let malformed = valid.replace(&format!("Call-ID: {tag}-ok-{i}\r\n"), "");
            [valid.into_bytes(), malformed.into_bytes()]
        })
        .collect()
}

/// Row "`rate_limit` 10/s, then 2,000 valid + 2,000 malformed requests in
/// 1 s: every one answered (503 or 400): the limiter runs after parsing and
/// answers by default".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_rate_is_dropped_before_parsing_and_gets_one_503_a_second_at_most() {
    let _one_at_a_time = crate::common::exclusive();
    let config = |action: &str| {
        format!(
            "[server]\nforce_rport = true\nrate_limit = {{ per_second = 10, burst = 10{action} }}\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"ping\"\nmatch.method = \"OPTIONS\"\naccept = {{}}\n"
        )
    };
    for (action, refusals_allowed) in [("", 0), (", action = \"503\"", 2)] {
        let target = Target::start("rate", &config(action));
        let udp = target.address("UDP");
        let admin = target.daemon.admin_address();
        let attacker = UdpSocket::bind((spoofed(0), 0)).await.expect("bind");
        let (answers, elapsed) = flood_and_count(&attacker, udp, &valid_and_malformed("a")).await;
        // Another source is not held back by the first one's limit.
        let other = UdpSocket::bind((spoofed(1), 0)).await.expect("bind");
        other
            .send_to(options("other-source").as_bytes(), udp)
            .await
            .expect("send");
        let mut buf = vec![0u8; 4096];
        let other_answered =
            tokio::time::timeout(Duration::from_secs(1), other.recv_from(&mut buf))
                .await
                .is_ok_and(|r| r.is_ok());
        let metrics = get(admin, "/metrics").await.body;
        let parse_errors = series(&metrics, "sip_autoresponder_parse_errors_total");
        let dropped = series(
            &metrics,
            "sip_autoresponder_drops_total{reason=\"rate limited\"}",
        );
        let earned = 10 + (10.0 * elapsed.as_secs_f64()).ceil() as usize;
        eprintln!(
            "rate limit 10/s{action}: 2000 valid + 2000 malformed from one source in {elapsed:?} drew {answers} answers (bucket allows {earned}); {parse_errors} parse errors, {dropped} dropped before parsing; another source answered: {other_answered}"
        );
        assert!(
            answers <= earned + refusals_allowed,
            "answers bounded by the bucket (and one 503 a second): {answers} > {earned}"
        );
        assert!(
            parse_errors <= earned as f64,
            "what is over the limit is never parsed: {parse_errors} parse errors"
        );
        assert!(
            dropped >= (4_000 - earned - refusals_allowed) as f64,
            "{dropped}"
        );
        assert!(other_answered, "the limit is per source");
    }
}

/// Log lines of one kind (target and message) per second.
fn per_kind_and_second(lines: &[String]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(time), Some(_level), Some(target)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let second = time.get(..19).unwrap_or(time).to_owned();
        let message: String = words
            .take_while(|w| !w.contains('='))
            .collect::<Vec<_>>()
            .join(" ");
        *counts
            .entry((format!("{target} {message}"), second))
            .or_insert(0) += 1;
    }
    counts
}

/// Row "5,000 ACKs with bad SDP: 5,000 WARN lines (40 MB of log); several
/// warnings are not rate-limited".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_bad_input_log_one_line_per_second_per_kind() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start(
        "warnings",
        &ping_config(
            "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n",
        ),
    );
    let (udp, tcp) = (target.address("UDP"), target.address("TCP"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = target.warn_lines().len();
    let bad_sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm=audio nope RTP/AVP 0\r\n";
    let mut datagrams = Vec::new();
    for i in 0..5_000 {
        datagrams.push(
            request(
                "ACK",
                "sip:x@example.com",
                &format!("ack-{i}"),
                "Content-Type: application/sdp\r\n",
                bad_sdp,
            )
            .into_bytes(),
        );
        if i % 5 == 0 {
            // No Call-ID: 400; no Via either: dropped; not SIP at all.
            let valid = options(&format!("bad-{i}"));
            datagrams.push(
                valid
                    .replace(&format!("Call-ID: bad-{i}\r\n"), "")
                    .into_bytes(),
            );
            datagrams.push(
                valid
                    .replace(&format!("Call-ID: bad-{i}\r\n"), "")
                    .lines()
                    .filter(|l| !l.starts_with("Via:"))
                    .collect::<Vec<_>>()
                    .join("\r\n")
                    .into_bytes(),
            );
            datagrams.push(format!("\u{1}garbage {i}\r\n\r\n").into_bytes());
        }
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let started = Instant::now();
    let (_, sent_in) = flood_and_count(&socket, udp, &datagrams).await;
    // And streams that break the framing rules, each closed with a warning.
    for i in 0..200 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(tcp).await {
            let no_length = options(&format!("tcp-{i}")).replace("Content-Length: 0\r\n", "");
            let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, no_length.as_bytes()).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seconds = started.elapsed().as_secs() + 1;
    let lines: Vec<String> = target.warn_lines().split_off(before);
    let counts = per_kind_and_second(&lines);
    let kinds: std::collections::BTreeSet<&String> = counts.keys().map(|(kind, _)| kind).collect();
    eprintln!(
        "warnings: {} datagrams ({} bad-SDP ACKs) in {sent_in:?} and 200 unframeable TCP streams drew {} WARN lines over {seconds} s, {} kinds: {kinds:?}",
        datagrams.len(),
        5_000,
        lines.len(),
        kinds.len()
    );
    assert!(
        lines.iter().all(|l| l.contains("suppressed=")),
        "every warning is rate-limited:\n{}",
        lines.join("\n")
    );
    assert!(
        counts.values().all(|n| *n <= 1),
        "one line per second per kind: {counts:?}"
    );
    assert!(kinds.len() >= 4, "the flood was seen: {kinds:?}");
    assert!(
        lines.len() <= kinds.len() * (seconds as usize + 1),
        "{} lines",
        lines.len()
    );
}
