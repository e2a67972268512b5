//! The handle a transaction user answers one request with. It only sends
//! what the user asks; the duties around it are the layer's: 100 Trying
//! before a wait, `Require: 100rel`/RSeq and one reliable provisional
//! response at a time (RFC 3262), the dialog a 2xx creates (§13.3.1.4),
//! session timer terms (RFC 4028), and the wait for PRACK or CANCEL.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tokio::time::Instant;

use super::Core;
use super::dialog::{Dialog, DialogSeed, DialogStart};
use super::fsm::Phase;
use super::key::TransactionKey;

use super::report::{Ended, Reporter};
use super::server::{Machine, NoAnswer, TxShared};
use super::session_timer::SessionTerms;
use super::table::Completed;
use crate::sip::{Cause, ResponseParts, Transport};
use crate::transport::{self, Flow};

#[path = "handle_prack.rs"]
mod prack;

/// `max_transactions` transactions are in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the transaction table is full")]
pub struct TableFull;

/// Why a response was not sent.
#[derive(Debug, Error)]
pub enum RespondError {
    #[error("the transaction is over: {0}")]
    Ended(Ended),
    #[error(transparent)]
    Transport(#[from] transport::Error),
}

/// What a PRACK registration needs (RFC 3262), taken at open.
#[derive(Debug)]
pub(crate) struct PrackSeed {
    pub(crate) call_id: Box<str>,
    /// Our tag in the early dialog: the transaction's, or a re-INVITE's
    /// dialog tag.
    pub(crate) local_tag: Box<str>,
    pub(crate) remote_tag: Box<str>,
    /// The INVITE carried an offer.
    pub(crate) offer: bool,
}

/// What a transaction needs beyond its shared state.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// An initial INVITE's dialog-to-be.
    pub(crate) seed: Option<DialogSeed>,
    /// An in-dialog request's dialog.
    pub(crate) dialog: Option<Arc<Dialog>>,
    /// The session timer a 2xx grants (INVITE, UPDATE).
    pub(crate) session: Option<SessionTerms>,
    /// Provisional responses go reliably.
    pub(crate) prack: Option<PrackSeed>,
}

/// Answers one request.
#[derive(Debug)]
pub struct ServerTransaction {
    core: Arc<Core>,
    key: Option<TransactionKey>,
    shared: Arc<TxShared>,
    extras: Extras,
    buf: Vec<u8>,
    /// The table entry was completed or removed (or belongs to an INVITE's
    /// driver, except for a 2xx).
    settled: bool,
    /// In the table (or never to be: answered statelessly).
    stored: bool,
}

impl ServerTransaction {
    pub(crate) fn new(
        core: Arc<Core>,
        key: Option<TransactionKey>,
        shared: Arc<TxShared>,
        extras: Extras,
    ) -> Self {
        Self {
            core,
            settled: key.is_none() || shared.is_invite,
            stored: key.is_none(),
            key,
            shared,
            extras,
            buf: Vec::with_capacity(512),
        }
    }

    /// Stores the transaction, so retransmissions of its request are
    /// answered from it and its rule never runs twice (an INVITE's driver
    /// starts). `Err` when `max_transactions` are in progress: answer 503.
    pub fn store(&mut self) -> Result<(), TableFull> {
        let Some(key) = self.key.filter(|_| !self.stored) else {
            return Ok(());
        };
        let max = self.shared.settings.max_transactions;
        let inserted = self
            .core
            .table()
            .insert(key, self.shared.clone(), max, Instant::now());
        if inserted.is_err() {
            self.core.bounds.hit(super::Bound::Transactions);
            self.key = None;
            self.stored = true;
            self.settled = true;
            return Err(TableFull);
        }
        self.stored = true;
        if self.shared.is_invite {
            let (core, driven) = (self.core.clone(), self.shared.clone());
            tokio::spawn(async move { super::driver::drive(core, key, driven).await });
        }
        Ok(())
    }

