//! ServerContext: the per-request reply handle with the four SIP.js verbs
//! (progress, accept, reject, reply), their ranges and defaults, and the
//! reporter that turns everything its transaction sends into events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tracing::info;

use crate::events::{self, EventContext};
use crate::observe::Observer;
use crate::rules::RenderedStep;
use crate::sip::{Cause, Request, ResponseParts, Transport, Verb, reason_phrase};
use crate::transaction::{
    ClientOutcome, Dialog, Ended, NoAnswer, Report, RespondError, ServerTransaction,
};
use crate::transport;

/// Why a verb could not send.
#[derive(Debug, Error)]
pub enum ContextError {
    #[error("status {status} is outside {verb}'s range", verb = verb.name())]
    OutOfRange { verb: Verb, status: u16 },
    #[error("the transaction is over: {0}")]
    Ended(Ended),
    #[error(transparent)]
    Transport(#[from] transport::Error),
}

impl From<RespondError> for ContextError {
    fn from(error: RespondError) -> Self {
        match error {
            RespondError::Ended(ended) => Self::Ended(ended),
            RespondError::Transport(error) => Self::Transport(error),
        }
    }
}

/// Options of a verb call, as in SIP.js (`statusCode`, `reasonPhrase`,
/// `extraHeaders`, `body`); `None` status takes the verb's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyOptions<'a> {
    pub status: Option<u16>,
    pub reason: Option<&'a str>,
    /// Pre-rendered `Name: value\r\n` lines.
    pub extra_headers: &'a [u8],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Replies to one request.
#[derive(Debug)]
pub struct ServerContext {
    transaction: ServerTransaction,
    rule: Arc<str>,
}

impl ServerContext {
    /// Answers through `transaction`; everything it sends is reported by
    /// `reporter`.
    pub fn new(transaction: ServerTransaction, reporter: crate::transaction::Reporter) -> Self {
        let rule = reporter.rule();
        transaction.set_reporter(reporter);
        Self { transaction, rule }
    }

    /// A provisional response (100–199, default 180 Ringing).
    pub async fn progress(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.respond(Verb::Progress, options).await
    }

    /// A success response (200–299, default 200 OK).
    pub async fn accept(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.respond(Verb::Accept, options).await
    }

    /// A failure response (300–699, default 480 Temporarily Unavailable).
    pub async fn reject(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.respond(Verb::Reject, options).await
    }

    /// Any response (100–699); the status is mandatory.
    pub async fn reply(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.respond(Verb::Reply, options).await
    }

    /// Runs `verb` with `options` (what a policy step renders to).
    pub async fn respond(
        &mut self,
        verb: Verb,
        options: ReplyOptions<'_>,
    ) -> Result<(), ContextError> {
        let status = options
            .status
            .or(verb.default_status())
            .ok_or(ContextError::OutOfRange { verb, status: 0 })?;
        if !verb.allows(status) {
            return Err(ContextError::OutOfRange { verb, status });
        }
        let parts = ResponseParts {
            status,
            reason: options.reason.unwrap_or_else(|| reason_phrase(status)),
            extra_headers: options.extra_headers,
            content_type: options.content_type,
            body: options.body,
        };
        self.transaction.respond(&parts).await?;
        Ok(())
    }

    /// Waits before the next response (the step's delay); the transaction
    /// sends 100 Trying first when an INVITE has had nothing yet.
    pub async fn wait(&mut self, delay: Duration) -> Result<(), Ended> {
        self.transaction.wait(delay).await
    }

    /// The final response when an INVITE rings for the ring timeout.
    pub fn set_no_answer(&self, rendered: &RenderedStep<'_>, status: u16) {
        self.transaction.set_no_answer(NoAnswer {
            status,
            reason: rendered.reason.to_string(),
            extra_headers: Bytes::copy_from_slice(&rendered.extra_headers),
        });
    }

    /// Ends the dialog the 2xx created with BYE `after` it.
    pub fn hang_up_after(&self, after: Duration) {
        self.transaction.hang_up_after(after);
    }

    /// The dialog of the request, or the one its 2xx created.
    pub fn dialog(&self) -> Option<Arc<Dialog>> {
        self.transaction.dialog()
    }

    /// Whether provisional responses go reliably (a response may wait for a
    /// PRACK).
    pub fn sends_reliably(&self) -> bool {
        self.transaction.sends_reliably()
    }

    /// The final status sent, if any.
    pub fn final_status(&self) -> Option<u16> {
        self.transaction.final_status()
    }

    pub fn peer(&self) -> SocketAddr {
        self.transaction.peer()
    }

    /// The name of the rule that answers.
    pub fn rule(&self) -> &Arc<str> {
        &self.rule
    }
}

/// Reports nothing but the rule's name: when there is no journal or metrics
/// and the events are below the log level, a request costs no more.
#[derive(Debug)]
pub struct QuietReporter(pub Arc<str>);

impl Report for QuietReporter {
    fn rule(&self) -> Arc<str> {
        self.0.clone()
    }

    fn response(&self, _: u16, _: &str, _: Option<Cause>) {}

    fn failed(&self, _: Cause) {}

    fn bye_sent(&self, why: &str, outcome: &ClientOutcome) {
        tracing::debug!(rule = &*self.0, reason = why, outcome = ?outcome, "sent BYE");
    }
}

/// Reports what one request's transaction sends: journal, metrics and the
/// `progress` / `accepted` / `rejected` / `failed` events.
#[derive(Debug)]
pub struct EventReporter {
    rule: Arc<str>,
    method: Box<str>,
    call_id: Box<str>,
    peer: SocketAddr,
    transport: Transport,
    /// The journal record of the request, when the admin listener is on.
    observed: Option<(Arc<Observer>, u64)>,
}

impl EventReporter {
    pub fn new(
        rule: Arc<str>,
        request: &Request,
        peer: SocketAddr,
        transport: Transport,
        observed: Option<(Arc<Observer>, u64)>,
    ) -> Self {
        if let Some((observer, id)) = &observed {
            observer.rule(*id, &rule);
        }
        Self {
            rule,
            method: request.method().into(),
            call_id: request.call_id().into(),
            peer,
            transport,
            observed,
        }
    }

    fn event_context(&self) -> EventContext<'_> {
        EventContext {
            observer: self.observed.as_ref().map(|(o, _)| o.as_ref()),
            rule: &self.rule,
            method: &self.method,
            call_id: &self.call_id,
            peer: self.peer,
            transport: self.transport,
        }
    }
}

impl Report for EventReporter {
    fn rule(&self) -> Arc<str> {
        self.rule.clone()
    }

    fn response(&self, status: u16, reason: &str, cause: Option<Cause>) {
        if let Some((observer, id)) = &self.observed {
            observer.response(*id, &self.rule, status, reason);
        }
        match cause {
            None => events::response_sent(&self.event_context(), status),
            Some(cause) => events::failed(&self.event_context(), cause),
        }
    }

    fn failed(&self, cause: Cause) {
        events::failed(&self.event_context(), cause);
    }

    fn bye_sent(&self, why: &str, outcome: &ClientOutcome) {
        info!(sip.call_id = &*self.call_id, rule = &*self.rule, reason = why, outcome = ?outcome, "sent BYE");
    }
}
