//! A registrar that requires credentials (`register = { auth = "required"
//! }`): REGISTER is challenged and the retry bound (UDP and TCP); a user
//! changes only its own address-of-record, so `Contact: *` for someone
//! else's is refused with 403 and their bindings stay.

use super::digest::{Answer, Challenge, credentials};
use super::{client, config, retry};
use crate::admin::http::{get, series};
use crate::common::*;

const REGISTRAR: &str = r#"
[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { auth = "required" }
"#;

/// A REGISTER to `aor_user`'s address-of-record, with `extra` lines.
fn register(aor_user: &str, call_id: &str, extra: &str) -> String {
    request("REGISTER", "sip:lab", call_id, extra, "")
        .replace("To: <sip:lab>", &format!("To: <sip:{aor_user}@lab>"))
}

/// Sends `message`, answers its challenge as `user` and returns the answer
/// to the retry (CSeq 2).
async fn authenticated(
    client: &mut crate::common::clients::Client,
    message: &str,
    user: &str,
    password: &str,
) -> Response {
    let challenge = client.request(message).await;
    assert_eq!(challenge.status, 401, "{}", challenge.raw);
    let offered = Challenge::first(&challenge, "WWW-Authenticate");
    let answer = Answer {
        user,
        password,
        method: "REGISTER",
        uri: "sip:lab",
        nc: 1,
    };
    let header = format!("Authorization: {}", credentials(&offered, &answer));
    client.request(&retry(message, 2, &header)).await
}

async fn register_is_challenged_then_bound(transport: &str) {
    let daemon = TestDaemon::start(&config("", REGISTRAR));
    let mut client = client(&daemon, transport).await;
    let contact = "Contact: <sip:alice@127.0.0.1:5999>;expires=600\r\n";
    let message = register("alice", &format!("reg-{transport}"), contact);
    let ok = authenticated(&mut client, &message, "alice", "secret").await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_eq!(
        ok.all("Contact"),
        ["<sip:alice@127.0.0.1:5999>;expires=600"]
    );
    let bound = get(daemon.admin(), "/registrations").await.body;
    assert!(bound.contains("sip:alice@lab"), "{bound}");
}

#[tokio::test]
async fn register_is_challenged_then_bound_over_udp() {
    register_is_challenged_then_bound("udp").await;
}

#[tokio::test]
async fn register_is_challenged_then_bound_over_tcp() {
    register_is_challenged_then_bound("tcp").await;
}

/// The same registrar with `auth` on its rule rather than in `register`.
const RULE_AUTH_REGISTRAR: &str = r#"
[[rule]]
name = "registrar"
match.method = "REGISTER"
auth = "required"
register = {}
"#;

/// RFC 3261 §10.3 step 3: alice may not wipe (`Contact: *`) nor bind
/// bob's address-of-record; her own `Contact: *` works. The same whether
/// the rule or its `register` asks for credentials; over UDP and TCP.
#[tokio::test]
async fn contact_star_for_someone_elses_aor_is_refused() {
    for (rules, transport) in [
        (REGISTRAR, "udp"),
        (REGISTRAR, "tcp"),
        (RULE_AUTH_REGISTRAR, "udp"),
    ] {
        contact_star_refused(rules, transport).await;
    }
}

async fn contact_star_refused(rules: &str, transport: &str) {
    let daemon = TestDaemon::start(&config("", rules));
    let mut client = client(&daemon, transport).await;
    let bob = register("bob", "reg-bob", "Contact: <sip:bob@127.0.0.1:5999>\r\n");
    assert_eq!(
        authenticated(&mut client, &bob, "bob", "hunter2")
            .await
            .status,
        200
    );
    let alice_own = register(
        "alice",
        "reg-alice",
        "Contact: <sip:alice@127.0.0.1:5999>\r\n",
    );
    assert_eq!(
        authenticated(&mut client, &alice_own, "alice", "secret")
            .await
            .status,
        200
    );

    let wipe = register("bob", "wipe-bob", "Contact: *\r\nExpires: 0\r\n");
    let refused = authenticated(&mut client, &wipe, "alice", "secret").await;
    assert_eq!(refused.status, 403, "{}", refused.raw);
    assert_eq!(refused.reason, "Forbidden (not the owner of sip:bob@lab)");
    let journal = get(daemon.admin(), "/requests?call_id=wipe-bob")
        .await
        .json();
    let last = journal.as_array().and_then(|r| r.last()).expect("records");
    assert_eq!(
        (&last["auth"]["user"], &last["auth"]["result"]),
        (&"alice".into(), &"not_owner".into()),
        "{journal}"
    );
    let hijack = register("bob", "hijack-bob", "Contact: <sip:mallory@192.0.2.66>\r\n");
    assert_eq!(
        authenticated(&mut client, &hijack, "alice", "secret")
            .await
            .status,
        403
    );
    let bound = get(daemon.admin(), "/registrations").await.body;
    assert!(
        bound.contains("sip:bob@127.0.0.1:5999"),
        "bob's binding stays: {bound}"
    );
    assert!(!bound.contains("mallory"), "{bound}");

    let own_wipe = register("alice", "wipe-alice", "Contact: *\r\nExpires: 0\r\n");
    assert_eq!(
        authenticated(&mut client, &own_wipe, "alice", "secret")
            .await
            .status,
        200
    );
    let bound = get(daemon.admin(), "/registrations").await.body;
    assert!(!bound.contains("sip:alice@127.0.0.1"), "{bound}");
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_auth_failures_total{reason=\"not_owner\"}"
        ),
        2.0
    );
}

/// `aors` gives a user more addresses-of-record: alice binds sip:1000@lab
/// as well as her own, and still not bob's.
#[tokio::test]
async fn a_user_binds_the_aors_it_is_given() {
    let rules = r#"
[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { auth = "required", aors = { alice = ["sip:1000@LAB"] } }
"#;
    let daemon = TestDaemon::start(&config("", rules));
    let mut client = client(&daemon, "udp").await;
    for (aor, status) in [("1000", 200), ("alice", 200), ("bob", 403)] {
        let message = register(
            aor,
            &format!("aors-{aor}"),
            "Contact: <sip:alice@127.0.0.1:5999>\r\n",
        );
        let answer = authenticated(&mut client, &message, "alice", "secret").await;
        assert_eq!(answer.status, status, "{aor}: {}", answer.raw);
    }
    let bound = get(daemon.admin(), "/registrations").await.body;
    assert!(bound.contains("sip:1000@lab"), "{bound}");
}
