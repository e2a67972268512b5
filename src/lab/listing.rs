//! `GET /rules`: the live set as JSON, one entry per rule in the order
//! they are tried, with where each came from.

use serde::Serialize;

use crate::rules::Rule;

/// One rule of the live set.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// 1 for the rule tried first.
    pub position: usize,
    pub name: String,
    /// `file` or `api`.
    pub origin: &'static str,
    /// For an API rule: where it was asked to go (`first`, `before x`, …).
    pub placement: Option<String>,
    pub scope: Option<String>,
    /// Its conditions, as `check` describes them (none: every request).
    pub conditions: Vec<String>,
    /// It takes only every Nth matching request.
    pub every: u64,
    /// The credentials it asks before it is taken (its `auth`), if any.
    pub requires: Option<String>,
    /// What it replies, as `check` describes it, one line per policy.
    pub replies: Vec<String>,
}

impl RuleInfo {
    pub(super) fn of(index: usize, rule: &Rule, placement: Option<String>) -> Self {
        Self {
            position: index + 1,
            name: rule.name.to_string(),
            origin: rule.origin.as_str(),
            placement,
            scope: rule.matcher.scope.as_deref().map(str::to_owned),
            conditions: rule.matcher.describe(),
            every: rule.every,
            requires: rule.auth.as_ref().map(|auth| auth.describe()),
            replies: rule
                .choice
                .to_string()
                .lines()
                .map(|line| line.trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect(),
        }
    }
}
