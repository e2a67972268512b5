use super::*;

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "t.toml") {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_error(text: &str, expected: &str) {
    let found = errors(text);
    assert!(
        found.iter().any(|e| e.contains(expected)),
        "expected {expected:?} in {found:#?}"
    );
}

#[test]
fn embedded_default_loads() {
    let config = Config::embedded_default().expect("default config is valid");
    assert_eq!(config.listeners.len(), 3);
    assert!(config.rules.rules().len() >= 4);
}

#[test]
fn design_example_loads() {
    let text = r#"
[server]
user_agent = "sip-autoresponder"

[[listen]]
transport = "udp"
address = "127.0.0.1:5060"

[[rule]]
name = "busy-line"
match.method = ["INVITE"]
match.request_uri = '^sips?:busy@'
progress = [{ status = 180 }]
reject = { status = 486, delay_ms = 2000, extra_headers = ["Retry-After: 60"] }

[[rule]]
name = "x"
match.headers."X-Scenario" = '^answer$'
match.headers."X-Absent" = false
match.source = ["10.0.0.0/8", "::1"]
match.transport = "udp"
reply = { status = 299 }
"#;
    let config = Config::parse(text, "t.toml").expect("valid");
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.rules.rules()[0].name.as_ref(), "busy-line");
}

#[test]
fn unknown_keys_and_wrong_types_have_positions() {
    assert_error(
        "[server]\nuser_agnt = \"x\"\n",
        "t.toml:2:1: unknown key `user_agnt` in [server]; did you mean `user_agent`?",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { staus = 200 }\n",
        "t.toml:3:12: unknown key `staus` in [[rule]].accept; did you mean `status`?",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { status = \"200\" }\n",
        "t.toml:3:21: accept.status: expected an integer from 0 to 65535, found the string \"200\"",
    );
    assert_error(
        "[serverx]\n",
        "t.toml:1:2: unknown section `serverx`; did you mean `server`?",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\nmatch.methd = \"X\"\naccept = {}\n",
        "t.toml:3:7: unknown key `methd` in [[rule]].match; did you mean `method`?",
    );
}

#[test]
fn semantic_errors_have_positions() {
    assert_error(
        "[[rule]]\nname = \"a\"\nmatch.request_uri = '^(sip'\naccept = {}\n",
        "t.toml:3:21: bad regex for request_uri",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\nmatch.source = \"10.0.0.0/33\"\naccept = {}\n",
        "t.toml:3:16: `10.0.0.0/33` is not a CIDR",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { status = 300 }\n",
        "t.toml:3:21: status 300 is outside accept's range 200-299",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\nprogress = [{ status = 200 }]\n",
        "t.toml:3:24: status 200 is outside progress's range 100-199",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\nreject = { status = 200 }\n",
        "status 200 is outside reject's range 300-699",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\nreply = {}\n",
        "t.toml:2:8: `reply` needs a status",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = {}\n[[rule]]\nname = \"a\"\naccept = {}\n",
        "t.toml:5:8: duplicate rule name `a` (first defined at line 2, column 8)",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { extra_headers = [\"NoColon\"] }\n",
        "t.toml:3:29: extra header `NoColon` is not `Name: value`",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { extra_headers = [\"X-A: 1\\r\\nX-B: 2\"] }\n",
        "contains CR, LF or NUL",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { extra_headers = [\"Call-ID: x\"] }\n",
        "extra header `Call-ID` is written by the engine",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = { extra_headers = [\"v: x\"] }\n",
        "extra header `v` is written by the engine",
    );
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = {}\nreject = {}\n",
        "at most one of accept, reject and reply",
    );
    assert_error("[[rule]]\nname = \"a\"\n", "no reply given");
    assert_error(
        "[[listen]]\ntransport = \"udp\"\naddress = \"localhost:5060\"\n",
        "t.toml:3:11: `localhost:5060` is not an IP:port",
    );
    assert_error(
        "[[listen]]\ntransport = \"sctp\"\naddress = \"127.0.0.1:5060\"\n",
        "t.toml:2:13: unknown transport `sctp`",
    );
    assert_error(
        "[timers]\nt1_ms = 500\nt2_ms = 100\n",
        "t.toml:3:9: t2_ms (100) must be at least t1_ms (500)",
    );
    assert_error(
        "[server]\nuser_agent = \"a\\r\\nX-Injected: 1\"\n",
        "t.toml:2:14: user_agent must not contain CR, LF or NUL",
    );
    assert_error(
        "[sdp]\nprefer = \"mine\"\n",
        "t.toml:2:10: prefer `mine`: expected \"ours\" or \"theirs\"",
    );
    assert_error(
        "[[rule]]\nname = \"r\"\nregister = { max_contacts = 0 }\n",
        "t.toml:3:29: max_contacts must be at least 1",
    );
    assert_error(
        "[[rule]]\nname = \"r\"\nregister = { max_contacts_action = \"drop\" }\n",
        "max_contacts_action `drop`: expected \"503\" or \"replace-oldest\"",
    );
    // An unset t2_ms has no position: the error points at t1_ms.
    assert_error(
        "[timers]\nt1_ms = 5000\n",
        "t.toml:2:9: t2_ms (unset: 4000) must be at least t1_ms (5000)",
    );
}

#[test]
fn all_errors_are_reported_not_only_the_first() {
    let text = "[[rule]]\nname = \"a\"\naccept = { staus = 1 }\n[[rule]]\nname = \"b\"\nmatch.to = '('\naccept = {}\n[[rule]]\nname = \"c\"\nreject = { status = 100 }\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";
    let found = errors(text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("t.toml:3:"));
    assert!(found[1].starts_with("t.toml:6:"));
    assert!(found[2].starts_with("t.toml:10:"));
}

#[test]
fn a_config_without_listeners_is_refused() {
    assert_error(
        "[[rule]]\nname = \"a\"\naccept = {}\n",
        "t.toml:1:1: no listeners",
    );
}

#[test]
fn syntax_errors_have_positions() {
    assert_error("[[rule]\nname = \"a\"\n", "t.toml:1:");
    assert_error("[server]\nuser_agent = \n", "t.toml:2:");
}

const LISTEN: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

/// A delay nothing would ever wait for is a mistake, not a wait: beyond
/// the ring timeout (the layer answers the INVITE first) or the maximum
/// dialog duration (the dialog ends first).
#[test]
fn delays_beyond_the_lifetimes_are_errors() {
    let rule = |policy: &str| format!("{LISTEN}[[rule]]\nname = \"r\"\n{policy}\n");
    assert_error(
        &rule("accept = { delay_ms = 86400000 }"),
        "delay_ms 86400000 is above [timers] ring_timeout_ms (180000 ms)",
    );
    assert_error(
        &rule("accept = { delay_ms = 18446744073709551615 }"),
        "delay_ms 18446744073709551615 is above [timers] ring_timeout_ms",
    );
    assert_error(
        &rule("accept = { delay_ms = { min = 1, max = 200000 } }"),
        "delay_ms 200000 is above",
    );
    assert_error(
        &rule("progress = [{ delay_ms = 100000 }, { delay_ms = 100000 }]"),
        "the delays of this policy add up to 200000 ms, more than [timers] ring_timeout_ms (180000 ms)",
    );
    assert_error(
        &format!(
            "[dialog]\nmax_duration_ms = 60000\n{}",
            rule("accept = { hangup_after_ms = 120000 }")
        ),
        "hangup_after_ms is above [dialog] max_duration_ms (60000 ms)",
    );
    assert_error(
        &rule("accept = {}\nmessage = { body = \"x\", delay_ms = 3600000 }"),
        "message delay_ms 3600000 is above [timers] ring_timeout_ms",
    );
    assert!(
        errors(&format!(
            "[timers]\nring_timeout_ms = 600000\n{}",
            rule("accept = { delay_ms = 300000 }")
        ))
        .is_empty(),
        "a longer ring timeout allows longer delays"
    );
}

#[test]
fn lifetimes_and_bounds_are_checked() {
    assert_error(
        &format!("[timers]\nring_timeout_ms = 500\n{LISTEN}"),
        "ring_timeout_ms must be from 1000 to 3600000",
    );
    assert_error(
        &format!("[dialog]\nmin_se = 30\n{LISTEN}"),
        "min_se must be from 90 (RFC 4028 §4)",
    );
    assert_error(
        &format!("[dialog]\nmin_se = 120\nsession_expires = 100\n{LISTEN}"),
        "session_expires must be from min_se (120)",
    );
    assert_error(
        &format!("[dialog]\nmax_dialogs = 0\n{LISTEN}"),
        "max_dialogs must be at least 1",
    );
    assert_error(
        &format!("[dialog]\nmax_bytes = 10\n{LISTEN}"),
        "max_bytes must be from 256 to 65536",
    );
    assert_error(
        &format!("[dialog]\nmax_durration_ms = 10\n{LISTEN}"),
        "unknown key `max_durration_ms` in [dialog]; did you mean `max_duration_ms`?",
    );
    let ok = Config::parse(
        &format!("[dialog]\nmax_dialogs = 10\nmax_duration_ms = 60000\nmax_bytes = 4096\nmin_se = 120\nsession_expires = 1800\n{LISTEN}"),
        "t.toml",
    )
    .expect("valid");
    assert_eq!(ok.server.dialog.max_dialogs, 10);
    assert_eq!(ok.server.dialog.session_expires, Some(1800));
}

#[test]
fn no_answer_is_a_reject_without_delay_or_body() {
    let rule = |no_answer: &str| {
        format!("{LISTEN}[[rule]]\nname = \"r\"\nprogress = [{{}}]\nno_answer = {no_answer}\n")
    };
    assert!(errors(&rule("{ status = 486 }")).is_empty());
    assert_error(
        &rule("{ status = 200 }"),
        "status 200 is outside reject's range",
    );
    assert_error(
        &rule("{ delay_ms = 5 }"),
        "no_answer is sent when ringing times out",
    );
    assert_error(
        &format!("{LISTEN}[[rule]]\nname = \"r\"\ndrop = true\nno_answer = {{}}\n"),
        "`drop = true` answers nothing",
    );
}

/// The warnings of `text` with a rule appended (a config without rules has
/// a warning of its own).
fn warnings(text: &str) -> Vec<String> {
    match Config::parse(
        &format!("{text}[[rule]]\nname = \"o\"\naccept = {{}}\n"),
        "t.toml",
    ) {
        Ok(config) => config.warnings.iter().map(ToString::to_string).collect(),
        Err(errors) => panic!("expected a valid config:\n{errors}"),
    }
}

const UDP: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

#[test]
fn an_admin_listener_off_loopback_without_a_token_is_a_warning() {
    let open = warnings(&format!("{UDP}[admin]\naddress = \"0.0.0.0:9060\"\n"));
    assert_eq!(open.len(), 1, "{open:#?}");
    assert!(
        open[0].starts_with("t.toml:5:11: the admin listener on 0.0.0.0:9060 is reachable from other hosts and has no `token`"),
        "{open:#?}"
    );
    for quiet in [
        "[admin]\naddress = \"0.0.0.0:9060\"\ntoken = \"t\"\n",
        "[admin]\naddress = \"127.0.0.1:9060\"\n",
        "[admin]\naddress = \"[::1]:9060\"\n",
        "[admin]\n",
    ] {
        assert_eq!(
            warnings(&format!("{UDP}{quiet}")),
            Vec::<String>::new(),
            "{quiet}"
        );
    }
}

#[test]
fn a_journal_file_in_an_unwritable_directory_is_a_warning() {
    let missing = warnings(&format!(
        "{UDP}[admin]\njournal_file = \"/nonexistent-sip-autoresponder/j.jsonl\"\n"
    ));
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert!(
        missing[0].starts_with("t.toml:5:16: journal_file /nonexistent-sip-autoresponder/j.jsonl: directory /nonexistent-sip-autoresponder unusable"),
        "{missing:#?}"
    );
    let writable = std::env::temp_dir().join("j.jsonl");
    assert_eq!(
        warnings(&format!(
            "{UDP}[admin]\njournal_file = \"{}\"\n",
            writable.display()
        )),
        Vec::<String>::new()
    );
}

#[test]
fn connection_bounds_are_read_and_checked() {
    let config = Config::parse(
        "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\nmax_connections = 100\nwrite_timeout_ms = 2500\nfirst_message_timeout_ms = 700\nmax_send_queue_bytes = 8192\n[[listen]]\ntransport = \"ws\"\naddress = \"127.0.0.1:0\"\nmax_connections_per_source = 7\n",
        "t.toml",
    )
    .expect("valid");
    let limits = config.listeners[0].limits;
    assert_eq!(
        limits.max_connections_per_source, 100,
        "capped at max_connections"
    );
    assert_eq!(limits.write_timeout, Duration::from_millis(2500));
    assert_eq!(limits.first_message_timeout, Duration::from_millis(700));
    assert_eq!(limits.max_send_queue_bytes, 8192);
    let defaults = config.listeners[1].limits;
    assert_eq!(defaults.max_connections_per_source, 7);
    assert_eq!(defaults.write_timeout, Duration::from_secs(10));
    assert!(defaults.first_message_timeout < defaults.idle_timeout);
    assert_eq!(defaults.max_send_queue_bytes, 256 * 1024);
    let tcp = "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n";
    assert_error(
        &format!("{tcp}max_send_queue_bytes = 100\n"),
        "t.toml:4:24: max_send_queue_bytes must be from 4096 to 67108864",
    );
    assert_error(
        &format!("{tcp}max_connections_per_source = 0\n"),
        "t.toml:4:30: max_connections_per_source must be at least 1",
    );
    assert_error(
        &format!("{tcp}write_timeout_ms = 0\n"),
        "t.toml:4:20: timeouts must be at least 1 ms",
    );
    assert_error(
        &format!("{UDP}write_timeout_ms = 5\n"),
        "connection limits apply to tcp, tls, ws and wss listeners, not udp",
    );
}

#[test]
fn the_journal_bounds_are_read_and_checked() {
    let config = Config::parse(
        &format!("{UDP}[admin]\njournal_max_bytes = 1048576\njournal_file_max_bytes = 70000\n"),
        "t.toml",
    )
    .expect("valid");
    let admin = config.server.admin.expect("admin");
    assert_eq!(
        (admin.journal_max_bytes, admin.journal_file_max_bytes),
        (1_048_576, 70_000)
    );
    assert_error(
        &format!("{UDP}[admin]\njournal_max_bytes = 10\n"),
        "t.toml:5:21: journal_max_bytes must be from 65536 to 4294967296",
    );
    assert_error(
        &format!("{UDP}[admin]\njournal_file_max_bytes = 10\n"),
        "t.toml:5:26: journal_file_max_bytes must be at least 65536",
    );
}

#[test]
fn the_rate_limit_drops_by_default() {
    let config = Config::parse(
        &format!("[server]\nrate_limit = {{ per_second = 5 }}\n{UDP}"),
        "t.toml",
    )
    .expect("valid");
    let limit = config.server.rate_limit.expect("rate limit");
    assert!(!limit.answer_503);
    assert_eq!(limit.burst, 5);
}
