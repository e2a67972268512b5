//! Rules given at run time (the admin API's `POST /rules`): `[[rule]]`
//! tables as in the file, compiled and checked exactly as the file's rules
//! are (the same errors and warnings, each at its line and column in the
//! text given). JSON bodies come here converted (`json_rules.rs`).

use std::sync::Arc;
use std::time::Duration;

use toml::de::DeTable;

use super::auth::AuthDefaults;
use super::compile::compile_server;
use super::delays::PolicyLimits;
use super::error::Diagnostics;
use super::rules::compile_rules;
use super::{Config, ConfigError, ConfigErrors, Sections, array_of, lints};
use crate::auth::AuthSettings;
use crate::rules::{Origin, ReplyPolicy, Rule, RuleSet};

/// What of the running config a rule is checked against: the limits of
/// its delays, and the `[auth]` its credentials are asked under.
#[derive(Debug, Clone)]
pub struct RuleLimits {
    /// `[timers] ring_timeout_ms`.
    pub ring_timeout: Duration,
    /// `[dialog] max_duration_ms`.
    pub max_duration: Duration,
    /// `[auth]`: the defaults of `auth = "required"`, and the realms (with
    /// their users) a rule's `auth` may name.
    pub auth: Arc<AuthSettings>,
}

/// Rules compiled from text, with the warnings found in it.
#[derive(Debug)]
pub struct RuntimeRules {
    /// Marked as coming from the API.
    pub rules: Vec<Arc<Rule>>,
    pub warnings: Vec<ConfigError>,
}

/// Compiles the `[[rule]]` tables of `text` (reported as `name`); any other
/// table is an error, and so is text with no rule.
pub fn parse_rules(
    text: &str,
    name: &str,
    limits: RuleLimits,
) -> Result<RuntimeRules, ConfigErrors> {
    let mut diag = Diagnostics::new(name, text);
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            diag.error(error.span().unwrap_or(0..0), error.message().to_owned());
        }
        return Err(ConfigErrors {
            errors: diag.errors,
            warnings: Vec::new(),
        });
    }
    let mut sections = Sections::default();
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "rule" => sections.rules = array_of(value, "rule", &mut diag),
            other => diag.error(
                key.span(),
                format!("only [[rule]] tables can be given at run time, not `{other}`"),
            ),
        }
    }
    if sections.rules.is_empty() && diag.errors.is_empty() {
        diag.error(0..0, "no [[rule]] table: give at least one rule");
    }
    let policy_limits = PolicyLimits {
        media_files: false,
        ring_timeout: limits.ring_timeout,
        max_duration: limits.max_duration,
    };
    let mut auth = AuthDefaults::running(limits.auth);
    let compiled: Vec<Rule> = compile_rules(&sections.rules, policy_limits, &mut auth, &mut diag)
        .into_iter()
        .map(|rule| rule.with_origin(Origin::Api))
        .collect();
    auth.warn_without_users(&compiled, 0..0, &mut diag);
    let set = Arc::new(RuleSet::new(
        compiled,
        ReplyPolicy::default_fallback(),
        None,
    ));
    if diag.errors.is_empty() {
        // The file's warnings, about these rules alone (their shadowing of
        // each other included).
        let config = Config {
            source: name.to_owned(),
            server: compile_server(&Sections::default(), &mut diag),
            listeners: Vec::new(),
            auth: auth.finish(),
            rules: set.clone(),
            warnings: Vec::new(),
        };
        lints::check(&sections, &config, &mut diag);
    }
    let rules = set.rules().to_vec();
    diag.sort();
    if diag.errors.is_empty() {
        Ok(RuntimeRules {
            rules,
            warnings: diag.warnings,
        })
    } else {
        Err(ConfigErrors {
            errors: diag.errors,
            warnings: diag.warnings,
        })
    }
}

/// Whether `earlier` takes every request `later` would (so `later`, after
/// it, can never match): the check behind the file's shadowing warning.
pub fn shadows(earlier: &Rule, later: &Rule) -> bool {
    lints::shadow::takes_all_of(earlier, later)
}
