//! Test-lab features over real UDP: templates, injection refusal, weighted
//! outcomes with a seed, sequences, `every`, delay ranges and the registrar.

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn every_template_variable_in_headers_reason_and_body() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "echo"
match.request_uri = '^sip:(?P<user>[a-z]+)@'
match.headers.X-Case = '^case-(?P<num>\d+)$'
reply = { status = 299, reason = "Hi ${from.display}", extra_headers = [
  "X-Method: ${method}", "X-Ruri: ${ruri} ${ruri.user} ${ruri.host}",
  "X-From: ${from.uri} ${from.user} ${from.host} ${from.tag}",
  "X-To: ${to.uri} ${to.user} ${to.host} [${to.tag}]",
  "X-Ids: ${call_id} ${cseq} ${header.x-case}",
  "X-Net: ${source.ip} ${transport} ${local.ip}",
  "X-Rule: ${rule} ${counter} ${match.user} ${match.num} $$ ${random}",
], body = "you said: ${body}" }
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let message = request(
        "MESSAGE",
        "sip:bob@example.com",
        "tpl-1",
        "X-Case: case-42\r\n",
        "hello",
    );
    let r = client.request(&message).await;
    assert_eq!((r.status, r.reason.as_str()), (299, "Hi Alice"));
    assert_eq!(r.header("X-Method"), Some("MESSAGE"));
    assert_eq!(
        r.header("X-Ruri"),
        Some("sip:bob@example.com bob example.com")
    );
    assert_eq!(
        r.header("X-From"),
        Some("sip:alice@example.com alice example.com from-tpl-1")
    );
    assert_eq!(
        r.header("X-To"),
        Some("sip:bob@example.com bob example.com []")
    );
    assert_eq!(r.header("X-Ids"), Some("tpl-1 1 case-42"));
    assert_eq!(r.header("X-Net"), Some("127.0.0.1 udp 127.0.0.1"));
    let rule = r.header("X-Rule").unwrap_or_default();
    assert!(
        rule.starts_with("echo 1 bob 42 $ ") && rule.len() == "echo 1 bob 42 $ ".len() + 10,
        "{rule}"
    );
    assert_eq!(r.body, "you said: hello");
    assert_eq!(
        r.header("Content-Length"),
        Some("15"),
        "Content-Length recomputed"
    );
    let again = client.request(&message.replace("tpl-1", "tpl-2")).await;
    assert!(
        again
            .header("X-Rule")
            .is_some_and(|v| v.starts_with("echo 2 ")),
        "per-rule counter"
    );
    let port = r.header("X-Net");
    assert!(port.is_some());
}

#[tokio::test]
async fn header_injection_through_a_template_is_refused() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"echo\"\naccept = { extra_headers = [\"X-Echo: ${header.X-In}\", \"X-Body: ${body}\"] }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&request(
            "MESSAGE",
            "sip:bob@example.com",
            "inj-1",
            "X-In: fine\r\n",
            "line1\r\nEvil: yes",
        ))
        .await;
    assert_eq!(r.header("X-Echo"), Some("fine"));
    assert_eq!(
        r.header("X-Body"),
        Some("${body}"),
        "refused: the unsubstituted form is sent"
    );
    assert_eq!(r.header("Evil"), None);
    assert_eq!(
        logs.lines_with(&["substitution refused"]).len(),
        1,
        "{}",
        logs.text()
    );
}

#[test]
fn unknown_template_variables_are_config_errors_with_position() {
    let text = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"a\"\naccept = { extra_headers = [\"X-A: ${nope}\"] }\n[[rule]]\nname = \"b\"\naccept = { body = \"${match.missing}\" }\n";
    let errors = sip_autoresponder::config::Config::parse(text, "t.toml")
        .expect_err("invalid")
        .to_string();
    assert!(
        errors.contains("t.toml:6:35: unknown template variable `${nope}`"),
        "{errors}"
    );
    assert!(errors.contains("t.toml:9:20: `${match.missing}`: no regex of this rule has a capture group named `missing`"), "{errors}");
}

