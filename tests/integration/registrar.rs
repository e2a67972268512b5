//! The registrar over real sockets (issue 15 item 3, issue 12 item 3,
//! issue 13): baresip's REGISTER (`;expires` before a quoted
//! `+sip.instance`) is granted what it asks and its un-REGISTER removes the
//! binding; RFC 5626 instance and reg-id replace each other (linphone over
//! TCP); `max_contacts` per address-of-record refuses with 503 or replaces
//! the oldest, as configured; a query lists at most `max_contacts`
//! bindings (no amplification); a binding's bytes are bounded; bindings
//! expire without traffic; each bound is counted in /metrics.

use std::time::Duration;

use crate::admin::http::{get, series};
use crate::common::clients::StreamClient;
use crate::common::*;

fn registrar(extra: &str) -> String {
    format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n\n[[rule]]\nname = \"lab\"\nmatch.method = \"REGISTER\"\n\
         match.headers.\"X-Lab\" = 'fill'\nregister = {{ max_contacts = 200 }}\n\n\
         [[rule]]\nname = \"registrar\"\nmatch.method = \"REGISTER\"\n\
         register = {{ min_expires = 60, max_expires = 3600, max_contacts = 3{extra} }}\n"
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/defects/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A REGISTER for `user` with `contacts` (header lines) and its own branch.
fn register(user: &str, cseq: u32, contacts: &str) -> String {
    let call_id = format!("reg-{user}");
    request("REGISTER", "sip:example.com", &call_id, contacts, "")
        .replace(
            "To: <sip:example.com>",
            &format!("To: <sip:{user}@example.com>"),
        )
        .replace("CSeq: 1 REGISTER", &format!("CSeq: {cseq} REGISTER"))
        .replace(
            &format!("z9hG4bK-{call_id}"),
            &format!("z9hG4bK-{call_id}-{cseq}"),
        )
}

/// `bound_reached_total{state}` for a registrar state, or the expiry count.
async fn metric(daemon: &TestDaemon, state: &str) -> f64 {
    let text = get(daemon.admin(), "/metrics").await.body;
    let name = match state {
        "expired" => "sip_autoresponder_registrar_expired_total".to_owned(),
        _ => format!("sip_autoresponder_bound_reached_total{{state=\"{state}\"}}"),
    };
    series(&text, &name)
}

#[tokio::test]
async fn baresip_is_granted_its_expiry_and_its_unregister_removes() {
    let daemon = TestDaemon::start(&config_with(&registrar("")));
    let client = UdpClient::new(daemon.udp()).await;
    client.send_bytes(&fixture("register-baresip.sip")).await;
    let ok = client.recv().await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(
        ok.all("Contact"),
        ["<sip:alice-0x556291ce5ad0@127.0.0.1:5999>;expires=600"],
        "granted as asked (it was 3600: the expires after the quoted instance was lost)"
    );
    client
        .send_bytes(&fixture("register-baresip-unregister.sip"))
        .await;
    let removed = client.recv().await;
    assert_eq!(removed.status, 200, "{}", removed.raw);
    assert!(removed.all("Contact").is_empty(), "{}", removed.raw);
    let list = get(daemon.admin(), "/registrations").await.body;
    assert_eq!(list.trim(), "[]");
}

/// RFC 5626 §6: linphone re-registers over a new TCP connection (a new
/// Contact port) with the same `+sip.instance` and `reg-id`: the new
/// binding replaces the old one instead of standing beside it.
#[tokio::test]
async fn the_same_instance_and_reg_id_replace_each_other_over_tcp() {
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n\n{}",
        config_with(&registrar(""))
    ));
    let tcp = daemon.addr(sip_autoresponder::sip::Transport::Tcp);
    let instance = "+sip.instance=\"<urn:uuid:7f9c3a2e-1b7d-4d7e-9c1a-0e5b6d8f2a11>\";reg-id=1";
    let mut last = Vec::new();
    for (cseq, port) in [(20, 40001), (21, 40002)] {
        let mut connection = StreamClient::tcp(tcp).await;
        let contact = format!(
            "Contact: <sip:linphone@127.0.0.1:{port};transport=tcp>;{instance};expires=3600\r\n"
        );
        let message = register("linphone", cseq, &contact).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        connection.send_bytes(message.as_bytes()).await;
        let ok = connection.recv_within(REPLY_WAIT).await.expect("200");
        last = Response::parse(ok.raw.as_bytes())
            .all("Contact")
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    assert_eq!(
        last,
        ["<sip:linphone@127.0.0.1:40002;transport=tcp>;expires=3600"]
    );
}

