//! Bounded observability: method labels, the journal in memory and on
//! disk, `GET /requests` beside SIP traffic, `/health` pollers beside
//! scrapes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

use super::{Target, ping_config, probe_udp};
use crate::admin::http::{get, http};
use crate::common::{TestDaemon, config_with, request};

/// Sends `datagrams` in windows of `window`, reading what comes back
/// between windows; returns how many answers arrived.
async fn send_windowed(
    server: std::net::SocketAddr,
    datagrams: &[Vec<u8>],
    window: usize,
) -> usize {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut answers = 0;
    let mut buf = vec![0u8; 65_535];
    for chunk in datagrams.chunks(window) {
        for datagram in chunk {
            socket.send_to(datagram, server).await.expect("send");
        }
        let mut pending = chunk.len();
        while pending > 0 {
            match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
            {
                Ok(Ok(_)) => {
                    answers += 1;
                    pending -= 1;
                }
                _ => break,
            }
        }
    }
    answers
}

/// Row "10,000 requests with unique 8 kB method names, admin on: RSS
/// +270 MB never freed; `/metrics` grew to 80 MB (method is a label)".
/// Half as many here (the debug build answers about 1,000 a second); the
/// transactions they leave expire after Timer J (shortened), and then
/// what is left is the bounded journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_method_names_cost_one_series_and_bounded_memory() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start(
        "methods",
        &ping_config(
            "[timers]\nt1_ms = 50\nt2_ms = 400\nt4_ms = 500\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n",
        ),
    );
    let udp = target.address("UDP");
    let admin = target.daemon.admin_address();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.rss_kb();
    let datagrams: Vec<Vec<u8>> = (0..5_000)
        .map(|i| {
            let method = format!("X{i:08}{}", "M".repeat(8 * 1024));
            request(&method, "sip:x@example.com", &format!("m-{i}"), "", "").into_bytes()
        })
        .collect();
    let started = Instant::now();
    let answered = send_windowed(udp, &datagrams, 100).await;
    let elapsed = started.elapsed();
    let peak = target.rss_kb();
    let metrics = get(admin, "/metrics").await;
    let methods: Vec<&str> = metrics
        .body
        .lines()
        .filter(|l| l.starts_with("sip_autoresponder_requests_total{"))
        .collect();
    // Timer J (64·T1 = 3.2 s) ends the transactions; jemalloc then gives
    // the pages back after its decay.
    let mut settled = target.rss_kb();
    let deadline = Instant::now() + Duration::from_secs(25);
    while settled > baseline + 16 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        settled = target.rss_kb();
    }
    eprintln!(
        "unique methods: 5000 requests with 8 kB method names in {elapsed:?}, {answered} answered; /metrics is {} bytes with requests series {methods:?}; RSS {baseline} -> peak {peak} -> settled {settled} kB",
        metrics.body.len()
    );
    assert!(answered >= 4_500, "most were answered: {answered}");
    assert!(
        metrics.body.len() < 16 * 1024,
        "/metrics stays small: {} bytes",
        metrics.body.len()
    );
    assert!(
        methods.len() == 1
            && methods[0].starts_with(
                "sip_autoresponder_requests_total{method=\"other\",transport=\"udp\"} "
            ),
        "one series for every unknown method: {methods:?}"
    );
    assert!(
        settled <= baseline + 32 * 1024,
        "RSS settles within the journal's bound: {baseline} -> {peak} -> {settled} kB"
    );
}

