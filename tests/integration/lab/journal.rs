//! The complete journal: every request received (ACK, BYE, CANCEL and
//! PRACK, which the transaction layer answers, and malformed ones with the
//! 400's reason), with its body; every response sent, with headers and
//! body; every request the daemon sends, with its outcome; retransmissions
//! counted on the request they repeat; and the metrics that follow.

use serde_json::Value;

use crate::admin::http::{get, records_where, series, statuses};
use crate::common::*;

use super::*;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

const RULES: &str = r#"
[[rule]]
name = "answer"
match.method = "INVITE"
match.headers.X-Case = "^answer$"
progress = [{ status = 180 }]
accept = { body = { sdp = "answer" }, delay_ms = 50 }

[[rule]]
name = "ring"
match.method = "INVITE"
match.headers.X-Case = "^ring$"
progress = [{ status = 180 }]
accept = { delay_ms = 10000 }

[[rule]]
name = "hangup"
match.method = "INVITE"
match.headers.X-Case = "^hangup$"
accept = { hangup_after_ms = 100 }

[[rule]]
name = "auto-reply"
match.method = "MESSAGE"
accept = { status = 202 }
message = { body = "auto" }

[[rule]]
name = "ping"
match.method = "OPTIONS"
accept = {}
"#;

fn with_offer(message: String) -> String {
    message.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
            OFFER.len()
        ),
    )
}

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}

#[tokio::test]
async fn a_call_is_journalled_whole_with_bodies_and_the_metrics_follow() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&with_offer(invite("whole-call", "X-Case: answer\r\n")))
        .await;
    assert_eq!(client.recv().await.status, 180);
    let answered = client.recv().await;
    assert_eq!(answered.status, 200);
    let tag = answered.to_tag().expect("To-tag");
    client
        .send(&in_dialog("ACK", "whole-call", &tag, 1, "whole-ack"))
        .await;
    let metrics = get(admin, "/metrics").await.body;
    assert_eq!(
        series(&metrics, "sip_autoresponder_dialogs"),
        1.0,
        "{metrics}"
    );
    let bye = client
        .request(&in_dialog("BYE", "whole-call", &tag, 2, "whole-bye"))
        .await;
    assert_eq!(bye.status, 200);

    let list = records_where(admin, "?call_id=whole-call", |list| {
        list.len() == 3
            && list[2]["responses"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
    })
    .await;
    let (invite, ack, bye) = (&list[0], &list[1], &list[2]);
    assert_eq!(invite["method"], "INVITE");
    assert_eq!(invite["body"], OFFER, "the request's body");
    assert_eq!(invite["rule"], "answer");
    assert_eq!(statuses(invite), [180, 200]);
    let ok = &invite["responses"][1];
    assert!(
        ok["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("v=0\r\n")),
        "the response's body: {ok}"
    );
    assert_eq!(header(ok, "Content-Type"), Some("application/sdp"));
    assert!(
        header(ok, "Contact").is_some(),
        "the response's headers: {ok}"
    );
    assert_eq!(header(ok, "To").map(|to| to.contains(&tag)), Some(true));
    assert!(ok["after_ms"].as_u64() >= Some(50), "timings: {ok}");
    assert_eq!(ack["method"], "ACK");
    assert!(ack["rule"].is_null() && statuses(ack).is_empty());
    assert_eq!(bye["method"], "BYE");
    assert_eq!(bye["rule"], "protocol", "the transaction layer answered it");
    assert_eq!(statuses(bye), [200]);
    assert_eq!(header(&bye["responses"][0], "CSeq"), Some("2 BYE"));
    for record in &list {
        assert_eq!(record["direction"], "received");
        assert_eq!(record["source"], format!("127.0.0.1:{}", client.port()));
        assert_eq!(record["destination"], daemon.udp().to_string());
    }

    let metrics = get(admin, "/metrics").await.body;
    for (method, count) in [("INVITE", 1.0), ("ACK", 1.0), ("BYE", 1.0)] {
        let name =
            format!("sip_autoresponder_requests_total{{method=\"{method}\",transport=\"udp\"}}");
        assert_eq!(series(&metrics, &name), count, "{name}:\n{metrics}");
    }
    let protocol = "sip_autoresponder_responses_total{rule=\"protocol\",status=\"200\"}";
    assert_eq!(series(&metrics, protocol), 1.0, "{metrics}");
    assert_eq!(
        series(&metrics, "sip_autoresponder_dialogs"),
        0.0,
        "the gauge falls: {metrics}"
    );
}

#[tokio::test]
async fn cancel_and_prack_and_the_layers_own_answers_are_journalled() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let ringing = invite("cancelled", "X-Case: ring\r\nRequire: 100rel\r\n");
    client.send(&ringing).await;
    let reliable = client.recv().await;
    assert_eq!(reliable.status, 180);
    let rseq = reliable.header("RSeq").expect("RSeq").to_owned();
    let tag = reliable.to_tag().expect("To-tag");
    let prack = in_dialog("PRACK", "cancelled", &tag, 2, "prack-1").replace(
        "Content-Length: 0",
        &format!("RAck: {rseq} 1 INVITE\r\nContent-Length: 0"),
    );
    assert_eq!(client.request(&prack).await.status, 200);
    client.send(&cancel_for(&ringing)).await;
    let mut got = vec![client.recv().await.status, client.recv().await.status];
    got.sort_unstable();
    assert_eq!(got, [200, 487]);
    client.send(&ack_for(&ringing, &tag)).await;
    let stray = in_dialog("BYE", "no-such-call", "nope", 1, "stray");
    assert_eq!(client.request(&stray).await.status, 481);

    let list = records_where(admin, "?call_id=cancelled", |list| list.len() == 4).await;
    let methods: Vec<&str> = list.iter().filter_map(|r| r["method"].as_str()).collect();
    assert_eq!(methods, ["INVITE", "PRACK", "CANCEL", "ACK"]);
    assert_eq!(statuses(&list[0]), [180, 487]);
    assert_eq!(
        (list[1]["rule"].as_str(), statuses(&list[1])),
        (Some("protocol"), vec![200])
    );
    assert_eq!(
        (list[2]["rule"].as_str(), statuses(&list[2])),
        (Some("protocol"), vec![200])
    );
    let stray = records_where(admin, "?call_id=no-such-call", |list| list.len() == 1).await;
    assert_eq!(statuses(&stray[0]), [481]);
    let metrics = get(admin, "/metrics").await.body;
    for method in ["CANCEL", "PRACK", "ACK", "BYE"] {
        let name =
            format!("sip_autoresponder_requests_total{{method=\"{method}\",transport=\"udp\"}}");
        assert_eq!(series(&metrics, &name), 1.0, "{name}:\n{metrics}");
    }
}

