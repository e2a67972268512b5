//! Every matcher kind of `[[rule]] match.*`, over real UDP. Each rule
//! answers with its own status, so the status proves which rule answered;
//! 480 is the default fallback (no rule matched).

use crate::common::*;

/// The default fallback: reject() → 480.
const NO_MATCH: u16 = 480;

/// Sends `message` from a fresh socket and returns the status of the answer.
async fn status_of(daemon: &TestDaemon, message: &str) -> u16 {
    let client = UdpClient::new(daemon.udp()).await;
    client.request(message).await.status
}

/// A MESSAGE to `uri` with a text body.
fn message_with(uri: &str, call_id: &str, extra: &str, body: &str) -> String {
    request(
        "MESSAGE",
        uri,
        call_id,
        &format!("Content-Type: text/plain\r\n{extra}"),
        body,
    )
}

/// `message` with `from` (which must occur) replaced by `to`.
fn replaced(message: &str, from: &str, to: &str) -> String {
    assert!(message.contains(from), "`{from}` not in:\n{message}");
    message.replace(from, to)
}

/// A request with one method throughout (request line and CSeq).
fn with_method(method: &str, call_id: &str) -> String {
    request(method, "sip:responder@example.com", call_id, "", "")
}

/// After the method rule, a catch-all answers 299: the status tells which
/// rule answered (and keeps unknown methods away from the 501 that a
/// request no rule answers would get).
const CATCH_ALL: &str = "[[rule]]\nname = \"catch-all\"\nreply = { status = 299 }\n";

#[tokio::test]
async fn method_single_is_exact_and_case_sensitive() {
    let daemon = TestDaemon::start(&config_with(&format!(
        "[[rule]]\nname = \"options\"\nmatch.method = \"OPTIONS\"\naccept = {{ status = 202 }}\n\n{CATCH_ALL}"
    )));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "m1-a")).await,
        202
    );
    assert_eq!(status_of(&daemon, &with_method("INFO", "m1-b")).await, 299);
    // SIP methods are case-sensitive (RFC 3261 §7.1): `options` is another method.
    assert_eq!(
        status_of(&daemon, &with_method("options", "m1-c")).await,
        299
    );
}

#[tokio::test]
async fn method_list_matches_any_of_its_methods() {
    let daemon = TestDaemon::start(&config_with(&format!(
        "[[rule]]\nname = \"im\"\nmatch.method = [\"MESSAGE\", \"INFO\"]\naccept = {{ status = 202 }}\n\n{CATCH_ALL}"
    )));
    assert_eq!(
        status_of(&daemon, &with_method("MESSAGE", "m2-a")).await,
        202
    );
    assert_eq!(status_of(&daemon, &with_method("INFO", "m2-b")).await, 202);
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "m2-c")).await,
        299
    );
    assert_eq!(
        status_of(&daemon, &with_method("SUBSCRIBE", "m2-d")).await,
        299
    );
}

#[tokio::test]
async fn request_uri_regex() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"busy\"\nmatch.request_uri = '^sips?:busy@'\nreject = { status = 486 }\n",
    ));
    let busy = request("OPTIONS", "sip:busy@example.com", "ruri-a", "", "");
    assert_eq!(status_of(&daemon, &busy).await, 486);
    let busy_sips = request("OPTIONS", "sips:busy@example.com", "ruri-b", "", "");
    assert_eq!(status_of(&daemon, &busy_sips).await, 486);
    // The regex sees the Request-URI only: To still says busy here.
    let free = replaced(
        &request("OPTIONS", "sip:free@example.com", "ruri-c", "", ""),
        "To: <sip:free@example.com>",
        "To: <sip:busy@example.com>",
    );
    assert_eq!(status_of(&daemon, &free).await, NO_MATCH);
}

#[tokio::test]
async fn from_regex_sees_the_from_uri_only() {
    // The first rule would match the display name "Alice" if `from` looked
    // at the whole header; the second matches the URI, anchored both ends.
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"display\"\nmatch.from = 'Alice'\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"uri\"\nmatch.from = '^sip:alice@example\\.com$'\naccept = { status = 202 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "from-a")).await,
        202
    );
    let bob = replaced(
        &with_method("OPTIONS", "from-b"),
        "From: \"Alice\" <sip:alice@example.com>;tag=from-from-b",
        "From: \"Alice\" <sip:bob@example.com>;tag=from-from-b",
    );
    assert_eq!(status_of(&daemon, &bob).await, NO_MATCH);
    // The addr-spec form (no angle brackets): the URI is still found.
    let bare = replaced(
        &with_method("OPTIONS", "from-c"),
        "From: \"Alice\" <sip:alice@example.com>;tag=from-from-c",
        "From: sip:alice@example.com;tag=from-from-c",
    );
    assert_eq!(status_of(&daemon, &bare).await, 202);
}