/// Row "6,000 x 59 kB OPTIONS with `journal_size = 5000` and
/// `journal_file`: RSS +250 MB, journal file 214 MB, OPTIONS stalled 1 s
/// during `GET /requests`".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_requests_keep_the_journal_within_its_bytes_and_pages_never_stall_sip() {
    let _one_at_a_time = crate::common::exclusive();
    let target = Target::start(
        "journal",
        &ping_config(
            "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\njournal_size = 5000\njournal_file = \"@DIR@/journal.jsonl\"\njournal_file_max_bytes = 4194304\n",
        ),
    );
    let udp = target.address("UDP");
    let admin = target.daemon.admin_address();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = target.rss_kb();
    let pad = "p".repeat(58 * 1024);
    let datagrams: Vec<Vec<u8>> = (0..6_000)
        .map(|i| {
            request(
                "OPTIONS",
                "sip:x@example.com",
                &format!("big-{i}"),
                &format!("X-Pad: {pad}\r\n"),
                "",
            )
            .into_bytes()
        })
        .collect();
    assert!(datagrams[0].len() > 59_000);
    let started = Instant::now();
    let answered = send_windowed(udp, &datagrams, 50).await;
    let flooded_in = started.elapsed();
    let after_flood = target.rss_kb();

    // Full pages read again and again while a client sends OPTIONS.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = probe_udp(udp, stop.clone());
    let mut page_bytes = 0;
    let mut slowest_page = Duration::ZERO;
    let pages_started = Instant::now();
    while pages_started.elapsed() < Duration::from_secs(3) {
        let page_started = Instant::now();
        let page = get(admin, "/requests?limit=10000").await;
        assert_eq!(page.status, 200);
        page_bytes = page.body.len();
        slowest_page = slowest_page.max(page_started.elapsed());
    }
    stop.store(true, Ordering::Release);
    let probes = probe.await.expect("probe");
    let last = get(admin, "/requests?after=5990").await;
    let newest: serde_json::Value = serde_json::from_str(&last.body).expect("json");
    let file = |name: &str| std::fs::metadata(target.dir.join(name)).map_or(0, |m| m.len());
    let (current, rotated) = (file("journal.jsonl"), file("journal.jsonl.1"));
    // Pages are freed at once; the allocator gives their pages back after
    // its decay (each blocking thread may have used an arena of its own).
    let mut rss = target.rss_kb();
    let settle = Instant::now() + Duration::from_secs(15);
    while rss > baseline + (16 + 24) * 1024 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss = target.rss_kb();
    }
    eprintln!(
        "journal: 6000 x {} B OPTIONS in {flooded_in:?}, {answered} answered; RSS {baseline} -> {after_flood} kB after, {rss} kB after the pages were freed; a full page is {page_bytes} bytes (slowest {slowest_page:?}); journal file {current} B + rotated {rotated} B; UDP probes while pages were read: {probes:?}",
        datagrams[0].len()
    );
    assert!(answered >= 5_000, "most were answered: {answered}");
    assert!(
        after_flood <= baseline + (16 + 16) * 1024,
        "RSS within journal_max_bytes (16 MB) and a margin: {baseline} -> {after_flood} kB"
    );
    assert!(
        rss <= baseline + (16 + 24) * 1024,
        "and again once the pages were freed: {baseline} -> {rss} kB"
    );
    assert!(
        current <= 4 * 1024 * 1024 && rotated <= 4 * 1024 * 1024 && rotated > 0,
        "the file rotates at its cap: {current} + {rotated}"
    );
    let records: Vec<&serde_json::Value> = newest
        .as_array()
        .expect("a page")
        .iter()
        .filter(|r| r["call_id"].as_str().is_some_and(|c| c.starts_with("big-")))
        .collect();
    assert!(!records.is_empty(), "the newest records are there");
    assert!(
        records.iter().all(|r| r["cut"] == true
            && r["headers"].as_array().is_some_and(|h| h
                .iter()
                .all(|pair| pair[1].as_str().is_some_and(|v| v.len() <= 1024)))),
        "header values are cut at 1024 bytes"
    );
    probes.assert_within_bound("UDP OPTIONS while GET /requests pages are read");
}

/// Row "64 keep-alive connections to `/health`: authenticated scrapes
/// refused for 25 s".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_pollers_cannot_keep_an_authenticated_scrape_out() {
    let _one_at_a_time = crate::common::exclusive();
    let daemon = TestDaemon::start(&config_with(
        "[admin]\naddress = \"127.0.0.1:0\"\ntoken = \"s3cret\"\n[[rule]]\nname = \"o\"\naccept = {}\n",
    ));
    let admin = daemon.admin();
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = (0..64)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(admin).await.expect("connect");
                let (mut ok, mut refused) = (0u32, 0u32);
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Acquire) {
                    if stream
                        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .is_err()
                    {
                        break;
                    }
                    match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await
                    {
                        Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 200") => ok += 1,
                        Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 503") => {
                            refused += 1;
                            break;
                        }
                        _ => break,
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (ok, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut scrapes = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let scrape = http(admin, "GET", "/metrics", &["Authorization: Bearer s3cret"]).await;
        scrapes.push((scrape.status, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Release);
    let mut kept = 0;
    let mut turned_away = 0;
    for poller in pollers {
        let (ok, refused) = poller.await.expect("poller");
        if ok > 1 {
            kept += 1;
        }
        turned_away += refused;
    }
    eprintln!(
        "health pollers: 64 keep-alive /health connections, {kept} kept polling, {turned_away} turned away with 503; authenticated scrapes meanwhile: {scrapes:?}"
    );
    assert!(
        scrapes
            .iter()
            .all(|(status, took)| *status == 200 && *took <= super::PROBE_BOUND),
        "every scrape answered: {scrapes:?}"
    );
    assert_eq!(
        kept,
        sip_autoresponder::admin::slots::PUBLIC,
        "public slots bound the pollers"
    );
    assert_eq!(turned_away as usize, 64 - kept);
}
