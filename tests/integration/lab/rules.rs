//! Rules at run time: added (TOML or JSON, first, last, before or after a
//! rule), replaced, deleted, listed with where each came from; refused
//! with positions like the file; the state of the other rules kept.

use crate::admin::http::{get, http, http_body, value};
use crate::common::*;

use super::*;

const FILE: &str = r#"
[[rule]]
name = "ping"
match.method = "OPTIONS"
accept = {}
"#;

fn message(call_id: &str) -> String {
    request("MESSAGE", "sip:bob@example.com", call_id, "", "hi")
}

#[tokio::test]
async fn a_rule_added_at_run_time_answers_until_it_is_deleted() {
    let daemon = lab_daemon("", FILE);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(
        client.request(&message("add-1")).await.status,
        480,
        "the fallback"
    );
    let added = add_rules(
        admin,
        "?position=first",
        "[[rule]]\nname = \"im\"\nmatch.method = \"MESSAGE\"\naccept = { status = 202 }\n",
    )
    .await;
    assert_eq!(added["rules"], serde_json::json!(["im"]));
    assert_eq!(client.request(&message("add-2")).await.status, 202);
    let live = get(admin, "/rules").await.json();
    assert_eq!(live[0]["name"], "im");
    assert_eq!(live[0]["origin"], "api");
    assert_eq!(live[0]["placement"], "first");
    assert_eq!(
        live[0]["conditions"],
        serde_json::json!(["method is MESSAGE"])
    );
    assert_eq!(
        (live[1]["name"].as_str(), live[1]["origin"].as_str()),
        (Some("ping"), Some("file"))
    );
    assert!(live[1]["placement"].is_null());
    assert_eq!(get(admin, "/rules/im").await.json()["position"], 1);

    let deleted = http(admin, "DELETE", "/rules/im", &[]).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(
        client.request(&message("add-3")).await.status,
        480,
        "falls through again"
    );
    assert_eq!(http(admin, "DELETE", "/rules/im", &[]).await.status, 404);
    assert_eq!(get(admin, "/rules/im").await.status, 404);
    let file_rule = http(admin, "DELETE", "/rules/ping", &[]).await;
    assert_eq!(file_rule.status, 409);
    assert!(
        value(&file_rule)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("config file")
    );
    assert_eq!(rule_names(admin).await, ["ping"]);
}

#[tokio::test]
async fn json_rules_go_where_they_are_placed_and_put_replaces_in_place() {
    let daemon = lab_daemon(
        "",
        &format!("{FILE}\n[[rule]]\nname = \"rest\"\nreject = {{ status = 403 }}\n"),
    );
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    let busy = r#"{"name": "busy", "match": {"method": "OPTIONS", "headers": {"X-Case": "^busy$"}}, "reject": {"status": 486}}"#;
    add_rules(admin, "?before=ping", busy).await;
    let later = r#"[{"name": "later", "match": {"method": "INFO"}, "accept": {}}]"#;
    add_rules(admin, "?after=busy", later).await;
    add_rules(
        admin,
        "",
        "[[rule]]\nname = \"last\"\nmatch.method = \"NOTIFY\"\naccept = {}\n",
    )
    .await;
    assert_eq!(
        rule_names(admin).await,
        ["busy", "later", "ping", "rest", "last"]
    );
    let options_with = |call_id: &str, case: &str| {
        request(
            "OPTIONS",
            "sip:responder@example.com",
            call_id,
            &format!("X-Case: {case}\r\n"),
            "",
        )
    };
    assert_eq!(
        client
            .request(&options_with("place-1", "busy"))
            .await
            .status,
        486
    );
    assert_eq!(
        client
            .request(&options_with("place-2", "free"))
            .await
            .status,
        200
    );

    let replaced = http_body(
        admin,
        "PUT",
        "/rules/busy",
        &["Content-Type: application/json"],
        r#"{"name": "busy", "match": {"method": "OPTIONS", "headers": {"X-Case": "^busy$"}}, "reject": {"status": 600}}"#,
    )
    .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        client
            .request(&options_with("place-3", "busy"))
            .await
            .status,
        600
    );
    assert_eq!(
        rule_names(admin).await[0],
        "busy",
        "replaced where it stood"
    );

    let renamed = http_body(
        admin,
        "PUT",
        "/rules/busy",
        &[],
        "[[rule]]\nname = \"other\"\naccept = {}\n",
    )
    .await;
    assert_eq!(renamed.status, 400, "{}", renamed.body);
    let file_rule = http_body(
        admin,
        "PUT",
        "/rules/ping",
        &[],
        "[[rule]]\nname = \"ping\"\naccept = {}\n",
    )
    .await;
    assert_eq!(file_rule.status, 409);
    let missing = http_body(
        admin,
        "PUT",
        "/rules/nope",
        &[],
        "[[rule]]\nname = \"nope\"\naccept = {}\n",
    )
    .await;
    assert_eq!(missing.status, 404);
    let taken = post_rules(admin, "", "[[rule]]\nname = \"ping\"\naccept = {}\n").await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    let no_anchor = post_rules(
        admin,
        "?after=nope",
        "[[rule]]\nname = \"x\"\naccept = {}\n",
    )
    .await;
    assert_eq!(no_anchor.status, 400, "{}", no_anchor.body);
    let two_places = post_rules(
        admin,
        "?position=first&after=ping",
        "[[rule]]\nname = \"x\"\naccept = {}\n",
    )
    .await;
    assert_eq!(two_places.status, 400);
    assert_eq!(
        rule_names(admin).await,
        ["busy", "later", "ping", "rest", "last"],
        "nothing refused was applied"
    );
}

