//! RFC 3261 §17 transactions and §12 dialogs over real UDP, with short
//! timers on tokio's paused clock (virtual time: exact and fast).

use std::time::Duration;

use tokio::time::Instant;

use crate::common::*;

/// T1 = 100 ms, T2 = 400 ms, T4 = 500 ms: 64·T1 = 6.4 s of virtual time.
fn config(rules: &str) -> String {
    format!(
        "[timers]\nt1_ms = 100\nt2_ms = 400\nt4_ms = 500\n\n{}{SILENT_CLIENT_ALLOWED}",
        config_with(rules)
    )
}

const LONG: Duration = Duration::from_secs(60);

fn invite(call_id: &str, extra: &str) -> String {
    request(
        "INVITE",
        "sip:callee@example.com",
        call_id,
        &format!("Contact: <sip:alice@127.0.0.1:5999>\r\n{extra}"),
        "",
    )
}

#[tokio::test(start_paused = true)]
async fn retransmitted_invite_gets_the_last_response_and_the_policy_runs_once() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"slow-busy\"\nprogress = [{ status = 180, delay_ms = 1000 }]\nreject = { status = 486, delay_ms = 1000 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let message = invite("retx-1", "");
    client.send(&message).await;
    assert_eq!(client.recv_within(LONG).await.map(|r| r.status), Some(100));
    client.send(&message).await;
    assert_eq!(
        client.recv_within(LONG).await.map(|r| r.status),
        Some(100),
        "retransmission gets the last response"
    );
    let ringing = client.recv_within(LONG).await.expect("180");
    assert_eq!(ringing.status, 180);
    client.send(&message).await;
    let again = client.recv_within(LONG).await.expect("180 again");
    assert_eq!((again.status, again.to_tag()), (180, ringing.to_tag()));
    let busy = client.recv_within(LONG).await.expect("486");
    assert_eq!(busy.status, 486);
    client
        .send(&ack_for(&message, &busy.to_tag().expect("tag")))
        .await;
    // One policy run: nothing but the responses above.
    client.expect_silence().await;
}

#[tokio::test(start_paused = true)]
async fn retransmitted_non_invite_is_absorbed_then_answered_from_cache() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"later\"\naccept = { delay_ms = 1000 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@example.com", "retx-2", "", "hi");
    client.send(&message).await;
    client.send(&message).await; // absorbed: no response yet
    let ok = client.recv_within(LONG).await.expect("200");
    assert_eq!(ok.status, 200);
    // Timer J keeps the transaction: a late retransmission gets the same 200
    // (same To-tag, so it was not answered a second time by the rule).
    tokio::time::advance(Duration::from_secs(3)).await;
    client.send(&message).await;
    let cached = client.recv_within(LONG).await.expect("cached 200");
    assert_eq!((cached.status, cached.to_tag()), (200, ok.to_tag()));
    client.expect_silence().await;
}

#[tokio::test(start_paused = true)]
async fn timer_g_retransmits_a_failure_until_the_ack() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"busy\"\nreject = { status = 486 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let message = invite("timer-g", "");
    let start = Instant::now();
    client.send(&message).await;
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        let r = client.recv_within(LONG).await.expect("486");
        assert_eq!(r.status, 486);
        arrivals.push(start.elapsed().as_millis());
    }
    // Sent at 0, then after T1, 2·T1, 4·T1 (capped at T2 = 400).
    assert_eq!(arrivals, [0, 100, 300, 700], "{arrivals:?}");
    let tag = client
        .recv_within(LONG)
        .await
        .and_then(|r| r.to_tag())
        .expect("tag");
    client.send(&ack_for(&message, &tag)).await;
    client.expect_silence().await;
    // Retransmitted ACKs are absorbed too (Timer I).
    client.send(&ack_for(&message, &tag)).await;
    client.expect_silence().await;
}

