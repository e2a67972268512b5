//! Digest authentication over real sockets (issue 17): a challenge, the
//! ACK of a 401 absorbed, the retry with a new CSeq answered by the rule
//! (over UDP and TCP); wrong passwords get 403 (or a fresh 401); an
//! expired nonce gets `stale=true` and a fresh retry passes; a replayed
//! nonce count is refused; a 401 is sent once, never retransmitted; the
//! rule's sequence and counter move only for the request that passes;
//! `match.auth` branches; metrics and the journal name who authenticated,
//! never the credentials.

mod digest;
mod registrar;
mod runtime;
mod state;
mod wire;

use std::time::Duration;

use crate::admin::http::{get, series};
use crate::common::clients::{Client, StreamClient};
use crate::common::*;
use digest::{Answer, Challenge, credentials};

/// The daemon's config: `[auth]` with two users and a short nonce
/// lifetime, UDP and TCP, short timers, retransmissions let through to
/// unverified sources (so their absence is the daemon's doing).
pub(super) fn config(extra: &str, rules: &str) -> String {
    format!(
        r#"[server]
force_rport = true
{SILENT_CLIENT_ALLOWED}
[timers]
t1_ms = 50

[auth]
realm = "lab"
users = {{ alice = "secret", bob = "hunter2" }}
{extra}

[admin]
address = "127.0.0.1:0"

[[listen]]
transport = "udp"
address = "127.0.0.1:0"

[[listen]]
transport = "tcp"
address = "127.0.0.1:0"

{rules}"#
    )
}

const CALL_RULES: &str = r#"
[[rule]]
name = "call"
match.method = "INVITE"
auth = "required"
accept = { extra_headers = ["X-Auth: ${auth.user}@${auth.realm}"] }

[[rule]]
name = "im"
match.method = "MESSAGE"
auth = "required"
accept = { extra_headers = ["X-Count: ${counter}"] }

[[rule]]
name = "busy"
match.method = "OPTIONS"
reject = { status = 486 }
"#;

pub(super) async fn client(daemon: &TestDaemon, transport: &str) -> Client {
    match transport {
        "udp" => Client::Udp(UdpClient::new(daemon.udp()).await),
        _ => Client::Stream(
            StreamClient::tcp(daemon.addr(sip_autoresponder::sip::Transport::Tcp)).await,
        ),
    }
}

/// `message` with its CSeq number and branch changed, and a header added.
pub(super) fn retry(message: &str, cseq: u32, header: &str) -> String {
    let (head, body) = message.split_once("\r\n\r\n").unwrap_or((message, ""));
    let head = head
        .replace("CSeq: 1 ", &format!("CSeq: {cseq} "))
        .replace(";branch=z9hG4bK-", &format!(";branch=z9hG4bK-{cseq}x"));
    format!("{head}\r\n{header}\r\n\r\n{body}")
}

async fn invite_is_challenged_then_answered(transport: &str) {
    let daemon = TestDaemon::start(&config("", CALL_RULES));
    let mut client = client(&daemon, transport).await;
    let uri = "sip:bob@lab";
    let invite = request("INVITE", uri, &format!("auth-{transport}"), "", "");
    let challenge = client.request(&invite).await;
    assert_eq!(challenge.status, 401, "{}", challenge.raw);
    assert_eq!(challenge.reason, "Unauthorized");
    let offered = Challenge::first(&challenge, "WWW-Authenticate");
    assert_eq!(
        (
            offered.realm.as_str(),
            offered.algorithm.as_str(),
            offered.qop.as_str(),
            offered.stale
        ),
        ("lab", "MD5", "auth", false)
    );
    assert!(
        !offered.opaque.is_empty() && offered.nonce.len() >= 32,
        "{offered:?}"
    );
    let tag = challenge.to_tag().expect("a To-tag on the 401");
    // RFC 3261 §17.1.1.3: the client ACKs the 401; nothing answers it.
    client.send(&ack_for(&invite, &tag)).await;
    client.expect_silence().await;
    // §22.2: the retry is a new request with the next CSeq.
    let answer = Answer {
        user: "alice",
        password: "secret",
        method: "INVITE",
        uri,
        nc: 1,
    };
    let authorization = format!("Authorization: {}", credentials(&offered, &answer));
    let retried = retry(&invite, 2, &authorization);
    let ok = client.request(&retried).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(ok.header("CSeq"), Some("2 INVITE"));
    assert_eq!(
        ok.header("X-Auth"),
        Some("alice@lab"),
        "${{auth.user}}@${{auth.realm}}"
    );
    let ok_tag = ok.to_tag().expect("tag");
    client
        .send(&in_dialog(
            "ACK",
            &format!("auth-{transport}"),
            &ok_tag,
            2,
            "ack2",
        ))
        .await;
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_auth_challenges_total{status=\"401\",stale=\"false\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        series(&metrics, "sip_autoresponder_auth_successes_total"),
        1.0
    );
}

