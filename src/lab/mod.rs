//! Test-lab control: rules changed at run time (the admin API's
//! `/rules`), per-test scopes, and resetting what tests leave behind
//! (sequences, counters, registrations, dialogs, the journal).
//!
//! Every change to the live rule set — an API change or a reload of the
//! file — goes through [`Lab`], one at a time: it rebuilds the set from the
//! file's rules and the API rules (see `placement.rs`) and installs it with
//! one swap, so a request sees either the old set or the new one. Rules
//! kept across a change keep their state (`every`, `${counter}`,
//! sequences).
//!
//! Bounded: at most [`MAX_API_RULES`] API rules, given in at most
//! [`MAX_API_BYTES`] bytes of text in all, each name at most
//! [`MAX_NAME_LEN`] bytes.

mod listing;
mod placement;
mod reset;

use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use tracing::{info, warn};

pub use listing::RuleInfo;
pub use placement::Placement;

use crate::config::{ConfigError, ConfigErrors, RuleLimits, RuntimeRules, shadows};
use crate::engine::{Engine, Snapshot};
use crate::rules::{Origin, Rule, RuleSet};
use placement::{ApiRule, merge};

/// Most rules the API may add.
pub const MAX_API_RULES: usize = 1000;
/// Most bytes of rule text the API rules may be given in, in all.
pub const MAX_API_BYTES: usize = 1024 * 1024;
/// Longest name of an API rule, bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Why a rule change was refused.
#[derive(Debug, Error)]
pub enum LabError {
    #[error("{0}")]
    Invalid(ConfigErrors),
    #[error("a rule named `{0}` exists already (PUT /rules/{0} replaces an API rule)")]
    NameTaken(String),
    #[error("no rule named `{0}`")]
    NoSuchRule(String),
    #[error("rule `{0}` comes from the config file: edit the file and reload")]
    FileRule(String),
    #[error("no rule named `{0}` to place the new rules against")]
    NoAnchor(String),
    #[error("the body defines rule `{found}`, not `{expected}`: PUT replaces one rule by its name")]
    NameMismatch { expected: String, found: String },
    #[error("rule name `{0}…` is longer than {MAX_NAME_LEN} bytes")]
    NameTooLong(String),
    #[error(
        "the API may add at most {MAX_API_RULES} rules in at most {MAX_API_BYTES} bytes; delete some first"
    )]
    Full,
}

/// What a change added or replaced, and the warnings about it.
#[derive(Debug, Default)]
pub struct Applied {
    pub names: Vec<String>,
    pub warnings: Vec<String>,
}

/// What a reset or a scope's deletion removed.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Removed {
    pub rules: usize,
    pub records: usize,
    pub dialogs: usize,
    pub registrations: usize,
}

#[derive(Debug)]
struct State {
    /// The config file's rules, as last loaded.
    file: Arc<RuleSet>,
    /// API rules, in the order they were added.
    api: Vec<ApiRule>,
}

/// The live rule set's one writer, and the resets.
#[derive(Debug)]
pub struct Lab {
    engine: Arc<Engine>,
    state: Mutex<State>,
}

impl Lab {
    /// Starts from the engine's current rules, all from the file.
    pub fn new(engine: Arc<Engine>) -> Self {
        let file = engine.snapshot().rules.clone();
        Self {
            engine,
            state: Mutex::new(State {
                file,
                api: Vec::new(),
            }),
        }
    }

    /// The engine it installs rule sets in.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a new rule is checked against: the running config's ring
    /// timeout and longest dialog (its delays), and its `[auth]` (its
    /// credentials).
    pub fn rule_limits(&self) -> RuleLimits {
        let snapshot = self.engine.snapshot();
        RuleLimits {
            ring_timeout: snapshot.layer.ring_timeout,
            max_duration: snapshot.layer.dialog.max_duration,
            auth: snapshot.auth.clone(),
        }
    }

