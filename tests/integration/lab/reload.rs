//! Reloads and API rules, against the real binary: SIGHUP keeps the rules
//! added through the API (placed again against the new file's rules),
//! `POST /reload?keep_api_rules=false` drops them, a file rule that takes
//! an API rule's name replaces it, and a refused file comes back as 400.

use crate::admin::http::value;
use crate::common::*;
use crate::daemon_process::{Daemon, LISTEN_UDP, scratch};

use super::*;

fn file(rules: &str) -> String {
    format!("{LISTEN_UDP}[admin]\naddress = \"127.0.0.1:0\"\n\n{rules}")
}

#[tokio::test]
async fn a_reload_keeps_api_rules_unless_asked_not_to() {
    let dir = scratch("lab-reload");
    let config = dir.join("config.toml");
    let ping = "[[rule]]\nname = \"ping\"\nmatch.method = \"OPTIONS\"\naccept = {}\n";
    std::fs::write(&config, file(ping)).expect("write config");
    let daemon = Daemon::spawn(&config, None);
    let admin = daemon.admin_address();
    let client = UdpClient::new(daemon.address("UDP", 0)).await;
    add_rules(
        admin,
        "?before=ping",
        "[[rule]]\nname = \"busy\"\nmatch.method = \"OPTIONS\"\nmatch.headers.X-Case = \"busy\"\nreject = { status = 486 }\n",
    )
    .await;
    add_rules(
        admin,
        "",
        "[[rule]]\nname = \"info\"\nmatch.method = \"INFO\"\naccept = { status = 202 }\n",
    )
    .await;
    let busy = request(
        "OPTIONS",
        "sip:responder@example.com",
        "reload-1",
        "X-Case: busy\r\n",
        "",
    );
    assert_eq!(client.request(&busy).await.status, 486);

    // SIGHUP with a changed file: the API rules stay, where they were put.
    let changed = "[[rule]]\nname = \"first\"\nmatch.method = \"MESSAGE\"\naccept = {}\n";
    std::fs::write(&config, file(&format!("{changed}{ping}"))).expect("rewrite");
    let mark = daemon.log_lines();
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded", mark);
    assert_eq!(rule_names(admin).await, ["first", "busy", "ping", "info"]);
    let busy = busy.replace("reload-1", "reload-2");
    assert_eq!(
        client.request(&busy).await.status,
        486,
        "still answered by the API rule"
    );

    // A file rule named like an API rule takes its place.
    let clash = "[[rule]]\nname = \"info\"\nmatch.method = \"INFO\"\naccept = { status = 200 }\n";
    std::fs::write(&config, file(&format!("{ping}{clash}"))).expect("rewrite");
    let reloaded = http_body(admin, "POST", "/reload", &[], "").await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(value(&reloaded)["reloaded"], true);
    assert_eq!(rule_names(admin).await, ["busy", "ping", "info"]);
    let live = get(admin, "/rules/info").await.json();
    assert_eq!(live["origin"], "file");

    // Asked to: the API rules go.
    let dropped = http_body(admin, "POST", "/reload?keep_api_rules=false", &[], "").await;
    assert_eq!(dropped.status, 200, "{}", dropped.body);
    assert_eq!(rule_names(admin).await, ["ping", "info"]);
    let busy = busy.replace("reload-2", "reload-3");
    assert_eq!(
        client.request(&busy).await.status,
        200,
        "the file's rule answers again"
    );

    // A refused file: every error in the answer, the rules as they were.
    std::fs::write(
        &config,
        file("[[rule]]\nname = \"x\"\nreply = { status = 299, bogus = 1 }\n"),
    )
    .expect("break");
    let refused = http_body(admin, "POST", "/reload", &[], "").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let errors = value(&refused)["errors"].to_string();
    assert!(errors.contains("unknown key `bogus`"), "{errors}");
    assert_eq!(rule_names(admin).await, ["ping", "info"]);
    assert_eq!(
        http_body(admin, "POST", "/reload?keep_api_rules=maybe", &[], "")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn a_daemon_that_cannot_reload_says_so() {
    let daemon = lab_daemon("", "");
    let reply = http_body(daemon.admin(), "POST", "/reload", &[], "").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
}
