//! The four ServerContext verbs, with defaults and with every option.

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn defaults_of_each_verb() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "accept"
match.request_uri = "^sip:accept@"
accept = {}

[[rule]]
name = "reject"
match.request_uri = "^sip:reject@"
reject = {}

[[rule]]
name = "progress"
match.request_uri = "^sip:progress@"
progress = [{}]
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&request("MESSAGE", "sip:accept@example.com", "d1", "", ""))
        .await;
    assert_eq!(
        (r.status, r.reason.as_str(), r.body.as_str()),
        (200, "OK", "")
    );
    let r = client
        .request(&request("MESSAGE", "sip:reject@example.com", "d2", "", ""))
        .await;
    assert_eq!(
        (r.status, r.reason.as_str()),
        (480, "Temporarily Unavailable")
    );
    let r = client
        .request(&request("INVITE", "sip:progress@example.com", "d3", "", ""))
        .await;
    assert_eq!((r.status, r.reason.as_str()), (180, "Ringing"));
    // No final step: the INVITE rings until the client gives up.
    client.expect_silence().await;
}

#[tokio::test]
async fn every_option_of_every_verb() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "progress"
match.request_uri = "^sip:p@"
progress = [{ status = 183, reason = "Early Media Now", extra_headers = ["X-Step: one", "P-Early-Media: sendrecv"], body = "v=0\r\n", content_type = "application/sdp" }]
reply = { status = 299, reason = "Custom OK", extra_headers = ["X-Final: yes"], body = "done", content_type = "text/x-custom" }

[[rule]]
name = "accept"
match.request_uri = "^sip:a@"
accept = { status = 202, reason = "Queued Up", extra_headers = ["X-A: 1"], body = "hello" }

[[rule]]
name = "reject"
match.request_uri = "^sip:r@"
reject = { status = 486, extra_headers = ["Retry-After: 60"], body = "busy", content_type = "text/plain" }

[[rule]]
name = "reply"
match.request_uri = "^sip:y@"
reply = { status = 499 }
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;

    client
        .send(&request("INVITE", "sip:p@example.com", "o1", "", ""))
        .await;
    let early = client.recv().await;
    assert_eq!(
        (early.status, early.reason.as_str()),
        (183, "Early Media Now")
    );
    assert_eq!(early.header("X-Step"), Some("one"));
    assert_eq!(early.header("P-Early-Media"), Some("sendrecv"));
    assert_eq!(early.header("Content-Type"), Some("application/sdp"));
    assert_eq!(early.header("Content-Length"), Some("5"));
    assert_eq!(early.body, "v=0\r\n");
    let last = client.recv().await;
    assert_eq!((last.status, last.reason.as_str()), (299, "Custom OK"));
    assert_eq!(last.header("X-Final"), Some("yes"));
    assert_eq!(last.header("Content-Type"), Some("text/x-custom"));
    assert_eq!(last.body, "done");

    let r = client
        .request(&request("MESSAGE", "sip:a@example.com", "o2", "", ""))
        .await;
    assert_eq!(
        (r.status, r.reason.as_str(), r.body.as_str()),
        (202, "Queued Up", "hello")
    );
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain"),
        "default content type for text"
    );
    assert_eq!(r.header("X-A"), Some("1"));

    let r = client
        .request(&request("INVITE", "sip:r@example.com", "o3", "", ""))
        .await;
    assert_eq!((r.status, r.reason.as_str()), (486, "Busy Here"));
    assert_eq!(r.header("Retry-After"), Some("60"));
    assert_eq!(r.body, "busy");

    // An unregistered code gets the empty reason phrase.
    let r = client
        .request(&request("OPTIONS", "sip:y@example.com", "o4", "", ""))
        .await;
    assert_eq!(r.status, 499);
    assert_eq!(r.reason, "");
    assert!(r.raw.starts_with("SIP/2.0 499 \r\n"));
}

#[tokio::test]
async fn drop_policy_answers_nothing() {
    let daemon = TestDaemon::start(&config_with("[[rule]]\nname = \"silent\"\ndrop = true\n"));
    let client = UdpClient::new(daemon.udp()).await;
    client.send(&options("drop-1")).await;
    client.expect_silence().await;
}

/// Delays run on tokio's paused clock: the test measures virtual time, so it
/// is exact and never sleeps for real.
#[tokio::test(start_paused = true)]
async fn delays_between_steps() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "slow"
match.method = "INVITE"
progress = [{ status = 180, delay_ms = 2000 }, { status = 183, delay_ms = 500 }]
reject = { status = 486, delay_ms = 3000 }
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let start = tokio::time::Instant::now();
    client
        .send(&request(
            "INVITE",
            "sip:callee@example.com",
            "delay-1",
            "",
            "",
        ))
        .await;
    let wait = Duration::from_secs(30);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = client.recv_within(wait).await.expect("response");
        seen.push((response.status, start.elapsed().as_millis()));
    }
    assert_eq!(seen[0], (100, 0), "100 Trying at once: {seen:?}");
    assert_eq!(seen[1].0, 180);
    assert_eq!(seen[2].0, 183);
    assert_eq!(seen[3].0, 486);
    let within = |got: u128, want: u128| got >= want && got < want + 50;
    assert!(within(seen[1].1, 2000), "{seen:?}");
    assert!(within(seen[2].1, 2500), "{seen:?}");
    assert!(within(seen[3].1, 5500), "{seen:?}");
}

#[tokio::test]
async fn immediate_first_response_needs_no_trying() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"r\"\nprogress = [{}]\nreject = { status = 603, delay_ms = 20 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&request(
            "INVITE",
            "sip:callee@example.com",
            "imm-1",
            "",
            "",
        ))
        .await;
    assert_eq!(client.recv().await.status, 180);
    let r = client.recv().await;
    assert_eq!((r.status, r.reason.as_str()), (603, "Decline"));
}
