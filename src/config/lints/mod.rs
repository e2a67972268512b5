//! Warnings: things that load but are almost certainly mistakes. `check`
//! prints them, `run` logs them (at start and on each reload), and
//! `check --strict` refuses the file because of them.
//!
//! To add one: write `fn my_lint(input: &LintInput<'_>, diag: &mut
//! Diagnostics<'_>)` that calls `diag.warn(span, message)` with the span of
//! the value it is about (from `input.sections`), and list it in [`LINTS`].

mod auth;
mod bodies;
pub(crate) mod shadow;

use super::error::Diagnostics;
use super::model::{PolicySection, RuleSection};
use super::suggest::nearest;
use super::{Config, Sections};

/// What a lint looks at: the sections as written (with spans) and the
/// config they compiled to.
pub(crate) struct LintInput<'a> {
    pub(crate) sections: &'a Sections,
    pub(crate) config: &'a Config,
}

type Lint = fn(&LintInput<'_>, &mut Diagnostics<'_>);

/// Every warning check, in the order they run.
const LINTS: &[Lint] = &[
    no_rules,
    shadow::shadowed_rules,
    unknown_methods,
    unknown_codecs,
    misplaced_policies,
    bodies::bodies,
    auth::open_registrar,
    auth::unreachable_branch,
];

/// Runs every lint over a compiled config.
pub(super) fn check(sections: &Sections, config: &Config, diag: &mut Diagnostics<'_>) {
    let input = LintInput { sections, config };
    for lint in LINTS {
        lint(&input, diag);
    }
}

/// The methods of RFC 3261 and the extensions a responder meets.
const KNOWN_METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

fn no_rules(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    if input.sections.rules.is_empty() {
        diag.warn(
            0..0,
            "no [[rule]]: every request gets the fallback ([fallback], or reject with 480)",
        );
    }
}

/// `invite` (SIP methods are case-sensitive) or `INVTE` in `match.method`
/// or `allowed_methods`: such a method never comes.
fn unknown_methods(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let rules = input.sections.rules.iter().filter_map(|rule| {
        let methods = rule.get_ref().conditions.method.as_ref()?;
        Some((methods.span(), methods.get_ref().items().to_vec()))
    });
    let allowed = input
        .sections
        .server
        .allowed_methods
        .as_ref()
        .map(|methods| (methods.span(), methods.get_ref().clone()));
    for (span, methods) in rules.chain(allowed) {
        for method in methods
            .iter()
            .filter(|m| !KNOWN_METHODS.contains(&m.as_str()))
        {
            let message = if KNOWN_METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                format!(
                    "method `{method}` never matches: SIP method names are case-sensitive (RFC 3261 §7.1); write `{}`",
                    method.to_ascii_uppercase()
                )
            } else {
                match nearest(method, KNOWN_METHODS) {
                    Some(known) => format!("unknown method `{method}`; did you mean `{known}`?"),
                    None => format!(
                        "`{method}` is not a method of RFC 3261 or its common extensions (fine if it is your own extension)"
                    ),
                }
            };
            diag.warn(span.clone(), message);
        }
    }
}

/// `[sdp] codecs` names an encoding no SIP stack offers (`G729x`).
fn unknown_codecs(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let Some(codecs) = &input.sections.sdp.codecs else {
        return;
    };
    let known = crate::rules::sdp::KNOWN_ENCODINGS;
    for codec in codecs.get_ref() {
        let name = codec
            .split('/')
            .nth(usize::from(codec.contains('/')))
            .unwrap_or(codec);
        if known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            continue;
        }
        let hint = nearest(name, known.iter().copied())
            .map_or(String::new(), |k| format!("; did you mean `{k}`?"));
        diag.warn(
            codecs.span(),
            format!("codec `{codec}`: `{name}` is not a known RTP encoding name{hint} (offers are matched against it as written)"),
        );
    }
}

/// `hangup_after_ms` on a rule that answers no INVITE, `register = {}` on a
/// rule that answers no REGISTER: the setting never acts.
fn misplaced_policies(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    for rule in &input.sections.rules {
        let rule = rule.get_ref();
        let Some(methods) = &rule.conditions.method else {
            continue;
        };
        let methods = methods.get_ref().items();
        let listed = methods.join(", ");
        let name = rule.name.get_ref();
        for policy in policies_of(rule) {
            let hangup = policy
                .accept
                .as_ref()
                .and_then(|a| a.hangup_after_ms.as_ref());
            if let Some(hangup) = hangup.filter(|_| !methods.iter().any(|m| m == "INVITE")) {
                diag.warn(hangup.span(), format!("rule `{name}`: hangup_after_ms acts on INVITE only (a BYE in the dialog its 2xx creates), but the rule matches {listed}"));
            }
            if let Some(register) = policy
                .register
                .as_ref()
                .filter(|_| !methods.iter().any(|m| m == "REGISTER"))
            {
                diag.warn(register.span(), format!("rule `{name}`: `register` is the registrar for REGISTER requests, but the rule matches {listed}"));
            }
        }
    }
}

/// Every policy of a rule: its own, its outcomes' and its sequence's.
pub(super) fn policies_of(rule: &RuleSection) -> Vec<PolicySection> {
    let mut policies = vec![rule.policy()];
    policies.extend(rule.outcome.iter().map(|o| o.get_ref().policy()));
    if let Some(sequence) = &rule.sequence {
        policies.extend(sequence.get_ref().policy.iter().cloned());
    }
    policies
}
