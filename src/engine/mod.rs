//! Dispatch: an incoming message → validation → the transaction layer →
//! protocol checks → the rule set snapshot → a ServerContext running the
//! chosen policy.

mod auto_reply;
pub mod protocol;
mod ratelimit;
pub mod registrar;
mod runner;
pub mod sdp;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use tracing::{debug, info, warn};

use crate::context::{ReplyOptions, ServerContext};
use crate::observe::Observer;
use crate::ratelog::LogLimiter;
use crate::rules::{MatchInput, ReplyPolicy, RuleSet};
use crate::sip::{self, Limits, Message, Rejected, Request, ResponseSummary, reason_phrase};
use crate::transaction::{NewRequest, Received, TransactionLayer};
use crate::transport::{Flow, ListenerInfo, MessageHandler};
use registrar::Registrar;
use sdp::SdpService;

/// Floods of bad input log one line per second, with a count.
static MALFORMED_LOG: LogLimiter = LogLimiter::new(1000);
static UNPARSEABLE_LOG: LogLimiter = LogLimiter::new(1000);
static REFUSED_LOG: LogLimiter = LogLimiter::new(1000);
static RATE_LOG: LogLimiter = LogLimiter::new(1000);

/// Settings the engine applies to every message; swapped with the rules on
/// reload.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub limits: Limits,
    /// When set, other methods get 405 with Allow.
    pub allowed_methods: Option<Vec<String>>,
    /// Per-source request rate limit.
    pub rate_limit: Option<crate::config::RateLimit>,
    /// When 1xx responses to INVITE go reliably (RFC 3262).
    pub reliable_provisionals: crate::config::ReliableProvisionals,
}

/// What one request is handled with: the rules and settings current when it
/// arrived. Swapped whole on reload, so a request never mixes two configs.
#[derive(Debug)]
pub struct Snapshot {
    pub rules: Arc<RuleSet>,
    pub settings: EngineSettings,
}

/// The request dispatcher shared by every listener.
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Snapshot>,
    transactions: TransactionLayer,
    registrar: Arc<Registrar>,
    sdp: Arc<SdpService>,
    /// Policies still running (delays, ACK waits, hang-ups, auto-replies).
    jobs: Arc<AtomicUsize>,
    /// Set on shutdown: new requests get 503, work in flight finishes.
    draining: AtomicBool,
    /// The journal and metrics, when the admin listener is on.
    observer: Option<Arc<Observer>>,
    limiter: ratelimit::SourceLimiter,
}

/// Counts a running job until dropped.
pub(super) struct JobGuard(Arc<AtomicUsize>);

impl Clone for JobGuard {
    fn clone(&self) -> Self {
        Self::new(&self.0)
    }
}