const WEIGHTED: &str = r#"
[[rule]]
name = "flaky"
match.method = "OPTIONS"

[[rule.outcome]]
weight = 3
accept = {}

[[rule.outcome]]
weight = 1
reject = { status = 503 }
"#;

async fn statuses(seed: u64, count: usize) -> Vec<u16> {
    let daemon = TestDaemon::start(&format!(
        "[server]\nseed = {seed}\nforce_rport = true\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n{WEIGHTED}"
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let mut out = Vec::new();
    for i in 0..count {
        out.push(
            client
                .request(&options(&format!("w-{seed}-{i}")))
                .await
                .status,
        );
    }
    out
}

#[tokio::test]
async fn weighted_outcomes_are_reproducible_with_a_seed() {
    let first = statuses(42, 40).await;
    assert_eq!(first, statuses(42, 40).await, "same seed, same sequence");
    assert!(first.contains(&200) && first.contains(&503), "{first:?}");
}

#[tokio::test]
async fn a_sequence_answers_503_then_200_per_call_id() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "retry-then-ok"
match.method = "INVITE"

[rule.sequence]
key = "call_id"
ttl_ms = 60000

[[rule.sequence.policy]]
reject = { status = 503, extra_headers = ["Retry-After: 1"] }

[[rule.sequence.policy]]
accept = {}
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let first = request("INVITE", "sip:bob@example.com", "seq-1", "", "");
    let r = client.request(&first).await;
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("1")));
    client
        .send(&ack_for(&first, &r.to_tag().unwrap_or_default()))
        .await;
    // The retry: same Call-ID, new transaction.
    let retry = first
        .replace("z9hG4bK-seq-1", "z9hG4bK-seq-1b")
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    assert_eq!(client.request(&retry).await.status, 200);
    let other = client
        .request(&request("INVITE", "sip:bob@example.com", "seq-2", "", ""))
        .await;
    assert_eq!(other.status, 503, "another Call-ID starts over");
}

#[tokio::test]
async fn every_nth_request_takes_the_rule() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"third\"\nmatch.method = \"OPTIONS\"\nevery = 3\nreject = { status = 503 }\n[[rule]]\nname = \"rest\"\naccept = {}\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let mut got = Vec::new();
    for i in 0..6 {
        got.push(client.request(&options(&format!("every-{i}"))).await.status);
    }
    assert_eq!(got, [200, 200, 503, 200, 200, 503]);
}

#[tokio::test(start_paused = true)]
async fn delay_ranges_are_drawn_within_bounds() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"r\"\naccept = { delay_ms = { min = 100, max = 300 } }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    for i in 0..5 {
        let start = tokio::time::Instant::now();
        client.send(&options(&format!("range-{i}"))).await;
        client
            .recv_within(Duration::from_secs(10))
            .await
            .expect("answer");
        let waited = start.elapsed().as_millis();
        assert!((100..=310).contains(&waited), "{waited}");
    }
}

const REGISTRAR: &str = "[[rule]]\nname = \"registrar\"\nmatch.method = \"REGISTER\"\nregister = { min_expires = 60, max_expires = 600 }\n[[rule]]\nname = \"im\"\nmatch.method = \"MESSAGE\"\naccept = {}\nmessage = { body = \"hi ${from.user}\" }\n";

fn register(call_id: &str, cseq: u32, contact: &str, extra: &str) -> String {
    request(
        "REGISTER",
        "sip:example.com",
        call_id,
        &format!("Contact: {contact}\r\n{extra}"),
        "",
    )
    .replace("To: <sip:example.com>", "To: <sip:alice@example.com>")
    .replace("CSeq: 1 REGISTER", &format!("CSeq: {cseq} REGISTER"))
    .replace(
        &format!("z9hG4bK-{call_id}"),
        &format!("z9hG4bK-{call_id}-{cseq}"),
    )
}

