//! ServerContext: the per-request reply handle with the four SIP.js verbs
//! (progress, accept, reject, reply), their ranges and defaults, and the
//! events each response emits.

use thiserror::Error;

use crate::events::{self, EventContext};
use crate::observe::Observer;
use crate::sip::{Cause, ResponseParts, Verb, reason_phrase};
use crate::transaction::ServerTransaction;
use crate::transport;

/// Why a verb could not send.
#[derive(Debug, Error)]
pub enum ContextError {
    #[error("status {status} is outside {verb}'s range", verb = verb.name())]
    OutOfRange { verb: Verb, status: u16 },
    #[error("a final response ({0}) was already sent")]
    AlreadyFinal(u16),
    #[error(transparent)]
    Transport(#[from] transport::Error),
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
    rule: std::sync::Arc<str>,
    method: Box<str>,
    call_id: Box<str>,
    final_status: Option<u16>,
    /// The journal record of the request, when the admin listener is on.
    observed: Option<(std::sync::Arc<Observer>, u64)>,
}

impl ServerContext {
    pub fn new(
        transaction: ServerTransaction,
        rule: std::sync::Arc<str>,
        method: &str,
        call_id: &str,
    ) -> Self {
        Self {
            transaction,
            rule,
            method: method.into(),
            call_id: call_id.into(),
            final_status: None,
            observed: None,
        }
    }

    /// Journals every response of this context under record `id`.
    pub fn observed_by(mut self, observer: Option<(std::sync::Arc<Observer>, u64)>) -> Self {
        if let Some((observer, id)) = &observer {
            observer.rule(*id, &self.rule);
        }
        self.observed = observer;
        self
    }

    /// A provisional response (100–199, default 180 Ringing).
    pub async fn progress(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.send(Verb::Progress, options).await
    }

    /// A success response (200–299, default 200 OK).
    pub async fn accept(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.send(Verb::Accept, options).await
    }

    /// A failure response (300–699, default 480 Temporarily Unavailable).
    pub async fn reject(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.send(Verb::Reject, options).await
    }

    /// Any response (100–699); the status is mandatory.
    pub async fn reply(&mut self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        self.send(Verb::Reply, options).await
    }

    /// Runs `verb` with `options` (what a policy step renders to).
    pub async fn respond(
        &mut self,
        verb: Verb,
        options: ReplyOptions<'_>,
    ) -> Result<(), ContextError> {
        self.send(verb, options).await
    }

    /// The final status sent, if any.
    pub fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// The transaction this context answers through.
    pub fn transaction(&mut self) -> &mut ServerTransaction {
        &mut self.transaction
    }

    /// The name of the rule that answers.
    pub fn rule(&self) -> &std::sync::Arc<str> {
        &self.rule
    }

    /// A CANCEL arrived before the final response (RFC 3261 §9.2): 487
    /// Request Terminated, and `failed` with cause Canceled.
    pub async fn terminate_canceled(&mut self) -> Result<(), ContextError> {
        if let Some(final_status) = self.final_status {
            return Err(ContextError::AlreadyFinal(final_status));
        }
        let parts = ResponseParts {
            status: 487,
            reason: reason_phrase(487),
            ..ResponseParts::default()
        };
        self.final_status = Some(487);
        let sent = self.transaction.respond(&parts).await;
        if let Some((observer, id)) = &self.observed {
            observer.response(*id, &self.rule, 487, parts.reason);
        }
        self.fail(Cause::Canceled);
        sent.map_err(Into::into)
    }

    /// Emits `failed` with a cause that is not a response.
    pub fn fail(&self, cause: Cause) {
        events::failed(&self.event_context(), cause);
    }

    async fn send(&mut self, verb: Verb, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        let status = options
            .status
            .or(verb.default_status())
            .ok_or(ContextError::OutOfRange { verb, status: 0 })?;
        if !verb.allows(status) {
            return Err(ContextError::OutOfRange { verb, status });
        }
        if let Some(final_status) = self.final_status {
            return Err(ContextError::AlreadyFinal(final_status));
        }
        let parts = ResponseParts {
            status,
            reason: options.reason.unwrap_or_else(|| reason_phrase(status)),
            extra_headers: options.extra_headers,
            content_type: options.content_type,
            body: options.body,
        };
        if let Err(error) = self.transaction.respond(&parts).await {
            self.fail(Cause::ConnectionError);
            return Err(error.into());
        }
        if status >= 200 {
            self.final_status = Some(status);
        }
        if let Some((observer, id)) = &self.observed {
            observer.response(*id, &self.rule, status, parts.reason);
        }
        events::response_sent(&self.event_context(), status);
        Ok(())
    }

    fn event_context(&self) -> EventContext<'_> {
        EventContext {
            observer: self.observed.as_ref().map(|(o, _)| o.as_ref()),
            rule: &self.rule,
            method: &self.method,
            call_id: &self.call_id,
            peer: self.transaction.peer(),
            transport: self.transaction.transport(),
        }
    }
}
