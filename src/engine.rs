//! Dispatch: an incoming message → validation → the rule set snapshot → a
//! ServerContext running the chosen policy.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::context::{ReplyOptions, ServerContext};
use crate::rules::{MatchInput, ReplyPolicy, RuleSet, Selected};
use crate::sip::{self, Limits, Message, Rejected, Request, ResponseParts, reason_phrase};
use crate::transaction::ServerTransaction;
use crate::transport::{DatagramHandler, Flow, ListenerInfo};

/// Settings the engine applies to every message.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub limits: Limits,
    pub force_rport: bool,
    /// `Server: …\r\n`, rendered once.
    pub server_header: Bytes,
}

impl EngineSettings {
    pub fn new(limits: Limits, force_rport: bool, user_agent: &str) -> Self {
        Self {
            limits,
            force_rport,
            server_header: Bytes::from(format!("Server: {user_agent}\r\n")),
        }
    }
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
}

impl Engine {
    pub fn new(rules: RuleSet, settings: EngineSettings) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot { rules, settings }),
        }
    }

    /// Installs a new rule set and settings; requests already being handled
    /// keep the snapshot they started with.
    pub fn replace(&self, rules: RuleSet, settings: EngineSettings) {
        self.current.store(Arc::new(Snapshot { rules, settings }));
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Handles one framed message from any transport.
    pub async fn handle_message(&self, message: Message, flow: Flow, listener: &ListenerInfo) {
        let snapshot = self.current.load();
        if !message.is_request() {
            debug!(peer = %flow.peer, status = message.status(), "response with no client transaction ignored");
            return;
        }
        match Request::validate(message) {
            Ok(request) => dispatch(&snapshot, request, flow, listener).await,
            Err(rejected) => answer_malformed(&snapshot.settings, &rejected, flow).await,
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

async fn dispatch(snapshot: &Snapshot, request: Request, flow: Flow, listener: &ListenerInfo) {
    // RFC 3261 §17.2.1: ACK is never answered.
    if request.method() == "ACK" {
        return;
    }
    let input = MatchInput {
        request: &request,
        source: flow.peer,
        transport: flow.transport,
    };
    let settings = &snapshot.settings;
    if let Some(refusal) = protocol_refusal(&request) {
        let transaction = ServerTransaction::new(&request, flow, listener, settings.server_header.clone(), settings.force_rport);
        let mut context = ServerContext::new(transaction, PROTOCOL_RULE.into(), request.method(), request.call_id());
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
    let Selected { rule, policy } = snapshot.rules.select(&input);
    if matches!(*policy, ReplyPolicy::Drop) {
        info!(event = "dropped", rule = &*rule, method = request.method(), call_id = request.call_id(), peer = %flow.peer, "request dropped by rule");
        return;
    }
    let transaction = ServerTransaction::new(&request, flow, listener, settings.server_header.clone(), settings.force_rport);
    let mut context = ServerContext::new(transaction, rule, request.method(), request.call_id());
    let is_invite = request.method() == "INVITE";
    if policy.steps().all(|s| s.delay.is_zero()) {
        run_policy(&mut context, &policy, is_invite).await;
    } else {
        tokio::spawn(async move { run_policy(&mut context, &policy, is_invite).await });
    }
}

/// The rule name events carry for answers the protocol checks give.
const PROTOCOL_RULE: &str = "protocol";

/// A request the rules never see, and how it is answered.
struct Refusal {
    status: u16,
    extra_headers: String,
}

/// RFC 3261 §8.2.1–§8.2.2 checks a UAS makes before looking at the request.
fn protocol_refusal(request: &Request) -> Option<Refusal> {
    // §8.2.2.1: 416 for a Request-URI scheme the UAS does not support.
    let scheme = sip::scheme(request.uri()).unwrap_or("");
    if !["sip", "sips", "tel"].iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Some(Refusal {
            status: 416,
            extra_headers: String::new(),
        });
    }
    // §8.2.2.3: every Require option is unsupported (no extension is
    // implemented); ACK and CANCEL are exempt. Proxy-Require is for proxies.
    if request.method() != "CANCEL" {
        let unsupported: Vec<&str> = request
            .header_values(sip::HeaderName::Require)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .collect();
        if !unsupported.is_empty() {
            return Some(Refusal {
                status: 420,
                extra_headers: format!("Unsupported: {}\r\n", unsupported.join(", ")),
            });
        }
    }
    None
}

/// Sends the policy's steps in order, each after its delay.
async fn run_policy(context: &mut ServerContext, policy: &ReplyPolicy, is_invite: bool) {
    // RFC 3261 §17.2.1: an INVITE whose first answer is not immediate gets
    // 100 Trying at once, so the client stops retransmitting.
    if is_invite && !policy.first_response_is_immediate() {
        let trying = ReplyOptions {
            status: Some(100),
            ..ReplyOptions::default()
        };
        if let Err(error) = context.progress(trying).await {
            warn!(%error, "could not send 100 Trying");
        }
    }
    for step in policy.steps() {
        if !step.delay.is_zero() {
            tokio::time::sleep(step.delay).await;
        }
        if let Err(error) = context.run_step(step).await {
            warn!(%error, status = step.status, "response not sent");
            return;
        }
    }
}

/// RFC 3261 §8.2 / §16.3: a request that cannot be processed gets 400 (or
/// 505) with the defect in the reason phrase, when the answer can be routed.
async fn answer_malformed(settings: &EngineSettings, rejected: &Rejected, flow: Flow) {
    let peer = flow.peer;
    let transport = flow.transport.name();
    let data = sip::excerpt(rejected.message.as_bytes());
    let is_ack = rejected.message.method() == Some("ACK");
    let transaction = rejected
        .status()
        .filter(|_| !is_ack)
        .and_then(|status| Some((status, ServerTransaction::for_rejected(rejected, flow, settings.server_header.clone(), settings.force_rport)?)));
    let Some((status, mut transaction)) = transaction else {
        warn!(%peer, transport, error = %rejected.error, %data, "dropped malformed request: no response can be routed");
        return;
    };
    let reason = match status {
        400 => format!("{} ({})", reason_phrase(status), rejected.error),
        _ => reason_phrase(status).to_owned(),
    };
    let parts = ResponseParts {
        status,
        reason: &reason,
        ..ResponseParts::default()
    };
    warn!(%peer, transport, status, error = %rejected.error, %data, "rejected malformed request");
    if let Err(error) = transaction.respond(&parts).await {
        warn!(%peer, %error, "could not send the answer to a malformed request");
    }
}
