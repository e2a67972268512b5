//! The config checker: every error of a file at once (several per table,
//! several per step), errors that name the key and what was found with the
//! nearest known key, and a warning for each likely mistake.

use super::*;

const LISTEN: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "t.toml") {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match Config::parse(&format!("{LISTEN}{text}"), "t.toml") {
        Ok(config) => config.warnings.iter().map(ToString::to_string).collect(),
        Err(errors) => panic!("config refused:\n{errors}"),
    }
}

fn assert_warning(text: &str, expected: &str) {
    let found = warnings(text);
    assert!(
        found.iter().any(|w| w.contains(expected)),
        "expected a warning {expected:?} in {found:#?}"
    );
}

#[test]
fn four_typos_in_two_tables_are_four_errors() {
    let text = format!(
        "[server]\nuser_agnt = \"x\"\nuser_agnet = \"y\"\n{LISTEN}\
         [[rule]]\nname = \"a\"\naccept = {{ staus = 200, dealy_ms = 5 }}\n"
    );
    let found = errors(&text);
    assert_eq!(found.len(), 4, "{found:#?}");
    for (error, key) in found
        .iter()
        .zip(["user_agnt", "user_agnet", "staus", "dealy_ms"])
    {
        assert!(error.contains(&format!("unknown key `{key}`")), "{error}");
    }
    assert!(
        found[1].contains("did you mean `user_agent`?"),
        "{}",
        found[1]
    );
    assert!(
        found[3].starts_with("t.toml:9:25:") && found[3].contains("did you mean `delay_ms`?"),
        "{}",
        found[3]
    );
}

#[test]
fn three_bad_template_variables_in_one_step_are_three_errors_at_their_place() {
    let text = format!(
        "{LISTEN}[[rule]]\nname = \"a\"\naccept = {{ body = \"${{calid}} ${{frm.user}} ${{nope}}\" }}\n"
    );
    let found = errors(&text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(
        found[0],
        "t.toml:6:20: unknown template variable `${calid}`; did you mean `${call_id}`?"
    );
    assert_eq!(
        found[1],
        "t.toml:6:29: unknown template variable `${frm.user}`; did you mean `${from.user}`?"
    );
    assert_eq!(found[2], "t.toml:6:41: unknown template variable `${nope}`");
}

#[test]
fn errors_of_every_step_and_of_the_auto_reply_are_reported() {
    let text = format!(
        "{LISTEN}[[rule]]\nname = \"a\"\nprogress = [{{ status = 200 }}, {{ reason = \"${{x}}\" }}]\n\
         reject = {{ status = 200 }}\nmessage = {{ target = \"not a uri\", body = \"${{y}}\" }}\n"
    );
    let found = errors(&text);
    assert_eq!(found.len(), 5, "{found:#?}");
}

#[test]
fn type_errors_name_the_key_what_was_expected_and_what_was_found() {
    let text = format!(
        "{LISTEN}[[rule]]\nname = \"a\"\nreject = {{ status = \"486\", delay_ms = \"2s\" }}\n"
    );
    let found = errors(&text);
    assert_eq!(
        found,
        [
            "t.toml:6:21: reject.status: expected an integer from 0 to 65535, found the string \"486\"",
            "t.toml:6:39: reject.delay_ms: expected milliseconds or { min, max }, found the string \"2s\"",
        ]
    );
    assert_eq!(
        errors(&format!("[server]\nforce_rport = \"yes\"\n{LISTEN}")),
        ["t.toml:2:15: force_rport: expected true or false, found the string \"yes\""]
    );
    assert_eq!(
        errors(&format!(
            "[server]\nreliable_provisionals = \"requird\"\n{LISTEN}"
        )),
        [
            "t.toml:2:25: reliable_provisionals: unknown value \"requird\"; did you mean `required`? (expected one of: required, supported, never)"
        ]
    );
}

#[test]
fn a_missing_required_key_is_named() {
    let found = errors(&format!("{LISTEN}[[rule]]\naccept = {{}}\n"));
    assert_eq!(found, ["t.toml:4:1: [[rule]]: missing required key `name`"]);
}

#[test]
fn a_bad_key_in_a_listener_is_no_missing_listener() {
    let found = errors("[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\nbogus = 1\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("unknown key `bogus` in [[listen]]"),
        "{}",
        found[0]
    );
}

#[test]
fn an_invalid_log_level_is_an_error() {
    for (level, expected) in [
        ("verbose", "`verbose` is not a log level"),
        ("inof", "did you mean `info`?"),
    ] {
        let found = errors(&format!("{LISTEN}[log]\nlevel = \"{level}\"\n"));
        assert!(
            found
                .iter()
                .any(|e| e.starts_with("t.toml:5:9:") && e.contains(expected)),
            "{found:#?}"
        );
    }
    assert!(
        errors(&format!(
            "{LISTEN}[log]\nlevel = \"warn,sip_autoresponder::engine=debug\"\n"
        ))
        .is_empty()
    );
}

#[test]
fn listeners_on_the_wildcard_and_a_specific_address_of_one_port_are_an_error() {
    let text = "[[listen]]\ntransport = \"udp\"\naddress = \"0.0.0.0:5060\"\n\
                [[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:5060\"\n\
                [[listen]]\ntransport = \"udp\"\naddress = \"[::]:5060\"\n\
                [[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5060\"\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "t.toml:6:11: 127.0.0.1:5060 is already used by the UDP listener on 0.0.0.0:5060"
        ),
        "{}",
        found[0]
    );
}