impl JobGuard {
    fn new(jobs: &Arc<AtomicUsize>) -> Self {
        jobs.fetch_add(1, Ordering::AcqRel);
        Self(jobs.clone())
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Engine {
    pub fn new(
        rules: Arc<RuleSet>,
        settings: EngineSettings,
        transactions: TransactionLayer,
        sdp: SdpService,
    ) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot { rules, settings }),
            transactions,
            registrar: Arc::new(Registrar::default()),
            sdp: Arc::new(sdp),
            jobs: Arc::new(AtomicUsize::new(0)),
            draining: AtomicBool::new(false),
            observer: None,
            limiter: ratelimit::SourceLimiter::default(),
        }
    }

    /// Feeds `observer` (journal and metrics) from now on.
    pub fn with_observer(mut self, observer: Option<Arc<Observer>>) -> Self {
        self.observer = observer;
        self
    }

    pub fn observer(&self) -> Option<&Arc<Observer>> {
        self.observer.as_ref()
    }

    /// Stops taking new requests (they get 503 with Retry-After); requests
    /// of transactions and dialogs already in flight are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether anything is still in flight: running policies or
    /// transactions in progress.
    pub fn is_idle(&self) -> bool {
        self.jobs.load(Ordering::Acquire) == 0 && self.transactions.transactions_in_progress() == 0
    }

    /// Installs a new rule set and settings; transactions already running
    /// keep the policy they started with.
    pub fn replace(&self, rules: Arc<RuleSet>, settings: EngineSettings) {
        self.current.store(Arc::new(Snapshot { rules, settings }));
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn transactions(&self) -> &TransactionLayer {
        &self.transactions
    }

    pub fn sdp(&self) -> &SdpService {
        &self.sdp
    }

    /// RFC 3262 §5: the 200 to a PRACK that carries an offer carries the
    /// answer; an offer no answer can be made for gets 488.
    async fn answer_prack_offer(
        &self,
        mut transaction: crate::transaction::ServerTransaction,
        request: &Request,
        listener: &ListenerInfo,
    ) {
        let answer = self.sdp.answer(request, listener.local.ip());
        let status = if answer.is_empty() { 488 } else { 200 };
        let parts = sip::ResponseParts {
            status,
            reason: reason_phrase(status),
            extra_headers: b"",
            content_type: Some("application/sdp"),
            body: answer.as_bytes(),
        };
        info!(sip.call_id = request.call_id(), sip.status = status, peer = %transaction.peer(), "PRACK with a new offer answered");
        if let Err(error) = transaction.respond(&parts).await {
            warn!(%error, "response to PRACK not sent");
        }
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Handles one framed message from any transport.
    pub async fn process_message(&self, message: Message, flow: Flow, listener: &ListenerInfo) {
        if !message.is_request() {
            let delivered = ResponseSummary::of(&message)
                .is_some_and(|r| self.transactions.receive_response(&r));
            if !delivered {
                debug!(peer = %flow.peer, sip.status = message.status(), "response matching no client transaction ignored");
            }
            return;
        }
        match Request::validate(message) {
            Ok(request) => self.dispatch(request, flow, listener).await,
            Err(rejected) => {
                if let Some(observer) = &self.observer {
                    observer.metrics.parse_error();
                }
                self.answer_malformed(&rejected, flow).await
            }
        }
    }

    async fn dispatch(&self, request: Request, flow: Flow, listener: &ListenerInfo) {
        let source = flow.clone();
        if request.method() == "ACK" {
            // The answer to a late offer arrives in the ACK (RFC 3264 §4).
            self.sdp.check_ack_answer(&request);
        }
        if let Some(limit) = self.current.load().settings.rate_limit
            && !self.limiter.admit(flow.peer.ip(), &limit)
        {
            if let Some(observer) = &self.observer {
                observer.metrics.drop("rate limited");
            }
            crate::limited!(
                RATE_LOG,
                warn!(peer = %flow.peer, per_second = limit.per_second, "source over its rate limit")
            );
            if limit.answer_503 && request.method() != "ACK" {
                self.transactions
                    .answer_statelessly(&request, flow, listener, 503, "Retry-After: 1\r\n")
                    .await;
            }
            return;
        }
        let NewRequest {
            transaction,
            dialog,
            early_dialog,
        } = match self.transactions.receive(&request, flow, listener).await {
            Received::Handled => return,
            Received::PrackOffer(transaction) => {
                return self
                    .answer_prack_offer(*transaction, &request, listener)
                    .await;
            }
            Received::New(new) => *new,
        };
        let observed = self.observer.as_ref().map(|observer| {
            (
                observer.clone(),
                observer.request(&request, source.peer, source.transport),
            )
        });
        if dialog.is_none() && !early_dialog && self.draining.load(Ordering::Acquire) {
            return refuse(transaction, &request, observed, 503, "Retry-After: 5\r\n").await;
        }
        let snapshot = self.current.load_full();
        let input = MatchInput {
            request: &request,
            source: source.peer,
            transport: source.transport,
        };
        if let Some(refusal) = protocol::refusal(
            &request,
            &snapshot.rules,
            snapshot.settings.allowed_methods.as_deref(),
            snapshot.settings.reliable_provisionals,
            &input,
        ) {
            return refuse(
                transaction,
                &request,
                observed,
                refusal.status,
                &refusal.extra_headers,
            )
            .await;
        }
        let selected = match (&dialog, snapshot.rules.find(&input)) {
            (_, Some(selected)) => selected,
            // §12.2.2: in-dialog requests no rule answers get 200.
            (Some(dialog), None) => protocol::in_dialog_default(&request, dialog),
            (None, None) if early_dialog => protocol::early_dialog_default(),
            (None, None) => snapshot.rules.fallback_selection(),
        };
        if matches!(*selected.policy, ReplyPolicy::Drop) {
            if let Some((observer, id)) = &observed {
                observer.rule(*id, &selected.rule);
                observer.metrics.drop("rule");
            }
            info!(event = "dropped", rule = &*selected.rule, sip.method = request.method(), sip.call_id = request.call_id(), peer = %source.peer, "request dropped by rule");
            return;
        }
        let context = ServerContext::new(
            transaction,
            selected.rule.clone(),
            request.method(),
            request.call_id(),
        )
        .observed_by(observed);
        let sends_reliably =
            protocol::sends_reliably(&request, snapshot.settings.reliable_provisionals);
        let job = runner::Job {
            guard: JobGuard::new(&self.jobs),
            sends_reliably,
            provisionals: None,
            context,
            selected,
            request,
            dialog,
            source,
            sent_by: listener.sent_by.clone(),
            services: runner::Services {
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

    /// RFC 3261 §8.2 / §16.3: a request that cannot be processed gets 400
    /// (or 505) with the defect in the reason phrase, when it can be routed.
    async fn answer_malformed(&self, rejected: &Rejected, flow: Flow) {
        let peer = flow.peer;
        let transport = flow.transport.name();
        let data = sip::excerpt(rejected.message.as_bytes());
        let is_ack = rejected.message.method() == Some("ACK");
        // Over a connection an answer always reaches the sender; over UDP it
        // needs a top Via to go back to.
        let routable = rejected.top_via().is_some() || flow.transport.is_reliable();
        let status = rejected.status().filter(|_| !is_ack && routable);
        let Some(status) = status else {
            crate::limited!(
                MALFORMED_LOG,
                warn!(%peer, transport, error = %rejected.error, %data, "dropped malformed request: no response can be routed")
            );
            return;
        };
        let reason = match status {
            400 => format!("{} ({})", reason_phrase(status), rejected.error),
            _ => reason_phrase(status).to_owned(),
        };
        crate::limited!(
            MALFORMED_LOG,
            warn!(%peer, transport, sip.status = status, error = %rejected.error, %data, "rejected malformed request")
        );
        let sent = if rejected.top_via().is_some() {
            self.transactions
                .answer_rejected(rejected, flow, status, &reason)
                .await
        } else {
            self.transactions
                .answer_minimal(&flow, status, &reason)
                .await
        };
        if let Err(error) = sent {
            warn!(%peer, %error, "could not send the answer to a malformed request");
        }
    }
}

/// Answers a request the rules never see (protocol checks, draining) with
/// `status` and extra header lines, as the "protocol" rule.
async fn refuse(
    transaction: crate::transaction::ServerTransaction,
    request: &Request,
    observed: Option<(Arc<Observer>, u64)>,
    status: u16,
    extra_headers: &str,
) {
    let mut context = ServerContext::new(
        transaction,
        protocol::RULE.into(),
        request.method(),
        request.call_id(),
    )
    .observed_by(observed);
    let options = ReplyOptions {
        status: Some(status),
        extra_headers: extra_headers.as_bytes(),
        ..ReplyOptions::default()
    };
    if let Err(error) = context.reply(options).await {
        warn!(%error, sip.status = status, "could not send a refusal");
    }
}

impl MessageHandler for Engine {
    async fn handle_datagram(&self, data: &[u8], flow: Flow, listener: &ListenerInfo) {
        let limits = self.current.load().settings.limits;
        match sip::parse_datagram(data, &limits) {
            Ok(message) => self.process_message(message, flow, listener).await,
            Err(sip::ParseError::Empty) => {} // CRLF keep-alive
            Err(error) => {
                if let Some(observer) = &self.observer {
                    observer.metrics.parse_error();
                    observer.metrics.drop("unparseable");
                }
                crate::limited!(
                    UNPARSEABLE_LOG,
                    warn!(
                        peer = %flow.peer,
                        transport = flow.transport.name(),
                        %error,
                        data = %sip::excerpt(data),
                        "dropped unparseable message"
                    )
                );
                // RFC 7118 §5.1: over WebSocket the sender is known, so a
                // message that holds no SIP message still gets 400.
                if flow.transport.is_reliable() {
                    let reason = format!("{} ({error})", reason_phrase(400));
                    let _ = self.transactions.answer_minimal(&flow, 400, &reason).await;
                }
            }
        }
    }

    fn refused_source(&self, peer: std::net::SocketAddr, listener: &ListenerInfo) {
        if let Some(observer) = &self.observer {
            observer.metrics.drop("source not allowed");
        }
        crate::limited!(
            REFUSED_LOG,
            debug!(%peer, local = %listener.local, "source not in allow_sources: dropped")
        );
    }

    async fn handle_message(&self, message: Message, flow: Flow, listener: &ListenerInfo) {
        self.process_message(message, flow, listener).await;
    }

    async fn handle_unframeable(
        &self,
        head: Option<Message>,
        error: sip::ParseError,
        flow: Flow,
        _listener: &ListenerInfo,
    ) {
        match head.filter(Message::is_request) {
            Some(message) => {
                self.answer_malformed(&Rejected { message, error }, flow)
                    .await
            }
            None => {
                let reason = format!("{} ({error})", reason_phrase(400));
                let _ = self.transactions.answer_minimal(&flow, 400, &reason).await;
            }
        }
    }
}