    /// Adds `parsed` (given in `bytes` of text) at `placement`.
    pub fn add(
        &self,
        parsed: RuntimeRules,
        placement: &Placement,
        bytes: usize,
    ) -> Result<Applied, LabError> {
        let mut state = self.lock();
        let live = self.engine.snapshot().rules.clone();
        if let Some(anchor) = placement.anchor()
            && live.get(anchor).is_none()
        {
            return Err(LabError::NoAnchor(anchor.to_owned()));
        }
        for rule in &parsed.rules {
            check_name(&rule.name)?;
            if live.get(&rule.name).is_some() {
                return Err(LabError::NameTaken(rule.name.to_string()));
            }
        }
        let share = bytes.div_ceil(parsed.rules.len().max(1));
        let used: usize = state.api.iter().map(|a| a.bytes).sum();
        if state.api.len() + parsed.rules.len() > MAX_API_RULES
            || used + share * parsed.rules.len() > MAX_API_BYTES
        {
            return Err(self.full());
        }
        // Several rules at one place keep their order: each goes after the
        // one before it.
        let mut at = placement.clone();
        for rule in &parsed.rules {
            state.api.push(ApiRule {
                rule: rule.clone(),
                placement: at.clone(),
                bytes: share,
            });
            at = Placement::After(rule.name.to_string());
        }
        let applied = self.install(&state, parsed);
        info!(rules = ?applied.names, %placement, "rules added through the admin API");
        Ok(applied)
    }

    /// Replaces the API rule `name` with `parsed` (one rule of that name),
    /// where it stands.
    pub fn replace(
        &self,
        name: &str,
        parsed: RuntimeRules,
        bytes: usize,
    ) -> Result<Applied, LabError> {
        let mut state = self.lock();
        let [rule] = parsed.rules.as_slice() else {
            return Err(invalid("PUT replaces one rule: give exactly one [[rule]]"));
        };
        if &*rule.name != name {
            return Err(LabError::NameMismatch {
                expected: name.to_owned(),
                found: rule.name.to_string(),
            });
        }
        let index = api_index(&state, name)?;
        let used: usize = state.api.iter().map(|a| a.bytes).sum();
        if used - state.api[index].bytes + bytes > MAX_API_BYTES {
            return Err(self.full());
        }
        state.api[index].rule = rule.clone();
        state.api[index].bytes = bytes;
        let applied = self.install(&state, parsed);
        info!(rule = name, "rule replaced through the admin API");
        Ok(applied)
    }

    /// Deletes the API rule `name`.
    pub fn delete(&self, name: &str) -> Result<(), LabError> {
        let mut state = self.lock();
        let index = api_index(&state, name)?;
        state.api.remove(index);
        self.install(
            &state,
            RuntimeRules {
                rules: Vec::new(),
                warnings: Vec::new(),
            },
        );
        self.forget(name);
        info!(rule = name, "rule deleted through the admin API");
        Ok(())
    }

