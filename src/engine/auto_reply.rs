//! The auto-reply MESSAGE (JsSIP `Message.send(target, body, contentType,
//! {extraHeaders})`): sent after the final response through a non-INVITE
//! client transaction, logging sending / succeeded / failed.

use std::net::SocketAddr;
use std::sync::Arc;

use super::runner::Services;
use super::{JobGuard, Snapshot};
use crate::events;
use crate::rules::AutoMessage;
use crate::rules::template::Vars;
use crate::sip::{Cause, MAGIC_COOKIE, OutgoingRequest, Request, sip_host_port};
use crate::transaction::{Behalf, ClientOutcome, new_tag};
use crate::transport::Flow;

/// One auto-reply, rendered for its request and ready to send.
pub(super) struct AutoReply {
    _guard: JobGuard,
    message: AutoMessage,
    body: String,
    extra_headers: Vec<u8>,
    /// Request-URI and To of the MESSAGE.
    target: String,
    /// Our identity: the To URI of the request answered.
    our_uri: String,
    rule: Arc<str>,
    scope: Option<Arc<str>>,
    /// Where it goes when no target is configured (and the sender has no
    /// live registration): the flow the request came from.
    source: Flow,
    sent_by: Arc<str>,
    snapshot: Arc<Snapshot>,
    services: Services,
}

impl AutoReply {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        message: &AutoMessage,
        request: &Request,
        vars: &Vars<'_>,
        source: &Flow,
        sent_by: &Arc<str>,
        snapshot: &Arc<Snapshot>,
        services: &Services,
        guard: &JobGuard,
    ) -> Self {
        Self {
            _guard: guard.clone(),
            message: message.clone(),
            body: message.body.render(vars).into_owned(),
            extra_headers: message.extra_headers.render(vars).into_owned(),
            target: message
                .target
                .as_deref()
                .unwrap_or(request.from_uri())
                .to_owned(),
            our_uri: request.to_uri().to_owned(),
            rule: vars.rule.into(),
            scope: None,
            source: source.clone(),
            sent_by: sent_by.clone(),
            snapshot: snapshot.clone(),
            services: services.clone(),
        }
    }

    /// The reply belongs to the test `scope` (its journal record says so).
    pub(super) fn in_scope(mut self, scope: Option<Arc<str>>) -> Self {
        self.scope = scope;
        self
    }

    pub(super) async fn send(mut self) {
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
        let settings = &self.snapshot.layer;
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
            user_agent: &settings.user_agent,
            extra_headers: &self.extra_headers,
            content_type: Some(&self.message.content_type),
            body: self.body.as_bytes(),
        };
        events::message(&self.rule, &call_id, &self.target, "sending", None, None);
        let behalf = Behalf {
            rule: &self.rule,
            scope: self.scope.as_deref(),
        };
        let outcome = self
            .services
            .layer
            .send_request(settings, &flow, &request, behalf)
            .await;
        let (event, status, cause) = match outcome {
            ClientOutcome::Final(status @ 200..=299) => ("succeeded", Some(status), None),
            ClientOutcome::Final(status) => ("failed", Some(status), Cause::of_status(status)),
            ClientOutcome::Timeout => ("failed", None, Some(Cause::RequestTimeout)),
            ClientOutcome::TransportError(_) => ("failed", None, Some(Cause::ConnectionError)),
            // Too many requests of ours under way: this one is not sent.
            ClientOutcome::Overloaded { .. } => ("failed", None, Some(Cause::InternalError)),
        };
        events::message(&self.rule, &call_id, &self.target, event, status, cause);
    }

    /// Where the MESSAGE goes: an explicit target is resolved and reached
    /// from the same listener; otherwise the sender's live registration (over
    /// the flow it registered from), else the flow the request came from —
    /// never a host the request merely names.
    async fn flow(&mut self) -> Option<Flow> {
        if self.message.target.is_none() {
            if let Some(binding) = self.services.registrar.lookup(&self.target) {
                self.target = binding.contact;
                return Some(binding.flow);
            }
            return Some(self.source.clone());
        }
        let (host, port) = sip_host_port(&self.target)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address: SocketAddr = tokio::net::lookup_host((host, port.unwrap_or(5060)))
            .await
            .ok()?
            .next()?;
        // An explicit target is the operator's: not metered.
        Some(self.source.to_peer(address).unmetered())
    }
}