async fn fill(client: &UdpClient, user: &str, count: u16) -> Response {
    let mut contacts = String::new();
    for i in 0..count {
        contacts.push_str(&format!(
            "Contact: <sip:{user}@192.0.2.{}:{}>\r\n",
            i % 250 + 1,
            5000 + i
        ));
    }
    client.request(&register(user, 1, &contacts)).await
}

#[tokio::test]
async fn max_contacts_refuses_with_503_and_nothing_changes() {
    let daemon = TestDaemon::start(&config_with(&registrar("")));
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(fill(&client, "bob", 3).await.all("Contact").len(), 3);
    let fourth = client
        .request(&register("bob", 2, "Contact: <sip:bob@192.0.2.99>\r\n"))
        .await;
    assert_eq!(
        (fourth.status, fourth.reason.as_str()),
        (503, "Too Many Registered Contacts"),
        "{}",
        fourth.raw
    );
    let query = client.request(&register("bob", 3, "")).await;
    assert_eq!(query.all("Contact").len(), 3);
    assert!(!query.raw.contains("192.0.2.99"), "{}", query.raw);
    assert_eq!(metric(&daemon, "registrar_contacts").await, 1.0);
}

#[tokio::test]
async fn max_contacts_can_replace_the_oldest() {
    let daemon = TestDaemon::start(&config_with(&registrar(
        ", max_contacts_action = \"replace-oldest\"",
    )));
    let client = UdpClient::new(daemon.udp()).await;
    fill(&client, "carol", 3).await;
    let fourth = client
        .request(&register("carol", 2, "Contact: <sip:carol@192.0.2.99>\r\n"))
        .await;
    assert_eq!(fourth.status, 200, "{}", fourth.raw);
    let listed = fourth.all("Contact");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        listed.iter().all(|c| !c.contains("192.0.2.1:5000")),
        "{listed:?}"
    );
    assert!(listed.last().is_some_and(|c| c.contains("192.0.2.99")));
    assert_eq!(metric(&daemon, "registrar_contacts").await, 1.0);
}

/// Issue 13: a REGISTER query from anyone lists at most `max_contacts`
/// bindings, whatever the address-of-record holds (here 200, made by a
/// rule with a higher cap): a few hundred bytes, not tens of kilobytes.
#[tokio::test]
async fn a_query_lists_at_most_max_contacts() {
    let daemon = TestDaemon::start(&config_with(&registrar("")));
    let client = UdpClient::new(daemon.udp()).await;
    // One Contact header with 200 values (a header line each would pass
    // max_headers).
    let list: Vec<String> = (0..200)
        .map(|i| format!("<sip:dave@192.0.2.7:{}>", 6000 + i))
        .collect();
    let contacts = format!("X-Lab: fill\r\nContact: {}\r\n", list.join(", "));
    let filled = client.request(&register("dave", 1, &contacts)).await;
    assert_eq!(filled.all("Contact").len(), 200);
    let query = register("dave", 2, "");
    let answer = client.request(&query).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.all("Contact").len(), 3, "{}", answer.raw);
    assert!(
        answer.raw.len() < 3 * query.len(),
        "{} bytes for a {} byte query",
        answer.raw.len(),
        query.len()
    );
}

#[tokio::test]
async fn a_binding_longer_than_its_bound_is_a_400() {
    let daemon = TestDaemon::start(&config_with(&registrar("")));
    let client = UdpClient::new(daemon.udp()).await;
    let long = format!("Contact: <sip:{}@192.0.2.1>\r\n", "e".repeat(600));
    let answer = client.request(&register("erin", 1, &long)).await;
    assert_eq!(
        (answer.status, answer.reason.as_str()),
        (400, "Bad Request (Contact URI longer than 512 bytes)")
    );
    assert_eq!(metric(&daemon, "registrar_binding_bytes").await, 1.0);
    let list = get(daemon.admin(), "/registrations").await.body;
    assert_eq!(list.trim(), "[]");
}

/// Expiry is owned by the registrar: with no request at all, the binding
/// is removed when it expires (and counted).
#[tokio::test(start_paused = true)]
async fn bindings_are_removed_when_they_expire_without_traffic() {
    let daemon = TestDaemon::start(&config_with(&registrar("")));
    let client = UdpClient::new(daemon.udp()).await;
    let ok = client
        .request(&register(
            "frank",
            1,
            "Contact: <sip:frank@192.0.2.1>;expires=60\r\n",
        ))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(metric(&daemon, "expired").await, 0.0);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(metric(&daemon, "expired").await, 1.0);
    let list = get(daemon.admin(), "/registrations").await.body;
    assert_eq!(list.trim(), "[]");
}
