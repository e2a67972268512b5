//! One valid request from the transaction layer to its rule: draining,
//! the RFC 3261 §8.2 checks, rule selection, then the job that runs the
//! policy through a ServerContext. (The rate limit is the transports'
//! admission, before parsing: see `handler.rs`.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::info;

use super::auth::{Selection, take_rule};
use super::quick::quick_step;
use super::runner::{Job, Services};
use super::{Engine, JobGuard, Snapshot, protocol};
use crate::auth::Checker;
use crate::context::{EventReporter, ReplyOptions, ServerContext};
use crate::rules::{FALLBACK_RULE, MAX_NEAR_MISSES, MatchInput, ReplyPolicy, Selected};
use crate::sip::{Request, reason_phrase};
use crate::transaction::{Dialog, NewRequest, Pending, Received, Report as _, ServerTransaction};
use crate::transport::{Flow, ListenerInfo};

impl Engine {
    pub(super) async fn dispatch(
        &self,
        request: Request,
        flow: Flow,
        listener: &ListenerInfo,
        snapshot: &Arc<Snapshot>,
    ) {
        let source = flow.clone();
        if request.method() == "ACK" {
            // The answer to a late offer arrives in the ACK (RFC 3264 §4).
            self.sdp.check_ack_answer(&request);
        }
        let scope = self.scope_of(&request, snapshot);
        let reporter = EventReporter::new(&request, &source, scope, self.observer.clone());
        let reporter = Arc::new(reporter);
        let received = self
            .transactions
            .receive(&request, flow, listener, &snapshot.layer, reporter.clone())
            .await;
        let NewRequest {
            transaction: pending,
            dialog,
            early_dialog,
        } = match received {
            Received::Handled => return,
            Received::PrackOffer(transaction) => {
                let context = context(*transaction, &reporter, protocol::RULE.into());
                return Box::pin(self.answer_prack_offer(context, &request, listener, snapshot))
                    .await;
            }
            Received::New(new) => *new,
        };
        if dialog.is_none() && !early_dialog && self.draining.load(Ordering::Acquire) {
            let mut transaction = pending.open(&request);
            transaction.answer_statelessly();
            let context = context(transaction, &reporter, protocol::RULE.into());
            return Box::pin(refuse(context, 503, "Retry-After: 5\r\n")).await;
        }
        let selected = self.choose(
            &request,
            (&source, scope),
            snapshot,
            (dialog.as_deref(), early_dialog),
            &reporter,
        );
        let selected = match selected {
            Ok(Selection::Taken(selected)) => selected,
            Ok(Selection::Refused(refusal)) => {
                let transaction = pending.open(&request);
                let refused = self.refuse_credentials(transaction, &request, &reporter, refusal);
                return Box::pin(refused).await;
            }
            Err(refusal) => {
                // A refusal depends on the request alone: no state is kept.
                let mut transaction = pending.open(&request);
                transaction.answer_statelessly();
                let context = context(transaction, &reporter, protocol::RULE.into());
                return Box::pin(refuse(context, refusal.status, &refusal.extra_headers)).await;
            }
        };
        let mut transaction = match pending {
            Pending::Deferred(deferred) => match quick_step(&selected, &request) {
                Some(step) => {
                    let request_and_source = (&request, &source);
                    return self
                        .answer_quickly(deferred, step, &selected, &reporter, request_and_source)
                        .await;
                }
                None => deferred.open(&request),
            },
            Pending::Opened(transaction) => *transaction,
        };
        // A rule without side effects answers without transaction state;
        // any other keeps it, so retransmissions never run the rule twice.
        if selected.stateless {
            transaction.answer_statelessly();
        } else if transaction.store().is_err() {
            let context = context(transaction, &reporter, protocol::RULE.into());
            return Box::pin(refuse(context, 503, "Retry-After: 5\r\n")).await;
        }
        // Boxed, as every path but the quick answer: the future of
        // `dispatch` (moved by each caller) stays small.
        Box::pin(self.answer_with_rule(
            transaction,
            selected,
            &reporter,
            request,
            source,
            listener,
            snapshot,
        ))
        .await;
    }

    /// The rule that answers `request` (see [`select`]), its credentials
    /// checked when it asks for them; records near misses when no rule
    /// took it, and who authenticated when one did.
    fn choose(
        &self,
        request: &Request,
        (source, scope): (&Flow, Option<&str>),
        snapshot: &Snapshot,
        dialog: (Option<&Dialog>, bool),
        reporter: &EventReporter,
    ) -> Result<Selection, protocol::Refusal> {
        let checker = Checker::new(request, &snapshot.auth, &self.auth);
        let input = MatchInput {
            request,
            source: source.peer,
            transport: source.transport,
            scope,
            auth: Some(&checker),
        };
        let selection = select(&input, &checker, snapshot, dialog.0, dialog.1)?;
        if let Selection::Taken(selected) = &selection {
            if *selected.rule == *FALLBACK_RULE && reporter.is_journalled() {
                reporter.near_misses(snapshot.rules.near_misses(&input, MAX_NEAR_MISSES));
            }
            if let Some(identity) = &selected.auth {
                self.authenticated(identity, selected, request, reporter);
            }
        }
        Ok(selection)
    }

