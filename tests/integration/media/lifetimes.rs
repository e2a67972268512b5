//! Media sessions end and their ports come back: no RTP for `timeout_ms`
//! ends the call with BYE and `failed` (RTP Timeout) — but not while the
//! peer holds the call; ports run out with 503 (or the rule's choice) and
//! a metric, never reused while held; they are released when the dialog
//! ends by BYE (see echo), CANCEL, the media timeout or max duration.

use std::time::Duration;

use super::calls::{Call, answer_with, daemon, daemon_sized, invite};
use super::rtp::{Media, is_free, offer, pcmu, released};
use crate::admin::http::{get, series};
use crate::common::{LogCapture, UdpClient, cancel_for};

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn no_rtp_for_the_timeout_ends_the_call_with_bye_and_failed() {
    let logs = LogCapture::start();
    let (daemon, _) = daemon("127.0.0.1:0", "timeout_ms = 400", &answer_with("\"echo\""));
    let mut media = Media::bind("127.0.0.1").await;
    let call = Call::start(&daemon, "rtp-timeout", &mut media, "0", "").await;
    let started = tokio::time::Instant::now();
    let mut last = started;
    for n in 0..10 {
        media.send(&pcmu(n, vec![0xFF; 160])).await;
        // The daemon hears the packet after this: its timeout counts
        // from later, so the quiet measured from here is at least 400 ms.
        last = tokio::time::Instant::now();
        media.recv(WAIT).await.expect("echo");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Packets kept the call up for 10 × 20 ms; now they stop.
    assert!(started.elapsed() > Duration::from_millis(200));
    let bye = call
        .client
        .recv_any_within(WAIT)
        .await
        .expect("BYE at the timeout");
    let quiet = last.elapsed();
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    assert_eq!(
        bye.header("Reason").as_deref(),
        Some("SIP;cause=408;text=\"RTP Timeout\"")
    );
    assert!(
        (Duration::from_millis(400)..Duration::from_millis(1500)).contains(&quiet),
        "after 400 ms of silence: {quiet:?}"
    );
    call.client
        .send_to(&bye.response(200, "OK"), bye.from)
        .await;
    assert!(released("127.0.0.1", call.port).await);
    let failed = logs.lines_with(&["failed", "cause=\"RTP Timeout\"", "rtp-timeout"]);
    assert_eq!(failed.len(), 1, "{}", logs.text());
    assert_eq!(
        logs.lines_with(&["media ended", "reason=\"RTP timeout\""])
            .len(),
        1
    );
}

#[tokio::test]
async fn hold_stops_the_stream_and_the_timeout_until_resumed() {
    let (daemon, _) = daemon(
        "127.0.0.1:0",
        "timeout_ms = 600",
        &answer_with("{ tone = 440 }"),
    );
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "hold", &mut media, "0", "").await;
    media.recv(WAIT).await.expect("the tone");
    let ip = "127.0.0.1";
    // RFC 3264 §8.4: the caller holds the call with sendonly (it sends,
    // music say, and hears nothing): the answer is recvonly, the tone
    // stops, and what the caller sends keeps the call up.
    let held = call
        .reinvite(&offer(ip, media.port(), "0", "a=sendonly\r\n"))
        .await;
    assert!(held.body.contains("a=recvonly"), "{}", held.body);
    assert_eq!(
        super::rtp::answered(&held.body).1,
        call.port,
        "the same port"
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    while media.recv(Duration::from_millis(30)).await.is_some() {}
    for n in 0..10 {
        media.send(&pcmu(n, vec![0xFF; 160])).await;
        assert!(
            media.recv(Duration::from_millis(40)).await.is_none(),
            "nothing sent while recvonly"
        );
    }
    // Inactive: neither side sends, and the media timeout pauses.
    let inactive = call
        .reinvite(&offer(ip, media.port(), "0", "a=inactive\r\n"))
        .await;
    assert!(inactive.body.contains("a=inactive"), "{}", inactive.body);
    assert!(
        call.client
            .recv_any_within(Duration::from_millis(1200))
            .await
            .is_none(),
        "no BYE while held, past the timeout"
    );
    let resumed = call
        .reinvite(&offer(ip, media.port(), "0", "a=sendrecv\r\n"))
        .await;
    assert!(resumed.body.contains("a=sendrecv"));
    media.recv(WAIT).await.expect("the tone again");
    call.bye().await;
}

#[tokio::test]
async fn exhausted_ports_give_503_and_a_metric_and_come_back() {
    let rules = format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n\n{}",
        answer_with("\"echo\"")
    );
    let (daemon, (first, _)) = daemon_sized("127.0.0.1:0", 1, "", &rules);
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "only-pair", &mut media, "0", "").await;
    assert_eq!(call.port, first);
    let other = UdpClient::new(daemon.udp()).await;
    let refused = other
        .request(&invite("no-pair", &offer("127.0.0.1", 30_000, "0", "")))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.raw);
    assert_eq!(refused.header("Retry-After"), Some("5"));
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_bound_reached_total{state=\"media_ports\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        series(&metrics, "sip_autoresponder_media_ports_in_use"),
        1.0
    );
    // The held pair was not handed out twice; once free, it serves again.
    call.bye().await;
    assert!(released("127.0.0.1", first).await);
    let mut again = Media::bind("127.0.0.1").await;
    let mut next = Call::start(&daemon, "pair-again", &mut again, "0", "").await;
    assert_eq!(next.port, first);
    next.bye().await;
}

