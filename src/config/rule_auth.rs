//! A rule's credentials, compiled: what it asks before it is taken (its
//! `auth`, or its own registrar's `register.auth`: the rule owns either),
//! and its `match.auth` condition with the requirement it checks against.

use std::sync::Arc;

use super::auth::AuthDefaults;
use super::error::Diagnostics;
use super::model::{MatchSection, RuleSection};
use crate::auth::Requirement;
use crate::rules::{AuthState, AuthTest};

/// What the rule asks before it is taken: its `auth`, or the `auth` of its
/// own `register` (the same thing, written where the registrar is). The
/// rule owns it: credentials are checked before any policy is chosen, so
/// an outcome's or a sequence step's `register.auth` is an error.
pub(super) fn rule_requirement(
    rule: &RuleSection,
    auth: &mut AuthDefaults,
    diag: &mut Diagnostics<'_>,
) -> Option<Arc<Requirement>> {
    let own = rule.policy();
    let in_register = own
        .register
        .as_ref()
        .and_then(|register| register.get_ref().auth.as_ref());
    for nested in super::lints::policies_of(rule).iter().skip(1) {
        if let Some(register) = &nested.register
            && let Some(auth) = &register.get_ref().auth
        {
            diag.error(auth.span(), format!("rule `{}`: credentials are checked before an outcome or a sequence step is chosen: write `auth` on the rule, not in this `register`", rule.name.get_ref()));
        }
    }
    match (&rule.auth, in_register) {
        (Some(_), Some(second)) => {
            diag.error(second.span(), format!("rule `{}` has `auth` and `register.auth`: keep one (they are the same requirement)", rule.name.get_ref()));
            None
        }
        (Some(section), None) | (None, Some(section)) => auth.requirement(section, diag),
        (None, None) => None,
    }
}

/// `match.auth`: checked against the rule's `auth`, else the `[auth]`
/// defaults.
pub(super) fn compile_auth_test(
    section: &MatchSection,
    requirement: Option<&Arc<Requirement>>,
    auth: &AuthDefaults,
    diag: &mut Diagnostics<'_>,
) -> Option<AuthTest> {
    let word = section.auth.as_ref()?;
    let Some(state) = AuthState::parse(word.get_ref()) else {
        diag.error(
            word.span(),
            format!(
                "match.auth `{}`: expected \"valid\", \"invalid\" or \"absent\"",
                word.get_ref()
            ),
        );
        return None;
    };
    Some(AuthTest {
        state,
        requirement: requirement.unwrap_or(&auth.requirement).clone(),
    })
}