#[tokio::test]
async fn bodies_are_validated_like_the_file_with_positions() {
    let daemon = lab_daemon("", FILE);
    let admin = daemon.admin();
    let toml = "[[rule]]\nname = \"bad\"\nmatch.request_uri = \"(\"\naccept = { status = 999, dealy_ms = 5 }\n";
    let refused = post_rules(admin, "", toml).await;
    assert_eq!(refused.status, 400);
    let errors = value(&refused)["errors"].clone();
    let texts: Vec<&str> = errors
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("request body:3:21: bad regex for request_uri")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("request body:4:21: status 999 is outside accept's range")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("request body:4:26: unknown key `dealy_ms`")),
        "{texts:?}"
    );
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["column"], 21);

    let json = "[\n  {\"name\": \"j\",\n   \"reply\": {\"status\": 99}}\n]";
    let refused = post_rules(admin, "", json).await;
    assert_eq!(refused.status, 400);
    let error = &value(&refused)["errors"][0];
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(3), Some(24)),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("(at /0/reply/status)"),
        "{error}"
    );

    for (body, why) in [
        ("[server]\nuser_agent = \"x\"\n", "only [[rule]] tables"),
        ("", "no [[rule]]"),
        (
            "[[rule]]\nname = \"a\"\naccept = {}\n[[rule]]\nname = \"a\"\naccept = {}\n",
            "duplicate rule name",
        ),
    ] {
        let refused = post_rules(admin, "", body).await;
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.body.contains(why), "{body}: {}", refused.body);
    }
    let big = format!(
        "[[rule]]\nname = \"big\"\naccept = {{ body = \"{}\" }}\n",
        "x".repeat(70_000)
    );
    assert_eq!(post_rules(admin, "", &big).await.status, 413);
    assert_eq!(rule_names(admin).await, ["ping"]);
}

#[tokio::test]
async fn warnings_come_back_with_the_rule_added() {
    let daemon = lab_daemon("", FILE);
    let admin = daemon.admin();
    let added = add_rules(
        admin,
        "",
        "[[rule]]\nname = \"never\"\nmatch.method = \"OPTIONS\"\naccept = {}\n",
    )
    .await;
    let warnings = added["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap_or_default()
            .contains("rule `never` can never match: rule `ping` (from the file)")),
        "{warnings:?}"
    );
    let added = add_rules(
        admin,
        "",
        "[[rule]]\nname = \"lower\"\nmatch.method = \"invite\"\naccept = {}\n",
    )
    .await;
    assert!(
        added["warnings"].to_string().contains("case-sensitive"),
        "{added}"
    );
}

#[tokio::test]
async fn other_rules_keep_their_state_when_the_set_changes() {
    let every_second = "[[rule]]\nname = \"second\"\nmatch.method = \"MESSAGE\"\nevery = 2\naccept = { status = 202 }\n";
    let daemon = lab_daemon("", every_second);
    let admin = daemon.admin();
    let client = UdpClient::new(daemon.udp()).await;
    assert_eq!(
        client.request(&message("state-1")).await.status,
        480,
        "the first of two goes by"
    );
    add_rules(
        admin,
        "",
        "[[rule]]\nname = \"info\"\nmatch.method = \"INFO\"\naccept = {}\n",
    )
    .await;
    assert_eq!(
        client.request(&message("state-2")).await.status,
        202,
        "`every` counted on across the change"
    );
}

#[tokio::test]
async fn the_api_rules_are_bounded() {
    let daemon = lab_daemon("", FILE);
    let admin = daemon.admin();
    let many: String = (0..1000)
        .map(|n| format!("[[rule]]\nname = \"r{n}\"\ndrop = true\n"))
        .collect();
    add_rules(admin, "", &many).await;
    let full = post_rules(admin, "", "[[rule]]\nname = \"one-more\"\ndrop = true\n").await;
    assert_eq!(full.status, 507, "{}", full.body);
    let metrics = get(admin, "/metrics").await.body;
    let counted = "sip_autoresponder_bound_reached_total{state=\"api_rules\"}";
    assert_eq!(
        crate::admin::http::series(&metrics, counted),
        1.0,
        "{metrics}"
    );
    assert_eq!(http(admin, "DELETE", "/rules/r0", &[]).await.status, 204);
    add_rules(admin, "", "[[rule]]\nname = \"one-more\"\ndrop = true\n").await;
    let long_name = format!("[[rule]]\nname = \"{}\"\ndrop = true\n", "n".repeat(200));
    assert_eq!(http(admin, "DELETE", "/rules/r1", &[]).await.status, 204);
    assert_eq!(
        post_rules(admin, "", &long_name).await.status,
        400,
        "names are bounded too"
    );
}

#[tokio::test]
async fn a_rule_given_at_run_time_names_no_file_on_the_host() {
    let daemon = lab_daemon("", FILE);
    let admin = daemon.admin();
    let dir = std::env::temp_dir();
    for media in [
        format!("{{ play = \"{}\" }}", dir.join("any.wav").display()),
        format!("{{ record = \"{}\" }}", dir.join("call.wav").display()),
    ] {
        let toml = format!(
            "[[rule]]\nname = \"files\"\nmatch.method = \"INVITE\"\naccept = {{ body.sdp = \"answer\", media = {media} }}\n"
        );
        let refused = post_rules(admin, "", &toml).await;
        assert_eq!(refused.status, 400, "{media}: {}", refused.body);
        assert!(
            refused
                .body
                .contains("only rules in the config file may use them"),
            "{media}: {}",
            refused.body
        );
    }
    // What names no file is allowed.
    let tone = "[[rule]]\nname = \"tone\"\nmatch.method = \"INVITE\"\naccept = { body.sdp = \"answer\", media = { tone = 440 } }\n";
    assert_eq!(post_rules(admin, "", tone).await.status, 201);
    assert_eq!(rule_names(admin).await, ["ping", "tone"]);
}