#[tokio::test]
async fn the_rule_chooses_the_answer_when_ports_run_out() {
    let rules = "[[rule]]\nname = \"media\"\nmatch.method = \"INVITE\"\n\
        accept = { body.sdp = \"answer\", media = \"echo\" }\n\
        no_media_port = { status = 486, extra_headers = [\"X-Why: no ports\"] }\n";
    let (daemon, _) = daemon_sized("127.0.0.1:0", 1, "", rules);
    let mut media = Media::bind("127.0.0.1").await;
    let _call = Call::start(&daemon, "holder", &mut media, "0", "").await;
    let other = UdpClient::new(daemon.udp()).await;
    let refused = other
        .request(&invite("busy-now", &offer("127.0.0.1", 30_002, "0", "")))
        .await;
    assert_eq!(refused.status, 486, "{}", refused.raw);
    assert_eq!(refused.header("X-Why"), Some("no ports"));
}

#[tokio::test]
async fn cancel_during_early_media_releases_the_port() {
    let rules = "[[rule]]\nname = \"early\"\nmatch.method = \"INVITE\"\n\
        progress = [{ status = 183, body.sdp = \"answer\", media = { tone = 440 } }]\n";
    let (daemon, (first, _)) = daemon("127.0.0.1:0", "", rules);
    let media = Media::bind("127.0.0.1").await;
    let client = UdpClient::new(daemon.udp()).await;
    let invite = invite("early-cancel", &offer("127.0.0.1", media.port(), "0", ""));
    let progress = client.request(&invite).await;
    assert_eq!(progress.status, 183, "{}", progress.raw);
    let (_, port) = super::rtp::answered(&progress.body);
    assert_eq!(port, first);
    assert!(!is_free("127.0.0.1", port), "held during early media");
    // Over UDP the caller must show it receives before early media flows:
    // it sends a packet first (symmetric RTP).
    let mut media = media;
    media.remote = Some(format!("127.0.0.1:{port}").parse().expect("addr"));
    media.send(&pcmu(0, vec![0xFF; 160])).await;
    let tone = media.recv(WAIT).await.expect("early media");
    assert_eq!(tone.payload.len(), 160);
    client.send(&cancel_for(&invite)).await;
    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        statuses.push(client.recv().await.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 487]);
    assert!(released("127.0.0.1", port).await, "released after CANCEL");
}

#[tokio::test]
async fn max_duration_ends_the_dialog_and_releases_the_port() {
    let rules = format!(
        "[dialog]\nmax_duration_ms = 1000\n\n{}",
        answer_with("\"echo\"")
    );
    let (daemon, _) = daemon("127.0.0.1:0", "", &rules);
    let mut media = Media::bind("127.0.0.1").await;
    let call = Call::start(&daemon, "max-duration", &mut media, "0", "").await;
    assert!(!is_free("127.0.0.1", call.port));
    let bye = call
        .client
        .recv_any_within(Duration::from_secs(3))
        .await
        .expect("BYE at max duration");
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    call.client
        .send_to(&bye.response(200, "OK"), bye.from)
        .await;
    assert!(released("127.0.0.1", call.port).await);
}