    /// A request whose rule has no side effects is answered without state:
    /// a retransmission runs the rule again and gets the same bytes (its
    /// To-tag is derived from the request). Only before the first response.
    pub fn answer_statelessly(&mut self) {
        if !self.stored && !self.shared.is_invite {
            self.key = None;
            self.stored = true;
            self.settled = true;
        }
    }

    /// Everything this transaction (and its dialog) sends is reported here.
    pub fn set_reporter(&self, reporter: Reporter) {
        self.shared.set_reporter(reporter);
    }

    /// The final response when an INVITE rings for the ring timeout.
    pub fn set_no_answer(&self, no_answer: NoAnswer) {
        let _ = self.shared.no_answer.set(no_answer);
    }

    /// Waits `delay` before the next response: an INVITE that has sent
    /// nothing gets 100 Trying first (§17.2.1). Ends early when the layer
    /// ended the transaction (CANCEL, ring timeout, no PRACK).
    pub async fn wait(&mut self, delay: Duration) -> Result<(), Ended> {
        self.check_open()?;
        if delay.is_zero() {
            return Ok(());
        }
        // A wait is state: retransmissions meanwhile must find it.
        let _ = self.store();
        if self.shared.is_invite {
            self.shared.send_trying().await;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => self.check_open(),
            ended = self.shared.ended() => Err(ended),
        }
    }

    /// Sends one response, with what the layer adds to it.
    pub async fn respond(&mut self, parts: &ResponseParts<'_>) -> Result<(), RespondError> {
        self.check_open().map_err(RespondError::Ended)?;
        // Neither stored nor declared stateless: keep state (the safe side);
        // a full table then leaves it stateless.
        let _ = self.store();
        let status = parts.status;
        let mut extra: Cow<'_, [u8]> = Cow::Borrowed(parts.extra_headers);
        let rseq = self.reliably(parts, &mut extra).await?;
        let success = (200..300).contains(&status);
        if success && let Some(terms) = self.extras.session {
            extra
                .to_mut()
                .extend_from_slice(terms.header_lines().as_bytes());
        }
        // §13.3.1.4: the dialog exists before its 2xx leaves, so an ACK or
        // BYE that overtakes the rest of this task finds it.
        let created = match self.extras.seed.take() {
            Some(seed) if success && self.shared.is_invite => Some(self.create_dialog(seed, parts)),
            seed => {
                self.extras.seed = seed;
                None
            }
        };
        let parts = ResponseParts {
            extra_headers: &extra,
            ..*parts
        };
        let bytes = self.shared.render(&mut self.buf, &parts);
        if !self.record(&bytes, status, rseq, created.as_ref()) {
            if let Some(dialog) = created {
                self.core.dialogs.remove(&dialog);
            }
            return Err(RespondError::Ended(self.ended_reason()));
        }
        self.shared.changed.notify_waiters();
        if let Err(error) = self.shared.flow.send(&bytes).await {
            if let Some(dialog) = created {
                self.core.dialogs.remove(&dialog);
            }
            self.transport_failed();
            return Err(error.into());
        }
        self.shared.report(&bytes, status, parts.reason, None);
        let timers = &self.shared.settings.timers;
        if status >= 200 && !self.shared.is_invite {
            let completed = self.completed(&parts, bytes);
            self.settle(completed, timers.timer_j(self.transport().is_reliable()));
        } else if success
            && self.shared.is_invite
            && let Some(key) = self.key
        {
            // RFC 6026: the Accepted transaction answers retransmitted
            // INVITEs from the cache for Timer L; its driver resends the
            // 2xx until the dialog's ACK meanwhile.
            let linger = timers.timeout();
            let completed = Completed::Resend(bytes);
            self.core
                .table()
                .complete(key, &self.shared, completed, linger, Instant::now());
        }
        if success
            && created.is_none()
            && let Some(dialog) = &self.extras.dialog
        {
            // RFC 4028 §10: an accepted re-INVITE or UPDATE refreshes.
            dialog.refreshed(self.extras.session, Instant::now());
            self.core.dialogs.schedule(dialog);
        }
        Ok(())
    }

