//! `[auth]`, a rule's `auth`, `register.auth` and `match.auth` at load:
//! defaults, RFC 8760 order, errors with their position, the users file
//! and the open-registrar warning.

use super::*;
use crate::auth::{Algorithm, OnFailure, Qop};

const UDP: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(&format!("{UDP}{text}"), "t.toml")
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_rule_requires_the_defaults_or_its_own_table() {
    let config = load(
        r#"
[auth]
realm = "lab"
users = { alice = "secret" }

[[rule]]
name = "plain"
match.method = "OPTIONS"
auth = "required"
accept = {}

[[rule]]
name = "strong"
match.method = "INVITE"
auth = { realm = "pbx", proxy = true, algorithms = ["MD5", "SHA-512-256", "SHA-256"], qop = ["auth-int", "auth"], on_failure = "401" }
accept = {}
"#,
    )
    .expect("valid");
    let rules = config.rules.rules();
    let plain = rules[0].auth.as_deref().expect("required");
    assert_eq!(&*plain.realm, "lab");
    assert_eq!(plain.algorithms, [Algorithm::Md5], "MD5 alone by default");
    assert_eq!(plain.qops, [Qop::Auth]);
    assert!(!plain.proxy);
    let strong = rules[1].auth.as_deref().expect("table");
    assert_eq!(
        strong.algorithms,
        [Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5],
        "RFC 8760 order whatever the file's"
    );
    assert_eq!(strong.qops, [Qop::AuthInt, Qop::Auth]);
    assert_eq!(strong.on_failure, OnFailure::Challenge);
    assert!(strong.proxy);
    // The password holds in every realm named.
    assert!(
        config
            .auth
            .users
            .ha1("pbx", "alice", Algorithm::Sha256)
            .is_some()
    );
    assert!(
        config
            .auth
            .users
            .ha1("lab", "alice", Algorithm::Md5)
            .is_some()
    );
    assert!(!rules[0].stateless, "a rule with credentials keeps state");
}

#[test]
fn mistakes_are_errors_at_their_key() {
    for (text, expected) in [
        (
            "[auth]\nalgorithms = [\"SHA-1\"]\n",
            "t.toml:5:14: unknown algorithm `SHA-1`",
        ),
        (
            "[auth]\nrealms = \"x\"\n",
            "t.toml:5:1: unknown key `realms`",
        ),
        ("[auth]\non_failure = \"404\"\n", "on_failure `404`"),
        (
            "[auth]\nnonce_lifetime_ms = 0\n",
            "nonce_lifetime_ms must be",
        ),
        (
            "[[rule]]\nname = \"r\"\nauth = \"maybe\"\naccept = {}\n",
            "t.toml:6:8: auth = \"maybe\": expected \"required\"",
        ),
        (
            "[[rule]]\nname = \"r\"\nmatch.auth = \"yes\"\naccept = {}\n",
            "match.auth `yes`: expected \"valid\", \"invalid\" or \"absent\"",
        ),
        (
            "[[rule]]\nname = \"r\"\nregister = { auth = \"required\", aor = \"host\" }\n",
            "aor `host`",
        ),
        (
            "[auth]\nusers_file = \"/nonexistent-sip-autoresponder/users\"\n",
            "users_file /nonexistent-sip-autoresponder/users: cannot be read",
        ),
    ] {
        let found = errors(text);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "{text}: expected {expected:?} in {found:#?}"
        );
    }
}