#[tokio::test(start_paused = true)]
async fn registrar_binds_clamps_refuses_too_brief_and_expires() {
    let daemon = TestDaemon::start(&config_with(REGISTRAR));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&register(
            "reg",
            1,
            "<sip:alice@127.0.0.1:5999>;expires=3600",
            "",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.all("Contact"),
        ["<sip:alice@127.0.0.1:5999>;expires=600"],
        "clamped to max_expires"
    );
    assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")));

    let r = client
        .request(&register(
            "reg",
            2,
            "<sip:alice@127.0.0.1:5999>",
            "Expires: 30\r\n",
        ))
        .await;
    assert_eq!((r.status, r.header("Min-Expires")), (423, Some("60")));

    let r = client
        .request(&register(
            "reg",
            3,
            "<sip:alice@10.0.0.9:5060>;expires=120",
            "",
        ))
        .await;
    assert_eq!(
        r.all("Contact").len(),
        2,
        "200 lists every binding: {:?}",
        r.all("Contact")
    );

    tokio::time::advance(Duration::from_secs(121)).await;
    let r = client
        .request(&register(
            "reg",
            4,
            "<sip:alice@127.0.0.1:5999>;expires=0",
            "",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.all("Contact").is_empty(),
        "the 120 s binding expired and the other was removed: {:?}",
        r.all("Contact")
    );
}

#[tokio::test(start_paused = true)]
async fn auto_reply_goes_to_the_live_registration() {
    let daemon = TestDaemon::start(&config_with(REGISTRAR));
    let registered = UdpClient::new(daemon.udp()).await;
    let contact = format!("<sip:alice@127.0.0.1:{}>", registered.port());
    assert_eq!(
        registered
            .request(&register("live", 1, &contact, ""))
            .await
            .status,
        200
    );
    // Alice sends a MESSAGE from another socket; the reply goes to her binding.
    let sender = UdpClient::new(daemon.udp()).await;
    assert_eq!(
        sender
            .request(&request(
                "MESSAGE",
                "sip:bot@example.com",
                "live-im",
                "",
                "hey"
            ))
            .await
            .status,
        200
    );
    let reply = registered
        .recv_any_within(Duration::from_secs(10))
        .await
        .expect("auto-reply at the binding");
    assert_eq!(
        reply.start_line(),
        format!("MESSAGE sip:alice@127.0.0.1:{} SIP/2.0", registered.port())
    );
    assert_eq!(reply.body(), "hi alice");
    registered
        .send_to(&reply.response(200, "OK"), reply.from)
        .await;
}

#[tokio::test]
async fn journal_file_lines_are_the_objects_the_api_shows() {
    let path = std::env::temp_dir().join(format!(
        "sip-autoresponder-journal-{}-{}.jsonl",
        std::process::id(),
        fastrand::u32(..)
    ));
    let daemon = TestDaemon::start(&format!(
        "[admin]\naddress = \"127.0.0.1:0\"\njournal_file = \"{}\"\n{}",
        path.display(),
        config_with("[[rule]]\nname = \"ping\"\naccept = {}\n")
    ));
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&options("journal-file-1")).await.status, 200);
    assert_eq!(client.request(&options("journal-file-2")).await.status, 200);
    // The file is written by a thread of its own, each record once it is
    // complete (here: once its final response went).
    let deadline = tokio::time::Instant::now() + REPLY_WAIT;
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= 2 || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per record:\n{text}");
    let api = crate::admin::http::get(daemon.admin(), "/requests")
        .await
        .json();
    assert_eq!(api.as_array().map(Vec::len), Some(2));
    for (line, object) in lines.iter().zip(api.as_array().into_iter().flatten()) {
        assert_eq!(line, object, "the file's line is the API's object");
    }
    assert_eq!(lines[0]["call_id"], "journal-file-1");
    assert_eq!(lines[0]["rule"], "ping");
    assert_eq!(lines[0]["responses"][0]["status"], 200);
    let _ = std::fs::remove_file(&path);
}