    /// Sends one final response and keeps no state (RFC 3261 §26.3.2.4: a
    /// challenge is stateless and not retransmitted). An INVITE's
    /// transaction leaves the table and frees its dialog place: a
    /// retransmission of the request is answered anew, and the ACK for
    /// this response matches nothing and is absorbed.
    pub async fn respond_once(mut self, parts: &ResponseParts<'_>) -> Result<(), RespondError> {
        self.check_open().map_err(RespondError::Ended)?;
        if self.shared.is_invite {
            {
                let mut state = self.shared.lock();
                state.ended = Some(Ended::Final(parts.status));
                // Terminated without a response: the driver removes it.
                if let Some(fsm) = state.invite() {
                    fsm.abandon();
                }
            }
            self.shared.changed.notify_waiters();
            self.extras.seed = None;
        } else {
            self.answer_statelessly();
        }
        let bytes = self.shared.render(&mut self.buf, parts);
        self.shared.flow.send(&bytes).await?;
        self.shared.report(&bytes, parts.status, parts.reason, None);
        Ok(())
    }

    /// Records a response in the state machine; false when the transaction
    /// can take no more (a final response went).
    fn record(
        &self,
        bytes: &Bytes,
        status: u16,
        rseq: Option<u32>,
        dialog: Option<&Arc<Dialog>>,
    ) -> bool {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let taken = match &mut state.machine {
            Machine::Invite(fsm) if status < 200 => fsm.provisional(bytes.clone(), rseq, now),
            Machine::Invite(fsm) => fsm.final_response(bytes.clone(), status, now),
            Machine::NonInvite { phase, last } => {
                let open = matches!(phase, Phase::Trying | Phase::Proceeding);
                if open {
                    *phase = if status < 200 {
                        Phase::Proceeding
                    } else {
                        Phase::Completed
                    };
                    *last = Some(bytes.clone());
                }
                open
            }
        };
        if taken && status >= 200 {
            state.ended = Some(Ended::Final(status));
        }
        if taken && let Some(dialog) = dialog {
            state.dialog = Some(dialog.clone());
        }
        taken
    }

    fn create_dialog(&self, seed: DialogSeed, parts: &ResponseParts<'_>) -> Arc<Dialog> {
        let early_cseq = self
            .shared
            .lock()
            .reliable
            .as_ref()
            .map_or(0, |r| r.remote_cseq());
        // The SDP we answered with, echoed to later offers in the dialog.
        let answer = parts
            .body
            .starts_with(b"v=0")
            .then(|| Bytes::copy_from_slice(parts.body));
        let start = DialogStart {
            local_tag: self.shared.to_tag().unwrap_or_default().into(),
            reporter: self
                .shared
                .reporter()
                .cloned()
                .unwrap_or_else(|| Arc::new(super::report::Silent)),
            settings: self.shared.settings.clone(),
            answer,
            session: self.extras.session,
            early_cseq,
        };
        let dialog = Arc::new(Dialog::new(seed, start, Instant::now()));
        self.core.dialogs.insert(dialog.clone());
        dialog
    }

    /// The rule drops the request: nothing is sent, and retransmissions are
    /// absorbed (the rules do not see them again).
    pub fn discard(mut self) {
        let linger = self.shared.settings.timers.timeout();
        if self.shared.is_invite {
            if self.shared.lock().invite().is_some_and(|fsm| fsm.discard()) {
                self.shared.changed.notify_waiters();
            }
            return;
        }
        let linger = if self.transport().is_reliable() {
            std::time::Duration::ZERO
        } else {
            linger
        };
        self.settle(Completed::Absorb, linger);
    }