#[tokio::test(start_paused = true)]
async fn timer_h_gives_up_without_ack() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"busy\"\nreject = { status = 480 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    client.send(&invite("timer-h", "")).await;
    let mut last = Duration::ZERO;
    while let Some(r) = client.recv_within(Duration::from_secs(5)).await {
        assert_eq!(r.status, 480);
        last = start.elapsed();
    }
    assert!(
        last <= Duration::from_millis(6400),
        "retransmissions end by Timer H (64·T1): {last:?}"
    );
    assert!(
        last >= Duration::from_millis(5000),
        "retransmissions go on until near Timer H: {last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn two_hundred_is_retransmitted_until_the_ack() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"answer\"\naccept = { body = \"v=0\\r\\n\" }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    client.send(&invite("ok-ack", "")).await;
    let first = client.recv_within(LONG).await.expect("200");
    let again = client.recv_within(LONG).await.expect("200 again");
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(
        start.elapsed().as_millis(),
        100,
        "first retransmission after T1"
    );
    let tag = first.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "ok-ack", &tag, 1, "ack-ok"))
        .await;
    client.expect_silence().await;
    // The dialog exists: BYE gets 200, a second BYE 481.
    let bye = client
        .request(&in_dialog("BYE", "ok-ack", &tag, 2, "bye-1"))
        .await;
    assert_eq!(bye.status, 200);
    let bye = client
        .request(&in_dialog("BYE", "ok-ack", &tag, 3, "bye-2"))
        .await;
    assert_eq!(bye.status, 481);
}

#[tokio::test(start_paused = true)]
async fn no_ack_ends_the_dialog_with_bye_and_failed_no_ack() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config("[[rule]]\nname = \"answer\"\naccept = {}\n"));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    client
        .send(&invite(
            "no-ack",
            "Record-Route: <sip:p1.example.com;lr>\r\n",
        ))
        .await;
    let mut oks = 0;
    let bye = loop {
        let message = client.recv_any_within(LONG).await.expect("200s then BYE");
        if message.is_request("BYE") {
            break message;
        }
        assert_eq!(message.status(), Some(200));
        oks += 1;
    };
    assert!(
        start.elapsed() >= Duration::from_millis(6400),
        "BYE after 64·T1: {:?}",
        start.elapsed()
    );
    // 0, 0.1, 0.3, 0.7, 1.1, … every T2 until 6.4 s.
    assert!(oks >= 10, "2xx retransmitted until 64·T1, got {oks}");
    assert_eq!(bye.start_line(), "BYE sip:alice@127.0.0.1:5999 SIP/2.0");
    assert_eq!(bye.all("Route"), ["<sip:p1.example.com;lr>"]);
    assert_eq!(bye.header("Call-ID").as_deref(), Some("no-ack"));
    assert_eq!(bye.header("CSeq").as_deref(), Some("1 BYE"));
    assert!(
        bye.header("To")
            .is_some_and(|t| t.ends_with(";tag=from-no-ack"))
    );
    client.send_to(&bye.response(200, "OK"), bye.from).await;
    let failed = logs.lines_with(&["event=\"failed\"", "No ACK", "call_id=\"no-ack\""]);
    assert_eq!(failed.len(), 1, "{}", logs.text());
}

