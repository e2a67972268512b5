//! Rules: an ordered, immutable set of (conditions → reply policy); the first
//! rule whose conditions all hold answers the request.

mod matcher;
mod policy;

use std::fmt;
use std::sync::Arc;

pub use matcher::{HeaderTest, MatchInput, Matcher, Mismatch};
pub use policy::{AutoMessage, ReplyPolicy, Step};

/// One named rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Arc<str>,
    pub matcher: Matcher,
    pub policy: Arc<ReplyPolicy>,
}

/// The rule chosen for a request: its name and the policy the transaction
/// keeps for its whole life, even across a reload.
#[derive(Debug, Clone)]
pub struct Selected {
    pub rule: Arc<str>,
    pub policy: Arc<ReplyPolicy>,
}

/// The name events carry when no rule matched.
pub const FALLBACK_RULE: &str = "fallback";

/// Rules in file order plus the fallback policy.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    fallback: Arc<ReplyPolicy>,
    fallback_name: Arc<str>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, fallback: ReplyPolicy) -> Self {
        Self {
            rules,
            fallback: Arc::new(fallback),
            fallback_name: FALLBACK_RULE.into(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn fallback(&self) -> &ReplyPolicy {
        &self.fallback
    }

    /// The first rule that matches, else the fallback.
    pub fn select(&self, input: &MatchInput<'_>) -> Selected {
        self.find(input)
            .unwrap_or_else(|| self.fallback_selection())
    }

    /// The first rule that matches, if any.
    pub fn find(&self, input: &MatchInput<'_>) -> Option<Selected> {
        self.rules
            .iter()
            .find(|rule| rule.matcher.check(input).is_ok())
            .map(|rule| Selected {
                rule: rule.name.clone(),
                policy: rule.policy.clone(),
            })
    }

    /// The fallback policy, under the name events report for it.
    pub fn fallback_selection(&self) -> Selected {
        Selected {
            rule: self.fallback_name.clone(),
            policy: self.fallback.clone(),
        }
    }

    /// Why each rule did or did not match, in order, up to the first match.
    pub fn explain(&self, input: &MatchInput<'_>) -> Vec<(&Rule, Result<(), Mismatch>)> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let verdict = rule.matcher.check(input);
            let matched = verdict.is_ok();
            out.push((rule, verdict));
            if matched {
                break;
            }
        }
        out
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            writeln!(f, "{}. {}", i + 1, rule.name)?;
            let conditions = rule.matcher.describe();
            if conditions.is_empty() {
                writeln!(f, "   matches: every request")?;
            } else {
                writeln!(f, "   matches: {}", conditions.join(" and "))?;
            }
            writeln!(f, "   replies: {}", rule.policy)?;
        }
        writeln!(f, "fallback (no rule matched)")?;
        writeln!(f, "   replies: {}", self.fallback)
    }
}