    /// The dialog this request belongs to, or the one its 2xx created.
    pub fn dialog(&self) -> Option<Arc<Dialog>> {
        self.extras
            .dialog
            .clone()
            .or_else(|| self.shared.lock().dialog.clone())
    }

    /// Resolves once the transaction can take no more responses, with the
    /// dialog its 2xx created (`None`: it ended without one). Early media
    /// lives until then.
    pub fn settled(&self) -> impl Future<Output = Option<Arc<Dialog>>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            shared.ended().await;
            shared.lock().dialog.clone()
        }
    }

    /// Ends the dialog with BYE `after` the 2xx (the rule's hang-up).
    pub fn hang_up_after(&self, after: Duration) {
        let dialog = self.shared.lock().dialog.clone();
        if let Some(dialog) = dialog {
            dialog.set_hangup(after, Instant::now());
            self.core.dialogs.schedule(&dialog);
        }
    }

    pub fn final_status(&self) -> Option<u16> {
        self.shared.final_status()
    }

    /// Whether provisional responses go reliably (RFC 3262): a response may
    /// then wait for a PRACK.
    pub fn sends_reliably(&self) -> bool {
        self.extras.prack.is_some()
    }

    /// Why the transaction can take no more responses, if it cannot.
    pub fn ended(&self) -> Option<Ended> {
        self.shared.lock().ended
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.shared.to_tag()
    }

    pub fn flow(&self) -> &Flow {
        &self.shared.flow
    }

    pub fn peer(&self) -> std::net::SocketAddr {
        self.shared.flow.peer
    }

    pub fn transport(&self) -> Transport {
        self.shared.flow.transport
    }

    fn check_open(&self) -> Result<(), Ended> {
        self.shared.lock().ended.map_or(Ok(()), Err)
    }

    fn ended_reason(&self) -> Ended {
        self.shared.lock().ended.unwrap_or(Ended::Transport)
    }

    /// The response could not be sent: the transaction is over.
    fn transport_failed(&mut self) {
        {
            let mut state = self.shared.lock();
            state.ended = Some(Ended::Transport);
            if let Some(fsm) = state.invite() {
                fsm.abandon();
            }
        }
        self.shared.changed.notify_waiters();
        if let Some(reporter) = self.shared.reporter() {
            reporter.failed(Cause::ConnectionError);
        }
        if !self.shared.is_invite {
            self.settle(Completed::Absorb, Duration::ZERO);
        }
    }

    /// What the completed-transaction cache keeps of a final response: a
    /// bare answer to a request that carried its To-tag is fully determined
    /// by the request (the layer's 200 to BYE, 481, 500), so only its
    /// status is kept; anything else keeps its bytes.
    fn completed(&self, parts: &ResponseParts<'_>, bytes: Bytes) -> Completed {
        let bare = parts.extra_headers.is_empty()
            && parts.body.is_empty()
            && parts.reason == crate::sip::reason_phrase(parts.status);
        if bare && self.shared.to_tag().is_none() {
            Completed::Regenerate(parts.status)
        } else {
            Completed::Resend(bytes)
        }
    }

    fn settle(&mut self, completed: Completed, linger: Duration) {
        if self.settled {
            return;
        }
        self.settled = true;
        if let Some(key) = self.key {
            self.core
                .table()
                .complete(key, &self.shared, completed, linger, Instant::now());
        }
    }
}

impl Drop for ServerTransaction {
    fn drop(&mut self) {
        if self.shared.is_invite {
            // The driver owns the rest: 100 Trying if nothing was sent,
            // then the ring timeout.
            self.shared.lock().tu_released = true;
            self.shared.changed.notify_waiters();
        } else if !self.settled
            && let Some(key) = self.key
        {
            // A transaction abandoned without a final response must not
            // hold its table slot.
            self.core.table().remove(key, &self.shared);
        }
    }
}
