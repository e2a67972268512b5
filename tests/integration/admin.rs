//! The admin HTTP listener over real HTTP/1.1 on 127.0.0.1: the request
//! journal and its filters, clearing it, metrics that move after traffic
//! (here); routes, the bearer token, registrations and connection limits
//! (`access`). The HTTP client (`http`) is hand-written, so the tests do not
//! trust the crate's own HTTP.

mod access;
pub(crate) mod http;
mod openapi;

use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use http::*;

#[tokio::test]
async fn health_is_200_once_bound() {
    let daemon = daemon(None);
    let reply = get(daemon.admin(), "/health").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    assert_eq!(
        http(daemon.admin(), "HEAD", "/health", &[]).await.status,
        200
    );
}

#[tokio::test]
async fn the_journal_records_requests_with_rule_responses_and_times() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&options("journal-opt")).await.status, 200);
    let invite = request(
        "INVITE",
        "sip:bob@example.com",
        "journal-inv",
        "X-Case: busy\r\n",
        "",
    );
    client.send(&invite).await;
    let ringing = client.recv().await;
    assert_eq!(ringing.status, 180);
    let busy = client.recv().await;
    assert_eq!(busy.status, 486);
    client
        .send(&ack_for(&invite, &busy.to_tag().expect("a To tag")))
        .await;

    // The ACK is journalled too, though nothing answers it.
    let list = records_where(admin, "", |list| {
        list.len() == 3 && statuses(&list[1]).contains(&486)
    })
    .await;
    let (ping, call, ack) = (&list[0], &list[1], &list[2]);
    assert_eq!(ack["method"], "ACK");
    assert_eq!(ack["call_id"], "journal-inv");
    assert!(ack["rule"].is_null() && statuses(ack).is_empty(), "{ack}");
    assert_eq!(ping["method"], "OPTIONS");
    assert_eq!(ping["rule"], "ping");
    assert_eq!(ping["call_id"], "journal-opt");
    assert_eq!(ping["transport"], "udp");
    assert_eq!(ping["source"], format!("127.0.0.1:{}", client.port()));
    assert_eq!(statuses(ping), [200]);
    assert_eq!(call["method"], "INVITE");
    assert_eq!(call["rule"], "busy");
    assert_eq!(call["request_uri"], "sip:bob@example.com");
    assert_eq!(statuses(call), [180, 486]);
    let headers = call["headers"].as_array().expect("headers");
    assert!(
        headers.iter().any(|h| h[0] == "X-Case" && h[1] == "busy"),
        "{headers:?}"
    );
    assert!(call["id"].as_u64() > ping["id"].as_u64(), "ids grow");
    // Times: ms since the epoch, the request first, responses in order.
    let received = call["time_ms"].as_u64().expect("time_ms");
    assert!(received >= ping["time_ms"].as_u64().expect("time_ms"));
    let times: Vec<u64> = call["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| r["time_ms"].as_u64().expect("response time_ms"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]) && times[0] >= received,
        "{times:?} after {received}"
    );
    let final_reason = call["responses"]
        .as_array()
        .and_then(|r| r.last())
        .map(|r| r["reason"].clone());
    assert_eq!(final_reason, Some(Value::from("Busy Here")));
}