#[tokio::test]
async fn invite_is_challenged_then_answered_over_udp() {
    invite_is_challenged_then_answered("udp").await;
}

#[tokio::test]
async fn invite_is_challenged_then_answered_over_tcp() {
    invite_is_challenged_then_answered("tcp").await;
}

/// RFC 3261 §26.3.2.4: a challenge is stateless and sent once. The same
/// config retransmits a 486 on Timer G (the control), but not the 401;
/// and a retransmitted INVITE gets a new challenge (nothing was kept).
#[tokio::test]
async fn a_401_is_sent_once_without_retransmission_over_udp() {
    let daemon = TestDaemon::start(&config("", CALL_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = request("INVITE", "sip:bob@lab", "once", "", "");
    let first = client.request(&invite).await;
    assert_eq!(first.status, 401);
    client.expect_silence().await;
    let again = client.request(&invite).await;
    assert_eq!(again.status, 401, "{}", again.raw);
    assert_ne!(
        Challenge::first(&first, "WWW-Authenticate").nonce,
        Challenge::first(&again, "WWW-Authenticate").nonce,
        "answered anew, not from a transaction"
    );
    // The control: with the same settings a rule's 486 to an INVITE is
    // retransmitted on Timer G (t1 = 50 ms).
    let busy = "[[rule]]\nname = \"busy\"\nmatch.method = \"INVITE\"\nreject = { status = 486 }\n";
    let control_daemon = TestDaemon::start(&config("", busy));
    let control = UdpClient::new(control_daemon.udp()).await;
    let invite = request("INVITE", "sip:bob@lab", "control", "", "");
    assert_eq!(control.request(&invite).await.status, 486);
    let resent = control.recv_within(Duration::from_millis(500)).await;
    assert_eq!(
        resent.map(|r| r.status),
        Some(486),
        "Timer G resends a rule's 486"
    );
}

/// A wrong password gets 403 (the default) or a fresh 401
/// (`on_failure = "401"`); an unknown user the same; each is counted. Over
/// UDP and TCP.
#[tokio::test]
async fn a_wrong_password_gets_403_or_a_fresh_401_as_configured() {
    for transport in ["udp", "tcp"] {
        wrong_password(transport).await;
    }
}

async fn wrong_password(transport: &str) {
    for (on_failure, status) in [("", 403), ("on_failure = \"401\"", 401)] {
        let daemon = TestDaemon::start(&config(on_failure, CALL_RULES));
        let mut client = client(&daemon, transport).await;
        let message = request(
            "MESSAGE",
            "sip:bob@lab",
            &format!("wrong-{status}-{transport}"),
            "",
            "hi",
        );
        let challenge = client.request(&message).await;
        assert_eq!(challenge.status, 401);
        let offered = Challenge::first(&challenge, "WWW-Authenticate");
        for (n, (user, password)) in [("alice", "guess"), ("mallory", "secret")]
            .into_iter()
            .enumerate()
        {
            let answer = Answer {
                user,
                password,
                method: "MESSAGE",
                uri: "sip:bob@lab",
                nc: 1,
            };
            let header = format!("Authorization: {}", credentials(&offered, &answer));
            let refused = client
                .request(&retry(&message, 2 + n as u32, &header))
                .await;
            assert_eq!(refused.status, status, "{user}: {}", refused.raw);
            if status == 401 {
                assert!(!Challenge::first(&refused, "WWW-Authenticate").stale);
            }
        }
        let metrics = get(daemon.admin(), "/metrics").await.body;
        for reason in ["wrong_password", "unknown_user"] {
            assert_eq!(
                series(
                    &metrics,
                    &format!("sip_autoresponder_auth_failures_total{{reason=\"{reason}\"}}")
                ),
                1.0,
                "{reason}\n{metrics}"
            );
        }
    }
}

/// A nonce past `nonce_lifetime_ms` gets 401 with `stale=true`; the retry
/// with the fresh nonce passes. Over UDP and TCP.
#[tokio::test]
async fn an_expired_nonce_gets_stale_and_a_fresh_retry_passes() {
    for transport in ["udp", "tcp"] {
        stale_nonce(transport).await;
    }
}

async fn stale_nonce(transport: &str) {
    let daemon = TestDaemon::start(&config("nonce_lifetime_ms = 150", CALL_RULES));
    let mut client = client(&daemon, transport).await;
    let message = request("MESSAGE", "sip:bob@lab", "stale", "", "hi");
    let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let answer = |nc| Answer {
        user: "alice",
        password: "secret",
        method: "MESSAGE",
        uri: "sip:bob@lab",
        nc,
    };
    let late = format!("Authorization: {}", credentials(&offered, &answer(1)));
    let stale = client.request(&retry(&message, 2, &late)).await;
    assert_eq!(stale.status, 401, "{}", stale.raw);
    let fresh = Challenge::first(&stale, "WWW-Authenticate");
    assert!(fresh.stale, "{}", stale.raw);
    assert_ne!(fresh.nonce, offered.nonce);
    let retried = format!("Authorization: {}", credentials(&fresh, &answer(1)));
    let ok = client.request(&retry(&message, 3, &retried)).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_auth_challenges_total{status=\"401\",stale=\"true\"}"
        ),
        1.0
    );
}

/// RFC 7616 §3.4: a nonce count is good once. The same credentials in a
/// new request (a replay) get a fresh challenge; the next count passes.
#[tokio::test]
async fn a_replayed_nonce_count_is_refused() {
    let daemon = TestDaemon::start(&config("", CALL_RULES));
    for transport in ["udp", "tcp"] {
        let mut client = client(&daemon, transport).await;
        let message = request(
            "MESSAGE",
            "sip:bob@lab",
            &format!("replay-{transport}"),
            "",
            "hi",
        );
        let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
        let answer = |nc| Answer {
            user: "alice",
            password: "secret",
            method: "MESSAGE",
            uri: "sip:bob@lab",
            nc,
        };
        let once = format!("Authorization: {}", credentials(&offered, &answer(1)));
        assert_eq!(client.request(&retry(&message, 2, &once)).await.status, 200);
        let replayed = client.request(&retry(&message, 3, &once)).await;
        assert_eq!(replayed.status, 401, "{transport}: {}", replayed.raw);
        assert!(!Challenge::first(&replayed, "WWW-Authenticate").stale);
        let next = format!("Authorization: {}", credentials(&offered, &answer(2)));
        assert_eq!(client.request(&retry(&message, 4, &next)).await.status, 200);
    }
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_auth_failures_total{reason=\"replayed_nonce\"}"
        ),
        2.0
    );
}