    /// The scope of `request`, read only when a rule or the journal asks
    /// for it.
    fn scope_of<'a>(&self, request: &'a Request, snapshot: &Snapshot) -> Option<&'a str> {
        (snapshot.rules.has_scopes() || self.observer.is_some())
            .then(|| snapshot.settings.scope.of(request))
            .flatten()
    }

    /// Answers through `selected`'s policy: nothing (a drop), or its job,
    /// inline when it waits for nothing.
    #[allow(clippy::too_many_arguments)]
    async fn answer_with_rule(
        &self,
        transaction: ServerTransaction,
        selected: Selected,
        reporter: &Arc<EventReporter>,
        request: Request,
        source: Flow,
        listener: &ListenerInfo,
        snapshot: &Arc<Snapshot>,
    ) {
        if matches!(*selected.policy, ReplyPolicy::Drop) {
            reporter.choose(selected.rule.clone());
            reporter.finish();
            if let Some(observer) = &self.observer {
                observer.metrics.drop("rule");
            }
            info!(event = "dropped", rule = &*selected.rule, sip.method = request.method(), sip.call_id = request.call_id(), peer = %source.peer, "request dropped by rule");
            return transaction.discard();
        }
        let context = context(transaction, reporter, selected.rule.clone())
            .with_media_report(reporter.clone());
        let job = Job {
            guard: JobGuard::new(&self.jobs),
            context,
            selected,
            scope: reporter.scope(),
            reporter: reporter.clone(),
            request,
            source,
            sent_by: listener.sent_by.clone(),
            snapshot: snapshot.clone(),
            services: Services {
                layer: self.transactions.clone(),
                registrar: self.registrar.clone(),
                sdp: self.sdp.clone(),
                media: self.media.clone(),
            },
        };
        if job.runs_to_completion_at_once() {
            job.run().await;
        } else {
            tokio::spawn(job.run());
        }
    }

    /// RFC 3262 §5: the 200 to a PRACK that carries an offer carries the
    /// answer; an offer no answer can be made for gets 488.
    async fn answer_prack_offer(
        &self,
        mut context: ServerContext,
        request: &Request,
        listener: &ListenerInfo,
        snapshot: &Snapshot,
    ) {
        let local = listener.local.ip();
        let answer = match self.sdp.answer(request, local, &snapshot.sdp) {
            Ok(answer) => answer,
            // An offer that gets no answer: 400, 415 or 488 as for an INVITE.
            Err(refusal) => {
                if let Err(error) = refusal.send(&mut context, local).await {
                    crate::warn_limited!(%error, "response to PRACK not sent");
                }
                return;
            }
        };
        let status = if answer.is_empty() { 488 } else { 200 };
        let options = ReplyOptions {
            status: Some(status),
            reason: Some(reason_phrase(status)),
            content_type: Some("application/sdp"),
            body: answer.as_bytes(),
            ..ReplyOptions::default()
        };
        info!(sip.call_id = request.call_id(), sip.status = status, peer = %context.peer(), "PRACK with a new offer answered");
        if let Err(error) = context.reply(options).await {
            crate::warn_limited!(%error, "response to PRACK not sent");
        }
    }
}

/// The rule that answers: the §8.2 checks first (a refusal), then the first
/// rule that takes the request (or asks for credentials it lacks), else the
/// dialog's default (§12.2.2), the early dialog's (RFC 3311) or the
/// fallback.
fn select(
    input: &MatchInput<'_>,
    checker: &Checker<'_>,
    snapshot: &Snapshot,
    dialog: Option<&Dialog>,
    early_dialog: bool,
) -> Result<Selection, protocol::Refusal> {
    let request = input.request;
    let rules = &snapshot.rules;
    let allowed = snapshot.settings.allowed_methods.as_deref();
    let reliable = snapshot.layer.reliable;
    if let Some(refusal) = protocol::refusal(request, rules, allowed, reliable, input) {
        return Err(refusal);
    }
    Ok(match (dialog, take_rule(rules, input, checker)) {
        (_, Some(selection)) => selection,
        (Some(dialog), None) => Selection::Taken(protocol::in_dialog_default(request, dialog)),
        (None, None) if early_dialog => Selection::Taken(protocol::early_dialog_default()),
        (None, None) => Selection::Taken(rules.fallback_selection()),
    })
}

/// The context a request is answered through on behalf of `rule`.
pub(super) fn context(
    transaction: ServerTransaction,
    reporter: &EventReporter,
    rule: Arc<str>,
) -> ServerContext {
    reporter.choose(rule.clone());
    ServerContext::new(transaction, rule)
}

/// Answers a request the rules never see (protocol checks, draining) with
/// `status` and extra header lines.
async fn refuse(mut context: ServerContext, status: u16, extra_headers: &str) {
    let options = ReplyOptions {
        status: Some(status),
        extra_headers: extra_headers.as_bytes(),
        ..ReplyOptions::default()
    };
    if let Err(error) = context.reply(options).await {
        crate::warn_limited!(%error, sip.status = status, "could not send a refusal");
    }
}