#[tokio::test]
async fn to_regex_sees_the_to_uri() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"support\"\nmatch.to = '^sip:support@example\\.com$'\naccept = { status = 202 }\n",
    ));
    // Request-URI and To differ, so the status proves To was matched.
    let to_support = replaced(
        &with_method("OPTIONS", "to-a"),
        "To: <sip:responder@example.com>",
        "To: \"Support\" <sip:support@example.com>",
    );
    assert_eq!(status_of(&daemon, &to_support).await, 202);
    let to_compact = replaced(
        &with_method("OPTIONS", "to-b"),
        "To: <sip:responder@example.com>",
        "t: sip:support@example.com",
    );
    assert_eq!(status_of(&daemon, &to_compact).await, 202);
    let to_sales = replaced(
        &with_method("OPTIONS", "to-c"),
        "To: <sip:responder@example.com>",
        "To: \"Support\" <sip:sales@example.com>",
    );
    assert_eq!(status_of(&daemon, &to_sales).await, NO_MATCH);
}

#[tokio::test]
async fn header_regex_on_a_long_name_matches_the_compact_form() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"urgent\"\nmatch.headers.Subject = '^urgent'\nreject = { status = 603 }\n",
    ));
    let compact = request(
        "OPTIONS",
        "sip:responder@example.com",
        "hdr-a",
        "s: urgent: call back\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &compact).await, 603);
    let long = request(
        "OPTIONS",
        "sip:responder@example.com",
        "hdr-b",
        "Subject: urgent\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &long).await, 603);
    let routine = request(
        "OPTIONS",
        "sip:responder@example.com",
        "hdr-c",
        "s: routine\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &routine).await, NO_MATCH);
    let none = request("OPTIONS", "sip:responder@example.com", "hdr-d", "", "");
    assert_eq!(status_of(&daemon, &none).await, NO_MATCH);
}

#[tokio::test]
async fn header_presence_and_absence() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"probe\"\nmatch.headers.\"X-Probe\" = true\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"no-priority\"\nmatch.headers.Priority = false\naccept = { status = 202 }\n",
    ));
    // Present, even with an empty value.
    let probe = request(
        "OPTIONS",
        "sip:responder@example.com",
        "pres-a",
        "X-Probe: \r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &probe).await, 403);
    let neither = request("OPTIONS", "sip:responder@example.com", "pres-b", "", "");
    assert_eq!(status_of(&daemon, &neither).await, 202);
    let priority = request(
        "OPTIONS",
        "sip:responder@example.com",
        "pres-c",
        "Priority: urgent\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &priority).await, NO_MATCH);
}

#[tokio::test]
async fn extension_header_names_are_case_insensitive() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"scenario\"\nmatch.headers.\"X-Scenario\" = '^busy$'\nreject = { status = 486 }\n",
    ));
    for (i, name) in ["X-Scenario", "x-scenario", "X-SCENARIO"]
        .iter()
        .enumerate()
    {
        let busy = request(
            "OPTIONS",
            "sip:responder@example.com",
            &format!("ext-{i}"),
            &format!("{name}: busy\r\n"),
            "",
        );
        assert_eq!(
            status_of(&daemon, &busy).await,
            486,
            "header written as {name}"
        );
    }
    // Another extension header with the same value does not count.
    let other = request(
        "OPTIONS",
        "sip:responder@example.com",
        "ext-other",
        "X-Scenarios: busy\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &other).await, NO_MATCH);
    let answer = request(
        "OPTIONS",
        "sip:responder@example.com",
        "ext-answer",
        "X-Scenario: answer\r\n",
        "",
    );
    assert_eq!(status_of(&daemon, &answer).await, NO_MATCH);
}

#[tokio::test]
async fn body_regex() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"ping\"\nmatch.body = '(?i)\\bping\\b'\naccept = { status = 202 }\n",
    ));
    let ping = message_with("sip:responder@example.com", "body-a", "", "PING please");
    assert_eq!(status_of(&daemon, &ping).await, 202);
    let hello = message_with("sip:responder@example.com", "body-b", "", "hello");
    assert_eq!(status_of(&daemon, &hello).await, NO_MATCH);
    // The regex looks at the body, not at the headers.
    let in_header = message_with(
        "sip:responder@example.com",
        "body-c",
        "Subject: ping\r\n",
        "hello",
    );
    assert_eq!(status_of(&daemon, &in_header).await, NO_MATCH);
}

