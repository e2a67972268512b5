//! Runs one reply policy: steps with their delays, CANCEL while ringing,
//! the ACK wait after a final response, the dialog of a 2xx (No ACK BYE,
//! hang-up BYE) and the auto-reply MESSAGE.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::context::{ReplyOptions, ServerContext};
use crate::events;
use crate::rules::{AutoMessage, ReplyPolicy};
use crate::sip::{Cause, MAGIC_COOKIE, OutgoingRequest, Request, sip_host_port};
use crate::transaction::{ClientOutcome, Dialog, DialogSpec, TransactionLayer, new_tag};
use crate::transport::Flow;

/// How long an INVITE without a final step rings before the responder
/// forgets it, when the client neither cancels nor gives up visibly (the
/// 3 minutes of RFC 3261 Timer C).
const RING_LIMIT: Duration = Duration::from_secs(180);

/// Everything needed to answer one request.
pub(super) struct Job {
    pub(super) context: ServerContext,
    pub(super) policy: Arc<ReplyPolicy>,
    pub(super) request: Request,
    pub(super) dialog: Option<Arc<Dialog>>,
    /// The flow the request came from.
    pub(super) source: Flow,
    pub(super) layer: TransactionLayer,
    pub(super) sent_by: Arc<str>,
}

impl Job {
    /// Whether the job finishes without waiting (no delay, no INVITE, no
    /// auto-reply), so the receive loop can run it inline.
    pub(super) fn runs_to_completion_at_once(&self) -> bool {
        self.request.method() != "INVITE"
            && self.policy.auto_message().is_none()
            && self.policy.steps().all(|s| s.delay.is_zero())
    }

    pub(super) async fn run(mut self) {
        let is_invite = self.request.method() == "INVITE";
        // RFC 3261 §17.2.1: an INVITE whose first answer is not immediate
        // gets 100 Trying at once, so the client stops retransmitting.
        if is_invite && !self.policy.first_response_is_immediate() {
            let trying = ReplyOptions {
                status: Some(100),
                ..ReplyOptions::default()
            };
            if let Err(error) = self.context.progress(trying).await {
                warn!(%error, "could not send 100 Trying");
            }
        }
        let policy = self.policy.clone();
        for step in policy.steps() {
            if !step.delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(step.delay) => {}
                    () = self.context.transaction().cancelled(), if is_invite => {}
                }
            }
            if is_invite && self.context.transaction().is_cancelled() {
                return self.canceled().await;
            }
            if let Err(error) = self.context.run_step(step).await {
                warn!(%error, status = step.status, "response not sent");
                return;
            }
        }
        if let Some(message) = policy.auto_message() {
            let reply = AutoReply {
                message: message.clone(),
                target: message
                    .target
                    .as_deref()
                    .unwrap_or(self.request.from_uri())
                    .to_owned(),
                our_uri: self.request.to_uri().to_owned(),
                rule: self.context.rule().clone(),
                source: self.source.clone(),
                layer: self.layer.clone(),
                sent_by: self.sent_by.clone(),
            };
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

    /// CANCEL before the final response: 487, then the ACK wait.
    async fn canceled(mut self) {
        if let Err(error) = self.context.terminate_canceled().await {
            warn!(%error, "could not send 487");
            return;
        }
        self.context.transaction().await_ack().await;
    }

    /// No final step: ring until CANCEL (or the ring limit).
    async fn ring(mut self) {
        let canceled = tokio::select! {
            () = self.context.transaction().cancelled() => true,
            () = tokio::time::sleep(RING_LIMIT) => false,
        };
        if canceled {
            self.canceled().await;
        } else {
            info!(
                call_id = self.request.call_id(),
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
        let dialog = match self.dialog.clone() {
            Some(dialog) => dialog,
            None => {
                let spec = self.dialog_spec();
                self.layer.create_dialog(spec)
            }
        };
        if !self
            .layer
            .await_ack_for_2xx(&dialog, &response, &flow)
            .await
        {
            self.context.fail(Cause::NoAck);
            let outcome = self.layer.send_bye(&dialog).await;
            log_bye(&dialog, "no ACK", &outcome);
            return;
        }
        let hangup = self.policy.steps().last().and_then(|s| s.hangup_after);
        if let Some(after) = hangup {
            tokio::select! {
                () = tokio::time::sleep(after) => {
                    let outcome = self.layer.send_bye(&dialog).await;
                    log_bye(&dialog, "hangup_after_ms", &outcome);
                }
                () = dialog.ended() => {}
            }
        }
    }

    fn dialog_spec(&mut self) -> DialogSpec {
        let request = &self.request;
        let answer = self
            .policy
            .steps()
            .last()
            .map(|s| s.body.clone())
            .filter(|b| !b.is_empty());
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

fn log_bye(dialog: &Dialog, why: &str, outcome: &ClientOutcome) {
    info!(call_id = &*dialog.call_id, rule = &*dialog.rule, reason = why, outcome = ?outcome, "sent BYE");
}

/// JsSIP `Message.send(target, body, contentType, {extraHeaders})`: after
/// the final response, a MESSAGE to the sender (or the configured target).
struct AutoReply {
    message: AutoMessage,
    /// Request-URI and To of the MESSAGE.
    target: String,
    /// Our identity: the To URI of the request answered.
    our_uri: String,
    rule: Arc<str>,
    source: Flow,
    layer: TransactionLayer,
    sent_by: Arc<str>,
}

impl AutoReply {
    async fn send(self) {
        if !self.message.delay.is_zero() {
            tokio::time::sleep(self.message.delay).await;
        }
        let call_id = format!("{}@{}", new_tag(), self.sent_by);
        let Some(flow) = self.flow().await else {
            events::message(
                &self.rule,
                &call_id,
                &self.target,
                "failed",
                None,
                Some(Cause::ConnectionError),
            );
            return;
        };
        let branch = format!("{MAGIC_COOKIE}{}", new_tag());
        let from = format!("<{}>", self.our_uri);
        let to = format!("<{}>", self.target);
        let request = OutgoingRequest {
            method: "MESSAGE",
            request_uri: &self.target,
            transport: flow.transport,
            sent_by: &self.sent_by,
            branch: &branch,
            from: &from,
            from_tag: &new_tag(),
            to: &to,
            call_id: &call_id,
            cseq: 1,
            routes: &[],
            user_agent: self.layer.user_agent(),
            extra_headers: &self.message.extra_headers,
            content_type: Some(&self.message.content_type),
            body: &self.message.body,
        };
        events::message(&self.rule, &call_id, &self.target, "sending", None, None);
        let (event, status, cause) = match self.layer.send_request(&flow, &request).await {
            ClientOutcome::Final(status @ 200..=299) => ("succeeded", Some(status), None),
            ClientOutcome::Final(status) => ("failed", Some(status), Cause::of_status(status)),
            ClientOutcome::Timeout => ("failed", None, Some(Cause::RequestTimeout)),
            ClientOutcome::TransportError(_) => ("failed", None, Some(Cause::ConnectionError)),
        };
        events::message(&self.rule, &call_id, &self.target, event, status, cause);
    }

    /// By default the MESSAGE goes back over the flow the request came from
    /// (never to a host the request merely names); an explicit target is
    /// resolved and reached from the same listener.
    async fn flow(&self) -> Option<Flow> {
        if self.message.target.is_none() {
            return Some(self.source.clone());
        }
        let (host, port) = sip_host_port(&self.target)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address: SocketAddr = tokio::net::lookup_host((host, port.unwrap_or(5060)))
            .await
            .ok()?
            .next()?;
        Some(self.source.to_peer(address))
    }
}