/// A challenge never runs the rule: its sequence and its counter move
/// only for the request that passes.
#[tokio::test]
async fn challenges_leave_sequences_and_counters_alone() {
    let rules = r#"
[[rule]]
name = "retry-then-ok"
match.method = "INVITE"
auth = "required"

[rule.sequence]
key = "call_id"

[[rule.sequence.policy]]
reject = { status = 503, extra_headers = ["Retry-After: 1"] }

[[rule.sequence.policy]]
accept = {}

[[rule]]
name = "im"
match.method = "MESSAGE"
auth = "required"
accept = { extra_headers = ["X-Count: ${counter}"] }
"#;
    let daemon = TestDaemon::start(&config("", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = request("INVITE", "sip:bob@lab", "sequence", "", "");
    let challenge = client.request(&invite).await;
    assert_eq!(challenge.status, 401);
    client
        .send(&ack_for(&invite, &challenge.to_tag().expect("tag")))
        .await;
    let offered = Challenge::first(&challenge, "WWW-Authenticate");
    let header = |method, nc| {
        let answer = Answer {
            user: "bob",
            password: "hunter2",
            method,
            uri: "sip:bob@lab",
            nc,
        };
        format!("Authorization: {}", credentials(&offered, &answer))
    };
    let first = client
        .request(&retry(&invite, 2, &header("INVITE", 1)))
        .await;
    assert_eq!(
        first.status, 503,
        "the sequence's first policy: the challenge did not count"
    );
    let message = request("MESSAGE", "sip:bob@lab", "counter", "", "hi");
    for _ in 0..3 {
        assert_eq!(
            client
                .request(&message.replace(
                    "branch=z9hG4bK-",
                    &format!("branch=z9hG4bK-{}", fastrand::u32(..))
                ))
                .await
                .status,
            401
        );
    }
    let ok = client
        .request(&retry(&message, 2, &header("MESSAGE", 2)))
        .await;
    assert_eq!(
        ok.header("X-Count"),
        Some("1"),
        "three challenges, one taken: {}",
        ok.raw
    );
}

/// `match.auth` branches before any challenge: a wrong password gets the
/// rule's own answer, no credentials another.
#[tokio::test]
async fn match_auth_branches_on_the_credentials() {
    let rules = r#"
[[rule]]
name = "wrong-user"
match.method = "OPTIONS"
match.auth = "invalid"
reply = { status = 403, reason = "Wrong User" }

[[rule]]
name = "anonymous"
match.method = "OPTIONS"
match.auth = "absent"
reply = { status = 401, reason = "Please Authenticate", extra_headers = ["X-Branch: absent"] }

[[rule]]
name = "member"
match.method = "OPTIONS"
match.auth = "valid"
accept = { extra_headers = ["X-Member: ${auth.user}"] }

[[rule]]
name = "challenger"
match.method = "MESSAGE"
auth = "required"
accept = {}
"#;
    let daemon = TestDaemon::start(&config("", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let anonymous = client.request(&options("anon")).await;
    assert_eq!(
        (anonymous.status, anonymous.header("X-Branch")),
        (401, Some("absent"))
    );
    // A nonce to answer with, from the rule that challenges.
    let message = request("MESSAGE", "sip:bob@lab", "nonce", "", "hi");
    let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
    let header = |password, nc| {
        let answer = Answer {
            user: "alice",
            password,
            method: "OPTIONS",
            uri: "sip:responder@example.com",
            nc,
        };
        format!("Authorization: {}", credentials(&offered, &answer))
    };
    let wrong = client
        .request(&retry(&options("wrong"), 2, &header("guess", 1)))
        .await;
    assert_eq!((wrong.status, wrong.reason.as_str()), (403, "Wrong User"));
    let member = client
        .request(&retry(&options("member"), 2, &header("secret", 1)))
        .await;
    assert_eq!(
        (member.status, member.header("X-Member")),
        (200, Some("alice")),
        "{}",
        member.raw
    );
    let replay = client
        .request(&retry(&options("member2"), 2, &header("secret", 1)))
        .await;
    assert_eq!(
        replay.reason, "Wrong User",
        "a replayed count is invalid credentials"
    );
}

/// The journal says who authenticated, or why not, and shows
/// Authorization values masked.
#[tokio::test]
async fn the_journal_names_the_user_and_masks_credentials() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config("", CALL_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@lab", "journal", "", "hi");
    let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
    let answer = Answer {
        user: "alice",
        password: "secret",
        method: "MESSAGE",
        uri: "sip:bob@lab",
        nc: 1,
    };
    let value = credentials(&offered, &answer);
    let secret = value
        .split("response=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("response")
        .to_owned();
    let ok = client
        .request(&retry(&message, 2, &format!("Authorization: {value}")))
        .await;
    assert_eq!(ok.status, 200);
    let journal = get(daemon.admin(), "/requests?method=MESSAGE").await.body;
    assert!(
        !journal.contains(&secret),
        "the response digest leaked:\n{journal}"
    );
    // The nonce is public (the 401 that carried it is journalled with its
    // headers); what the request added to it is not.
    assert!(
        !journal.contains("0a4f113b"),
        "the cnonce leaked:\n{journal}"
    );
    let records: serde_json::Value = serde_json::from_str(&journal).expect("json");
    let records = records.as_array().expect("array");
    assert_eq!(records.len(), 2, "{journal}");
    assert_eq!(records[0]["auth"]["result"], "absent");
    assert_eq!(records[0]["responses"][0]["status"], 401);
    assert_eq!(records[1]["auth"]["user"], "alice");
    assert_eq!(records[1]["auth"]["result"], "valid");
    let authorization = records[1]["headers"]
        .as_array()
        .and_then(|h| h.iter().find(|pair| pair[0] == "Authorization"))
        .expect("the header is listed");
    assert_eq!(
        authorization[1],
        "Digest username=\"alice\", realm=\"lab\", (credentials masked)"
    );
    // A malformed request (no Call-ID) is journalled with its 400's
    // reason, and its credentials masked all the same; they come first, so
    // the log's excerpt of it shows them.
    let broken = retry(&message, 3, "X-Last: 1")
        .replace("Call-ID: journal\r\n", "")
        .replacen("\r\n", &format!("\r\nAuthorization: {value}\r\n"), 1);
    assert_eq!(client.request(&broken).await.status, 400);
    let journal = get(daemon.admin(), "/requests?method=MESSAGE").await.body;
    assert!(
        !journal.contains(&secret),
        "a malformed request's digest leaked:\n{journal}"
    );
    let records: serde_json::Value = serde_json::from_str(&journal).expect("json");
    let last = &records.as_array().expect("array")[2];
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("Call-ID")),
        "{last}"
    );
    assert!(
        last["headers"].to_string().contains("(credentials masked)"),
        "{last}"
    );
    // The event log: who, never the credentials (the malformed request's
    // excerpt masked too).
    let text = logs.text();
    assert!(
        !text.contains(&secret),
        "the digest reached the log:\n{text}"
    );
    assert!(
        !logs
            .lines_with(&["credentials accepted", "auth.user=\"alice\"", "rule=\"im\""])
            .is_empty(),
        "{text}"
    );
    assert!(text.contains("(credentials masked)"), "{text}");
}

/// `auth = { proxy = true }`: 407 with Proxy-Authenticate, answered in
/// Proxy-Authorization (RFC 3261 §22.3); SHA-256 offered before MD5.
#[tokio::test]
async fn a_proxy_challenge_is_407_with_every_algorithm_in_order() {
    let rules = r#"
[[rule]]
name = "proxy"
match.method = "OPTIONS"
auth = { proxy = true, algorithms = ["MD5", "SHA-256"] }
accept = {}
"#;
    let daemon = TestDaemon::start(&config("", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let probe = options("proxy");
    let challenge = client.request(&probe).await;
    assert_eq!(
        (challenge.status, challenge.reason.as_str()),
        (407, "Proxy Authentication Required")
    );
    assert!(challenge.header("WWW-Authenticate").is_none());
    let offered = Challenge::all(&challenge, "Proxy-Authenticate");
    let algorithms: Vec<&str> = offered.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["SHA-256", "MD5"], "RFC 8760: strongest first");
    let answer = Answer {
        user: "bob",
        password: "hunter2",
        method: "OPTIONS",
        uri: "sip:responder@example.com",
        nc: 1,
    };
    let wrong_header = format!("Authorization: {}", credentials(&offered[0], &answer));
    assert_eq!(
        client
            .request(&retry(&probe, 2, &wrong_header))
            .await
            .status,
        407,
        "not for a proxy"
    );
    let header = format!("Proxy-Authorization: {}", credentials(&offered[0], &answer));
    assert_eq!(client.request(&retry(&probe, 3, &header)).await.status, 200);
}