#[tokio::test]
async fn malformed_requests_are_journalled_with_the_400s_reason() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let no_call_id = options("malformed").replace("Call-ID: malformed\r\n", "");
    let refused = client.request(&no_call_id).await;
    assert_eq!(refused.status, 400);
    let no_via = options("unroutable").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-unroutable;rport\r\n",
        "",
    );
    client.send(&no_via).await;
    client.expect_silence().await;
    let list = records_where(admin, "?method=OPTIONS", |list| list.len() == 2).await;
    let (answered, dropped) = (&list[0], &list[1]);
    assert!(
        answered["error"]
            .as_str()
            .is_some_and(|e| e.contains("Call-ID")),
        "{answered}"
    );
    assert_eq!(statuses(answered), [400]);
    assert_eq!(answered["responses"][0]["reason"], refused.reason.as_str());
    assert_eq!(answered["rule"], "protocol");
    assert!(
        dropped["error"].as_str().is_some_and(|e| e.contains("Via")),
        "{dropped}"
    );
    assert!(statuses(dropped).is_empty(), "nothing could be sent back");
    assert_eq!(dropped["call_id"], "unroutable");
}

#[tokio::test]
async fn requests_the_daemon_sends_are_journalled_with_their_outcome() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    call(&client, "hung-up", "X-Case: hangup\r\n", 200).await;
    let bye = answer_bye(&client).await;
    let sent = records_where(admin, "?direction=sent&method=BYE", |list| {
        list.len() == 1 && !list[0]["outcome"].is_null()
    })
    .await;
    let record = &sent[0];
    assert_eq!(record["call_id"], "hung-up");
    assert_eq!(record["rule"], "hangup");
    assert_eq!(record["source"], daemon.udp().to_string(), "{record}");
    assert_eq!(
        record["destination"],
        format!("127.0.0.1:{}", client.port()),
        "{record}"
    );
    assert_eq!(bye.from, daemon.udp());
    assert_eq!(record["outcome"]["kind"], "response");
    assert_eq!(record["outcome"]["status"], 200);
    assert_eq!(header(record, "CSeq"), Some("1 BYE"));

    let message = request("MESSAGE", "sip:bob@example.com", "auto-1", "", "hello");
    assert_eq!(client.request(&message).await.status, 202);
    let auto = client
        .recv_any_within(REPLY_WAIT)
        .await
        .expect("the auto-reply");
    assert!(auto.is_request("MESSAGE"), "{}", auto.raw);
    client.send_to(&auto.response(200, "OK"), auto.from).await;
    let sent = records_where(admin, "?direction=sent&method=MESSAGE", |list| {
        list.len() == 1 && !list[0]["outcome"].is_null()
    })
    .await;
    assert_eq!(sent[0]["body"], "auto");
    assert_eq!(sent[0]["rule"], "auto-reply");
    assert_eq!(sent[0]["outcome"]["status"], 200);
    let metrics = get(admin, "/metrics").await.body;
    let bye_sent = "sip_autoresponder_requests_sent_total{method=\"BYE\",transport=\"udp\"}";
    assert_eq!(series(&metrics, bye_sent), 1.0, "{metrics}");
}

#[tokio::test]
async fn a_retransmission_is_counted_on_the_request_it_repeats() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let ringing = invite("twice", "X-Case: ring\r\n");
    client.send(&ringing).await;
    let first = client.recv().await;
    assert_eq!(first.status, 180);
    client.send(&ringing).await;
    assert_eq!(client.recv().await.raw, first.raw, "the 180 again");
    client.send(&cancel_for(&ringing)).await;
    let mut got = vec![client.recv().await.status, client.recv().await.status];
    got.sort_unstable();
    assert_eq!(got, [200, 487]);
    client
        .send(&ack_for(&ringing, &first.to_tag().unwrap_or_default()))
        .await;
    let list = records_where(admin, "?call_id=twice&method=INVITE", |list| {
        list.len() == 1 && list[0]["retransmissions"] == 1 && statuses(&list[0]).contains(&487)
    })
    .await;
    assert_eq!(
        statuses(&list[0]),
        [180, 487],
        "the resent 180 is no new response"
    );
}
