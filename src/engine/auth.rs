//! Credentials between matching a rule and taking it (RFC 3261 §22): the
//! first rule whose conditions hold and that asks for credentials gets
//! them checked; valid ones commit their nonce count and the rule is
//! taken; anything else is refused before any of the rule's state moves
//! (its `every`, counter, outcome or sequence), with a challenge sent once
//! and statelessly, or 403 for a wrong password. The registrar's owner
//! check, and what authentication shows in logs, journal and metrics.

use std::sync::Arc;

use tracing::info;

use super::Engine;
use crate::auth::{Checker, FailReason, Identity, OnFailure, Requirement, Valid, Verdict};
use crate::context::{EventReporter, ReplyOptions};
use crate::observe::AuthRefusal;
use crate::rules::{MatchInput, RegisterPolicy, Rule, RuleSet, Selected};
use crate::sip::{Request, address_of_record};
use crate::transaction::ServerTransaction;

/// What the rules decided for a request.
pub(super) enum Selection {
    Taken(Selected),
    /// The rule that matched wants credentials the request lacks.
    Refused(Refusal),
}

/// A request refused for its credentials, before its rule was taken.
pub(super) struct Refusal {
    pub(super) rule: Arc<str>,
    requirement: Arc<Requirement>,
    verdict: Verdict,
}

/// How a refusal is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Challenge { stale: bool },
    Forbidden,
}

impl Refusal {
    fn new(rule: &Rule, requirement: &Arc<Requirement>, verdict: Verdict) -> Self {
        Self {
            rule: rule.name.clone(),
            requirement: requirement.clone(),
            verdict,
        }
    }

    fn answer(&self) -> Answer {
        match &self.verdict {
            Verdict::Stale { .. } => Answer::Challenge { stale: true },
            Verdict::Invalid {
                reason: FailReason::WrongPassword | FailReason::UnknownUser,
                ..
            } if self.requirement.on_failure == OnFailure::Forbidden => Answer::Forbidden,
            _ => Answer::Challenge { stale: false },
        }
    }

    /// Why, for metrics and logs; `None` when no credentials came.
    fn reason(&self) -> Option<FailReason> {
        match &self.verdict {
            Verdict::Stale { .. } => Some(FailReason::StaleNonce),
            Verdict::Invalid { reason, .. } => Some(*reason),
            Verdict::Absent | Verdict::Valid(_) => None,
        }
    }

    fn user(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Stale { user } | Verdict::Invalid { user, .. } => user.as_deref(),
            Verdict::Absent => None,
            Verdict::Valid(valid) => Some(&valid.identity.user),
        }
    }
}

/// The first matching rule that takes the request, its credentials checked
/// first when it asks for them; `None` when no rule takes it.
pub(super) fn take_rule(
    rules: &RuleSet,
    input: &MatchInput<'_>,
    checker: &Checker<'_>,
) -> Option<Selection> {
    // Credentials committed for an earlier rule that `every` passed over.
    let mut committed: Option<Valid> = None;
    for rule in rules.matching(input) {
        let identity = match rule.credentials() {
            None => None,
            Some(requirement) => match checker.verdict(Some(requirement)) {
                Verdict::Valid(valid) => {
                    if committed.as_ref() != Some(&valid) {
                        if let Err(verdict) = checker.service().commit(&valid) {
                            return Some(Selection::Refused(Refusal::new(
                                rule,
                                requirement,
                                verdict,
                            )));
                        }
                        committed = Some(valid.clone());
                    }
                    Some(valid.identity)
                }
                verdict => {
                    return Some(Selection::Refused(Refusal::new(rule, requirement, verdict)));
                }
            },
        };
        if let Some(mut selected) = rules.take(rule, input) {
            selected.auth = identity;
            return Some(Selection::Taken(selected));
        }
    }
    None
}

