use std::time::Duration;

use super::*;

fn limits() -> RuleLimits {
    RuleLimits {
        ring_timeout: Duration::from_secs(180),
        max_duration: Duration::from_secs(3600),
        auth: std::sync::Arc::default(),
    }
}

fn errors(text: &str) -> Vec<String> {
    parse_rules_json(text, "body", limits())
        .expect_err("refused")
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_rule_object_and_an_array_of_rules_compile() {
    let one = r#"{"name": "busy", "scope": "t1", "match": {"method": "INVITE", "headers": {"X-Case": "^busy$"}},
                  "progress": [{"status": 180}], "reject": {"status": 486, "delay_ms": {"min": 10, "max": 20}}}"#;
    let parsed = parse_rules_json(one, "body", limits()).expect("compiles");
    assert_eq!(parsed.rules.len(), 1);
    assert_eq!(&*parsed.rules[0].name, "busy");
    assert_eq!(parsed.rules[0].matcher.scope.as_deref(), Some("t1"));
    let many = r#"[{"name": "a", "accept": {}}, {"name": "b", "reply": {"status": 299, "reason": "Odd \"one\""}}]"#;
    let parsed = parse_rules_json(many, "body", limits()).expect("compiles");
    let names: Vec<&str> = parsed.rules.iter().map(|r| &*r.name).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn errors_point_into_the_json() {
    let text = "[\n  {\"name\": \"a\", \"accept\": {}},\n  {\"name\": \"b\",\n   \"match\": {\"request_uri\": \"(\"},\n   \"reject\": {\"status\": 486}}\n]";
    assert_eq!(
        errors(text),
        [
            "body:4:29: bad regex for request_uri: regex parse error: (at /1/match/request_uri)"
                .replace("regex parse error: ", &regex_error())
        ]
    );
    let unknown = "{\"name\": \"a\",\n \"accept\": {\"dealy_ms\": 5}}";
    let found = errors(unknown);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("body:2:13: unknown key `dealy_ms`"),
        "{found:?}"
    );
    assert!(found[0].ends_with("(at /accept/dealy_ms)"), "{found:?}");
}

/// What the regex crate says of `(` (its wording is its own).
fn regex_error() -> String {
    let unclosed = String::from("(");
    let error = regex::Regex::new(&unclosed).expect_err("unclosed group");
    let text = error.to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| text.lines().next().unwrap_or(""));
    format!("{line} ")
}

#[test]
fn an_error_inside_a_string_keeps_its_column() {
    let text = r#"{"name": "a", "reply": {"status": 200, "reason": "hi ${calid}"}}"#;
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    let column = text.find("${calid}").expect("there") + 1;
    assert!(
        found[0].starts_with(&format!(
            "body:1:{column}: unknown template variable `${{calid}}`"
        )),
        "{found:?}"
    );
}

#[test]
fn what_is_no_rule_is_refused_at_its_place() {
    assert_eq!(
        errors("{\"name\": \"a\",\n \"scope\": null, \"accept\": {}}"),
        ["body:2:11: null has no TOML equivalent: leave the key out (at /scope)"]
    );
    assert_eq!(
        errors("[{\"name\": \"a\", \"accept\": {}}, 5]"),
        ["body:1:31: a rule must be a JSON object (at /1)"]
    );
    let syntax = errors("{\"name\": \"a\",}");
    assert_eq!(syntax, ["body:1:14: JSON: trailing comma"]);
    assert!(
        errors("[]")[0].contains("no [[rule]] table"),
        "an empty array adds nothing"
    );
}
