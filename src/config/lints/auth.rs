//! Credentials asked for in vain: a registrar whose rule asks for none,
//! open on a listener other hosts reach (anyone there can bind, replace or
//! wipe (`Contact: *`) anyone's bindings, and auto-replies follow the
//! newest binding); an owner mapping (`aor`, `aors`) that nothing applies;
//! and `match.auth = "invalid"` or `"absent"` on a rule whose own `auth`
//! refuses such requests before its policy runs.

use super::{LintInput, policies_of};
use crate::config::error::Diagnostics;
use crate::config::model::RuleSection;

/// Whether requests the rule takes have been authenticated: its `auth`,
/// its registrar's, or `match.auth = "valid"`.
fn authenticates(rule: &RuleSection) -> bool {
    rule.auth.is_some()
        || rule
            .register
            .as_ref()
            .is_some_and(|register| register.get_ref().auth.is_some())
        || rule
            .conditions
            .auth
            .as_ref()
            .is_some_and(|word| word.get_ref() == "valid")
}

pub(super) fn open_registrar(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let exposed = input
        .config
        .listeners
        .iter()
        .find(|l| !l.address.ip().to_canonical().is_loopback());
    for rule in &input.sections.rules {
        let rule = rule.get_ref();
        if authenticates(rule) {
            continue;
        }
        for policy in policies_of(rule) {
            let Some(register) = policy.register.as_ref() else {
                continue;
            };
            let owners = register.get_ref().aor.is_some() || !register.get_ref().aors.is_empty();
            if owners {
                diag.warn(
                    register.span(),
                    format!(
                        "rule `{}`: `aor` and `aors` apply only to a REGISTER the rule authenticated, and it asks for no credentials: add `auth = \"required\"`",
                        rule.name.get_ref()
                    ),
                );
            }
            if let Some(exposed) = exposed {
                diag.warn(
                    register.span(),
                    format!(
                        "rule `{}`: the registrar asks for no credentials and {} {} is reachable from other hosts: anyone can bind, replace or remove (`Contact: *`) anyone's bindings; add `auth = \"required\"` to `register`",
                        rule.name.get_ref(),
                        exposed.transport.name(),
                        exposed.address
                    ),
                );
            }
        }
    }
}

/// `match.auth = "invalid" | "absent"` with the rule's own `auth`: the
/// condition holds only for requests the `auth` refuses, so the rule never
/// answers with its policy.
pub(super) fn unreachable_branch(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    for rule in &input.sections.rules {
        let rule = rule.get_ref();
        let Some(word) = &rule.conditions.auth else {
            continue;
        };
        let asks = rule.auth.is_some()
            || rule
                .register
                .as_ref()
                .is_some_and(|register| register.get_ref().auth.is_some());
        if asks && matches!(word.get_ref().as_str(), "invalid" | "absent") {
            diag.warn(
                word.span(),
                format!(
                    "rule `{}`: match.auth = \"{}\" holds only for requests its own `auth` refuses (with a challenge or 403) before the rule answers: drop `auth` to branch against the [auth] defaults",
                    rule.name.get_ref(),
                    word.get_ref()
                ),
            );
        }
    }
}
