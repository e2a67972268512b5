//! Scopes: two tests sharing one daemon each get their own rules and their
//! own view of the journal; a scope's deletion takes its rules, records
//! and dialogs; a Request-URI user prefix is a scope too.

use crate::admin::http::{get, http, value};
use crate::common::*;

use super::*;

/// One test's run: its rule (scoped), two INVITEs of its own and one
/// without a scope; returns the statuses.
async fn run_test(daemon: &TestDaemon, scope: &str, status: u16) -> (u16, u16) {
    let admin = daemon.admin();
    add_rules(
        admin,
        "?position=first",
        &format!(
            "[[rule]]\nname = \"{scope}-rule\"\nscope = \"{scope}\"\nmatch.method = \"INVITE\"\nreject = {{ status = {status} }}\n"
        ),
    )
    .await;
    let client = UdpClient::new(daemon.udp()).await;
    let header = format!("X-Test-Id: {scope}\r\n");
    call(&client, &format!("{scope}-1"), &header, status).await;
    call(&client, &format!("{scope}-2"), &header, status).await;
    let unscoped = client.request(&invite(&format!("{scope}-none"), "")).await;
    client
        .send(&ack_for(
            &invite(&format!("{scope}-none"), ""),
            &unscoped.to_tag().unwrap_or_default(),
        ))
        .await;
    (status, unscoped.status)
}

#[tokio::test]
async fn scopes_isolate_two_tests_sharing_the_daemon() {
    let daemon = lab_daemon("", "");
    let admin = daemon.admin();
    let (first, second) = tokio::join!(run_test(&daemon, "t1", 486), run_test(&daemon, "t2", 603));
    assert_eq!(
        first,
        (486, 480),
        "t1's rule, then the fallback for a request of no test"
    );
    assert_eq!(second, (603, 480));
    // Each test's view of the journal: its INVITEs and ACKs only.
    assert_eq!(count(admin, "?scope=t1&method=INVITE").await, 2);
    assert_eq!(count(admin, "?scope=t1&rule=t1-rule").await, 2);
    assert_eq!(count(admin, "?scope=t2&rule=t1-rule").await, 0);
    assert_eq!(count(admin, "?scope=t2").await, 4, "two INVITEs, two ACKs");
    let t2 = get(admin, "/requests?scope=t2&method=INVITE").await.json();
    assert!(
        t2.as_array()
            .expect("records")
            .iter()
            .all(|r| r["scope"] == "t2" && r["rule"] == "t2-rule")
    );

    let removed = http(admin, "DELETE", "/scopes/t1", &[]).await;
    assert_eq!(removed.status, 200);
    let removed = value(&removed);
    assert_eq!(
        (removed["rules"].as_u64(), removed["records"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(count(admin, "?scope=t1").await, 0);
    assert_eq!(
        count(admin, "?scope=t2").await,
        4,
        "the other test's records stay"
    );
    assert_eq!(rule_names(admin).await, ["t2-rule"]);
    let client = UdpClient::new(daemon.udp()).await;
    call(&client, "t1-after", "X-Test-Id: t1\r\n", 480).await;
    call(&client, "t2-after", "X-Test-Id: t2\r\n", 603).await;
}

#[tokio::test]
async fn a_request_uri_user_prefix_is_a_scope_too() {
    let daemon = lab_daemon("scope_user_separator = \".\"\n", "");
    let admin = daemon.admin();
    add_rules(admin, "", "[[rule]]\nname = \"t3\"\nscope = \"t3\"\nmatch.method = \"MESSAGE\"\naccept = { status = 202 }\n").await;
    let client = UdpClient::new(daemon.udp()).await;
    let to = |uri: &str, id: &str| request("MESSAGE", uri, id, "", "hi");
    assert_eq!(
        client
            .request(&to("sip:t3.bob@example.com", "prefix-1"))
            .await
            .status,
        202
    );
    assert_eq!(
        client
            .request(&to("sip:t4.bob@example.com", "prefix-2"))
            .await
            .status,
        480
    );
    assert_eq!(
        client
            .request(&to("sip:bob@example.com", "prefix-3"))
            .await
            .status,
        480
    );
    assert_eq!(count(admin, "?scope=t3").await, 1);
    assert_eq!(
        count(admin, "?scope=t4").await,
        1,
        "the journal knows the scope even with no rule of it"
    );
}

#[tokio::test]
async fn deleting_a_scope_ends_its_dialogs_with_bye() {
    let daemon = lab_daemon(
        "",
        "[[rule]]\nname = \"answer\"\nmatch.method = \"INVITE\"\naccept = {}\n",
    );
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    call(&client, "t5-call", "X-Test-Id: t5\r\n", 200).await;
    call(&client, "t6-call", "X-Test-Id: t6\r\n", 200).await;
    let removed = value(&http(admin, "DELETE", "/scopes/t5", &[]).await);
    assert_eq!(removed["dialogs"], 1);
    let bye = answer_bye(&client).await;
    assert_eq!(bye.header("Call-ID").as_deref(), Some("t5-call"));
    client.expect_silence().await;
    let dialogs = get(admin, "/dialogs").await.json();
    let left: Vec<&str> = dialogs
        .as_array()
        .expect("dialogs")
        .iter()
        .filter_map(|d| d["call_id"].as_str())
        .collect();
    assert_eq!(left, ["t6-call"]);
}
