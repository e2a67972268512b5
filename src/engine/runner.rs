//! Runs one reply policy: steps rendered for the request, with their delays,
//! CANCEL while ringing, the ACK wait after a final response, the dialog of
//! a 2xx (No ACK BYE, hang-up BYE), the registrar and the auto-reply MESSAGE.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::auto_reply::AutoReply;
use super::registrar::Registrar;
use super::sdp::SdpService;
use crate::context::{ReplyOptions, ServerContext};
use crate::rules::template::Vars;
use crate::rules::{RegisterPolicy, ReplyPolicy, Selected, Step};
use crate::sip::{Cause, Request};
use crate::transaction::{
    ClientOutcome, Dialog, DialogSpec, PrackRegistration, Reliable, TransactionLayer,
    reliable_header_lines,
};
use crate::transport::Flow;

/// How long an INVITE without a final step rings before the responder
/// forgets it, when the client neither cancels nor gives up visibly (the
/// 3 minutes of RFC 3261 Timer C).
const RING_LIMIT: Duration = Duration::from_secs(180);

/// Shared services a job uses.
#[derive(Clone)]
pub(super) struct Services {
    pub(super) layer: TransactionLayer,
    pub(super) registrar: Arc<Registrar>,
    pub(super) sdp: Arc<SdpService>,
}

/// Everything needed to answer one request.
pub(super) struct Job {
    /// Keeps the engine's count of running jobs while this one lives.
    pub(super) guard: super::JobGuard,
    pub(super) context: ServerContext,
    pub(super) selected: Selected,
    pub(super) request: Request,
    pub(super) dialog: Option<Arc<Dialog>>,
    /// The flow the request came from.
    pub(super) source: Flow,
    pub(super) sent_by: Arc<str>,
    pub(super) services: Services,
    /// Provisional responses go reliably (RFC 3262) for this INVITE.
    pub(super) sends_reliably: bool,
    /// Registered from the first reliable provisional response on.
    pub(super) provisionals: Option<PrackRegistration>,
}

/// How waiting for a PRACK ended.
enum PrackWait {
    Acknowledged,
    Canceled,
    TimedOut,
}

impl Job {
    /// Whether the job finishes without waiting (no delay, no INVITE, no
    /// auto-reply), so the receive loop can run it inline.
    pub(super) fn runs_to_completion_at_once(&self) -> bool {
        let policy = &self.selected.policy;
        self.request.method() != "INVITE"
            && policy.auto_message().is_none()
            && policy.steps().all(|s| s.delay.is_zero())
    }

