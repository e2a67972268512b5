//! Runs one reply policy through its ServerContext: each step waits its
//! delay, is rendered for the request and sent; then the hang-up of a 2xx
//! and the auto-reply MESSAGE. Every protocol duty around it (100 Trying,
//! CANCEL, PRACK, ACK waits, retransmissions, dialogs) is the transaction
//! layer's: a policy cannot forget one.

use std::sync::Arc;

use tracing::debug;

use super::Snapshot;
use super::auto_reply::AutoReply;
use super::registrar::Registrar;
use super::sdp::SdpService;
use crate::context::{ContextError, EventReporter, ReplyOptions, ServerContext};
use crate::rules::template::Vars;
use crate::rules::{RegisterPolicy, RenderedStep, ReplyPolicy, Selected, Step};
use crate::sip::Request;
use crate::transaction::TransactionLayer;
use crate::transport::Flow;

/// The variables `selected`'s templates see for `request` from `source`.
pub(super) fn vars_of<'a>(request: &'a Request, source: &Flow, selected: &'a Selected) -> Vars<'a> {
    Vars {
        request,
        source: source.peer,
        transport: source.transport,
        local: source.local,
        rule: &selected.rule,
        counter: selected.counter,
        captures: &selected.captures,
        auth: selected.auth.as_ref(),
    }
}

/// What a step rendered for one request replies with.
pub(super) fn step_options<'a>(step: &Step, rendered: &'a RenderedStep<'_>) -> ReplyOptions<'a> {
    ReplyOptions {
        status: Some(step.status),
        reason: Some(&rendered.reason),
        extra_headers: &rendered.extra_headers,
        content_type: rendered.content_type,
        body: &rendered.body,
    }
}

/// Shared services a job uses.
#[derive(Clone)]
pub(super) struct Services {
    pub(super) layer: TransactionLayer,
    pub(super) registrar: Arc<Registrar>,
    pub(super) sdp: Arc<SdpService>,
    pub(super) media: Arc<crate::media::MediaEngine>,
}

/// What sending a step did.
enum Sent {
    Step,
    /// The step needed an SDP answer the offer cannot get: refused instead.
    OfferRefused,
    /// The step's media got no RTP port pair: refused instead.
    NoMediaPort,
}

/// Everything needed to answer one request.
pub(super) struct Job {
    /// Keeps the engine's count of running jobs while this one lives.
    pub(super) guard: super::JobGuard,
    pub(super) context: ServerContext,
    pub(super) selected: Selected,
    /// The test the request belongs to, if any.
    pub(super) scope: Option<Arc<str>>,
    /// What becomes of the request (a registrar's refusal of a non-owner
    /// goes to the journal and metrics through it).
    pub(super) reporter: Arc<EventReporter>,
    pub(super) request: Request,
    /// The flow the request came from.
    pub(super) source: Flow,
    pub(super) sent_by: Arc<str>,
    /// The config the request arrived under, kept for the whole policy.
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) services: Services,
}

impl Job {
    /// Whether the job finishes without waiting (no delay, no PRACK to
    /// wait for), so the receive loop can run it inline: everything after
    /// its last response is the transaction layer's, or a task of its own.
    pub(super) fn runs_to_completion_at_once(&self) -> bool {
        let policy = &self.selected.policy;
        !self.context.sends_reliably() && policy.steps().all(|s| s.delay.is_zero())
    }

    pub(super) fn vars(&self) -> Vars<'_> {
        vars_of(&self.request, &self.source, &self.selected)
    }

    pub(super) async fn run(mut self) {
        let policy = self.selected.policy.clone();
        if let ReplyPolicy::Register(register) = policy.as_ref() {
            return self.register(register).await;
        }
        if self.request.method() == "INFO" {
            self.info_dtmf();
        }
        if let Some(no_answer) = policy.no_answer() {
            let Ok(rendered) = no_answer.render(&self.vars(), || {
                Ok::<_, std::convert::Infallible>(String::new())
            });
            self.context.set_no_answer(&rendered, no_answer.status);
        }
        let mut rng = fastrand::Rng::with_seed(self.selected.seed);
        for step in policy.steps() {
            let delay = step.delay.draw(&mut rng);
            if let Err(ended) = self.context.wait(delay).await {
                debug!(sip.call_id = self.request.call_id(), %ended, "policy stopped");
                return;
            }
            match self.send_step(step).await {
                Ok(Sent::Step) => {}
                // The refusal is final: the rest of the policy is dropped.
                Ok(Sent::OfferRefused | Sent::NoMediaPort) => return,
                Err(ContextError::Ended(ended)) => {
                    debug!(sip.call_id = self.request.call_id(), %ended, "policy stopped");
                    return;
                }
                Err(error) => {
                    crate::warn_limited!(%error, sip.status = step.status, "response not sent");
                    return;
                }
            }
            if let Some(after) = step.hangup_after {
                self.context.hang_up_after(after);
            }
        }
        if let Some(message) = policy.auto_message() {
            let reply = AutoReply::new(
                message,
                &self.request,
                &self.vars(),
                &self.source,
                &self.sent_by,
                &self.snapshot,
                &self.services,
                &self.guard,
            )
            .in_scope(self.scope.clone());
            tokio::spawn(reply.send());
        }
    }

    /// Renders one step for this request and sends it; or, when the step
    /// needs an SDP answer the offer cannot get, the refusal instead (RFC
    /// 3261 §13.3.1.4: a 2xx carries the answer; `OfferRefusal`), or when
    /// its media gets no RTP port pair, 503 (or `no_media_port`).
    async fn send_step(&mut self, step: &Step) -> Result<Sent, ContextError> {
        let local = self.source.local.ip();
        let Ok(port) = self.media_port(step) else {
            self.refuse_media().await?;
            return Ok(Sent::NoMediaPort);
        };
        let media_port = port.number();
        let rendered = step.render(&self.vars(), || {
            self.services
                .sdp
                .answer_on_port(&self.request, local, &self.snapshot.sdp, media_port)
        });
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(refusal) => {
                refusal.send(&mut self.context, local).await?;
                return Ok(Sent::OfferRefused);
            }
        };
        self.context
            .respond(step.verb, step_options(step, &rendered))
            .await?;
        self.media_sent(step, port, &rendered.body);
        Ok(Sent::Step)
    }

    /// The registrar answers REGISTER (RFC 3261 §10.3); one its rule
    /// authenticated first checks that the user owns the address-of-record
    /// (§10.3 step 3: 403 otherwise, `Contact: *` included).
    async fn register(mut self, policy: &RegisterPolicy) {
        let reporter = &self.reporter;
        let answer =
            match super::auth::refuse_non_owner(&self.request, policy, &self.selected, reporter) {
                Some(refusal) => refusal,
                None => self
                    .services
                    .registrar
                    .register(&self.request, policy, &self.source),
            };
        let options = ReplyOptions {
            status: Some(answer.status),
            reason: answer.reason.as_deref(),
            extra_headers: &answer.headers,
            ..ReplyOptions::default()
        };
        let sent = if answer.status < 300 {
            self.context.accept(options).await
        } else {
            self.context.reject(options).await
        };
        if let Err(error) = sent {
            crate::warn_limited!(%error, "REGISTER answer not sent");
        }
    }
}