#[tokio::test]
async fn source_cidr_ipv4() {
    // 10.0.0.0/8 is tried first and must not match a loopback client.
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"lan\"\nmatch.source = \"10.0.0.0/8\"\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"loopback\"\nmatch.source = [\"192.0.2.0/24\", \"127.0.0.0/8\"]\naccept = { status = 202 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "src4-a")).await,
        202
    );

    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"lan\"\nmatch.source = \"10.0.0.0/8\"\nreject = { status = 403 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "src4-b")).await,
        NO_MATCH
    );
}

#[tokio::test]
async fn source_cidr_ipv6_on_an_ipv6_listener() {
    let daemon = TestDaemon::start(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"[::1]:0\"\n\n\
         [[rule]]\nname = \"ula\"\nmatch.source = \"fd00::/8\"\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"v4\"\nmatch.source = \"127.0.0.0/8\"\nreject = { status = 404 }\n\n\
         [[rule]]\nname = \"loopback6\"\nmatch.source = \"::1/128\"\naccept = { status = 202 }\n",
    );
    assert!(daemon.udp().is_ipv6(), "{:?}", daemon.udp());
    let client = UdpClient::new(daemon.udp()).await;
    let message = replaced(
        &with_method("OPTIONS", "src6-a"),
        "Via: SIP/2.0/UDP 127.0.0.1:5999",
        "Via: SIP/2.0/UDP [::1]:5999",
    );
    let response = client.request(&message).await;
    assert_eq!(response.status, 202, "{}", response.raw);
    assert!(
        response
            .header("Via")
            .is_some_and(|v| v.ends_with(";received=::1")),
        "{}",
        response.raw
    );
}

#[tokio::test]
async fn transport_udp() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"tcp-only\"\nmatch.transport = \"tcp\"\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"udp\"\nmatch.transport = \"udp\"\naccept = { status = 202 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "tr-a")).await,
        202
    );

    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"streams\"\nmatch.transport = [\"tcp\", \"tls\", \"ws\", \"wss\"]\nreject = { status = 403 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "tr-b")).await,
        NO_MATCH
    );
}

#[tokio::test]
async fn all_conditions_of_a_rule_must_hold() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"both\"\nmatch.method = \"MESSAGE\"\nmatch.body = 'ping'\naccept = { status = 202 }\n",
    ));
    let both = message_with("sip:responder@example.com", "and-a", "", "ping");
    assert_eq!(status_of(&daemon, &both).await, 202);
    let method_only = message_with("sip:responder@example.com", "and-b", "", "pong");
    assert_eq!(status_of(&daemon, &method_only).await, NO_MATCH);
    let body_only = request(
        "INFO",
        "sip:responder@example.com",
        "and-c",
        "Content-Type: text/plain\r\n",
        "ping",
    );
    assert_eq!(status_of(&daemon, &body_only).await, NO_MATCH);
}

#[tokio::test]
async fn first_matching_rule_wins() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"first\"\nmatch.method = \"OPTIONS\"\nreject = { status = 403 }\n\n\
         [[rule]]\nname = \"second\"\naccept = { status = 202 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "order-a")).await,
        403
    );
    // Only the second matches INFO.
    assert_eq!(
        status_of(&daemon, &with_method("INFO", "order-b")).await,
        202
    );

    // The same two rules the other way round.
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"second\"\naccept = { status = 202 }\n\n\
         [[rule]]\nname = \"first\"\nmatch.method = \"OPTIONS\"\nreject = { status = 403 }\n",
    ));
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "order-c")).await,
        202
    );
}

#[tokio::test]
async fn default_fallback_is_480_temporarily_unavailable() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"invite-only\"\nmatch.method = \"INVITE\"\naccept = {}\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let response = client.request(&with_method("OPTIONS", "fallback-a")).await;
    assert_eq!(
        (response.status, response.reason.as_str()),
        (480, "Temporarily Unavailable")
    );
    assert!(response.to_tag().is_some(), "{}", response.raw);
    client.expect_silence().await;
}

#[tokio::test]
async fn configured_fallback_replaces_the_default() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"options\"\nmatch.method = \"OPTIONS\"\naccept = { status = 202 }\n\n\
         [fallback]\nreject = { status = 404, extra_headers = [\"X-Fallback: yes\"] }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let response = client.request(&with_method("INFO", "fallback-b")).await;
    assert_eq!(
        (response.status, response.reason.as_str()),
        (404, "Not Found")
    );
    assert_eq!(response.header("X-Fallback"), Some("yes"));
    // The rules still come first.
    assert_eq!(
        status_of(&daemon, &with_method("OPTIONS", "fallback-c")).await,
        202
    );
}
