//! ServerContext: the per-request reply handle with the four SIP.js verbs
//! (progress, accept, reject, reply), their ranges and defaults, and the
//! reporter that turns everything its transaction sends into events.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tracing::info;

use crate::engine::protocol;
use crate::events::{self, EventContext};
use crate::observe::{AuthRefusal, Endpoints, Observer};
use crate::rules::{NearMiss, RenderedStep};
use crate::sip::{Cause, Request, ResponseParts, Verb, reason_phrase};
use crate::transaction::{
    ClientOutcome, Dialog, Ended, NoAnswer, Report, RespondError, SentResponse, ServerTransaction,
};
use crate::transport::{self, Flow};

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
    /// Where the call's media reports (`None`: nowhere).
    media: Option<Arc<dyn crate::media::MediaReport>>,
}

impl ServerContext {
    /// Answers through `transaction` on behalf of `rule` (everything the
    /// transaction sends goes to the reporter the layer gave it).
    pub fn new(transaction: ServerTransaction, rule: Arc<str>) -> Self {
        Self {
            transaction,
            rule,
            media: None,
        }
    }

    /// What the call's media reports through (the request's
    /// [`EventReporter`]; without one, media reports nothing).
    pub fn with_media_report(mut self, media: Arc<dyn crate::media::MediaReport>) -> Self {
        self.media = Some(media);
        self
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
        let parts = parts(verb, &options)?;
        self.transaction.respond(&parts).await?;
        Ok(())
    }

    /// One failure response (`reject`'s range) sent once, with no
    /// transaction state kept (a challenge: RFC 3261 §26.3.2.4).
    pub async fn respond_once(self, options: ReplyOptions<'_>) -> Result<(), ContextError> {
        let parts = parts(Verb::Reject, &options)?;
        self.transaction.respond_once(&parts).await?;
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

    /// Resolves once the transaction is over, with the dialog its 2xx
    /// created (early media lives until then).
    pub fn settled(
        &self,
    ) -> impl std::future::Future<Output = Option<Arc<Dialog>>> + Send + 'static {
        self.transaction.settled()
    }

    /// What the call's media (digits, its end) reports through.
    pub fn media_report(&self) -> Arc<dyn crate::media::MediaReport> {
        self.media
            .clone()
            .unwrap_or_else(|| Arc::new(crate::media::QuietMedia))
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

/// What `verb` with `options` sends: the verb's default status and the
/// status's reason phrase filled in; an error when the verb does not allow
/// the status.
pub(crate) fn parts<'a>(
    verb: Verb,
    options: &ReplyOptions<'a>,
) -> Result<ResponseParts<'a>, ContextError> {
    let status = options
        .status
        .or(verb.default_status())
        .ok_or(ContextError::OutOfRange { verb, status: 0 })?;
    if !verb.allows(status) {
        return Err(ContextError::OutOfRange { verb, status });
    }
    Ok(ResponseParts {
        status,
        reason: options.reason.unwrap_or_else(|| reason_phrase(status)),
        extra_headers: options.extra_headers,
        content_type: options.content_type,
        body: options.body,
    })
}

/// Reports what becomes of one request: journal, metrics and the
/// `progress` / `accepted` / `rejected` / `failed` events of everything its
/// transaction sends. Made when the request arrives; the transaction layer
/// tells it whether the request is new (then it is journalled) and what
/// it sends; the engine names the rule that answers. When nothing counts
/// or logs (no admin listener, events below the log level) it only names
/// the rule, so a request costs no more.
#[derive(Debug)]
pub struct EventReporter {
    /// The rule that answers, once one does (a rule, the fallback, a
    /// protocol check, a dialog's default). Before that, the layer answers.
    rule: OnceLock<Arc<str>>,
    scope: Option<Arc<str>>,
    /// `None`: quiet.
    noisy: Option<Box<Noisy>>,
}

/// What events and the journal need of a request.
#[derive(Debug)]
struct Noisy {
    method: Box<str>,
    call_id: Box<str>,
    endpoints: Endpoints,
    observer: Option<Arc<Observer>>,
    /// The journal record, once the layer took the request as new.
    record: OnceLock<u64>,
}

impl EventReporter {
    /// The reporter of `request`, received over `flow`, in `scope`.
    pub fn new(
        request: &Request,
        flow: &Flow,
        scope: Option<&str>,
        observer: Option<Arc<Observer>>,
    ) -> Self {
        let noisy = (observer.is_some() || events::enabled()).then(|| {
            Box::new(Noisy {
                method: request.method().into(),
                call_id: request.call_id().into(),
                endpoints: Endpoints {
                    transport: flow.transport,
                    source: flow.peer,
                    destination: flow.local,
                },
                observer,
                record: OnceLock::new(),
            })
        });
        Self {
            rule: OnceLock::new(),
            scope: scope.map(Arc::from),
            noisy,
        }
    }

    /// `rule` answers the request (the first rule named stays).
    pub fn choose(&self, rule: Arc<str>) {
        if let Some((observer, id)) = self.journalled() {
            observer.rule(id, &rule);
        }
        let _ = self.rule.set(rule);
    }

