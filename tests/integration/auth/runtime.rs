//! Credentials and the running daemon: rules added through the admin API
//! ask for them like the file's (in TOML or JSON, against the running
//! `[auth]`), and a reload reads the users file again while the nonces
//! already out stay good (the real binary, SIGHUP).

use super::*;
use crate::admin::http::{http_body, value};
use crate::daemon_process::{Daemon, LISTEN_UDP, scratch};

fn answer<'a>(user: &'a str, password: &'a str, method: &'a str, nc: u32) -> Answer<'a> {
    Answer {
        user,
        password,
        method,
        uri: "sip:bob@lab",
        nc,
    }
}

/// `POST /rules` with `auth` (TOML) and `match.auth` with a rule `auth`
/// table (JSON): challenged, then taken, `${auth.user}` filled in; listed
/// with what they require. A realm the config does not name is refused.
#[tokio::test]
async fn rules_added_at_run_time_ask_for_credentials() {
    let daemon = TestDaemon::start(&config("", ""));
    let admin = daemon.admin();
    let toml = "[[rule]]\nname = \"api-im\"\nmatch.method = \"MESSAGE\"\nauth = \"required\"\n\
                accept = { extra_headers = [\"X-Who: ${auth.user}\"] }\n";
    let added = http_body(admin, "POST", "/rules", &[], toml).await;
    assert_eq!(added.status, 201, "{}", added.body);
    let json = r#"[{"name": "api-wrong", "match": {"method": "OPTIONS", "auth": "invalid"},
                    "reply": {"status": 403, "reason": "Wrong"}},
                   {"name": "api-proxy", "match": {"method": "INFO"}, "auth": {"proxy": true},
                    "accept": {}}]"#;
    let added = http_body(
        admin,
        "POST",
        "/rules",
        &["Content-Type: application/json"],
        json,
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let listed = get(admin, "/rules/api-im").await.json();
    assert_eq!(
        listed["requires"],
        "credentials for realm \"lab\" (MD5; qop auth), else 401"
    );

    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@lab", "api", "", "hi");
    let challenge = client.request(&message).await;
    assert_eq!(challenge.status, 401, "{}", challenge.raw);
    let offered = Challenge::first(&challenge, "WWW-Authenticate");
    let header = format!(
        "Authorization: {}",
        credentials(&offered, &answer("alice", "secret", "MESSAGE", 1))
    );
    let ok = client.request(&retry(&message, 2, &header)).await;
    assert_eq!(ok.header("X-Who"), Some("alice"), "{}", ok.raw);

    // JSON: match.auth against the [auth] defaults, and an `auth` table.
    let probe = request("OPTIONS", "sip:bob@lab", "api-wrong", "", "");
    let wrong = credentials(&offered, &answer("alice", "guess", "OPTIONS", 1));
    let wrong = client
        .request(&retry(&probe, 2, &format!("Authorization: {wrong}")))
        .await;
    assert_eq!((wrong.status, wrong.reason.as_str()), (403, "Wrong"));
    let info = request("INFO", "sip:bob@lab", "api-proxy", "", "");
    let challenge = client.request(&info).await;
    assert_eq!(challenge.status, 407, "{}", challenge.raw);
    let proxy = Challenge::first(&challenge, "Proxy-Authenticate");
    let header = format!(
        "Proxy-Authorization: {}",
        credentials(&proxy, &answer("bob", "hunter2", "INFO", 1))
    );
    assert_eq!(client.request(&retry(&info, 2, &header)).await.status, 200);

    let elsewhere = "[[rule]]\nname = \"api-pbx\"\nauth = { realm = \"pbx\" }\naccept = {}\n";
    let refused = http_body(admin, "POST", "/rules", &[], elsewhere).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        value(&refused).to_string().contains(
            "realm \\\"pbx\\\": a rule given at run time uses a realm the config file names (\\\"lab\\\")"
        ),
        "{}",
        refused.body
    );
}

/// SIGHUP reads `users_file` again: a user added to it authenticates, one
/// removed from it is unknown; a nonce issued before the reload still
/// verifies, and its count is still remembered (a replay stays refused).
#[tokio::test]
async fn a_reload_reads_the_users_file_again_and_keeps_the_nonces() {
    let dir = scratch("auth-reload");
    let users = dir.join("users");
    let line = |user: &str, password: &str| {
        format!("{user}:lab:{}\n", digest::ha1("MD5", user, "lab", password))
    };
    std::fs::write(&users, line("dave", "one")).expect("users");
    let config = dir.join("config.toml");
    let text = format!(
        "{LISTEN_UDP}[auth]\nrealm = \"lab\"\nusers_file = \"{}\"\n\n\
         [[rule]]\nname = \"im\"\nmatch.method = \"MESSAGE\"\nauth = \"required\"\naccept = {{}}\n",
        users.display()
    );
    std::fs::write(&config, text).expect("config");
    let daemon = Daemon::spawn(&config, None);
    let client = UdpClient::new(daemon.address("UDP", 0)).await;
    let message = request("MESSAGE", "sip:bob@lab", "reload", "", "hi");
    let offered = Challenge::first(&client.request(&message).await, "WWW-Authenticate");
    let header = |user, password, nc| {
        let value = credentials(&offered, &answer(user, password, "MESSAGE", nc));
        format!("Authorization: {value}")
    };
    let before = header("dave", "one", 1);
    assert_eq!(
        client.request(&retry(&message, 2, &before)).await.status,
        200
    );

    std::fs::write(&users, line("erin", "two")).expect("users");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded", mark);
    let erin = client
        .request(&retry(&message, 3, &header("erin", "two", 2)))
        .await;
    assert_eq!(erin.status, 200, "the nonce from before: {}", erin.raw);
    assert_eq!(
        client.request(&retry(&message, 4, &before)).await.status,
        403,
        "dave is gone"
    );
    let replay = client
        .request(&retry(&message, 5, &header("erin", "two", 2)))
        .await;
    assert_eq!(
        replay.status, 401,
        "the count is remembered: {}",
        replay.raw
    );
    let _ = std::fs::remove_dir_all(&dir);
}