    fn vars(&self) -> Vars<'_> {
        Vars {
            request: &self.request,
            source: self.source.peer,
            transport: self.source.transport,
            local: self.source.local,
            rule: self.context.rule(),
            counter: self.selected.counter,
            captures: &self.selected.captures,
        }
    }

    pub(super) async fn run(mut self) {
        let policy = self.selected.policy.clone();
        if let ReplyPolicy::Register(register) = policy.as_ref() {
            return self.register(register).await;
        }
        let is_invite = self.request.method() == "INVITE";
        // RFC 3261 §17.2.1: an INVITE whose first answer is not immediate
        // gets 100 Trying at once, so the client stops retransmitting.
        if is_invite && !policy.first_response_is_immediate() {
            let trying = ReplyOptions {
                status: Some(100),
                ..ReplyOptions::default()
            };
            if let Err(error) = self.context.progress(trying).await {
                warn!(%error, "could not send 100 Trying");
            }
        }
        let mut rng = fastrand::Rng::with_seed(self.selected.seed);
        for step in policy.steps() {
            let delay = step.delay.draw(&mut rng);
            if !delay.is_zero() {
                let unacknowledged = self.provisionals.as_deref().cloned();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.context.transaction().cancelled(), if is_invite => {}
                    () = prack_timed_out(unacknowledged.as_deref()) => {}
                }
            }
            if is_invite && self.context.transaction().is_cancelled() {
                return self.canceled().await;
            }
            if self.provisionals.as_ref().is_some_and(|p| p.is_timed_out()) {
                return self.not_acknowledged().await;
            }
            if self.must_await_prack(step.status) {
                match self.await_prack().await {
                    PrackWait::Acknowledged => {}
                    PrackWait::Canceled => return self.canceled().await,
                    PrackWait::TimedOut => return self.not_acknowledged().await,
                }
            }
            if let Err(error) = self.send_step(step).await {
                warn!(%error, sip.status = step.status, "response not sent");
                return;
            }
        }
        if let Some(message) = policy.auto_message() {
            let reply = AutoReply::new(
                message,
                &self.request,
                &self.vars(),
                &self.source,
                &self.sent_by,
                &self.services,
                &self.guard,
            );
            tokio::spawn(reply.send());
        }
        if !is_invite {
            return;
        }
        match self.context.final_status() {
            None => self.ring().await,
            Some(200..=299) => self.established().await,
            Some(_) => {
                self.context.transaction().await_ack().await;
            }
        }
    }

    /// Renders one step for this request and sends it.
    async fn send_step(&mut self, step: &Step) -> Result<(), crate::context::ContextError> {
        let rendered = step.render(&self.vars(), || {
            self.services
                .sdp
                .answer(&self.request, self.source.local.ip())
        });
        let reliable = self.sends_reliably && (101..200).contains(&step.status);
        let mut extra_headers = std::borrow::Cow::Borrowed(&rendered.extra_headers[..]);
        let mut rseq = None;
        if reliable {
            let with_sdp = !rendered.body.is_empty()
                && rendered
                    .content_type
                    .is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"));
            let number = self.register_for_prack().next_rseq(with_sdp);
            extra_headers = reliable_header_lines(number, &rendered.extra_headers).into();
            rseq = Some(number);
        } else if step.status >= 200
            && let Some(provisionals) = &self.provisionals
        {
            // §3: no retransmission once the final response is on its way
            // (PRACKs for what is outstanding are still answered).
            provisionals.finish();
        }
        // §13.3.1.4: the dialog exists before its 2xx leaves, so an ACK or a
        // BYE that overtakes the rest of this task finds it.
        let created = (self.dialog.is_none()
            && self.request.method() == "INVITE"
            && (200..300).contains(&step.status))
        .then(|| {
            let spec = self.dialog_spec(&rendered.body);
            self.services.layer.create_dialog(spec)
        });
        let options = ReplyOptions {
            status: Some(step.status),
            reason: Some(&rendered.reason),
            extra_headers: &extra_headers,
            content_type: rendered.content_type,
            body: &rendered.body,
        };
        if let Err(error) = self.context.respond(step.verb, options).await {
            if let Some(dialog) = created {
                self.services.layer.discard_dialog(&dialog);
            }
            return Err(error);
        }
        if created.is_some() {
            self.dialog = created;
        }
        if let Some(rseq) = rseq {
            self.retransmit_until_prack(rseq);
        }
        Ok(())
    }

    /// The PRACK registration of this INVITE, made on first use. A
    /// re-INVITE's responses carry the dialog's tag, an initial INVITE's the
    /// transaction's new one.
    fn register_for_prack(&mut self) -> &PrackRegistration {
        let layer = &self.services.layer;
        let local_tag = match self.request.to_tag() {
            Some(tag) => tag.to_owned(),
            None => self
                .context
                .transaction()
                .to_tag()
                .unwrap_or_default()
                .to_owned(),
        };
        self.provisionals
            .get_or_insert_with(|| layer.register_for_prack(&self.request, &local_tag))
    }

    /// Sends the reliable provisional response just sent again until its
    /// PRACK (in the background: the policy's next delay runs meanwhile).
    fn retransmit_until_prack(&mut self, rseq: u32) {
        let Some(reliable) = self.provisionals.as_deref().cloned() else {
            return;
        };
        let Some(response) = self.context.transaction().last_response() else {
            return;
        };
        let flow = self.context.transaction().flow().clone();
        let layer = self.services.layer.clone();
        tokio::spawn(async move {
            layer
                .retransmit_until_prack(&reliable, rseq, &response, &flow)
                .await;
        });
    }

    /// RFC 3262 §3: one reliable provisional response is outstanding at a
    /// time, and a 2xx waits for the PRACK of one that carried SDP.
    fn must_await_prack(&self, status: u16) -> bool {
        let Some(provisionals) = &self.provisionals else {
            return false;
        };
        match status {
            101..=199 => self.sends_reliably && provisionals.is_pending(),
            200..=299 => provisionals.pending_with_sdp(),
            _ => false,
        }
    }

    async fn await_prack(&mut self) -> PrackWait {
        let Some(reliable) = self.provisionals.as_deref().cloned() else {
            return PrackWait::Acknowledged;
        };
        tokio::select! {
            () = reliable.acknowledged() => PrackWait::Acknowledged,
            () = self.context.transaction().cancelled() => PrackWait::Canceled,
            () = reliable.timed_out() => PrackWait::TimedOut,
        }
    }

    /// §3: a reliable provisional response unacknowledged for 64·T1: the
    /// INVITE is rejected with 5xx.
    async fn not_acknowledged(mut self) {
        info!(
            sip.call_id = self.request.call_id(),
            rule = &**self.context.rule(),
            "no PRACK for a reliable provisional response: 500"
        );
        if let Some(provisionals) = &self.provisionals {
            provisionals.finish();
        }
        let options = ReplyOptions {
            status: Some(500),
            reason: Some("Reliable Provisional Response Not Acknowledged"),
            ..ReplyOptions::default()
        };
        if let Err(error) = self.context.reject(options).await {
            warn!(%error, "could not send 500");
            return;
        }
        self.context.transaction().await_ack().await;
    }

    /// The registrar answers REGISTER (RFC 3261 §10.3).
    async fn register(mut self, policy: &RegisterPolicy) {
        let answer = self
            .services
            .registrar
            .register(&self.request, policy, &self.source);
        let options = ReplyOptions {
            status: Some(answer.status),
            extra_headers: answer.headers.as_bytes(),
            ..ReplyOptions::default()
        };
        let sent = if answer.status < 300 {
            self.context.accept(options).await
        } else {
            self.context.reject(options).await
        };
        if let Err(error) = sent {
            warn!(%error, "REGISTER answer not sent");
        }
    }

    /// CANCEL before the final response: 487, then the ACK wait.
    async fn canceled(mut self) {
        if let Some(provisionals) = &self.provisionals {
            provisionals.finish();
        }
        if let Err(error) = self.context.terminate_canceled().await {
            warn!(%error, "could not send 487");
            return;
        }
        self.context.transaction().await_ack().await;
    }

    /// No final step: ring until CANCEL (or the ring limit, or a reliable
    /// provisional response going unacknowledged).
    async fn ring(mut self) {
        let unacknowledged = self.provisionals.as_deref().cloned();
        let canceled = tokio::select! {
            () = self.context.transaction().cancelled() => true,
            () = tokio::time::sleep(RING_LIMIT) => false,
            () = prack_timed_out(unacknowledged.as_deref()) => return self.not_acknowledged().await,
        };
        if canceled {
            self.canceled().await;
        } else {
            info!(
                sip.call_id = self.request.call_id(),
                "ringing INVITE given up after the ring limit"
            );
        }
    }

    /// 2xx sent: the dialog, the ACK wait (§13.3.1.4) and the hang-up.
    async fn established(mut self) {
        let Some(response) = self.context.transaction().last_response() else {
            return;
        };
        let flow = self.context.transaction().flow().clone();
        self.context.transaction().accepted();
        let layer = self.services.layer.clone();
        // `send_step` created the dialog before the 2xx left (or it is the
        // re-INVITE's own).
        let Some(dialog) = self.dialog.clone() else {
            return;
        };
        if !layer.await_ack_for_2xx(&dialog, &response, &flow).await {
            self.context.fail(Cause::NoAck);
            let outcome = layer.send_bye(&dialog).await;
            log_bye(&dialog, "no ACK", &outcome);
            return;
        }
        let hangup = self
            .selected
            .policy
            .steps()
            .last()
            .and_then(|s| s.hangup_after);
        if let Some(after) = hangup {
            tokio::select! {
                () = tokio::time::sleep(after) => {
                    let outcome = layer.send_bye(&dialog).await;
                    log_bye(&dialog, "hangup_after_ms", &outcome);
                }
                () = dialog.ended() => {}
            }
        }
    }

    /// The dialog a 2xx with `body` establishes.
    fn dialog_spec(&mut self, body: &[u8]) -> DialogSpec {
        let request = &self.request;
        // The SDP we answered with, echoed to later offers in the dialog.
        let answer = body
            .starts_with(b"v=0")
            .then(|| bytes::Bytes::copy_from_slice(body));
        DialogSpec {
            call_id: request.call_id().to_owned(),
            local_tag: self
                .context
                .transaction()
                .to_tag()
                .unwrap_or_default()
                .to_owned(),
            remote_tag: request.from_tag().unwrap_or_default().to_owned(),
            local_header: request.to_value().to_owned(),
            remote_header: request.from_value().to_owned(),
            remote_target: request
                .contact_uri()
                .unwrap_or(request.from_uri())
                .to_owned(),
            route_set: request.record_routes(),
            invite_cseq: request.cseq(),
            flow: self.source.clone(),
            sent_by: self.sent_by.to_string(),
            rule: self.context.rule().clone(),
            answer,
        }
    }
}

/// Resolves when a reliable provisional response went unacknowledged too
/// long; never when there is none.
async fn prack_timed_out(reliable: Option<&Reliable>) {
    match reliable {
        Some(reliable) => reliable.timed_out().await,
        None => std::future::pending().await,
    }
}

fn log_bye(dialog: &Dialog, why: &str, outcome: &ClientOutcome) {
    info!(sip.call_id = &*dialog.call_id, rule = &*dialog.rule, reason = why, outcome = ?outcome, "sent BYE");
}