    /// Whether the request is in the journal.
    pub fn is_journalled(&self) -> bool {
        self.journalled().is_some()
    }

    /// Who the request authenticated as (journal and metrics).
    pub fn authenticated(&self, user: &str, realm: &str) {
        if let Some(observer) = self.observer() {
            observer.authenticated(self.record(), user, realm);
        }
    }

    /// The request's credentials were refused (journal and metrics).
    pub fn auth_refused(&self, refusal: &AuthRefusal<'_>) {
        if let Some(observer) = self.observer() {
            observer.auth_refused(self.record(), refusal);
        }
    }

    /// The journal id of the request, once the layer took it as new.
    fn record(&self) -> Option<u64> {
        self.noisy.as_ref()?.record.get().copied()
    }

    /// The rules that came closest, for a request no rule took.
    pub fn near_misses(&self, misses: Vec<NearMiss>) {
        if let Some((observer, id)) = self.journalled() {
            observer.near_misses(id, misses);
        }
    }

    /// Nothing more will be sent for the request (it was dropped).
    pub fn finish(&self) {
        if let Some((observer, id)) = self.journalled() {
            observer.finish(id);
        }
    }

    fn observer(&self) -> Option<&Observer> {
        self.noisy.as_ref()?.observer.as_deref()
    }

    fn journalled(&self) -> Option<(&Observer, u64)> {
        let noisy = self.noisy.as_ref()?;
        Some((noisy.observer.as_deref()?, *noisy.record.get()?))
    }

    /// The rule answering, or `protocol` for the layer's own answers.
    fn answering(&self) -> &str {
        self.rule.get().map_or(protocol::RULE, |rule| rule)
    }

    fn event_context<'a>(&'a self, noisy: &'a Noisy) -> EventContext<'a> {
        EventContext {
            observer: noisy.observer.as_deref(),
            rule: self.answering(),
            method: &noisy.method,
            call_id: &noisy.call_id,
            peer: noisy.endpoints.source,
            transport: noisy.endpoints.transport,
        }
    }
}

impl Report for EventReporter {
    fn rule(&self) -> Arc<str> {
        self.rule
            .get()
            .cloned()
            .unwrap_or_else(|| protocol::RULE.into())
    }

    fn scope(&self) -> Option<Arc<str>> {
        self.scope.clone()
    }

    fn received(&self, request: &Request) {
        let Some(noisy) = &self.noisy else {
            return;
        };
        if let Some(observer) = &noisy.observer {
            let id = observer.request(request, noisy.endpoints, self.scope.as_deref());
            let _ = noisy.record.set(id);
        }
    }

    fn retransmission(&self) {
        if let Some((observer, id)) = self.journalled() {
            observer.retransmission(id);
        }
    }

    fn response(&self, sent: &SentResponse<'_>) {
        let Some(noisy) = &self.noisy else {
            return;
        };
        if let Some((observer, id)) = self.journalled() {
            observer.response(id, self.answering(), sent);
        } else if let Some(observer) = self.observer() {
            observer.metrics.response(self.answering(), sent.status);
        }
        // The layer logs its own answers before any rule; events are the
        // ServerContext's.
        if self.rule.get().is_none() {
            return;
        }
        match sent.cause {
            None => events::response_sent(&self.event_context(noisy), sent.status),
            Some(cause) => events::failed(&self.event_context(noisy), cause),
        }
    }

    fn failed(&self, cause: Cause) {
        if let Some(noisy) = &self.noisy {
            events::failed(&self.event_context(noisy), cause);
        }
    }

    fn bye_sent(&self, why: &str, outcome: &ClientOutcome) {
        let call_id = self.noisy.as_ref().map_or("", |noisy| &*noisy.call_id);
        info!(sip.call_id = call_id, rule = self.answering(), reason = why, outcome = ?outcome, "sent BYE");
    }
}

impl Drop for EventReporter {
    /// Whatever was not finished yet (an ACK, a transaction that ended
    /// without a final response) is complete now.
    fn drop(&mut self) {
        self.finish();
    }
}

impl crate::media::MediaReport for EventReporter {
    fn hold_record(&self) {
        if let Some((observer, id)) = self.journalled() {
            observer.media_hold(id);
        }
    }

    fn release_record(&self) {
        if let Some((observer, id)) = self.journalled() {
            observer.media_release(id);
        }
    }

    fn dtmf(&self, digit: crate::media::Digit, source: crate::media::DtmfSource) {
        let Some(noisy) = &self.noisy else {
            return;
        };
        if let Some(observer) = self.observer() {
            observer.dtmf(noisy.record.get().copied(), digit, source);
        }
        let ctx = self.event_context(noisy);
        events::dtmf(&ctx, digit.digit, digit.duration_ms, source.as_str());
    }

    fn media_ended(&self, summary: &crate::media::MediaSummary<'_>) {
        let Some(noisy) = &self.noisy else {
            return;
        };
        if let Some((observer, id)) = self.journalled() {
            observer.media_ended(id, summary);
        }
        events::media_ended(&self.event_context(noisy), summary);
    }
}
