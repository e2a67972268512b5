//! Tests of `explain`: the dry run of a small config, message by message.

use super::*;

const CONFIG: &str = r#"
[server]
user_agent = "explain-test"

[[listen]]
transport = "udp"
address = "192.0.2.1:5060"

[[rule]]
name = "options"
match.method = "OPTIONS"
accept = {}

[[rule]]
name = "busy-line"
match.method = "INVITE"
match.request_uri = '^sip:busy@'
progress = [{ status = 180, delay_ms = 500 }]
reject = { status = 486, delay_ms = 2000, extra_headers = ["Retry-After: 60"] }

[[rule]]
name = "answer"
match.method = "INVITE"
match.headers."X-Scenario" = '^answer$'
accept = { body = "v=0\r\n", hangup_after_ms = 30000 }

[[rule]]
name = "update"
match.method = "UPDATE"
accept = { body.sdp = "answer" }

[[rule]]
name = "im"
match.method = "MESSAGE"
accept = { status = 202 }
message = { body = "I am away", delay_ms = 500 }
"#;

fn config() -> Config {
    Config::parse(CONFIG, "explain-test.toml").expect("valid config")
}

fn source() -> SocketAddr {
    "198.51.100.7:5062".parse().expect("address")
}

fn run(message: &str) -> String {
    mask(&explain(&config(), message.as_bytes(), source(), Transport::Udp).expect("explained"))
}

/// Random tags and branches of the run, shown as placeholders.
fn mask(text: &str) -> String {
    let to_tag = regex::Regex::new(r"(?m)^(    To: .*;tag=)[0-9A-Za-z]{10}$").expect("regex");
    let branch = regex::Regex::new(r"branch=z9hG4bK[0-9A-Za-z]{10};").expect("regex");
    let text = to_tag.replace_all(text, "${1}<to-tag>");
    branch
        .replace_all(&text, "branch=z9hG4bK<branch>;")
        .into_owned()
}

