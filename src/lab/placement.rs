//! Where rules added at run time go in the live set: first, last, or
//! before or after a named rule. The live set is rebuilt from the file's
//! rules by placing each API rule in the order it was added, so a reload
//! that changes the file keeps each API rule where it was asked to be.

use std::fmt;
use std::sync::Arc;

use crate::rules::{Rule, RuleSet};

/// Where an API rule goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Before every rule (of the set as it was when it was added).
    First,
    /// After every rule, before the fallback.
    Last,
    Before(String),
    After(String),
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::First => f.write_str("first"),
            Self::Last => f.write_str("last"),
            Self::Before(name) => write!(f, "before {name}"),
            Self::After(name) => write!(f, "after {name}"),
        }
    }
}

impl Placement {
    /// The rule it is placed against, if any.
    pub fn anchor(&self) -> Option<&str> {
        match self {
            Self::Before(name) | Self::After(name) => Some(name),
            Self::First | Self::Last => None,
        }
    }

    /// Where it goes in `live`; `None` when its anchor is not there.
    fn index_in(&self, live: &[Arc<Rule>]) -> Option<usize> {
        let find = |name: &str| live.iter().position(|rule| &*rule.name == name);
        match self {
            Self::First => Some(0),
            Self::Last => Some(live.len()),
            Self::Before(name) => find(name),
            Self::After(name) => find(name).map(|i| i + 1),
        }
    }
}

/// A rule added at run time.
#[derive(Debug, Clone)]
pub(super) struct ApiRule {
    pub(super) rule: Arc<Rule>,
    pub(super) placement: Placement,
    /// The bytes of text it was given in (what the bound counts).
    pub(super) bytes: usize,
}

/// The live set: `file`'s rules with `api`'s placed in the order they were
/// added; an API rule whose anchor is gone goes last, and its name is
/// returned.
pub(super) fn merge(file: &RuleSet, api: &[ApiRule]) -> (RuleSet, Vec<String>) {
    let mut live: Vec<Arc<Rule>> = file.rules().to_vec();
    let mut unanchored = Vec::new();
    for added in api {
        let index = added.placement.index_in(&live).unwrap_or_else(|| {
            unanchored.push(added.rule.name.to_string());
            live.len()
        });
        live.insert(index, added.rule.clone());
    }
    (file.with_rules(live), unanchored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Choice, Matcher, ReplyPolicy};

    fn rule(name: &str) -> Arc<Rule> {
        let policy = Arc::new(ReplyPolicy::Drop);
        Arc::new(Rule::new(
            name.into(),
            Matcher::default(),
            Choice::One(policy),
            1,
            false,
        ))
    }

    fn api(name: &str, placement: Placement) -> ApiRule {
        ApiRule {
            rule: rule(name),
            placement,
            bytes: 0,
        }
    }

    fn names(set: &RuleSet) -> Vec<String> {
        set.rules().iter().map(|r| r.name.to_string()).collect()
    }

    #[test]
    fn rules_are_placed_in_the_order_they_were_added() {
        let file = RuleSet::new(Vec::new(), ReplyPolicy::default_fallback(), None)
            .with_rules(vec![rule("a"), rule("b")]);
        let added = [
            api("r1", Placement::Before("b".into())),
            api("r2", Placement::First),
            api("r3", Placement::After("r1".into())),
            api("r4", Placement::Last),
        ];
        let (set, unanchored) = merge(&file, &added);
        assert_eq!(names(&set), ["r2", "a", "r1", "r3", "b", "r4"]);
        assert!(unanchored.is_empty());
        // The file changed: `b` is gone, so r1 goes last.
        let file = file.with_rules(vec![rule("a")]);
        let (set, unanchored) = merge(&file, &added);
        assert_eq!(names(&set), ["r2", "a", "r1", "r3", "r4"]);
        assert_eq!(unanchored, ["r1"]);
    }

    #[test]
    fn file_rules_keep_their_state_across_merges() {
        let a = rule("a");
        let file = RuleSet::new(Vec::new(), ReplyPolicy::default_fallback(), None)
            .with_rules(vec![a.clone()]);
        let (set, _) = merge(&file, &[api("r", Placement::First)]);
        assert!(
            Arc::ptr_eq(&set.rules()[1], &a),
            "the same rule, not a copy"
        );
    }
}
