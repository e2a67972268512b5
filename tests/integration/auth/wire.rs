//! What challenges and credentials are on the wire: a 401 to a UDP source
//! that has not shown it receives stays within the anti-amplification
//! ratio (RFC 3261 §26.3.2.4); `qop=auth-int` covers the body; a rule's
//! own realm, a users file's HA1 lines and SHA-512-256 (RFC 8760).

use super::*;
use digest::{credentials_with, ha1};

/// A daemon on UDP and TCP with `[auth]` as `auth` says and the default
/// `[server.unverified_udp]` (ratio 3, no allowance per second).
fn guarded(auth: &str, rules: &str) -> TestDaemon {
    TestDaemon::start(&format!(
        "[auth]\nrealm = \"lab\"\nusers = {{ alice = \"secret\" }}\n{auth}\n\n\
         [admin]\naddress = \"127.0.0.1:0\"\n\n\
         [[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n\
         [[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n\n{rules}"
    ))
}

const ANY: &str = "[[rule]]\nname = \"any\"\nauth = \"required\"\naccept = {}\n";

/// The withheld count of the anti-amplification guard.
async fn withheld(daemon: &TestDaemon) -> f64 {
    let metrics = get(daemon.admin(), "/metrics").await.body;
    series(
        &metrics,
        "sip_autoresponder_bound_reached_total{state=\"unverified_udp\"}",
    )
}

/// The default challenge (MD5, qop=auth) to the smallest request a test
/// writes goes out at once and is under three times its size. With every
/// algorithm and both qops it would be larger: the first copy of such a
/// request gets nothing (counted), and its retransmission, which brings
/// the source more credit, gets the challenge (never more than three
/// times what the source sent).
#[tokio::test]
async fn a_401_to_an_unverified_udp_source_stays_within_three_times_the_request() {
    let daemon = guarded("", ANY);
    let client = UdpClient::new(daemon.udp()).await;
    let small = request("OPTIONS", "sip:a@lab", "small", "", "");
    let challenge = client.request(&small).await;
    assert_eq!(challenge.status, 401);
    assert!(
        challenge.raw.len() <= 3 * small.len(),
        "{} bytes answering {}",
        challenge.raw.len(),
        small.len()
    );
    assert_eq!(withheld(&daemon).await, 0.0);

    let every =
        "algorithms = [\"SHA-512-256\", \"SHA-256\", \"MD5\"]\nqop = [\"auth\", \"auth-int\"]";
    let daemon = guarded(every, ANY);
    let client = UdpClient::new(daemon.udp()).await;
    client.send(&small).await;
    client.expect_silence().await;
    assert_eq!(withheld(&daemon).await, 1.0, "withheld, and counted");
    client.send(&small).await;
    let challenge = client.recv().await;
    assert_eq!(challenge.status, 401);
    assert_eq!(challenge.all("WWW-Authenticate").len(), 3);
    assert!(
        challenge.raw.len() <= 3 * 2 * small.len(),
        "within the credit of two copies: {} bytes",
        challenge.raw.len()
    );
    // Over TCP the peer has shown it receives: no guard.
    let mut tcp = client_for(&daemon, "tcp").await;
    assert_eq!(tcp.request(&small).await.status, 401);
}

async fn client_for(daemon: &TestDaemon, transport: &str) -> Client {
    super::client(daemon, transport).await
}

/// `qop = "auth-int"`: the digest covers the body (RFC 7616 §3.4.3), so
/// the same credentials over another body are refused.
#[tokio::test]
async fn auth_int_covers_the_body() {
    let daemon = guarded("qop = \"auth-int\"", ANY);
    let mut client = client_for(&daemon, "udp").await;
    let message = request("MESSAGE", "sip:bob@lab", "int", "", "hello");
    let challenge = client.request(&message).await;
    let offered = Challenge::first(&challenge, "WWW-Authenticate");
    assert_eq!(offered.qop, "auth-int");
    let answer = Answer {
        user: "alice",
        password: "secret",
        method: "MESSAGE",
        uri: "sip:bob@lab",
        nc: 1,
    };
    let header = format!(
        "Authorization: {}",
        credentials_with(&offered, &answer, Some(b"hello"))
    );
    let ok = client.request(&retry(&message, 2, &header)).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let tampered = retry(&message, 3, &header).replace("\r\n\r\nhello", "\r\n\r\njello");
    let refused = client.request(&tampered).await;
    assert_eq!(refused.status, 403, "another body: {}", refused.raw);
    // A qop=auth answer to an auth-int challenge is not what was offered.
    let plain = format!("Authorization: {}", credentials(&offered, &answer));
    let refused = client.request(&retry(&message, 4, &plain)).await;
    assert_eq!(refused.status, 401, "{}", refused.raw);
}

/// A rule's own realm: passwords hold in it too, a users file's line only
/// in its realm, and SHA-512-256 is offered first and verifies.
#[tokio::test]
async fn a_rules_realm_takes_passwords_and_the_users_files_lines() {
    let dir = crate::daemon_process::scratch("auth-realm");
    let users = dir.join("users");
    let carol = ha1("SHA-512-256", "carol", "pbx", "pw");
    std::fs::write(&users, format!("carol:pbx:SHA-512-256:{carol}\n")).expect("users");
    let auth = format!("users_file = \"{}\"", users.display());
    let rules = "[[rule]]\nname = \"pbx\"\nmatch.method = \"MESSAGE\"\n\
                 auth = { realm = \"pbx\", algorithms = [\"MD5\", \"SHA-512-256\"] }\n\
                 accept = { extra_headers = [\"X-Who: ${auth.user}@${auth.realm}\"] }\n\n\
                 [[rule]]\nname = \"lab\"\nmatch.method = \"OPTIONS\"\nauth = \"required\"\naccept = {}\n";
    let daemon = guarded(&auth, rules);
    let _ = std::fs::remove_dir_all(&dir);
    let mut client = client_for(&daemon, "udp").await;
    let message = request("MESSAGE", "sip:bob@pbx", "realm", "", "hi");
    let challenge = client.request(&message).await;
    let offered = Challenge::all(&challenge, "WWW-Authenticate");
    let algorithms: Vec<&str> = offered.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["SHA-512-256", "MD5"]);
    assert!(offered.iter().all(|c| c.realm == "pbx"));
    for (cseq, (user, password)) in [(2, ("carol", "pw")), (3, ("alice", "secret"))] {
        let answer = Answer {
            user,
            password,
            method: "MESSAGE",
            uri: "sip:bob@pbx",
            nc: cseq - 1,
        };
        let header = format!("Authorization: {}", credentials(&offered[0], &answer));
        let ok = client.request(&retry(&message, cseq, &header)).await;
        assert_eq!(
            ok.header("X-Who"),
            Some(format!("{user}@pbx").as_str()),
            "{}",
            ok.raw
        );
    }
    // carol's line is for pbx: in lab she is unknown.
    let probe = options("carol-lab");
    let lab = Challenge::first(&client.request(&probe).await, "WWW-Authenticate");
    assert_eq!(lab.realm, "lab");
    let answer = Answer {
        user: "carol",
        password: "pw",
        method: "OPTIONS",
        uri: "sip:responder@example.com",
        nc: 1,
    };
    let header = format!("Authorization: {}", credentials(&lab, &answer));
    assert_eq!(client.request(&retry(&probe, 2, &header)).await.status, 403);
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_auth_failures_total{reason=\"unknown_user\"}"
        ),
        1.0
    );
}