#[test]
fn a_rule_shadowed_by_an_earlier_one_is_a_warning() {
    assert_warning(
        "[[rule]]\nname = \"invites\"\nmatch.method = [\"INVITE\", \"MESSAGE\"]\naccept = {}\n\
         [[rule]]\nname = \"busy\"\nmatch.method = \"INVITE\"\nmatch.request_uri = '^sip:busy@'\nreject = { status = 486 }\n",
        "t.toml:9:8: rule `busy` can never match: rule `invites` (line 5) comes first",
    );
    // A narrower earlier rule, or one taking every other request, shadows nothing.
    assert!(warnings(
        "[[rule]]\nname = \"busy\"\nmatch.method = \"INVITE\"\nmatch.request_uri = '^sip:busy@'\nreject = { status = 486 }\n\
         [[rule]]\nname = \"half\"\nmatch.method = \"INVITE\"\nevery = 2\naccept = {}\n\
         [[rule]]\nname = \"invites\"\nmatch.method = \"INVITE\"\naccept = {}\n"
    )
    .is_empty());
}

#[test]
fn methods_in_lowercase_or_misspelt_are_warnings() {
    assert_warning(
        "[[rule]]\nname = \"a\"\nmatch.method = \"invite\"\naccept = {}\n",
        "t.toml:6:16: method `invite` never matches: SIP method names are case-sensitive (RFC 3261 §7.1); write `INVITE`",
    );
    assert_warning(
        "[[rule]]\nname = \"a\"\nmatch.method = \"INVTE\"\naccept = {}\n",
        "unknown method `INVTE`; did you mean `INVITE`?",
    );
    assert_warning(
        "[server]\nallowed_methods = [\"OPTIONS\", \"bye\"]\n",
        "method `bye` never matches",
    );
}

#[test]
fn an_unknown_codec_is_a_warning() {
    assert_warning(
        "[sdp]\ncodecs = [\"PCMU\", \"G729x\", \"video/VP8\"]\n[[rule]]\nname = \"a\"\naccept = {}\n",
        "codec `G729x`: `G729x` is not a known RTP encoding name; did you mean `G729`?",
    );
    assert_eq!(warnings("[sdp]\ncodecs = [\"PCMU\", \"audio/opus/48000\", \"video/VP8\"]\n[[rule]]\nname = \"a\"\naccept = {}\n").len(), 0);
}

#[test]
fn zero_rules_is_a_warning() {
    assert_warning("", "no [[rule]]: every request gets the fallback");
}

#[test]
fn hangup_after_ms_on_an_options_rule_is_a_warning() {
    assert_warning(
        "[[rule]]\nname = \"ping\"\nmatch.method = \"OPTIONS\"\naccept = { hangup_after_ms = 1000 }\n",
        "t.toml:7:30: rule `ping`: hangup_after_ms acts on INVITE only",
    );
}

#[test]
fn a_registrar_on_an_invite_rule_is_a_warning() {
    assert_warning(
        "[[rule]]\nname = \"reg\"\nmatch.method = \"INVITE\"\nregister = {}\n",
        "t.toml:7:12: rule `reg`: `register` is the registrar for REGISTER requests, but the rule matches INVITE",
    );
}

#[test]
fn an_sdp_body_with_bare_lf_is_a_warning() {
    assert_warning(
        "[[rule]]\nname = \"a\"\naccept = { body = \"v=0\\no=- 1 1 IN IP4 192.0.2.1\\ns=-\\n\" }\n",
        "t.toml:6:19: SDP body with bare LF line ends",
    );
    assert!(
        warnings("[[rule]]\nname = \"a\"\naccept = { body = \"v=0\\r\\ns=-\\r\\n\" }\n").is_empty()
    );
}

#[test]
fn a_json_body_labelled_text_plain_is_a_warning() {
    for policy in [
        "accept = { body = '{\"status\": \"ok\"}' }",
        "accept = { body = '[1, 2]', content_type = \"text/plain\" }",
        "message = { body = '{\"away\": true}' }\naccept = {}",
    ] {
        assert_warning(
            &format!("[[rule]]\nname = \"a\"\nmatch.method = \"MESSAGE\"\n{policy}\n"),
            "this body is JSON but goes out as text/plain",
        );
    }
    assert!(warnings("[[rule]]\nname = \"a\"\naccept = { body = '{\"a\": 1}', content_type = \"application/json\" }\n").is_empty());
}

/// The checker reads every section again after each error: no mangled file
/// makes it panic or loop (each one-character deletion of the default, and
/// a value of every wrong type in every place).
#[test]
fn mangled_configs_never_panic() {
    let text = DEFAULT_CONFIG;
    for (at, c) in text.char_indices() {
        let mangled = format!("{}{}", &text[..at], &text[at + c.len_utf8()..]);
        let _ = Config::parse(&mangled, "t.toml");
    }
    for value in [
        "1",
        "\"x\"",
        "true",
        "[1, \"a\"]",
        "{ a = 1 }",
        "1979-05-27",
    ] {
        let mangled = text
            .lines()
            .map(|line| match line.split_once(" = ") {
                Some((key, _)) if !key.starts_with('#') => format!("{key} = {value}"),
                _ => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let errors = Config::parse(&mangled, "t.toml").expect_err("every value is wrong");
        assert!(errors.errors.len() > 3, "{value}: {errors}");
    }
}
