//! Every piece of state a peer creates ends and is bounded: dialogs end at
//! `max_duration_ms` or by their session timer (RFC 4028), a ringing INVITE
//! gets its final response at the ring timeout, full tables refuse only the
//! newest work and recover, sequences make room for new callers. Over real
//! sockets on tokio's paused clock: hours pass in an instant.

use std::time::Duration;

use tokio::time::Instant;

use crate::common::{Received, TestDaemon, UdpClient, ack_for, in_dialog, request};

const LONG: Duration = Duration::from_secs(24 * 3600);

fn config(sections: &str, rules: &str) -> String {
    format!(
        "[server]\nforce_rport = true\n{sections}\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n{rules}"
    )
}

const ANSWER: &str = "[[rule]]\nname = \"answer\"\nmatch.method = \"INVITE\"\naccept = {}\n";

fn invite(call_id: &str, extra: &str) -> String {
    request(
        "INVITE",
        "sip:callee@example.com",
        call_id,
        &format!("Contact: <sip:alice@127.0.0.1:5999>\r\n{extra}"),
        "",
    )
}

/// Sends an INVITE, expects `status`, ACKs it; returns the To-tag.
async fn call(client: &UdpClient, call_id: &str, extra: &str, status: u16) -> String {
    let response = client.request(&invite(call_id, extra)).await;
    assert_eq!(response.status, status, "{}", response.raw);
    let tag = response.to_tag().expect("To-tag");
    let ack = if status < 300 {
        in_dialog("ACK", call_id, &tag, 1, &format!("{call_id}-ack"))
    } else {
        ack_for(&invite(call_id, extra), &tag)
    };
    client.send(&ack).await;
    tag
}

/// Waits for the daemon's BYE, answers it 200, and returns it with when it
/// came.
async fn bye(client: &UdpClient) -> (Received, Duration) {
    let start = Instant::now();
    let bye = client
        .recv_any_within(LONG)
        .await
        .expect("a BYE within a day");
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    client.send_to(&bye.response(200, "OK"), bye.from).await;
    (bye, start.elapsed())
}

fn near(got: Duration, want: Duration) -> bool {
    got >= want && got <= want + Duration::from_secs(1)
}

#[tokio::test(start_paused = true)]
async fn an_answered_call_without_bye_ends_at_max_duration_with_bye() {
    let daemon = TestDaemon::start(&config("[dialog]\nmax_duration_ms = 600000\n", ANSWER));
    let client = UdpClient::new(daemon.udp()).await;
    let tag = call(&client, "abandoned", "", 200).await;
    let (bye, after) = bye(&client).await;
    assert!(near(after, Duration::from_secs(600)), "BYE after {after:?}");
    assert_eq!(bye.header("CSeq").as_deref(), Some("1 BYE"));
    assert!(
        bye.header("From").is_some_and(|f| f.contains(&tag)),
        "{}",
        bye.raw
    );
    assert_eq!(
        bye.header("Reason").as_deref(),
        Some("SIP;cause=200;text=\"Maximum Duration\"")
    );
    // The dialog is gone: a BYE of the peer's now matches nothing.
    let late = client
        .request(&in_dialog("BYE", "abandoned", &tag, 2, "late-bye"))
        .await;
    assert_eq!(late.status, 481);
}

const TIMER: &str = "Supported: timer\r\nSession-Expires: 90\r\n";

#[tokio::test(start_paused = true)]
async fn a_session_timer_call_ends_when_not_refreshed() {
    let daemon = TestDaemon::start(&config("", ANSWER));
    let client = UdpClient::new(daemon.udp()).await;
    let response = client.request(&invite("unrefreshed", TIMER)).await;
    assert_eq!(
        response.header("Session-Expires"),
        Some("90;refresher=uac"),
        "{}",
        response.raw
    );
    assert_eq!(response.header("Require"), Some("timer"));
    let tag = response.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "unrefreshed", &tag, 1, "u-ack"))
        .await;
    let (bye, after) = bye(&client).await;
    // RFC 4028 §10: a little before it expires, min(32 s, 90 s / 3).
    assert!(near(after, Duration::from_secs(60)), "BYE after {after:?}");
    assert!(
        bye.header("Reason")
            .is_some_and(|r| r.contains("Session Timer")),
        "{}",
        bye.raw
    );
}