    /// The live set, in order, with where each rule came from.
    pub fn list(&self) -> Vec<RuleInfo> {
        let state = self.lock();
        let live = self.engine.snapshot().rules.clone();
        live.rules()
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let placement = state
                    .api
                    .iter()
                    .find(|a| Arc::ptr_eq(&a.rule, rule))
                    .map(|a| a.placement.to_string());
                RuleInfo::of(index, rule, placement)
            })
            .collect()
    }

    /// Installs a reloaded config's `snapshot`: its rules, with the API
    /// rules placed again unless `keep_api_rules` is false. An API rule
    /// whose name the file now uses gives way to the file's.
    pub fn install_config(&self, mut snapshot: Snapshot, keep_api_rules: bool) {
        let mut state = self.lock();
        let dropped: Vec<String> = if keep_api_rules {
            let file = &snapshot.rules;
            let (clashing, kept) = std::mem::take(&mut state.api)
                .into_iter()
                .partition(|a| file.get(&a.rule.name).is_some());
            state.api = kept;
            clashing
                .into_iter()
                .map(|a| a.rule.name.to_string())
                .collect()
        } else {
            std::mem::take(&mut state.api)
                .into_iter()
                .map(|a| a.rule.name.to_string())
                .collect()
        };
        state.file = snapshot.rules.clone();
        let (live, unanchored) = merge(&state.file, &state.api);
        for name in &unanchored {
            warn!(
                rule = name,
                "API rule placed last: the rule it was placed against is gone"
            );
        }
        if keep_api_rules && !dropped.is_empty() {
            warn!(rules = ?dropped, "API rules dropped: the config file now has rules of these names");
        }
        for api in &state.api {
            if let Some(asked) = api.rule.credentials()
                && !snapshot.auth.realms.contains(&asked.realm)
            {
                warn!(
                    rule = &*api.rule.name,
                    realm = &*asked.realm,
                    "API rule asks for credentials in a realm the config no longer names: its requests are refused as from unknown users"
                );
            }
        }
        snapshot.rules = Arc::new(live);
        self.engine.replace(snapshot);
        for name in &dropped {
            self.forget(name);
        }
    }

    /// Rebuilds the live set from `state` and installs it; the warnings
    /// are `parsed`'s and those about the new rules' place in the set.
    fn install(&self, state: &State, parsed: RuntimeRules) -> Applied {
        let (live, _) = merge(&state.file, &state.api);
        let mut warnings: Vec<String> = parsed
            .warnings
            .iter()
            .map(ConfigError::warning_line)
            .collect();
        for rule in &parsed.rules {
            warnings.extend(shadowing(&live, rule));
        }
        self.engine.replace_rules(Arc::new(live));
        Applied {
            names: parsed.rules.iter().map(|r| r.name.to_string()).collect(),
            warnings,
        }
    }

    /// The API rules' bound is reached (counted as `state="api_rules"`).
    fn full(&self) -> LabError {
        if let Some(observer) = self.engine.observer() {
            observer.metrics.bound_reached("api_rules");
        }
        LabError::Full
    }

    /// Drops the metrics series of a rule that is gone.
    fn forget(&self, name: &str) {
        if let Some(observer) = self.engine.observer() {
            observer.metrics.forget_rule(name);
        }
    }
}

fn check_name(name: &str) -> Result<(), LabError> {
    if name.len() > MAX_NAME_LEN {
        let mut end = MAX_NAME_LEN;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        return Err(LabError::NameTooLong(name[..end].to_owned()));
    }
    Ok(())
}

/// The place of the API rule `name`; a file rule of that name, or none,
/// is refused.
fn api_index(state: &State, name: &str) -> Result<usize, LabError> {
    if let Some(index) = state.api.iter().position(|a| &*a.rule.name == name) {
        return Ok(index);
    }
    if state.file.get(name).is_some() {
        return Err(LabError::FileRule(name.to_owned()));
    }
    Err(LabError::NoSuchRule(name.to_owned()))
}

/// A warning when a rule before `rule` in `live` takes every request it
/// would (the file's shadowing warning, across the live set).
fn shadowing(live: &RuleSet, rule: &Arc<Rule>) -> Option<String> {
    let rules = live.rules();
    let index = rules.iter().position(|r| Arc::ptr_eq(r, rule))?;
    let earlier = rules[..index].iter().find(|e| shadows(e, rule))?;
    let origin = match earlier.origin {
        Origin::File => "from the file",
        Origin::Api => "added through the API",
    };
    Some(format!(
        "rule `{}` can never match: rule `{}` ({origin}) comes first and takes every request it would",
        rule.name, earlier.name
    ))
}

fn invalid(message: &str) -> LabError {
    LabError::Invalid(ConfigErrors {
        errors: vec![ConfigError {
            path: "request body".to_owned(),
            line: 1,
            column: 1,
            message: message.to_owned(),
        }],
        warnings: Vec::new(),
    })
}
