//! The test-lab routes: rules at run time (`/rules`), resets, scopes and
//! `POST /reload`. Rule bodies are TOML `[[rule]]` tables, or their JSON
//! equivalent (a rule object or an array of them): `Content-Type:
//! application/json` (or `application/toml`) says which, else a body that
//! starts with `{` or `[{` is JSON.

use hyper::StatusCode;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::handlers::{Reply, json_with, problem};
use super::query;
use super::routes::ResetTarget;
use crate::config::{ConfigError, ConfigErrors, RuntimeRules, parse_rules, parse_rules_json};
use crate::lab::{Lab, LabError, Placement};

/// What positions in a refused body are reported against.
const BODY_NAME: &str = "request body";

/// A reload asked for over HTTP, and where its outcome goes.
#[derive(Debug)]
pub struct ReloadRequest {
    pub keep_api_rules: bool,
    /// `Ok`: a summary of what changed; `Err`: every error, one a line.
    pub outcome: oneshot::Sender<Result<String, String>>,
}

/// One error or warning of a refused body.
#[derive(Debug, Serialize)]
struct Position {
    line: usize,
    column: usize,
    message: String,
    /// `request body:line:column: message`, as `check` prints it.
    text: String,
}

impl Position {
    fn of(error: &ConfigError) -> Self {
        Self {
            line: error.line,
            column: error.column,
            message: error.message.clone(),
            text: error.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Refused {
    errors: Vec<Position>,
    warnings: Vec<Position>,
}

#[derive(Debug, Serialize)]
struct Changed<'a> {
    rules: &'a [String],
    warnings: &'a [String],
}

/// Whether a body of `content_type` is JSON.
fn is_json(content_type: Option<&str>, body: &str) -> bool {
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some(t) if t == "application/json" || t.ends_with("+json") => true,
        Some("application/toml") => false,
        _ => {
            let text = body.trim_start();
            text.starts_with('{')
                || text
                    .strip_prefix('[')
                    .is_some_and(|rest| matches!(rest.trim_start().chars().next(), Some('{' | ']')))
        }
    }
}

/// The rules of a body, compiled like the file's.
fn parse(lab: &Lab, content_type: Option<&str>, body: &str) -> Result<RuntimeRules, ConfigErrors> {
    if is_json(content_type, body) {
        parse_rules_json(body, BODY_NAME, lab.rule_limits())
    } else {
        parse_rules(body, BODY_NAME, lab.rule_limits())
    }
}

fn lab_error(error: &LabError) -> Reply {
    let status = match error {
        LabError::Invalid(errors) => return invalid(errors),
        LabError::NameTaken(_) | LabError::FileRule(_) => StatusCode::CONFLICT,
        LabError::NoSuchRule(_) => StatusCode::NOT_FOUND,
        LabError::NoAnchor(_) | LabError::NameMismatch { .. } | LabError::NameTooLong(_) => {
            StatusCode::BAD_REQUEST
        }
        LabError::Full => StatusCode::INSUFFICIENT_STORAGE,
    };
    problem(status, &error.to_string())
}

fn invalid(errors: &ConfigErrors) -> Reply {
    let refused = Refused {
        errors: errors.errors.iter().map(Position::of).collect(),
        warnings: errors.warnings.iter().map(Position::of).collect(),
    };
    json_with(StatusCode::BAD_REQUEST, &refused)
}

/// `POST /rules[?position=first|last|before=NAME|after=NAME]`.
pub(super) fn add(lab: &Lab, query: Option<&str>, content_type: Option<&str>, body: &str) -> Reply {
    let placement: Placement = match query::placement(query) {
        Ok(placement) => placement,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let parsed = match parse(lab, content_type, body) {
        Ok(parsed) => parsed,
        Err(errors) => return invalid(&errors),
    };
    match lab.add(parsed, &placement, body.len()) {
        Ok(applied) => json_with(
            StatusCode::CREATED,
            &Changed {
                rules: &applied.names,
                warnings: &applied.warnings,
            },
        ),
        Err(error) => lab_error(&error),
    }
}

/// `PUT /rules/{name}`: replaces an API rule where it stands.
pub(super) fn replace(lab: &Lab, name: &str, content_type: Option<&str>, body: &str) -> Reply {
    let parsed = match parse(lab, content_type, body) {
        Ok(parsed) => parsed,
        Err(errors) => return invalid(&errors),
    };
    match lab.replace(name, parsed, body.len()) {
        Ok(applied) => json_with(
            StatusCode::OK,
            &Changed {
                rules: &applied.names,
                warnings: &applied.warnings,
            },
        ),
        Err(error) => lab_error(&error),
    }
}

/// `DELETE /rules/{name}`.
pub(super) fn delete(lab: &Lab, name: &str) -> Reply {
    match lab.delete(name) {
        Ok(()) => super::handlers::no_content(),
        Err(error) => lab_error(&error),
    }
}

/// `GET /rules` and `GET /rules/{name}`.
pub(super) fn list(lab: &Lab, name: Option<&str>) -> Reply {
    let rules = lab.list();
    match name {
        None => json_with(StatusCode::OK, &rules),
        Some(name) => match rules.iter().find(|rule| rule.name == name) {
            Some(rule) => json_with(StatusCode::OK, rule),
            None => problem(StatusCode::NOT_FOUND, &format!("no rule named `{name}`")),
        },
    }
}

#[derive(Debug, Serialize)]
struct ResetOne {
    reset: &'static str,
    count: usize,
}

/// `POST /reset` and `POST /reset/{what}`.
pub(super) fn reset(lab: &Lab, target: Option<ResetTarget>) -> Reply {
    let (reset, count) = match target {
        None => return json_with(StatusCode::OK, &lab.reset()),
        Some(ResetTarget::Sequences) => ("sequences", lab.reset_sequences()),
        Some(ResetTarget::Counters) => ("counters", lab.reset_counters()),
        Some(ResetTarget::Registrations) => ("registrations", lab.reset_registrations()),
        Some(ResetTarget::Dialogs) => ("dialogs", lab.reset_dialogs()),
    };
    json_with(StatusCode::OK, &ResetOne { reset, count })
}

/// `DELETE /scopes/{scope}`.
pub(super) fn delete_scope(lab: &Lab, scope: &str) -> Reply {
    json_with(StatusCode::OK, &lab.delete_scope(scope))
}

#[derive(Debug, Serialize)]
struct Reloaded {
    reloaded: bool,
    keep_api_rules: bool,
    summary: Option<String>,
    errors: Vec<String>,
}

/// `POST /reload[?keep_api_rules=false]`: the reload SIGHUP does, its
/// outcome in the answer (200, or 400 with every error of a refused file).
pub(super) async fn reload(
    reloads: Option<&mpsc::Sender<ReloadRequest>>,
    query: Option<&str>,
) -> Reply {
    let keep_api_rules = match query::keep_api_rules(query) {
        Ok(keep) => keep,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let Some(reloads) = reloads else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "this daemon does not reload (it is not running as a service)",
        );
    };
    let (outcome, answer) = oneshot::channel();
    let asked = ReloadRequest {
        keep_api_rules,
        outcome,
    };
    if reloads.send(asked).await.is_err() {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    }
    let (status, reloaded) = match answer.await {
        Ok(Ok(summary)) => (
            StatusCode::OK,
            Reloaded {
                reloaded: true,
                keep_api_rules,
                summary: Some(summary),
                errors: Vec::new(),
            },
        ),
        Ok(Err(errors)) => (
            StatusCode::BAD_REQUEST,
            Reloaded {
                reloaded: false,
                keep_api_rules,
                summary: None,
                errors: errors.lines().map(str::to_owned).collect(),
            },
        ),
        Err(_) => return problem(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    };
    json_with(status, &reloaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_by_its_type_or_its_first_character() {
        assert!(is_json(Some("application/json; charset=utf-8"), "[[rule]]"));
        assert!(is_json(Some("application/vnd.x+json"), ""));
        assert!(!is_json(Some("application/toml"), "{}"));
        assert!(is_json(None, "  {\"name\": \"a\"}"));
        assert!(is_json(
            Some("application/x-www-form-urlencoded"),
            "[ {\"name\": \"a\"}]"
        ));
        assert!(is_json(None, "[]"));
        assert!(!is_json(None, "[[rule]]\nname = \"a\""));
        assert!(!is_json(None, "[ [rule]]"));
    }
}
