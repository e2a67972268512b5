//! Dispatch: an incoming message → validation → the transaction layer →
//! protocol checks → the rule set snapshot → a ServerContext running the
//! chosen policy.

mod protocol;
mod runner;

use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::{debug, info, warn};

use crate::context::{ReplyOptions, ServerContext};
use crate::rules::{MatchInput, ReplyPolicy, RuleSet, Selected};
use crate::sip::{self, Limits, Message, Rejected, Request, ResponseSummary, reason_phrase};
use crate::transaction::{NewRequest, Received, TransactionLayer};
use crate::transport::{DatagramHandler, Flow, ListenerInfo};

/// Settings the engine applies to every message; swapped with the rules on
/// reload.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub limits: Limits,
    /// When set, other methods get 405 with Allow.
    pub allowed_methods: Option<Vec<String>>,
}

/// What one request is handled with: the rules and settings current when it
/// arrived. Swapped whole on reload, so a request never mixes two configs.
#[derive(Debug)]
pub struct Snapshot {
    pub rules: RuleSet,
    pub settings: EngineSettings,
}

/// The request dispatcher shared by every listener.
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Snapshot>,
    transactions: TransactionLayer,
}

impl Engine {
    pub fn new(rules: RuleSet, settings: EngineSettings, transactions: TransactionLayer) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot { rules, settings }),
            transactions,
        }
    }

    /// Installs a new rule set and settings; transactions already running
    /// keep the policy they started with.
    pub fn replace(&self, rules: RuleSet, settings: EngineSettings) {
        self.current.store(Arc::new(Snapshot { rules, settings }));
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn transactions(&self) -> &TransactionLayer {
        &self.transactions
    }

    /// Handles one framed message from any transport.
    pub async fn handle_message(&self, message: Message, flow: Flow, listener: &ListenerInfo) {
        if !message.is_request() {
            let delivered = ResponseSummary::of(&message)
                .is_some_and(|r| self.transactions.receive_response(&r));
            if !delivered {
                debug!(peer = %flow.peer, status = message.status(), "response matching no client transaction ignored");
            }
            return;
        }
        match Request::validate(message) {
            Ok(request) => self.dispatch(request, flow, listener).await,
            Err(rejected) => self.answer_malformed(&rejected, flow).await,
        }
    }

    async fn dispatch(&self, request: Request, flow: Flow, listener: &ListenerInfo) {
        let source = flow.clone();
        let NewRequest {
            transaction,
            dialog,
        } = match self.transactions.receive(&request, flow, listener).await {
            Received::Handled => return,
            Received::New(new) => *new,
        };
        let snapshot = self.current.load_full();
        let input = MatchInput {
            request: &request,
            source: source.peer,
            transport: source.transport,
        };
        if let Some(refusal) = protocol::refusal(&request, &snapshot, &input) {
            let mut context = ServerContext::new(
                transaction,
                protocol::RULE.into(),
                request.method(),
                request.call_id(),
            );
            let options = ReplyOptions {
                status: Some(refusal.status),
                extra_headers: refusal.extra_headers.as_bytes(),
                ..ReplyOptions::default()
            };
            if let Err(error) = context.reply(options).await {
                warn!(%error, "could not send a protocol refusal");
            }
            return;
        }
        let Selected { rule, policy } = match (&dialog, snapshot.rules.find(&input)) {
            (_, Some(selected)) => selected,
            // §12.2.2: in-dialog requests no rule answers get 200.
            (Some(dialog), None) => protocol::in_dialog_default(&request, dialog),
            (None, None) => snapshot.rules.fallback_selection(),
        };
        if matches!(*policy, ReplyPolicy::Drop) {
            info!(event = "dropped", rule = &*rule, method = request.method(), call_id = request.call_id(), peer = %source.peer, "request dropped by rule");
            return;
        }
        let context = ServerContext::new(transaction, rule, request.method(), request.call_id());
        let job = runner::Job {
            context,
            policy,
            request,
            dialog,
            source,
            layer: self.transactions.clone(),
            sent_by: listener.sent_by.clone(),
        };
        if job.runs_to_completion_at_once() {
            job.run().await;
        } else {
            tokio::spawn(job.run());
        }
    }

    /// RFC 3261 §8.2 / §16.3: a request that cannot be processed gets 400
    /// (or 505) with the defect in the reason phrase, when it can be routed.
    async fn answer_malformed(&self, rejected: &Rejected, flow: Flow) {
        let peer = flow.peer;
        let transport = flow.transport.name();
        let data = sip::excerpt(rejected.message.as_bytes());
        let is_ack = rejected.message.method() == Some("ACK");
        let status = rejected
            .status()
            .filter(|_| !is_ack && rejected.top_via().is_some());
        let Some(status) = status else {
            warn!(%peer, transport, error = %rejected.error, %data, "dropped malformed request: no response can be routed");
            return;
        };
        let reason = match status {
            400 => format!("{} ({})", reason_phrase(status), rejected.error),
            _ => reason_phrase(status).to_owned(),
        };
        warn!(%peer, transport, status, error = %rejected.error, %data, "rejected malformed request");
        if let Err(error) = self
            .transactions
            .answer_rejected(rejected, flow, status, &reason)
            .await
        {
            warn!(%peer, %error, "could not send the answer to a malformed request");
        }
    }
}

impl DatagramHandler for Engine {
    async fn handle_datagram(&self, data: &[u8], flow: Flow, listener: &ListenerInfo) {
        let limits = self.current.load().settings.limits;
        match sip::parse_datagram(data, &limits) {
            Ok(message) => self.handle_message(message, flow, listener).await,
            Err(sip::ParseError::Empty) => {} // CRLF keep-alive on UDP
            Err(error) => warn!(
                peer = %flow.peer,
                transport = flow.transport.name(),
                %error,
                data = %sip::excerpt(data),
                "dropped unparseable message"
            ),
        }
    }
}