#[test]
fn a_users_file_loads_and_its_bad_lines_are_named() {
    let dir = std::env::temp_dir().join(format!("sip-autoresponder-users-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good");
    let md5 = Algorithm::Md5.ha1("bob", "lab", "pw");
    std::fs::write(&good, format!("bob:lab:{md5}\n")).expect("write");
    let config = load(&format!(
        "[auth]\nrealm = \"lab\"\nusers_file = \"{}\"\n",
        good.display()
    ))
    .expect("valid");
    assert_eq!(
        config.auth.users.ha1("lab", "bob", Algorithm::Md5),
        Some(md5.as_str())
    );
    let bad = dir.join("bad");
    std::fs::write(&bad, "bob:lab:{md5}\n\nbroken\n").expect("write");
    let found = errors(&format!("[auth]\nusers_file = \"{}\"\n", bad.display()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        found
            .iter()
            .any(|e| e.contains(&format!("users_file {}:1:9: HA1", bad.display()))),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.contains(&format!(
            "users_file {}:3:1: expected user:realm:HA1",
            bad.display()
        ))),
        "{found:#?}"
    );
}

#[test]
fn the_registrar_owns_by_user_and_requires_credentials() {
    let config = load(
        r#"
[auth]
users = { alice = "secret" }

[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { auth = "required", aors = { alice = ["sip:1000@lab"] } }
"#,
    )
    .expect("valid");
    let rule = &config.rules.rules()[0];
    assert!(rule.auth.is_some(), "register.auth makes the rule ask");
    let crate::rules::Choice::One(policy) = &rule.choice else {
        panic!("one policy");
    };
    let crate::rules::ReplyPolicy::Register(register) = policy.as_ref() else {
        panic!("the registrar");
    };
    let owners = &register.owners;
    assert!(owners.owns("alice", "sip:alice@lab"));
    assert!(owners.owns("alice", "sip:1000@lab"));
    assert!(!owners.owns("alice", "sip:bob@lab"));
    // An `auth` on the registrar's rule is the same requirement.
    let config = load(
        "[[rule]]\nname = \"r\"\nmatch.method = \"REGISTER\"\nauth = \"required\"\nregister = {}\n",
    )
    .expect("valid");
    assert!(config.rules.rules()[0].auth.is_some());
}

#[test]
fn credentials_belong_to_the_rule_not_to_one_of_its_policies() {
    let twice =
        errors("[[rule]]\nname = \"r\"\nauth = \"required\"\nregister = { auth = \"required\" }\n");
    assert!(
        twice
            .iter()
            .any(|e| e.contains("t.toml:7:21: rule `r` has `auth` and `register.auth`: keep one")),
        "{twice:#?}"
    );
    let nested =
        errors("[[rule]]\nname = \"r\"\n[[rule.outcome]]\nregister = { auth = \"required\" }\n");
    assert!(
        nested
            .iter()
            .any(|e| e.contains("t.toml:7:21: rule `r`: credentials are checked before an outcome or a sequence step is chosen")),
        "{nested:#?}"
    );
    let fallback = errors("[fallback]\nregister = { auth = \"required\" }\n");
    assert!(
        fallback
            .iter()
            .any(|e| e.contains("t.toml:5:12: the fallback cannot ask for credentials")),
        "{fallback:#?}"
    );
}

#[test]
fn an_open_registrar_off_loopback_is_a_warning() {
    let registrar = "[[rule]]\nname = \"registrar\"\nmatch.method = \"REGISTER\"\nregister = {}\n";
    let warnings = |listen: &str, rule: &str| -> Vec<String> {
        Config::parse(&format!("{listen}{rule}"), "t.toml")
            .expect("valid")
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let public = "[[listen]]\ntransport = \"udp\"\naddress = \"0.0.0.0:5060\"\n";
    let found = warnings(public, registrar);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("t.toml:7:12: rule `registrar`: the registrar asks for no credentials and udp 0.0.0.0:5060 is reachable from other hosts"),
        "{found:#?}"
    );
    assert!(warnings(UDP, registrar).is_empty(), "loopback only: fine");
    let guarded = "[auth]\nusers = { a = \"b\" }\n[[rule]]\nname = \"registrar\"\nmatch.method = \"REGISTER\"\nregister = { auth = \"required\" }\n";
    assert!(warnings(public, guarded).is_empty());
    let by_match = "[auth]\nusers = { a = \"b\" }\n[[rule]]\nname = \"registrar\"\nmatch.method = \"REGISTER\"\nmatch.auth = \"valid\"\nregister = {}\n";
    assert!(warnings(public, by_match).is_empty(), "match.auth = valid");
    let mapping = "[[rule]]\nname = \"registrar\"\nregister = { aor = \"user@host\" }\n";
    let found = warnings(UDP, mapping);
    assert!(
        found
            .iter()
            .any(|w| w.contains("`aor` and `aors` apply only to a REGISTER the rule authenticated")),
        "{found:#?}"
    );
    let branch = "[auth]\nusers = { a = \"b\" }\n[[rule]]\nname = \"b\"\nmatch.auth = \"invalid\"\nauth = \"required\"\nreject = { status = 403 }\n";
    let found = warnings(UDP, branch);
    assert!(
        found.iter().any(|w| w.contains(
            "rule `b`: match.auth = \"invalid\" holds only for requests its own `auth` refuses"
        )),
        "{found:#?}"
    );
    let no_users = "[[rule]]\nname = \"r\"\nauth = \"required\"\naccept = {}\n";
    let found = warnings(UDP, no_users);
    assert!(
        found.iter().any(|w| w.contains("[auth] has no users")),
        "{found:#?}"
    );
}

#[test]
fn the_embedded_default_keeps_an_open_registrar() {
    let config = Config::embedded_default().expect("valid");
    assert!(
        config
            .rules
            .rules()
            .iter()
            .all(|rule| rule.credentials().is_none()),
        "the quick start asks for no credentials"
    );
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
}
