//! Resetting what one test leaves for the next: sequences, `every` and
//! `${counter}`, registrations, dialogs (ended with BYE), and all of it
//! at once with the API rules and the journal.

use crate::admin::http::{get, http, value};
use crate::common::*;

use super::*;

const SEQUENCE: &str = r#"
[[rule]]
name = "retry-then-ok"
match.method = "MESSAGE"

[rule.sequence]
key = "from_user"

[[rule.sequence.policy]]
reject = { status = 503 }

[[rule.sequence.policy]]
accept = { status = 202 }
"#;

const COUNTER: &str = r#"
[[rule]]
name = "counted"
match.method = "OPTIONS"
every = 2
accept = { extra_headers = ["X-Counter: ${counter}"] }
"#;

const REGISTRAR: &str = r#"
[[rule]]
name = "registrar"
match.method = "REGISTER"
register = {}

[[rule]]
name = "answer"
match.method = "INVITE"
accept = {}
"#;

async fn reset(admin: std::net::SocketAddr, what: &str) -> serde_json::Value {
    let reply = http(admin, "POST", &format!("/reset{what}"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    value(&reply)
}

fn message(call_id: &str) -> String {
    request("MESSAGE", "sip:bob@example.com", call_id, "", "hi")
}

#[tokio::test]
async fn sequences_and_counters_start_again() {
    let daemon = lab_daemon("", &format!("{SEQUENCE}{COUNTER}"));
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&message("seq-1")).await.status, 503);
    assert_eq!(client.request(&message("seq-2")).await.status, 202);
    let reply = reset(admin, "/sequences").await;
    assert_eq!(
        (reply["reset"].as_str(), reply["count"].as_u64()),
        (Some("sequences"), Some(1))
    );
    assert_eq!(
        client.request(&message("seq-3")).await.status,
        503,
        "the sequence starts over"
    );

    let counters = |id: &str| options(id);
    assert_eq!(
        client.request(&counters("every-1")).await.status,
        480,
        "every = 2: the first goes by"
    );
    let second = client.request(&counters("every-2")).await;
    assert_eq!(
        (second.status, second.header("X-Counter")),
        (200, Some("1"))
    );
    assert_eq!(client.request(&counters("every-3")).await.status, 480);
    let fourth = client.request(&counters("every-4")).await;
    assert_eq!(fourth.header("X-Counter"), Some("2"));
    assert_eq!(
        reset(admin, "/counters").await["count"],
        2,
        "two rules reset"
    );
    assert_eq!(
        client.request(&counters("every-5")).await.status,
        480,
        "`every` counts from zero"
    );
    let again = client.request(&counters("every-6")).await;
    assert_eq!(again.header("X-Counter"), Some("1"), "`${{counter}}` too");
}

fn register(call_id: &str) -> String {
    request(
        "REGISTER",
        "sip:example.com",
        call_id,
        "Contact: <sip:alice@127.0.0.1:5999>;expires=600\r\n",
        "",
    )
    .replace("To: <sip:example.com>", "To: <sip:alice@example.com>")
}

#[tokio::test]
async fn registrations_and_dialogs_are_reset() {
    let daemon = lab_daemon("", REGISTRAR);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(client.request(&register("reg-1")).await.status, 200);
    assert_eq!(
        get(admin, "/registrations")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(reset(admin, "/registrations").await["count"], 1);
    assert_eq!(
        get(admin, "/registrations").await.json(),
        serde_json::json!([])
    );

    call(&client, "reset-call", "", 200).await;
    assert_eq!(
        get(admin, "/dialogs").await.json().as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(reset(admin, "/dialogs").await["count"], 1);
    let bye = answer_bye(&client).await;
    assert_eq!(bye.header("Call-ID").as_deref(), Some("reset-call"));
    assert_eq!(get(admin, "/dialogs").await.json(), serde_json::json!([]));
}

#[tokio::test]
async fn reset_drops_api_rules_and_resets_everything() {
    let daemon = lab_daemon("", &format!("{REGISTRAR}{SEQUENCE}"));
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    add_rules(
        admin,
        "?position=first",
        "[[rule]]\nname = \"api\"\nmatch.method = \"INFO\"\naccept = {}\n",
    )
    .await;
    assert_eq!(client.request(&register("all-reg")).await.status, 200);
    assert_eq!(client.request(&message("all-seq")).await.status, 503);
    call(&client, "all-call", "", 200).await;
    let removed = reset(admin, "").await;
    assert_eq!(removed["rules"], 1, "{removed}");
    assert_eq!(removed["registrations"], 1);
    assert_eq!(removed["dialogs"], 1);
    assert!(removed["records"].as_u64() >= Some(4), "{removed}");
    answer_bye(&client).await;
    assert_eq!(
        rule_names(admin).await,
        ["registrar", "answer", "retry-then-ok"]
    );
    assert_eq!(
        client.request(&message("all-seq-2")).await.status,
        503,
        "the sequence starts over"
    );
    let journal = get(admin, "/requests?method=REGISTER").await.json();
    assert_eq!(journal, serde_json::json!([]), "the journal was emptied");
    let refused = http(admin, "POST", "/reset/everything", &[]).await;
    assert_eq!(refused.status, 404);
    assert_eq!(http(admin, "GET", "/reset", &[]).await.status, 405);
}