#[tokio::test(start_paused = true)]
async fn cancel_before_between_and_after_responses() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"ring\"\nprogress = [{ status = 180, delay_ms = 1000 }]\naccept = { delay_ms = 1000 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;

    // Before any policy response (only 100 Trying sent).
    let message = invite("cancel-before", "");
    client.send(&message).await;
    assert_eq!(client.recv_within(LONG).await.map(|r| r.status), Some(100));
    client.send(&cancel_for(&message)).await;
    let mut statuses = vec![];
    for _ in 0..2 {
        let r = client.recv_within(LONG).await.expect("response");
        statuses.push((r.status, r.header("CSeq").unwrap_or_default().to_owned()));
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [(200, "1 CANCEL".to_owned()), (487, "1 INVITE".to_owned())]
    );
    let tag = "x";
    client.send(&ack_for(&message, tag)).await;
    client.expect_silence().await;

    // Between responses (after 180, before the 200).
    let message = invite("cancel-between", "");
    client.send(&message).await;
    assert_eq!(client.recv_within(LONG).await.map(|r| r.status), Some(100));
    let ringing = client.recv_within(LONG).await.expect("180");
    assert_eq!(ringing.status, 180);
    client.send(&cancel_for(&message)).await;
    let ok = client.recv_within(LONG).await.expect("200 to CANCEL");
    assert_eq!((ok.status, ok.header("CSeq")), (200, Some("1 CANCEL")));
    assert_eq!(
        ok.to_tag(),
        ringing.to_tag(),
        "200 to CANCEL carries the INVITE's To-tag"
    );
    let terminated = client.recv_within(LONG).await.expect("487");
    assert_eq!(terminated.status, 487);
    client
        .send(&ack_for(&message, &terminated.to_tag().expect("tag")))
        .await;
    client.expect_silence().await;
    assert_eq!(
        logs.lines_with(&["event=\"failed\"", "cause=\"Canceled\""])
            .len(),
        2,
        "{}",
        logs.text()
    );

    // After the final response: 200 to the CANCEL and nothing else.
    let message = invite("cancel-after", "");
    client.send(&message).await;
    let mut final_ok = None;
    while final_ok.is_none() {
        let r = client.recv_within(LONG).await.expect("response");
        if r.status == 200 {
            final_ok = Some(r);
        }
    }
    client
        .send(&in_dialog(
            "ACK",
            "cancel-after",
            &final_ok.and_then(|r| r.to_tag()).expect("tag"),
            1,
            "ack-after",
        ))
        .await;
    let r = client.request(&cancel_for(&message)).await;
    assert_eq!((r.status, r.header("CSeq")), (200, Some("1 CANCEL")));
    client.expect_silence().await;
}

#[tokio::test]
async fn cancel_bye_and_in_dialog_requests_without_a_match_get_481() {
    let daemon = TestDaemon::start(&config("[[rule]]\nname = \"all\"\naccept = {}\n"));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client.request(&cancel_for(&invite("never-sent", ""))).await;
    assert_eq!(
        (r.status, r.reason.as_str()),
        (481, "Call/Transaction Does Not Exist")
    );
    let r = client
        .request(&request(
            "BYE",
            "sip:callee@example.com",
            "no-dialog",
            "",
            "",
        ))
        .await;
    assert_eq!(r.status, 481);
    let r = client
        .request(&in_dialog(
            "INFO",
            "no-dialog-2",
            "unknown-tag",
            5,
            "info-1",
        ))
        .await;
    assert_eq!(r.status, 481);
}

#[tokio::test(start_paused = true)]
async fn in_dialog_requests_go_through_rules_else_200() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"info-busy\"\nmatch.method = \"INFO\"\nmatch.headers.X-Fail = true\nreject = { status = 488 }\n\n[[rule]]\nname = \"answer\"\nmatch.method = \"INVITE\"\naccept = { body = \"v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\n\" }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let ok = client.request(&invite("dlg-1", "")).await;
    let tag = ok.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "dlg-1", &tag, 1, "dlg-ack"))
        .await;
    let info = client
        .request(&in_dialog("INFO", "dlg-1", &tag, 2, "dlg-info"))
        .await;
    assert_eq!(info.status, 200, "no rule matches: 200 in a dialog");
    let failing = in_dialog("INFO", "dlg-1", &tag, 3, "dlg-info2")
        .replace("Content-Length: 0", "X-Fail: 1\r\nContent-Length: 0");
    assert_eq!(
        client.request(&failing).await.status,
        488,
        "a rule can answer in-dialog requests"
    );
}

