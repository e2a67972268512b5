//! Rules: an ordered, immutable set of (conditions → reply policy); the first
//! rule whose conditions all hold (and whose `every` lets it) answers the
//! request, with one policy, a weighted pick or the next of a sequence.

mod choice;
mod matcher;
pub mod media;
mod near_miss;
mod policy;
mod scope;
pub mod sdp;
pub mod sequence;
pub mod template;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::auth::{Identity, Requirement};

pub use choice::{Choice, SequenceKey};
pub use matcher::{AuthState, AuthTest, HeaderTest, MatchInput, Matcher, Mismatch};
pub use near_miss::{MAX_NEAR_MISSES, NearMiss};
pub use policy::{
    AutoMessage, Body, Delay, HeaderLines, RegisterPolicy, RenderedStep, ReplyPolicy, Step,
};
pub use scope::{MAX_SCOPE_LEN, ScopeSource};
pub use sequence::SequenceTable;

/// Where a rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The config file (changed by editing it and reloading).
    File,
    /// The admin API (`POST /rules`), at run time.
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }
}

/// One named rule.
#[derive(Debug)]
pub struct Rule {
    pub name: Arc<str>,
    pub matcher: Matcher,
    pub choice: Choice,
    /// Only every Nth matching request takes the rule (1: all).
    pub every: u64,
    /// Whether its replies use `${match.NAME}` (captures are then taken).
    pub uses_captures: bool,
    /// Whether a request it takes can be answered without transaction
    /// state (`ReplyPolicy::is_stateless`, one policy, every request).
    pub stateless: bool,
    pub origin: Origin,
    /// Credentials the request must carry before the rule is taken; without
    /// them it gets a challenge and nothing of the rule moves.
    pub auth: Option<Arc<Requirement>>,
    matched: AtomicU64,
    taken: AtomicU64,
}