#[tokio::test]
async fn the_journal_filters_by_method_rule_call_id_and_since() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&options("filter-1")).await.status, 200);
    // Apart in time, so `since` can tell them apart.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let odd_call_id = options("filter-2").replace("Call-ID: filter-2", "Call-ID: filter-2+x@lab");
    assert_eq!(client.request(&odd_call_id).await.status, 200);
    let all = records(admin, "", 2, 1).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let message = request("MESSAGE", "sip:bob@example.com", "filter-3", "", "hi");
    assert_eq!(client.request(&message).await.status, 202);
    records(admin, "", 3, 1).await;

    let by_method = records(admin, "?method=MESSAGE", 1, 1).await;
    assert_eq!(by_method[0]["call_id"], "filter-3");
    assert_eq!(records(admin, "?method=OPTIONS", 2, 1).await.len(), 2);
    assert_eq!(records(admin, "?rule=ping", 2, 1).await.len(), 2);
    assert_eq!(
        records(admin, "?rule=im&method=MESSAGE", 1, 1).await[0]["rule"],
        "im"
    );
    records(admin, "?rule=busy", 0, 0).await;
    // Call-IDs are percent-decoded; `+` is a plus.
    let by_call = records(admin, "?call_id=filter-2+x%40lab", 1, 1).await;
    assert_eq!(by_call[0]["call_id"], "filter-2+x@lab");
    records(admin, "?call_id=filter-1&method=MESSAGE", 0, 0).await;
    // `since`: milliseconds since the epoch, or RFC 3339.
    let second = all[1]["time_ms"].as_u64().expect("time_ms");
    let since = records(admin, &format!("?since={}", second + 1), 1, 1).await;
    assert_eq!(since[0]["call_id"], "filter-3");
    assert_eq!(
        records(admin, &format!("?since={second}"), 2, 1)
            .await
            .len(),
        2
    );
    records(admin, "?since=4102444800000", 0, 0).await;
    assert_eq!(
        records(admin, "?since=2020-01-01T00:00:00Z", 3, 1)
            .await
            .len(),
        3
    );
    records(admin, "?since=2100-01-01T00:00:00%2B01:00", 0, 0).await;
    // Refused queries say why.
    for bad in ["?since=tomorrow", "?methd=INVITE", "?call_id=%zz", "?rule="] {
        let reply = get(admin, &format!("/requests{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
}

#[tokio::test]
async fn delete_clears_the_journal() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&options("clear-1")).await.status, 200);
    records(admin, "", 1, 1).await;
    let reply = http(admin, "DELETE", "/requests", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    records(admin, "", 0, 0).await;
    assert_eq!(client.request(&options("clear-2")).await.status, 200);
    assert_eq!(records(admin, "", 1, 1).await[0]["call_id"], "clear-2");
}

#[tokio::test]
async fn metrics_move_after_traffic() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    let before = get(admin, "/metrics").await;
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    // The text format: every family has HELP and TYPE under the name its
    // samples carry, and no OpenMetrics `# EOF`.
    assert!(!before.body.contains("# EOF"), "{}", before.body);
    for typed in before
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
    {
        let name = typed.split(' ').next().unwrap_or("");
        assert!(
            before.body.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{}",
            before.body
        );
        assert!(
            before
                .body
                .lines()
                .any(|l| l.starts_with(name) && !l.starts_with('#')),
            "no sample named {name}"
        );
    }
    let openmetrics = http(
        admin,
        "GET",
        "/metrics",
        &["Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5"],
    )
    .await;
    assert_eq!(
        openmetrics.header("Content-Type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(
        openmetrics.body.ends_with("# EOF\n"),
        "{}",
        openmetrics.body
    );
    assert!(
        openmetrics
            .body
            .contains("# TYPE sip_autoresponder_drops counter")
    );
    let options_series = "sip_autoresponder_requests_total{method=\"OPTIONS\",transport=\"udp\"}";
    assert_eq!(series(&before.body, options_series), 0.0);

    let client = UdpClient::new(daemon.udp()).await;
    for n in 0..3 {
        assert_eq!(
            client
                .request(&options(&format!("metrics-{n}")))
                .await
                .status,
            200
        );
    }
    let invite = request("INVITE", "sip:bob@example.com", "metrics-inv", "", "");
    client.send(&invite).await;
    assert_eq!(client.recv().await.status, 180);
    let busy = client.recv().await;
    assert_eq!(busy.status, 486);
    client
        .send(&ack_for(&invite, &busy.to_tag().expect("a To tag")))
        .await;
    records_where(admin, "?method=INVITE", |list| {
        list.len() == 1 && statuses(&list[0]).contains(&486)
    })
    .await;

    let after = get(admin, "/metrics").await.body;
    assert_eq!(series(&after, options_series), 3.0, "{after}");
    let invites = "sip_autoresponder_requests_total{method=\"INVITE\",transport=\"udp\"}";
    assert_eq!(series(&after, invites), 1.0, "{after}");
    assert_eq!(
        series(
            &after,
            "sip_autoresponder_responses_total{rule=\"ping\",status=\"200\"}"
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        series(
            &after,
            "sip_autoresponder_responses_total{rule=\"busy\",status=\"486\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        series(
            &after,
            "sip_autoresponder_events_total{kind=\"rejected\",cause=\"Busy\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        series(
            &after,
            "sip_autoresponder_events_total{kind=\"failed\",cause=\"Busy\"}"
        ),
        1.0,
        "{after}"
    );
    for gauge in [
        "sip_autoresponder_transactions_in_progress",
        "sip_autoresponder_dialogs",
        "sip_autoresponder_retransmissions_total",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(&format!("{gauge} "))),
            "no {gauge} in:\n{after}"
        );
    }
}