fn invite(uri: &str, extra: &str) -> String {
    format!(
        "INVITE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK776asdhds;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=1928301774\r\n\
         To: <{uri}>\r\n\
         Call-ID: a84b4c76e66710\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@198.51.100.7:5062>\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn matching_invite_shows_earlier_mismatches_and_each_delayed_response() {
    let text = run(&invite("sip:busy@example.com", ""));
    let expected = "\
request: INVITE sip:busy@example.com (Call-ID a84b4c76e66710) from 198.51.100.7:5062 over udp
rule options: no match (first failing condition: method)
rule busy-line: MATCH
   replies: after 500 ms progress 180 Ringing, then after 2000 ms reject 486 Busy Here [Retry-After: 60]
dry run (virtual clock; a well-behaved client ACKs final responses, PRACKs reliable provisional responses and answers 200 to requests):
at 0 ms, sent to 198.51.100.7:5062:
    SIP/2.0 100 Trying
    Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK776asdhds;rport=5062;received=198.51.100.7
    From: <sip:alice@example.com>;tag=1928301774
    To: <sip:busy@example.com>
    Call-ID: a84b4c76e66710
    CSeq: 314159 INVITE
    Server: explain-test
    Content-Length: 0
at 500 ms, sent to 198.51.100.7:5062:
    SIP/2.0 180 Ringing
    Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK776asdhds;rport=5062;received=198.51.100.7
    From: <sip:alice@example.com>;tag=1928301774
    To: <sip:busy@example.com>;tag=<to-tag>
    Call-ID: a84b4c76e66710
    CSeq: 314159 INVITE
    Contact: <sip:192.0.2.1:5060>
    Server: explain-test
    Content-Length: 0
at 2500 ms, sent to 198.51.100.7:5062:
    SIP/2.0 486 Busy Here
    Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK776asdhds;rport=5062;received=198.51.100.7
    From: <sip:alice@example.com>;tag=1928301774
    To: <sip:busy@example.com>;tag=<to-tag>
    Call-ID: a84b4c76e66710
    CSeq: 314159 INVITE
    Server: explain-test
    Retry-After: 60
    Content-Length: 0
at 2500 ms, the client sends ACK
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn non_matching_invite_falls_back_naming_each_failing_condition() {
    let text = run(&invite("sip:bob@example.com", ""));
    assert!(
        text.contains(
            "rule options: no match (first failing condition: method)\n\
             rule busy-line: no match (first failing condition: request_uri)\n\
             rule answer: no match (first failing condition: headers.X-Scenario)\n\
             rule update: no match (first failing condition: method)\n\
             rule im: no match (first failing condition: method)\n\
             no rule matched: the fallback answers\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "at 0 ms, sent to 198.51.100.7:5062:\n    SIP/2.0 480 Temporarily Unavailable\n"
        ),
        "{text}"
    );
    assert!(!text.contains("100 Trying"), "{text}");
}

/// The 2xx is acknowledged by the client; the hang-up BYE follows in the
/// dialog (route set, remote target, CSeq 1), answered 200.
#[test]
fn an_answered_invite_is_hung_up_in_its_dialog() {
    let text = run(&invite("sip:bob@example.com", "X-Scenario: answer\r\n"));
    assert!(text.contains("rule answer: MATCH\n"), "{text}");
    assert!(
        text.contains("    Content-Type: application/sdp\n    Content-Length: 5\n\n    v=0\n"),
        "{text}"
    );
    assert!(text.contains("at 0 ms, the client sends ACK\n"), "{text}");
    assert!(
        text.contains(
            "at 30000 ms, sent to 198.51.100.7:5062:\n    BYE sip:alice@198.51.100.7:5062 SIP/2.0\n"
        ),
        "{text}"
    );
    assert!(text.contains("    CSeq: 1 BYE\n"), "{text}");
    assert!(
        text.ends_with("at 30000 ms, the client sends 200 OK to the BYE\n"),
        "{text}"
    );
}

#[test]
fn message_shows_the_auto_reply() {
    let message = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKm1\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@example.com>;tag=m1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: m1@example.com\r\n\
        CSeq: 1 MESSAGE\r\n\
        Content-Type: text/plain\r\n\
        Content-Length: 2\r\n\r\nhi";
    let text = run(message);
    assert!(
        text.contains("at 0 ms, sent to 198.51.100.7:5062:\n    SIP/2.0 202 Accepted\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "at 500 ms, sent to 198.51.100.7:5062:\n\
             \x20   MESSAGE sip:alice@example.com SIP/2.0\n\
             \x20   Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK<branch>;rport\n"
        ),
        "the auto-reply goes back over the flow it came from: {text}"
    );
    assert!(
        text.contains("    Content-Length: 9\n\n    I am away\nat 500 ms, the client sends 200 OK to the MESSAGE\n"),
        "{text}"
    );
}

#[test]
fn protocol_checks_come_before_the_rules() {
    let text = run(&invite("sip:busy@example.com", "Require: 100rel, foo\r\n"));
    assert!(
        text.contains("refused before the rules are tried: Require: foo is not supported"),
        "{text}"
    );
    assert!(text.contains("    SIP/2.0 420 Bad Extension\n"), "{text}");
    assert!(
        text.contains("    Unsupported: foo\n"),
        "100rel is supported: {text}"
    );
    assert!(!text.contains("rule busy-line"), "{text}");

    let text = run(&invite("mailto:busy@example.com", ""));
    assert!(
        text.contains("    SIP/2.0 416 Unsupported URI Scheme\n"),
        "{text}"
    );

    let unknown = invite("sip:x@example.com", "").replace("INVITE", "FROB");
    assert!(run(&unknown).contains("    SIP/2.0 501 Not Implemented\n"));
}

#[test]
fn in_dialog_requests_without_a_dialog_get_481() {
    let bye = invite("sip:bob@example.com", "")
        .replace("INVITE", "BYE")
        .replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=xyz",
        );
    let text = run(&bye);
    assert!(
        text.contains("    SIP/2.0 481 Call/Transaction Does Not Exist\n"),
        "{text}"
    );
    assert!(text.contains("BYE gets 200"), "{text}");
}

#[test]
fn malformed_requests_get_400_or_are_dropped() {
    let missing = invite("sip:busy@example.com", "").replace("Call-ID: a84b4c76e66710\r\n", "");
    let text = run(&missing);
    assert!(
        text.contains("malformed INVITE request: missing Call-ID header\n"),
        "{text}"
    );
    assert!(
        text.contains("    SIP/2.0 400 Bad Request (missing Call-ID header)\n"),
        "{text}"
    );
    let text = run("INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n");
    assert!(text.contains("nothing is sent"), "{text}");
}

/// Over a stream the sender is known: a request without Via still gets
/// 400 (the daemon's stream path), where over UDP it is dropped.
#[test]
fn a_via_less_request_on_a_stream_gets_400() {
    let request = invite("sip:busy@example.com", "").replace(
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK776asdhds;rport\r\n",
        "",
    );
    let udp = run(&request);
    assert!(udp.contains("nothing is sent"), "{udp}");
    let tcp = CONFIG.replace("transport = \"udp\"", "transport = \"tcp\"");
    let config = Config::parse(&tcp, "tcp.toml").expect("valid config");
    let text = explain(&config, request.as_bytes(), source(), Transport::Tcp).expect("explained");
    assert!(text.contains("    SIP/2.0 400 Bad Request"), "{text}");
}

#[test]
fn empty_input_and_responses_are_errors() {
    let config = config();
    let response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(
        explain(&config, response, source(), Transport::Udp),
        Err(ExplainError::NotARequest { status: 200 })
    );
    assert_eq!(
        explain(&config, b"\r\n\r\n", source(), Transport::Udp),
        Err(ExplainError::Empty)
    );
}

#[test]
fn methods_outside_allowed_methods_get_405() {
    let text = CONFIG.replace(
        "user_agent = \"explain-test\"",
        "user_agent = \"explain-test\"\nallowed_methods = [\"INVITE\", \"ACK\"]",
    );
    let config = Config::parse(&text, "allowed.toml").expect("valid config");
    let options = invite("sip:bob@example.com", "").replace("INVITE", "OPTIONS");
    let text = explain(&config, options.as_bytes(), source(), Transport::Udp).expect("explained");
    assert!(text.contains("OPTIONS is not in allowed_methods"), "{text}");
    assert!(
        text.contains("    SIP/2.0 405 Method Not Allowed\n"),
        "{text}"
    );
    assert!(text.contains("    Allow: INVITE, ACK\n"), "{text}");
}

/// An INVITE requiring 100rel: the provisional response carries `Require:
/// 100rel` and an RSeq, and the client PRACKs it.
#[test]
fn reliable_provisionals_carry_require_and_rseq_and_are_pracked() {
    let text = run(&invite("sip:busy@example.com", "Require: 100rel\r\n"));
    assert!(
        text.contains("    SIP/2.0 180 Ringing\n")
            && text.contains("    Require: 100rel\n    RSeq: "),
        "{text}"
    );
    assert!(
        text.contains("at 500 ms, the client sends PRACK (RAck "),
        "{text}"
    );
    assert!(
        text.contains("at 500 ms, sent to 198.51.100.7:5062:\n    SIP/2.0 200 OK\n"),
        "the PRACK's 200: {text}"
    );
    let plain = run(&invite("sip:busy@example.com", ""));
    assert!(!plain.contains("RSeq"), "{plain}");
}

/// PRACK never reaches the rules: the transaction layer answers it.
#[test]
fn a_prack_is_answered_by_the_transaction_layer() {
    let prack = |rack: &str| {
        invite("sip:busy@example.com", rack)
            .replace("INVITE sip:", "PRACK sip:")
            .replace("CSeq: 314159 INVITE", "CSeq: 314160 PRACK")
            .replace(
                "To: <sip:busy@example.com>",
                "To: <sip:busy@example.com>;tag=abc",
            )
    };
    let text = run(&prack("RAck: 1 314159 INVITE\r\n"));
    assert!(text.contains("answered by the transaction layer"), "{text}");
    assert!(text.contains("    SIP/2.0 481 "), "{text}");
    assert!(!text.contains("rule busy-line"), "{text}");
    let text = run(&prack(""));
    assert!(text.contains("    SIP/2.0 400 Bad Request\n"), "{text}");
}

/// `body.sdp = "answer"` shows the real answer bytes for an offer, and no
/// body for an UPDATE without one.
#[test]
fn sdp_answers_are_the_real_bytes() {
    let update = |body: &str| {
        invite("sip:bob@example.com", "")
            .replace("INVITE sip:", "UPDATE sip:")
            .replace("CSeq: 314159 INVITE", "CSeq: 314159 UPDATE")
            .replace(
                "Content-Length: 0\r\n\r\n",
                &format!(
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            )
    };
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    let text = run(&update(offer));
    assert!(
        text.contains("    Content-Type: application/sdp\n")
            && text.contains("    m=audio 40000 RTP/AVP 0\n")
            && text.contains("    c=IN IP4 192.0.2.1\n"),
        "{text}"
    );
    let refresh = run(&update(""));
    assert!(
        refresh.contains("SIP/2.0 200 OK") && !refresh.contains("Content-Type"),
        "{refresh}"
    );
}

/// An INVITE that rings with no final step gets 480 with a Reason at the
/// ring timeout; the client ACKs it.
#[test]
fn a_ringing_invite_is_answered_at_the_ring_timeout() {
    let text = CONFIG.replace(
        "[[rule]]\nname = \"options\"",
        "[timers]\nring_timeout_ms = 60000\n\n[[rule]]\nname = \"ring\"\nmatch.request_uri = '^sip:ring@'\nprogress = [{}]\n\n[[rule]]\nname = \"options\"",
    );
    let config = Config::parse(&text, "ring.toml").expect("valid config");
    let ring = invite("sip:ring@example.com", "");
    let text =
        mask(&explain(&config, ring.as_bytes(), source(), Transport::Udp).expect("explained"));
    assert!(
        text.contains(
            "at 60000 ms, sent to 198.51.100.7:5062:\n    SIP/2.0 480 Temporarily Unavailable\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    Reason: SIP;cause=480;text=\"No Answer\"\n"),
        "{text}"
    );
    assert!(
        text.ends_with("at 60000 ms, the client sends ACK\n"),
        "{text}"
    );
}

/// A rule that asks for credentials says so, and the dry run shows the
/// challenge the request would get (sent once, then the client's ACK).
#[test]
fn a_rule_with_auth_shows_what_it_requires_and_the_challenge() {
    let text = "[auth]\nrealm = \"lab\"\nusers = { alice = \"secret\" }\n\n\
                [[listen]]\ntransport = \"udp\"\naddress = \"192.0.2.1:5060\"\n\n\
                [[rule]]\nname = \"call\"\nmatch.method = \"INVITE\"\nauth = \"required\"\naccept = {}\n";
    let config = Config::parse(text, "auth.toml").expect("valid config");
    let message = invite("sip:bob@example.com", "");
    let shown = explain(&config, message.as_bytes(), source(), Transport::Udp).expect("explained");
    assert!(
        shown.contains("rule call: MATCH\n   requires: credentials for realm \"lab\" (MD5; qop auth), else 401 (this request's: absent;"),
        "{shown}"
    );
    assert!(shown.contains("    SIP/2.0 401 Unauthorized\n"), "{shown}");
    assert_eq!(
        shown.matches("SIP/2.0 401").count(),
        1,
        "sent once: {shown}"
    );
    assert!(shown.contains("the client sends ACK"), "{shown}");
}
