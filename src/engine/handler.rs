//! What the transports hand the engine: each datagram or message is first
//! admitted by its source's rate limit (before it is parsed), then parsed
//! and validated under the snapshot loaded once for it; responses go to the
//! client transactions; malformed requests get 400 (or 505) when a
//! response can be routed, else are dropped with a rate-limited log line.

use std::sync::Arc;

use tracing::debug;

use super::{Engine, Snapshot};
use crate::ratelog::LogLimiter;
use crate::sip::{self, Message, Rejected, Request, ResponseSummary, reason_phrase};
use crate::transaction::SentResponse;
use crate::transport::{Admission, Flow, ListenerInfo, MessageHandler};

/// Floods of bad input log one line per second, with a count.
static MALFORMED_LOG: LogLimiter = LogLimiter::new(1000);
static UNPARSEABLE_LOG: LogLimiter = LogLimiter::new(1000);
static REFUSED_LOG: LogLimiter = LogLimiter::new(1000);

impl Engine {
    /// Handles one framed message from any transport, with the current
    /// snapshot.
    pub async fn process_message(&self, message: Message, flow: Flow, listener: &ListenerInfo) {
        let snapshot = self.current.load_full();
        self.process(message, flow, listener, &snapshot).await;
    }

    async fn process(
        &self,
        message: Message,
        flow: Flow,
        listener: &ListenerInfo,
        snapshot: &Arc<Snapshot>,
    ) {
        if !message.is_request() {
            let delivered = ResponseSummary::of(&message)
                .is_some_and(|r| self.transactions.receive_response(&r, &flow));
            if !delivered {
                debug!(peer = %flow.peer, sip.status = message.status(), "response matching no client transaction ignored");
            }
            return;
        }
        match Request::validate(message) {
            Ok(request) => self.dispatch(request, flow, listener, snapshot).await,
            Err(rejected) => {
                if let Some(observer) = &self.observer {
                    observer.metrics.parse_error();
                }
                // Boxed: the common path's future stays small.
                Box::pin(self.answer_malformed(&rejected, flow, snapshot)).await
            }
        }
    }

    /// RFC 3261 §8.2 / §16.3: a request that cannot be processed gets 400
    /// (or 505) with the defect in the reason phrase, when it can be routed.
    async fn answer_malformed(&self, rejected: &Rejected, flow: Flow, snapshot: &Snapshot) {
        let peer = flow.peer;
        let transport = flow.transport.name();
        let data = sip::excerpt(&crate::auth::masked_message(rejected.message.as_bytes()));
        let is_ack = rejected.message.method() == Some("ACK");
        // Over a connection an answer always reaches the sender; over UDP it
        // needs a top Via to go back to.
        let routable = rejected.top_via().is_some() || flow.transport.is_reliable();
        let status = rejected.status().filter(|_| !is_ack && routable);
        let journalled = self.observer.as_deref().map(|observer| {
            let error = rejected.error.to_string();
            (
                observer,
                observer.malformed(&rejected.message, &error, &flow),
            )
        });
        let Some(status) = status else {
            crate::limited!(
                MALFORMED_LOG,
                warn!(%peer, transport, error = %rejected.error, %data, "dropped malformed request: no response can be routed")
            );
            if let Some((observer, id)) = journalled {
                observer.finish(id);
            }
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
        let layer = &self.transactions;
        let sent = if rejected.top_via().is_some() {
            layer
                .answer_rejected(rejected, flow, &snapshot.layer, status, &reason)
                .await
        } else {
            layer
                .answer_minimal(&flow, &snapshot.layer, status, &reason)
                .await
                .map(Some)
        };
        match (sent, journalled) {
            (Ok(Some(bytes)), Some((observer, id))) => {
                let sent = SentResponse {
                    status,
                    reason: &reason,
                    bytes: &bytes,
                    cause: None,
                };
                observer.response(id, super::protocol::RULE, &sent);
            }
            (Ok(_), _) => {}
            (Err(error), _) => crate::limited!(
                MALFORMED_LOG,
                warn!(%peer, %error, "could not send the answer to a malformed request")
            ),
        }
        if let Some((observer, id)) = journalled {
            observer.finish(id);
        }
    }
}

impl MessageHandler for Engine {
    fn admit(&self, peer: std::net::SocketAddr) -> Admission {
        let Some(limit) = self.current.load().settings.rate_limit else {
            return Admission::Admit;
        };
        let admission = self.limiter.admit(peer.ip(), &limit);
        if admission != Admission::Admit {
            super::ratelimit::over_limit(self.observer.as_deref(), peer, &limit);
        }
        admission
    }

    /// RFC 3261 §21.5.4: 503 with Retry-After, statelessly; nothing else
    /// is done for a request over its source's limit.
    async fn handle_refused(&self, data: &[u8], flow: Flow, listener: &ListenerInfo) {
        let snapshot = self.current.load_full();
        if let Ok(message) = sip::parse_datagram(data, &snapshot.settings.limits)
            && let Ok(request) = Request::validate(message)
            && request.method() != "ACK"
        {
            self.transactions
                .answer_statelessly(
                    &request,
                    flow,
                    listener,
                    &snapshot.layer,
                    503,
                    "Retry-After: 1\r\n",
                )
                .await;
        }
    }

    async fn handle_datagram(&self, data: &[u8], flow: Flow, listener: &ListenerInfo) {
        let snapshot = self.current.load_full();
        // A UDP source earns credit for what it sends: what goes back to it
        // before it shows it receives is bounded by it (RFC 3261 §26.3.2.4).
        let flow = if flow.transport.is_reliable() {
            flow
        } else {
            let allowance = snapshot.settings.unverified_udp;
            self.guard.received(flow.peer.ip(), data.len(), &allowance);
            flow.metered(&self.guard, allowance, data.len())
        };
        match sip::parse_datagram(data, &snapshot.settings.limits) {
            Ok(message) => self.process(message, flow, listener, &snapshot).await,
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
                        data = %sip::excerpt(&crate::auth::masked_message(data)),
                        "dropped unparseable message"
                    )
                );
                // RFC 7118 §5.1: over WebSocket the sender is known, so a
                // message that holds no SIP message still gets 400.
                if flow.transport.is_reliable() {
                    let reason = format!("{} ({error})", reason_phrase(400));
                    let layer = &self.transactions;
                    let answer = layer.answer_minimal(&flow, &snapshot.layer, 400, &reason);
                    let _ = Box::pin(answer).await;
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
        let snapshot = self.current.load_full();
        match head.filter(Message::is_request) {
            Some(message) => {
                self.answer_malformed(&Rejected { message, error }, flow, &snapshot)
                    .await
            }
            None => {
                let reason = format!("{} ({error})", reason_phrase(400));
                let layer = &self.transactions;
                let _ = layer
                    .answer_minimal(&flow, &snapshot.layer, 400, &reason)
                    .await;
            }
        }
    }
}