impl Rule {
    pub fn new(
        name: Arc<str>,
        matcher: Matcher,
        choice: Choice,
        every: u64,
        uses_captures: bool,
    ) -> Self {
        let stateless =
            every <= 1 && matches!(&choice, Choice::One(policy) if policy.is_stateless());
        Self {
            name,
            matcher,
            choice,
            every: every.max(1),
            uses_captures,
            stateless,
            origin: Origin::File,
            auth: None,
            matched: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }

    /// The same rule, marked as coming from `origin`.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// `every` and `${counter}` count from zero again.
    pub fn reset_counters(&self) {
        self.matched.store(0, Ordering::Relaxed);
        self.taken.store(0, Ordering::Relaxed);
    }

    /// A sequence forgets every key (each starts again at its first
    /// policy); false when the rule has no sequence.
    pub fn reset_sequence(&self) -> bool {
        match &self.choice {
            Choice::Sequence { seen, .. } => {
                seen.clear();
                true
            }
            _ => false,
        }
    }

    fn sequence_keys_evicted(&self) -> u64 {
        match &self.choice {
            Choice::Sequence { seen, .. } => seen.evicted(),
            _ => 0,
        }
    }

    /// The rule asks for credentials first. It then keeps transaction
    /// state: a retransmission must not look like a replayed nonce count.
    pub fn with_auth(mut self, auth: Option<Arc<Requirement>>) -> Self {
        if auth.is_some() || self.matcher.valid_credentials().is_some() {
            self.stateless = false;
        }
        self.auth = auth;
        self
    }

    /// The requirement whose credentials taking the rule commits: its
    /// `auth`, else that of a `match.auth = "valid"` condition.
    pub fn credentials(&self) -> Option<&Arc<Requirement>> {
        self.auth
            .as_ref()
            .or_else(|| self.matcher.valid_credentials())
    }
}

/// The rule chosen for a request: its name, the policy the transaction
/// keeps for its whole life (even across a reload), and what its templates
/// and delays need.
#[derive(Debug, Clone)]
pub struct Selected {
    pub rule: Arc<str>,
    pub policy: Arc<ReplyPolicy>,
    /// Requests this rule has taken, this one included (`${counter}`).
    pub counter: u64,
    /// Named captures of the rule's regexes (`${match.NAME}`).
    pub captures: Vec<(Box<str>, String)>,
    /// Seeds the draws of this request's delay ranges.
    pub seed: u64,
    /// The request needs no transaction state (see `Rule::stateless`).
    pub stateless: bool,
    /// Who authenticated, when the rule asked (`${auth.user}`).
    pub auth: Option<Identity>,
}

/// The name events carry when no rule matched.
pub const FALLBACK_RULE: &str = "fallback";

/// Rules in order plus the fallback policy. A rule is shared by every set
/// it is in, with its state (`every`, `${counter}`, sequences): a set
/// built from another at run time (`POST /rules`) keeps the state of the
/// rules it keeps.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    fallback: Arc<ReplyPolicy>,
    fallback_name: Arc<str>,
    /// Draws for weighted outcomes and delay seeds; `[server] seed` makes
    /// the sequence reproducible.
    rng: Arc<Mutex<fastrand::Rng>>,
    /// Whether any rule has a `scope` (requests' scopes are then read).
    scoped: bool,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, fallback: ReplyPolicy, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self {
            scoped: rules.iter().any(|rule| rule.matcher.scope.is_some()),
            rules: rules.into_iter().map(Arc::new).collect(),
            fallback: Arc::new(fallback),
            fallback_name: FALLBACK_RULE.into(),
            rng: Arc::new(Mutex::new(rng)),
        }
    }

    /// A set of `rules` with this set's fallback and random draws.
    pub fn with_rules(&self, rules: Vec<Arc<Rule>>) -> Self {
        Self {
            scoped: rules.iter().any(|rule| rule.matcher.scope.is_some()),
            rules,
            fallback: self.fallback.clone(),
            fallback_name: self.fallback_name.clone(),
            rng: self.rng.clone(),
        }
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The rule named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|rule| &*rule.name == name)
    }

    /// Whether any rule has a `scope`.
    pub fn has_scopes(&self) -> bool {
        self.scoped
    }

    pub fn fallback(&self) -> &ReplyPolicy {
        &self.fallback
    }

    /// The first rule that takes the request, else the fallback.
    pub fn select(&self, input: &MatchInput<'_>) -> Selected {
        self.find(input)
            .unwrap_or_else(|| self.fallback_selection())
    }

    /// The first rule that takes the request, if any (credentials aside:
    /// the engine checks them between [`Self::matching`] and
    /// [`Self::take`]).
    pub fn find(&self, input: &MatchInput<'_>) -> Option<Selected> {
        self.matching(input).find_map(|rule| self.take(rule, input))
    }

    /// The rules whose conditions hold, in order. Nothing moves: no
    /// `every`, counter, outcome or sequence state.
    pub fn matching<'s>(
        &'s self,
        input: &'s MatchInput<'_>,
    ) -> impl Iterator<Item = &'s Rule> + 's {
        self.rules
            .iter()
            .map(|rule| &**rule)
            .filter(move |rule| rule.matcher.check(input).is_ok())
    }

    /// Takes `rule` (one of [`Self::matching`]) for the request: its
    /// `every` counts the request, and when it lets the rule take it the
    /// counter, the outcome draw and the sequence move. `None` when `every`
    /// passes the request on to later rules.
    pub fn take(&self, rule: &Rule, input: &MatchInput<'_>) -> Option<Selected> {
        if rule.every > 1 && (rule.matched.fetch_add(1, Ordering::Relaxed) + 1) % rule.every != 0 {
            return None;
        }
        let counter = rule.taken.fetch_add(1, Ordering::Relaxed) + 1;
        let (policy, seed) = {
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (rule.choice.pick(input.request, &mut rng), rng.u64(..))
        };
        Some(Selected {
            rule: rule.name.clone(),
            policy,
            counter,
            captures: if rule.uses_captures {
                rule.matcher.captures(input)
            } else {
                Vec::new()
            },
            seed,
            stateless: rule.stateless,
            auth: None,
        })
    }

    /// Sequence keys evicted to make room, over every rule.
    pub fn sequence_keys_evicted(&self) -> u64 {
        self.rules
            .iter()
            .map(|rule| rule.sequence_keys_evicted())
            .sum()
    }

    /// Sequence keys evicted by the rules of this set that `next` does not
    /// keep (they are counted no more once it replaces this one).
    pub fn sequence_keys_evicted_leaving(&self, next: &Self) -> u64 {
        self.rules
            .iter()
            .filter(|rule| !next.rules.iter().any(|kept| Arc::ptr_eq(kept, rule)))
            .map(|rule| rule.sequence_keys_evicted())
            .sum()
    }

    /// Whether any rule's conditions hold (nothing is taken or counted).
    pub fn matches_any(&self, input: &MatchInput<'_>) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.matcher.check(input).is_ok())
    }

    /// The fallback policy, under the name events report for it.
    pub fn fallback_selection(&self) -> Selected {
        Selected {
            rule: self.fallback_name.clone(),
            policy: self.fallback.clone(),
            counter: 0,
            captures: Vec::new(),
            seed: self
                .rng
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .u64(..),
            stateless: self.fallback.is_stateless(),
            auth: None,
        }
    }

    /// Why each rule did or did not match, in order, up to the first match
    /// (conditions only; `every` and choices are not advanced).
    pub fn explain(&self, input: &MatchInput<'_>) -> Vec<(&Rule, Result<(), Mismatch>)> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let verdict = rule.matcher.check(input);
            let matched = verdict.is_ok();
            out.push((&**rule, verdict));
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
            if rule.every > 1 {
                writeln!(f, "   takes: every {}th matching request", rule.every)?;
            }
            if let Some(auth) = &rule.auth {
                writeln!(f, "   requires: {}", auth.describe())?;
            }
            write!(f, "{}", rule.choice)?;
        }
        writeln!(f, "fallback (no rule matched)")?;
        writeln!(f, "   replies: {}", self.fallback)
    }
}