/// §12.2.2: an in-dialog request whose CSeq is lower than one the peer
/// already used gets 500, and the dialog lives on.
#[tokio::test(start_paused = true)]
async fn an_in_dialog_request_with_an_old_cseq_gets_500() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"answer\"\nmatch.method = \"INVITE\"\naccept = {}\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let ok = client.request(&invite("dlg-order", "")).await;
    let tag = ok.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "dlg-order", &tag, 1, "order-ack"))
        .await;
    let newer = client
        .request(&in_dialog("INFO", "dlg-order", &tag, 5, "order-info5"))
        .await;
    assert_eq!(newer.status, 200);
    let older = client
        .request(&in_dialog("INFO", "dlg-order", &tag, 4, "order-info4"))
        .await;
    assert_eq!(
        (older.status, older.reason.as_str()),
        (500, "Server Internal Error")
    );
    let old_bye = client
        .request(&in_dialog("BYE", "dlg-order", &tag, 3, "order-bye3"))
        .await;
    assert_eq!(old_bye.status, 500, "an old BYE does not end the dialog");
    let same = client
        .request(&in_dialog("INFO", "dlg-order", &tag, 5, "order-info5b"))
        .await;
    assert_eq!(same.status, 200, "only a lower CSeq is out of order");
    let bye = client
        .request(&in_dialog("BYE", "dlg-order", &tag, 6, "order-bye6"))
        .await;
    assert_eq!(bye.status, 200);
}

#[tokio::test(start_paused = true)]
async fn hangup_bye_uses_route_set_remote_target_and_next_cseq() {
    let daemon = TestDaemon::start(&config(
        "[[rule]]\nname = \"short-call\"\naccept = { hangup_after_ms = 2000 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    client
        .send(&invite(
            "hangup-1",
            "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p3.example.com;lr>\r\n",
        ))
        .await;
    let ok = client.recv_within(LONG).await.expect("200");
    client
        .send(&in_dialog(
            "ACK",
            "hangup-1",
            &ok.to_tag().expect("tag"),
            1,
            "h-ack",
        ))
        .await;
    let bye = client.recv_any_within(LONG).await.expect("BYE");
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    assert!(start.elapsed() >= Duration::from_millis(2000));
    assert_eq!(bye.start_line(), "BYE sip:alice@127.0.0.1:5999 SIP/2.0");
    assert_eq!(
        bye.all("Route"),
        [
            "<sip:p1.example.com;lr>",
            "<sip:p2.example.com;lr>",
            "<sip:p3.example.com;lr>"
        ]
    );
    assert_eq!(bye.header("CSeq").as_deref(), Some("1 BYE"));
    assert!(
        bye.header("From")
            .is_some_and(|f| f.ends_with(&format!(";tag={}", ok.to_tag().unwrap_or_default())))
    );
    assert!(
        bye.header("Via").is_some_and(
            |v| v.starts_with("SIP/2.0/UDP 127.0.0.1:") && v.contains(";branch=z9hG4bK")
        )
    );
    // Unanswered, the BYE is retransmitted (Timer E) …
    let again = client
        .recv_any_within(LONG)
        .await
        .expect("BYE retransmission");
    assert_eq!(again.raw, bye.raw);
    // … until answered.
    client.send_to(&bye.response(200, "OK"), bye.from).await;
    client.expect_silence().await;
}

const AUTO_REPLY: &str = r#"
[[rule]]
name = "im-auto-reply"
match.method = "MESSAGE"
accept = { status = 202 }
message = { body = "I am away", extra_headers = ["X-Auto: yes"], delay_ms = 100 }
"#;

#[tokio::test(start_paused = true)]
async fn auto_reply_message_succeeded() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config(AUTO_REPLY));
    let client = UdpClient::new(daemon.udp()).await;
    let accepted = client
        .request(&request(
            "MESSAGE",
            "sip:bob@example.com",
            "im-1",
            "Content-Type: text/plain\r\n",
            "hello",
        ))
        .await;
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.body, "", "RFC 3428: no body in the 2xx");
    assert_eq!(accepted.header("Contact"), None);
    let message = client.recv_any_within(LONG).await.expect("auto-reply");
    assert_eq!(
        message.start_line(),
        "MESSAGE sip:alice@example.com SIP/2.0"
    );
    assert_eq!(
        message.header("To").as_deref(),
        Some("<sip:alice@example.com>")
    );
    assert!(
        message
            .header("From")
            .is_some_and(|f| f.starts_with("<sip:bob@example.com>;tag="))
    );
    assert_eq!(
        message.header("Content-Type").as_deref(),
        Some("text/plain")
    );
    assert_eq!(message.header("X-Auto").as_deref(), Some("yes"));
    assert_eq!(message.body(), "I am away");
    client
        .send_to(&message.response(200, "OK"), message.from)
        .await;
    client.expect_silence().await;
    assert_eq!(
        logs.lines_with(&["message sending", "im-auto-reply"]).len(),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(
        logs.lines_with(&["message succeeded", "status=200"]).len(),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test(start_paused = true)]
async fn auto_reply_message_failed_with_the_cause_of_its_status() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config(AUTO_REPLY));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .request(&request(
            "MESSAGE",
            "sip:bob@example.com",
            "im-2",
            "",
            "hello",
        ))
        .await;
    let message = client.recv_any_within(LONG).await.expect("auto-reply");
    client
        .send_to(&message.response(486, "Busy Here"), message.from)
        .await;
    client.expect_silence().await;
    assert_eq!(
        logs.lines_with(&["message failed", "status=486", "cause=\"Busy\""])
            .len(),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test(start_paused = true)]
