//! The test-lab control of the admin listener over real HTTP and SIP on
//! 127.0.0.1: rules at run time (`rules`), scopes (`scopes`), resets
//! (`resets`), the complete journal (`journal`), counting and waiting
//! (`verify`), dialogs (`dialogs`), and reloads that keep or drop API
//! rules, against the real binary (`reload`).

mod dialogs;
mod journal;
mod reload;
mod resets;
mod rules;
mod scopes;
mod verify;

use std::net::SocketAddr;

use serde_json::Value;

use crate::admin::http::{Http, get, http_body, value};
use crate::common::*;

/// A daemon with the admin listener, `server` lines in `[server]` and
/// `rules` from the file.
pub(crate) fn lab_daemon(server: &str, rules: &str) -> TestDaemon {
    let config = config_with(&format!(
        "[admin]\naddress = \"127.0.0.1:0\"\njournal_size = 200\n\n{rules}{SILENT_CLIENT_ALLOWED}"
    ))
    .replacen("[server]\n", &format!("[server]\n{server}"), 1);
    TestDaemon::start(&config)
}

/// `POST /rules{query}` with `body`.
pub(crate) async fn post_rules(admin: SocketAddr, query: &str, body: &str) -> Http {
    http_body(admin, "POST", &format!("/rules{query}"), &[], body).await
}

/// Posts `body` and asserts it was added.
pub(crate) async fn add_rules(admin: SocketAddr, query: &str, body: &str) -> Value {
    let reply = post_rules(admin, query, body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    value(&reply)
}

/// The names of the live rules, in order.
pub(crate) async fn rule_names(admin: SocketAddr) -> Vec<String> {
    get(admin, "/rules")
        .await
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|rule| rule["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `GET /requests/count{query}`.
pub(crate) async fn count(admin: SocketAddr, query: &str) -> u64 {
    get(admin, &format!("/requests/count{query}")).await.json()["count"]
        .as_u64()
        .expect("a count")
}

/// An INVITE whose `extra` header lines come after its Contact.
pub(crate) fn invite(call_id: &str, extra: &str) -> String {
    request(
        "INVITE",
        "sip:callee@example.com",
        call_id,
        &format!("Contact: <sip:alice@127.0.0.1:5999>\r\n{extra}"),
        "",
    )
}

/// Sends an INVITE, expects `status` as its final response and ACKs it;
/// returns the To-tag.
pub(crate) async fn call(client: &UdpClient, call_id: &str, extra: &str, status: u16) -> String {
    let invite = invite(call_id, extra);
    client.send(&invite).await;
    let response = loop {
        let response = client.recv().await;
        if response.status >= 200 {
            break response;
        }
    };
    assert_eq!(response.status, status, "{}", response.raw);
    let tag = response.to_tag().expect("To-tag");
    let ack = if status < 300 {
        in_dialog("ACK", call_id, &tag, 1, &format!("{call_id}-ack"))
    } else {
        ack_for(&invite, &tag)
    };
    client.send(&ack).await;
    tag
}

/// Waits for the daemon's BYE and answers it 200.
pub(crate) async fn answer_bye(client: &UdpClient) -> Received {
    let bye = client
        .recv_any_within(REPLY_WAIT)
        .await
        .expect("a BYE from the daemon");
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    client.send_to(&bye.response(200, "OK"), bye.from).await;
    bye
}
