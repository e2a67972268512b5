//! What a challenge leaves behind: nothing. A rule's `every` and its
//! weighted outcomes move only for the request that passes (the sequence
//! and `${counter}` are in `challenges_leave_sequences_and_counters_alone`);
//! the INVITE transaction of a 401 is gone at once, and the ACK for it is
//! taken in and answered by nothing.

use super::*;

fn answer_as_bob(challenge: &Challenge, method: &'static str, nc: u32) -> String {
    let answer = Answer {
        user: "bob",
        password: "hunter2",
        method,
        uri: "sip:bob@lab",
        nc,
    };
    format!("Authorization: {}", credentials(challenge, &answer))
}

/// `every = 2`: challenges are not counted, so of two requests that pass
/// the first goes on to the next rule and the second takes this one.
#[tokio::test]
async fn challenges_do_not_count_for_every() {
    let rules = r#"
[[rule]]
name = "second"
match.method = "MESSAGE"
auth = "required"
every = 2
accept = { status = 202 }

[[rule]]
name = "otherwise"
match.method = "MESSAGE"
accept = {}
"#;
    let daemon = TestDaemon::start(&config("", rules));
    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@lab", "every", "", "hi");
    let mut offered = None;
    for n in 0..3 {
        let again = retry(&message, 10 + n, "X-Try: challenge");
        let challenge = client.request(&again).await;
        assert_eq!(challenge.status, 401, "{}", challenge.raw);
        offered = Some(Challenge::first(&challenge, "WWW-Authenticate"));
    }
    let offered = offered.expect("a challenge");
    let first = client
        .request(&retry(&message, 20, &answer_as_bob(&offered, "MESSAGE", 1)))
        .await;
    assert_eq!(
        first.status, 200,
        "the first that passes is every's first: {}",
        first.raw
    );
    let second = client
        .request(&retry(&message, 21, &answer_as_bob(&offered, "MESSAGE", 2)))
        .await;
    assert_eq!(second.status, 202, "the second takes it: {}", second.raw);
}

/// The statuses four passing requests get from a rule of two weighted
/// outcomes (`[server] seed` fixes the draws), with `challenges` extra
/// challenged requests before each.
async fn outcomes(challenges: u32) -> Vec<u16> {
    let rules = r#"
[[rule]]
name = "draw"
match.method = "MESSAGE"
auth = "required"

[[rule.outcome]]
accept = { status = 200 }

[[rule.outcome]]
accept = { status = 202 }
"#;
    let config = config("", rules).replace("[server]\n", "[server]\nseed = 7\n");
    let daemon = TestDaemon::start(&config);
    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@lab", "draws", "", "hi");
    let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
    let mut statuses = Vec::new();
    for nc in 1..=4 {
        for n in 0..challenges {
            let bare = retry(&message, 100 * nc + n, "X-Try: challenge");
            assert_eq!(client.request(&bare).await.status, 401);
        }
        let header = answer_as_bob(&offered, "MESSAGE", nc);
        statuses.push(
            client
                .request(&retry(&message, 10 * nc, &header))
                .await
                .status,
        );
    }
    statuses
}

/// Weighted outcomes: the draws are the same with or without challenges in
/// between (a challenge draws nothing).
#[tokio::test]
async fn challenges_do_not_draw_outcomes() {
    let plain = outcomes(0).await;
    assert_eq!(outcomes(3).await, plain);
    // The seed gives both outcomes in four draws, so a draw per challenge
    // would have shown.
    assert!(
        plain.contains(&200) && plain.contains(&202),
        "seed 7 draws both: {plain:?}"
    );
}

/// RFC 3261 §26.3.2.4: the INVITE transaction of a 401 ends with it (no
/// transaction in progress), and its ACK is journalled, answered by
/// nothing and taken by no rule.
#[tokio::test]
async fn the_ack_of_a_401_meets_no_transaction_and_is_absorbed() {
    let daemon = TestDaemon::start(&config("", CALL_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = request("INVITE", "sip:bob@lab", "absorbed", "", "");
    let challenge = client.request(&invite).await;
    assert_eq!(challenge.status, 401);
    let in_progress = || async {
        let metrics = get(daemon.admin(), "/metrics").await.body;
        series(&metrics, "sip_autoresponder_transactions_in_progress")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while in_progress().await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 401's transaction stays"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .send(&ack_for(&invite, &challenge.to_tag().expect("tag")))
        .await;
    client.expect_silence().await;
    let journal = get(daemon.admin(), "/requests?call_id=absorbed")
        .await
        .json();
    let records = journal.as_array().expect("records");
    assert_eq!(records.len(), 2, "{journal}");
    assert_eq!(records[0]["method"], "INVITE");
    assert_eq!(records[0]["rule"], "call");
    assert_eq!(records[0]["auth"]["result"], "absent");
    assert_eq!(records[1]["method"], "ACK");
    assert_eq!(records[1]["rule"], serde_json::Value::Null, "{journal}");
    assert_eq!(records[1]["responses"], serde_json::json!([]));
    assert_eq!(records[1]["auth"], serde_json::Value::Null);
}
