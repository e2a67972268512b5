//! Asserting without sleeping: counts, a wait that returns when the BYE
//! arrives (and 408 when nothing comes), bounded waits, and the near
//! misses of requests no rule took.

use std::time::{Duration, Instant};

use crate::admin::http::{get, value};
use crate::common::*;

use super::*;

const RULES: &str = r#"
[[rule]]
name = "answer"
match.method = "INVITE"
match.headers.X-Case = "^answer$"
accept = {}

[[rule]]
name = "busy"
match.method = "INVITE"
match.headers.X-Case = "^busy$"
reject = { status = 486 }

[[rule]]
name = "im"
match.method = "MESSAGE"
accept = { status = 202 }
"#;

#[tokio::test]
async fn counts_follow_the_filters() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    for n in 0..3 {
        call(
            &client,
            &format!("count-busy-{n}"),
            "X-Case: busy\r\nX-Test-Id: c1\r\n",
            486,
        )
        .await;
    }
    call(&client, "count-answer", "X-Case: answer\r\n", 200).await;
    assert_eq!(count(admin, "?method=INVITE&rule=busy&scope=c1").await, 3);
    assert_eq!(count(admin, "?method=INVITE").await, 4);
    assert_eq!(count(admin, "?method=ACK").await, 4);
    assert_eq!(count(admin, "?status=486").await, 3);
    assert_eq!(count(admin, "?rule=busy&scope=c2").await, 0);
    assert_eq!(
        get(admin, "/requests/count?limit=1").await.json()["count"],
        8,
        "a count is not paged"
    );
    assert_eq!(get(admin, "/requests/count?nope=1").await.status, 400);
}

#[tokio::test]
async fn a_wait_returns_when_the_bye_arrives() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let tag = call(&client, "wait-call", "X-Case: answer\r\n", 200).await;
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        get(
            admin,
            "/requests/wait?method=BYE&call_id=wait-call&timeout_ms=4000",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "no BYE yet: still waiting");
    let bye = client
        .request(&in_dialog("BYE", "wait-call", &tag, 2, "wait-bye"))
        .await;
    assert_eq!(bye.status, 200);
    let found = waiting.await.expect("the wait ends");
    let elapsed = started.elapsed();
    assert_eq!(found.status, 200, "{}", found.body);
    let record = value(&found);
    assert_eq!(
        (record["method"].as_str(), record["call_id"].as_str()),
        (Some("BYE"), Some("wait-call"))
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "returned when the BYE came, not at the timeout: {elapsed:?}"
    );
    // Already there: at once.
    let again = get(admin, "/requests/wait?method=BYE&call_id=wait-call").await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn a_wait_for_nothing_is_408_at_its_timeout() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let started = Instant::now();
    let timed_out = get(
        admin,
        "/requests/wait?method=BYE&call_id=never&timeout_ms=300",
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(timed_out.status, 408, "{}", timed_out.body);
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert!(
        value(&timed_out)["error"]
            .as_str()
            .is_some_and(|e| e.contains("300 ms"))
    );
    for bad in [
        "timeout_ms=0",
        "timeout_ms=30001",
        "timeout_ms=soon",
        "methd=BYE",
    ] {
        assert_eq!(
            get(admin, &format!("/requests/wait?{bad}")).await.status,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn waits_are_bounded() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let waits: Vec<_> = (0..32)
        .map(|n| {
            tokio::spawn(async move {
                get(
                    admin,
                    &format!("/requests/wait?call_id=never-{n}&timeout_ms=1500"),
                )
                .await
                .status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = get(admin, "/requests/wait?call_id=one-too-many&timeout_ms=100").await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let metrics = get(admin, "/metrics").await.body;
    let counted = "sip_autoresponder_bound_reached_total{state=\"waiters\"}";
    assert_eq!(
        crate::admin::http::series(&metrics, counted),
        1.0,
        "{metrics}"
    );
    for wait in waits {
        assert_eq!(wait.await.expect("joins"), 408);
    }
    assert_eq!(
        get(admin, "/requests/wait?call_id=x&timeout_ms=10")
            .await
            .status,
        408,
        "room again"
    );
}

#[tokio::test]
async fn near_misses_of_unmatched_requests_are_listed() {
    let daemon = lab_daemon("", RULES);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    call(&client, "miss-1", "X-Case: bussy\r\n", 480).await;
    call(&client, "hit", "X-Case: busy\r\n", 486).await;
    let unmatched = get(admin, "/requests/unmatched").await.json();
    let unmatched = unmatched.as_array().expect("a list");
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    let record = &unmatched[0];
    assert_eq!(
        (record["call_id"].as_str(), record["rule"].as_str()),
        (Some("miss-1"), Some("fallback"))
    );
    let misses = record["near_misses"].as_array().expect("near misses");
    assert_eq!(misses.len(), 3);
    assert_eq!(misses[0]["rule"], "answer");
    assert_eq!(misses[0]["failed"], "headers.X-Case");
    assert_eq!(misses[0]["condition"], "header X-Case =~ /^answer$/");
    assert_eq!(misses[0]["held"], 1, "the method held");
    assert_eq!(misses[1]["rule"], "busy");
    assert_eq!(
        (misses[2]["rule"].as_str(), misses[2]["failed"].as_str()),
        (Some("im"), Some("method"))
    );
    let hit = get(admin, "/requests?call_id=hit&method=INVITE")
        .await
        .json();
    assert_eq!(
        hit[0]["near_misses"],
        serde_json::json!([]),
        "a request a rule took has none"
    );
    assert_eq!(
        get(admin, "/requests/unmatched?method=MESSAGE")
            .await
            .json(),
        serde_json::json!([])
    );
}