async fn auto_reply_message_request_timeout() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config(AUTO_REPLY));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .request(&request(
            "MESSAGE",
            "sip:bob@example.com",
            "im-3",
            "",
            "hello",
        ))
        .await;
    let mut copies = 0;
    while let Some(message) = client.recv_any_within(Duration::from_secs(10)).await {
        assert!(message.is_request("MESSAGE"));
        copies += 1;
    }
    // Timer E: 0, 0.1, 0.3, 0.7, 1.1, … every T2 until Timer F (6.4 s).
    assert!((15..=20).contains(&copies), "{copies} transmissions");
    assert_eq!(
        logs.lines_with(&["message failed", "cause=\"Request Timeout\""])
            .len(),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn transaction_table_limit_answers_503() {
    let daemon = TestDaemon::start(
        "[server]\nmax_transactions = 3\nforce_rport = true\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"ring\"\nmatch.method = \"INVITE\"\nprogress = [{}]\n[[rule]]\nname = \"o\"\naccept = {}\n",
    );
    let client = UdpClient::new(daemon.udp()).await;
    for i in 0..3 {
        assert_eq!(
            client
                .request(&invite(&format!("full-{i}"), ""))
                .await
                .status,
            180
        );
    }
    let refused = client.request(&invite("full-3", "")).await;
    assert_eq!(
        (refused.status, refused.header("Retry-After")),
        (503, Some("5"))
    );
    // INVITEs and other requests are bounded separately: pings still pass.
    assert_eq!(client.request(&options("full-options")).await.status, 200);
    // Cancelling one ringing call frees a slot.
    client.send(&cancel_for(&invite("full-0", ""))).await;
    let mut got = vec![client.recv().await.status, client.recv().await.status];
    got.sort_unstable();
    assert_eq!(got, [200, 487]);
    client.send(&ack_for(&invite("full-0", ""), "t")).await;
    assert_eq!(client.request(&options("after-free")).await.status, 200);
}

#[tokio::test]
async fn allowed_methods_and_unknown_methods() {
    let daemon = TestDaemon::start(
        "[server]\nallowed_methods = [\"INVITE\", \"OPTIONS\", \"FOO\", \"BAR\"]\nforce_rport = true\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"bar\"\nmatch.method = \"BAR\"\naccept = {}\n",
    );
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&request("SUBSCRIBE", "sip:x@example.com", "m-1", "", ""))
        .await;
    assert_eq!(
        (r.status, r.header("Allow")),
        (405, Some("INVITE, OPTIONS, FOO, BAR"))
    );
    let r = client
        .request(&request("FOO", "sip:x@example.com", "m-2", "", ""))
        .await;
    assert_eq!(r.status, 501, "unknown method with no rule");
    let r = client
        .request(&request("BAR", "sip:x@example.com", "m-3", "", ""))
        .await;
    assert_eq!(r.status, 200, "unknown method a rule answers");
}
