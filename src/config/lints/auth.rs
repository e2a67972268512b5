//! A registrar that asks for no credentials on a listener other hosts
//! reach: anyone there can bind, replace or wipe (`Contact: *`) anyone's
//! bindings, and auto-replies follow the newest binding.

use super::{LintInput, policies_of};
use crate::config::error::Diagnostics;

pub(super) fn open_registrar(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let Some(exposed) = input
        .config
        .listeners
        .iter()
        .find(|l| !l.address.ip().to_canonical().is_loopback())
    else {
        return;
    };
    for rule in &input.sections.rules {
        let rule = rule.get_ref();
        if rule.auth.is_some() {
            continue;
        }
        for policy in policies_of(rule) {
            let Some(register) = policy.register.as_ref() else {
                continue;
            };
            if register.get_ref().auth.is_none() {
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