#[tokio::test(start_paused = true)]
async fn a_refreshed_session_lives_on() {
    let daemon = TestDaemon::start(&config("", ANSWER));
    let client = UdpClient::new(daemon.udp()).await;
    let tag = call(&client, "refreshed", TIMER, 200).await;
    let start = Instant::now();
    // Refresh at 40 s by UPDATE, at 80 s by re-INVITE: each answered with
    // the terms again and the interval counted anew.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let update = in_dialog("UPDATE", "refreshed", &tag, 2, "r-update")
        .replace("Content-Length: 0", &format!("{TIMER}Content-Length: 0"));
    let refreshed = client.request(&update).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.raw);
    assert_eq!(
        refreshed.header("Session-Expires"),
        Some("90;refresher=uac")
    );
    tokio::time::sleep(Duration::from_secs(40)).await;
    let reinvite = in_dialog("INVITE", "refreshed", &tag, 3, "r-invite").replace(
        "Content-Length: 0",
        &format!("Contact: <sip:alice@127.0.0.1:5999>\r\n{TIMER}Content-Length: 0"),
    );
    let refreshed = client.request(&reinvite).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.raw);
    client
        .send(&in_dialog("ACK", "refreshed", &tag, 3, "r-ack"))
        .await;
    // Unrefreshed from 80 s on: BYE 60 s later.
    let (_, after) = bye(&client).await;
    let at = start.elapsed();
    assert!(
        near(at, Duration::from_secs(140)),
        "BYE at {at:?} (waited {after:?})"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_interval_below_min_se_gets_422() {
    let daemon = TestDaemon::start(&config("[dialog]\nmin_se = 120\n", ANSWER));
    let client = UdpClient::new(daemon.udp()).await;
    let brief = "Supported: timer\r\nSession-Expires: 90\r\n";
    let refused = client.request(&invite("brief", brief)).await;
    assert_eq!(refused.status, 422, "{}", refused.raw);
    assert_eq!(refused.header("Min-SE"), Some("120"));
    client
        .send(&ack_for(
            &invite("brief", brief),
            &refused.to_tag().expect("tag"),
        ))
        .await;
    client.expect_silence().await;
    // The retry with the interval asked for is answered.
    let retry = "Supported: timer\r\nSession-Expires: 120\r\nMin-SE: 120\r\n";
    let answered = client.request(&invite("brief-retry", retry)).await;
    assert_eq!(answered.status, 200, "{}", answered.raw);
    assert_eq!(
        answered.header("Session-Expires"),
        Some("120;refresher=uac")
    );
}

#[tokio::test(start_paused = true)]
async fn a_ringing_invite_gets_its_final_response_at_the_ring_timeout() {
    let rules = "[[rule]]\nname = \"ring\"\nmatch.request_uri = '^sip:ring@'\nprogress = [{}]\n\n\
                 [[rule]]\nname = \"busy-after-ringing\"\nmatch.request_uri = '^sip:busy@'\nprogress = [{}]\n\
                 no_answer = { status = 486, extra_headers = [\"Retry-After: 30\"] }\n";
    let daemon = TestDaemon::start(&config("[timers]\nring_timeout_ms = 90000\n", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let ring = request("INVITE", "sip:ring@example.com", "ringing", "", "");
    assert_eq!(client.request(&ring).await.status, 180);
    let start = Instant::now();
    let last = client.recv_within(LONG).await.expect("a final response");
    assert!(
        near(start.elapsed(), Duration::from_secs(90)),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(last.status, 480, "{}", last.raw);
    assert_eq!(
        last.header("Reason"),
        Some("SIP;cause=480;text=\"No Answer\"")
    );
    client
        .send(&ack_for(&ring, &last.to_tag().expect("tag")))
        .await;

    let busy = request("INVITE", "sip:busy@example.com", "busy-ringing", "", "");
    assert_eq!(client.request(&busy).await.status, 180);
    let last = client.recv_within(LONG).await.expect("a final response");
    assert_eq!(last.status, 486, "the rule's no_answer: {}", last.raw);
    assert_eq!(last.header("Retry-After"), Some("30"));
}

/// `max_transactions` bounds transactions in progress, not dialogs:
/// abandoned calls leave room for new ones; `[dialog] max_dialogs` bounds
/// dialogs, and once they expire new calls are answered again.
#[tokio::test(start_paused = true)]
async fn abandoned_calls_fill_the_tables_only_until_their_dialogs_expire() {
    let daemon = TestDaemon::start(&config(
        "max_transactions = 3\n[dialog]\nmax_dialogs = 3\nmax_duration_ms = 60000\n",
        ANSWER,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    for n in 0..3 {
        call(&client, &format!("abandoned-{n}"), "", 200).await;
    }
    let full = client.request(&invite("one-too-many", "")).await;
    assert_eq!(full.status, 503, "{}", full.raw);
    assert_eq!(full.header("Retry-After"), Some("5"));
    // An OPTIONS ping is not refused: dialogs are not transactions.
    let ping = client
        .request(&request(
            "OPTIONS",
            "sip:callee@example.com",
            "ping",
            "",
            "",
        ))
        .await;
    assert_eq!(ping.status, 480, "the fallback, not 503: {}", ping.raw);
    for _ in 0..3 {
        bye(&client).await;
    }
    // A dialog keeps its place until its BYE transaction ends (the 200s
    // just sent end them).
    tokio::time::sleep(Duration::from_millis(100)).await;
    call(&client, "after-expiry", "", 200).await;
}

#[tokio::test(start_paused = true)]
async fn a_dialog_too_large_to_keep_gets_513() {
    let daemon = TestDaemon::start(&config(
        "max_message_size = 262144\n[dialog]\nmax_bytes = 4096\n",
        ANSWER,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let routes: Vec<String> = (0..40)
        .map(|n| format!("<sip:proxy-{n}.example.com;lr>"))
        .collect();
    let routes = format!("Record-Route: {}\r\n", routes.join(", "));
    let refused = client.request(&invite("huge-route", &routes)).await;
    assert_eq!(refused.status, 513, "{}", refused.raw);
    assert!(
        refused.reason.contains("Record-Route"),
        "{}",
        refused.reason
    );
    let padding = format!(
        "Record-Route: <sip:p.example.com;lr;x={}>\r\n",
        "a".repeat(5000)
    );
    let refused = client.request(&invite("wide-route", &padding)).await;
    assert_eq!(refused.status, 513, "{}", refused.raw);
    assert!(refused.reason.contains("limit 4096"), "{}", refused.reason);
    call(
        &client,
        "small-route",
        "Record-Route: <sip:p.example.com;lr>\r\n",
        200,
    )
    .await;
}

/// A new caller after the sequence table filled is stored (the least
/// recently seen key makes room), so its retry gets the next policy.
#[tokio::test]
async fn a_retry_after_the_sequence_table_filled_gets_the_next_policy() {
    let rules = "[[rule]]\nname = \"retry-then-ok\"\nmatch.method = \"OPTIONS\"\n\
                 [rule.sequence]\nkey = \"call_id\"\nmax_keys = 50\n\
                 [[rule.sequence.policy]]\nreject = { status = 503 }\n\
                 [[rule.sequence.policy]]\naccept = {}\n";
    let daemon = TestDaemon::start(&config("[admin]\naddress = \"127.0.0.1:0\"\n", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let options = |call_id: &str, n: u32| {
        request("OPTIONS", "sip:callee@example.com", call_id, "", "")
            .replace("CSeq: 1 OPTIONS", &format!("CSeq: {n} OPTIONS"))
            .replace(
                &format!("branch=z9hG4bK-{call_id}"),
                &format!("branch=z9hG4bK-{call_id}-{n}"),
            )
    };
    for fresh in 0..200 {
        let status = client
            .request(&options(&format!("fresh-{fresh}"), 1))
            .await
            .status;
        assert_eq!(status, 503);
    }
    assert_eq!(client.request(&options("caller", 1)).await.status, 503);
    assert_eq!(client.request(&options("caller", 2)).await.status, 200);
    let metrics = crate::admin::http::get(daemon.admin(), "/metrics")
        .await
        .body;
    assert!(
        metrics.contains("sip_autoresponder_bound_reached_total{state=\"sequence_keys\"} 151"),
        "{metrics}"
    );
}

/// RFC 4028 §10 with us as the refresher (the UAC asked): an UPDATE at half
/// the interval, answered 200, keeps the session; one the peer refuses ends
/// it with BYE.
#[tokio::test(start_paused = true)]
async fn we_refresh_by_update_when_asked_and_hang_up_when_it_fails() {
    let daemon = TestDaemon::start(&config("", ANSWER));
    let client = UdpClient::new(daemon.udp()).await;
    let asks_us = "Supported: timer\r\nSession-Expires: 100;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n";
    let response = client.request(&invite("we-refresh", asks_us)).await;
    assert_eq!(
        response.header("Session-Expires"),
        Some("100;refresher=uas")
    );
    let tag = response.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "we-refresh", &tag, 1, "w-ack"))
        .await;
    let start = Instant::now();
    let update = client.recv_any_within(LONG).await.expect("an UPDATE");
    assert!(update.is_request("UPDATE"), "{}", update.raw);
    assert!(
        near(start.elapsed(), Duration::from_secs(50)),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        update.header("Session-Expires").as_deref(),
        Some("100;refresher=uas")
    );
    assert!(
        update.header("Contact").is_some(),
        "UPDATE is a target refresh: {}",
        update.raw
    );
    assert_eq!(update.header("CSeq").as_deref(), Some("1 UPDATE"));
    client
        .send_to(&update.response(200, "OK"), update.from)
        .await;
    let second = client.recv_any_within(LONG).await.expect("another UPDATE");
    assert!(
        near(start.elapsed(), Duration::from_secs(100)),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(second.header("CSeq").as_deref(), Some("2 UPDATE"));
    client
        .send_to(
            &second.response(481, "Call/Transaction Does Not Exist"),
            second.from,
        )
        .await;
    let (bye, _) = bye(&client).await;
    assert_eq!(bye.header("CSeq").as_deref(), Some("3 BYE"));
}

/// Each bound reached is counted in /metrics.
#[tokio::test(start_paused = true)]
async fn bounds_reached_are_counted_in_metrics() {
    let daemon = TestDaemon::start(&config(
        "[dialog]\nmax_dialogs = 1\nmax_bytes = 256\n[admin]\naddress = \"127.0.0.1:0\"\n",
        ANSWER,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let wide = format!(
        "Record-Route: <sip:p.example.com;lr;x={}>\r\n",
        "a".repeat(300)
    );
    call(&client, "wide", &wide, 513).await;
    call(&client, "first", "", 200).await;
    assert_eq!(client.request(&invite("second", "")).await.status, 503);
    let metrics = crate::admin::http::get(daemon.admin(), "/metrics")
        .await
        .body;
    for line in [
        "sip_autoresponder_bound_reached_total{state=\"dialogs\"} 1",
        "sip_autoresponder_bound_reached_total{state=\"dialog_bytes\"} 1",
        "sip_autoresponder_bound_reached_total{state=\"transactions\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
}