impl Engine {
    /// Answers a request refused for its credentials: a challenge once and
    /// without state, or 403 (kept, so its retransmissions get it again).
    pub(super) async fn refuse_credentials(
        &self,
        mut transaction: ServerTransaction,
        request: &Request,
        reporter: &EventReporter,
        refusal: Refusal,
    ) {
        let answer = refusal.answer();
        let status = match answer {
            Answer::Forbidden => 403,
            Answer::Challenge { .. } => refusal.requirement.challenge_status(),
        };
        let reason = refusal.reason();
        reporter.auth_refused(&AuthRefusal {
            user: refusal.user(),
            realm: &refusal.requirement.realm,
            reason: reason.map(FailReason::as_str),
            stale: matches!(answer, Answer::Challenge { stale: true }),
            status,
        });
        info!(
            event = if reason.is_some() { "auth_failed" } else { "challenged" },
            rule = &*refusal.rule,
            reason = reason.map(FailReason::as_str),
            auth.user = refusal.user().map(logged),
            auth.realm = &*refusal.requirement.realm,
            sip.method = request.method(),
            sip.call_id = request.call_id(),
            sip.status = status,
            peer = %transaction.peer(),
            "credentials refused"
        );
        if answer == Answer::Forbidden {
            // A full table leaves it stateless: still answered once.
            let _ = transaction.store();
        }
        let mut context = super::dispatch::context(transaction, reporter, refusal.rule.clone());
        let sent = match answer {
            Answer::Challenge { stale } => {
                let lines = self.auth.challenge_lines(&refusal.requirement, stale);
                let options = ReplyOptions {
                    status: Some(status),
                    extra_headers: lines.as_bytes(),
                    ..ReplyOptions::default()
                };
                context.respond_once(options).await
            }
            Answer::Forbidden => {
                let options = ReplyOptions {
                    status: Some(403),
                    ..ReplyOptions::default()
                };
                context.reject(options).await
            }
        };
        if let Err(error) = sent {
            crate::warn_limited!(%error, sip.status = status, "answer to refused credentials not sent");
        }
    }

    /// Logs and records who authenticated for the rule that took the
    /// request; counts the nonces forgotten at their bound (here, where
    /// the table grows).
    pub(super) fn authenticated(
        &self,
        identity: &Identity,
        selected: &Selected,
        request: &Request,
        reporter: &EventReporter,
    ) {
        reporter.authenticated(&identity.user, &identity.realm);
        if let Some(observer) = &self.observer {
            let forgotten = self.auth.nonces_forgotten();
            observer.metrics.set_bound_reached("auth_nonces", forgotten);
        }
        info!(
            event = "authenticated",
            rule = &*selected.rule,
            auth.user = &*identity.user,
            auth.realm = &*identity.realm,
            sip.method = request.method(),
            sip.call_id = request.call_id(),
            "credentials accepted"
        );
    }
}

/// RFC 3261 §10.3 step 3: a REGISTER its rule authenticated changes (or
/// lists) only the bindings of an address-of-record the user owns; anyone
/// else's, `Contact: *` included, gets 403. A rule that asks for no
/// credentials leaves the registrar open.
pub(super) fn refuse_non_owner(
    request: &Request,
    policy: &RegisterPolicy,
    selected: &Selected,
    reporter: &EventReporter,
) -> Option<crate::engine::registrar::RegisterAnswer> {
    let identity = selected.auth.as_ref()?;
    let user = &*identity.user;
    let aor = address_of_record(request.to_uri());
    if policy.owners.owns(user, &aor) {
        return None;
    }
    reporter.auth_refused(&AuthRefusal {
        user: Some(user),
        realm: &identity.realm,
        reason: Some(FailReason::NotOwner.as_str()),
        stale: false,
        status: 403,
    });
    info!(
        event = "auth_failed",
        rule = &*selected.rule,
        reason = FailReason::NotOwner.as_str(),
        auth.user = user,
        sip.method = request.method(),
        sip.call_id = request.call_id(),
        aor = %aor,
        "REGISTER for an address-of-record the user does not own: 403"
    );
    Some(crate::engine::registrar::RegisterAnswer {
        status: 403,
        reason: Some(format!("Forbidden (not the owner of {aor})")),
        headers: Vec::new(),
    })
}

/// A user name a peer gave, cut for a log line (as the journal cuts it).
fn logged(user: &str) -> &str {
    let mut end = user.len().min(crate::observe::AUTH_VALUE_LIMIT);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    &user[..end]
}
