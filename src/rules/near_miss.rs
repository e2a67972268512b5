//! Near misses: for a request no rule took, the rules that came closest
//! (most conditions held before one failed) and the first condition each
//! failed, as `explain` prints it. Only conditions are checked: no `every`
//! counter or sequence moves.

use serde::Serialize;

use super::{MatchInput, RuleSet};

/// Near misses kept for one request.
pub const MAX_NEAR_MISSES: usize = 3;

/// One rule that did not take a request, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NearMiss {
    pub rule: String,
    /// The first condition that failed (`method`, `headers.X-Case`, …, or
    /// `every` when all held but the rule lets this request through).
    pub failed: String,
    /// That condition as `check` describes it (`header X-Case =~ /^busy$/`).
    pub condition: String,
    /// Conditions that held before it.
    pub held: usize,
}

impl RuleSet {
    /// The (at most `max`) rules that came closest to taking `input`,
    /// closest first; rules in order among equals.
    pub fn near_misses(&self, input: &MatchInput<'_>, max: usize) -> Vec<NearMiss> {
        let mut misses: Vec<NearMiss> = self
            .rules()
            .iter()
            .map(|rule| {
                let (held, verdict) = rule.matcher.closeness(input);
                let (failed, condition) = match verdict {
                    Ok(()) => (
                        "every".to_owned(),
                        format!("takes only every {}th matching request", rule.every),
                    ),
                    Err(mismatch) => (
                        mismatch.to_string(),
                        rule.matcher
                            .describe()
                            .into_iter()
                            .nth(held)
                            .unwrap_or_default(),
                    ),
                };
                NearMiss {
                    rule: rule.name.to_string(),
                    failed,
                    condition,
                    held,
                }
            })
            .collect();
        misses.sort_by_key(|miss| std::cmp::Reverse(miss.held));
        misses.truncate(max);
        misses
    }
}
