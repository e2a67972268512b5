//! One valid request from the transaction layer to its rule: draining,
//! the RFC 3261 §8.2 checks, rule selection, then the job that runs the
//! policy through a ServerContext. (The rate limit is the transports'
//! admission, before parsing: see `handler.rs`.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::info;

use super::runner::{Job, Services};
use super::{Engine, JobGuard, Snapshot, protocol};
use crate::context::{EventReporter, QuietReporter, ReplyOptions, ServerContext};
use crate::observe::Observer;
use crate::rules::{MatchInput, ReplyPolicy, Selected};
use crate::sip::{Request, reason_phrase};
use crate::transaction::{Dialog, NewRequest, Received, ServerTransaction};
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
        let received = self
            .transactions
            .receive(&request, flow, listener, &snapshot.layer)
            .await;
        let NewRequest {
            mut transaction,
            dialog,
            early_dialog,
        } = match received {
            Received::Handled => return,
            Received::PrackOffer(transaction) => {
                return self
                    .answer_prack_offer(*transaction, &request, listener, snapshot)
                    .await;
            }
            Received::New(new) => *new,
        };
        let observed = self.observer.as_ref().map(|observer| {
            let id = observer.request(&request, source.peer, source.transport);
            (observer.clone(), id)
        });
        if dialog.is_none() && !early_dialog && self.draining.load(Ordering::Acquire) {
            transaction.answer_statelessly();
            let context = context(transaction, &request, protocol::RULE.into(), observed);
            return refuse(context, 503, "Retry-After: 5\r\n").await;
        }
        let selected = match select(&request, &source, snapshot, dialog.as_deref(), early_dialog) {
            Ok(selected) => selected,
            Err(refusal) => {
                // A refusal depends on the request alone: no state is kept.
                transaction.answer_statelessly();
                let context = context(transaction, &request, protocol::RULE.into(), observed);
                return refuse(context, refusal.status, &refusal.extra_headers).await;
            }
        };
        // A rule without side effects answers without transaction state;
        // any other keeps it, so retransmissions never run the rule twice.
        if selected.stateless {
            transaction.answer_statelessly();
        } else if transaction.store().is_err() {
            let context = context(transaction, &request, protocol::RULE.into(), observed);
            return refuse(context, 503, "Retry-After: 5\r\n").await;
        }
        if matches!(*selected.policy, ReplyPolicy::Drop) {
            if let Some((observer, id)) = &observed {
                observer.rule(*id, &selected.rule);
                observer.metrics.drop("rule");
            }
            info!(event = "dropped", rule = &*selected.rule, sip.method = request.method(), sip.call_id = request.call_id(), peer = %source.peer, "request dropped by rule");
            return transaction.discard();
        }
        let context = context(transaction, &request, selected.rule.clone(), observed);
        let job = Job {
            guard: JobGuard::new(&self.jobs),
            context,
            selected,
            request,
            source,
            sent_by: listener.sent_by.clone(),
            snapshot: snapshot.clone(),
            services: Services {
                layer: self.transactions.clone(),
                registrar: self.registrar.clone(),
                sdp: self.sdp.clone(),
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
        transaction: ServerTransaction,
        request: &Request,
        listener: &ListenerInfo,
        snapshot: &Snapshot,
    ) {
        let local = listener.local.ip();
        let mut context = context(transaction, request, protocol::RULE.into(), None);
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
/// rule that takes the request, else the dialog's default (§12.2.2), the
/// early dialog's (RFC 3311) or the fallback.
fn select(
    request: &Request,
    source: &Flow,
    snapshot: &Snapshot,
    dialog: Option<&Dialog>,
    early_dialog: bool,
) -> Result<Selected, protocol::Refusal> {
    let input = MatchInput {
        request,
        source: source.peer,
        transport: source.transport,
    };
    let rules = &snapshot.rules;
    let allowed = snapshot.settings.allowed_methods.as_deref();
    let reliable = snapshot.layer.reliable;
    if let Some(refusal) = protocol::refusal(request, rules, allowed, reliable, &input) {
        return Err(refusal);
    }
    Ok(match (dialog, rules.find(&input)) {
        (_, Some(selected)) => selected,
        (Some(dialog), None) => protocol::in_dialog_default(request, dialog),
        (None, None) if early_dialog => protocol::early_dialog_default(),
        (None, None) => rules.fallback_selection(),
    })
}

/// The context a request is answered through, reporting as `rule`.
fn context(
    transaction: ServerTransaction,
    request: &Request,
    rule: Arc<str>,
    observed: Option<(Arc<Observer>, u64)>,
) -> ServerContext {
    let flow = transaction.flow();
    // Nothing to count or log (no admin listener, events below the log
    // level): the reporter only names the rule.
    if observed.is_none() && !crate::events::enabled() {
        return ServerContext::new(transaction, Arc::new(QuietReporter(rule)));
    }
    let reporter = EventReporter::new(rule, request, flow.peer, flow.transport, observed);
    ServerContext::new(transaction, Arc::new(reporter))
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
