//! Server transactions (RFC 3261 §17.2): the state one transaction shares
//! between the table (retransmissions, ACK, CANCEL), its INVITE driver
//! (timers) and the handle its user answers with; and the responses the
//! layer sends itself (100 Trying, 487, the ring timeout's final, 500).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

use super::dialog::Dialog;
use super::fsm::{InviteFsm, Phase};
use super::reliable::Reliable;
use super::report::{Ended, Reporter, SentResponse};
use super::settings::LayerSettings;
use crate::sip::{Cause, ResponseParts, ResponseTemplate, reason_phrase};
use crate::transport::Flow;

/// A fresh random tag of 10 alphanumeric characters (RFC 3261 §19.3 asks
/// for at least 32 bits of randomness; this has about 59).
pub fn new_tag() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..10)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// The final response the layer sends when an INVITE rings for the ring
/// timeout (the rule's `no_answer`, else 480 with a Reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    pub status: u16,
    pub reason: String,
    /// `Name: value\r\n` lines.
    pub extra_headers: Bytes,
}

impl Default for NoAnswer {
    fn default() -> Self {
        Self {
            status: 480,
            reason: reason_phrase(480).to_owned(),
            // RFC 3326: say why the callee's side gave up.
            extra_headers: Bytes::from_static(b"Reason: SIP;cause=480;text=\"No Answer\"\r\n"),
        }
    }
}

/// The state machine of one transaction.
#[derive(Debug)]
pub(crate) enum Machine {
    /// §17.2.2 (and every stateless answer): the last response, resent to
    /// retransmissions.
    NonInvite {
        phase: Phase,
        last: Option<Bytes>,
    },
    Invite(Box<InviteFsm>),
}

/// What changes over a transaction's life.
#[derive(Debug)]
pub(crate) struct TxState {
    pub(crate) machine: Machine,
    /// Why the user can no longer answer (a final response went).
    pub(crate) ended: Option<Ended>,
    /// INVITE: the user let go of its handle (the driver owes 100 Trying
    /// if nothing was sent).
    pub(crate) tu_released: bool,
    /// INVITE: the dialog whose ACK stops the 2xx retransmission.
    pub(crate) dialog: Option<Arc<Dialog>>,
    /// INVITE: its reliable provisional responses (RFC 3262), once one went.
    pub(crate) reliable: Option<Arc<Reliable>>,
}

impl TxState {
    pub(crate) fn invite(&mut self) -> Option<&mut InviteFsm> {
        match &mut self.machine {
            Machine::Invite(fsm) => Some(fsm),
            Machine::NonInvite { .. } => None,
        }
    }

    pub(crate) fn final_status(&self) -> Option<u16> {
        match &self.machine {
            Machine::Invite(fsm) => fsm.final_status(),
            Machine::NonInvite { .. } => match self.ended {
                Some(Ended::Final(status)) => Some(status),
                _ => None,
            },
        }
    }

    fn last(&self) -> Option<Bytes> {
        match &self.machine {
            Machine::Invite(fsm) => fsm.retransmission(),
            Machine::NonInvite { last, .. } => last.clone(),
        }
    }
}

/// What the table, the driver and the handle share of one transaction.
#[derive(Debug)]
pub(crate) struct TxShared {
    /// Where responses go.
    pub(crate) flow: Flow,
    /// A stateful INVITE transaction (with a driver).
    pub(crate) is_invite: bool,
    /// The request's CSeq number (an INVITE's ACK carries it).
    pub(crate) cseq: u32,
    pub(crate) template: Arc<ResponseTemplate>,
    /// The settings the transaction started with.
    pub(crate) settings: Arc<LayerSettings>,
    state: Mutex<TxState>,
    /// Wakes the driver and the user's waits on every change.
    pub(crate) changed: Notify,
    reporter: OnceLock<Reporter>,
    pub(crate) no_answer: OnceLock<NoAnswer>,
}

impl TxShared {
    pub(crate) fn new(
        flow: Flow,
        invite: bool,
        cseq: u32,
        template: Arc<ResponseTemplate>,
        settings: Arc<LayerSettings>,
    ) -> Self {
        let machine = if invite {
            let fsm = InviteFsm::new(
                Instant::now(),
                settings.timers,
                settings.ring_timeout,
                flow.transport.is_reliable(),
            );
            Machine::Invite(Box::new(fsm))
        } else {
            Machine::NonInvite {
                phase: Phase::Trying,
                last: None,
            }
        };
        Self {
            flow,
            is_invite: invite,
            cseq,
            template,
            settings,
            state: Mutex::new(TxState {
                machine,
                ended: None,
                tu_released: false,
                dialog: None,
                reliable: None,
            }),
            changed: Notify::new(),
            reporter: OnceLock::new(),
            no_answer: OnceLock::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TxState> {
        // A poisoned lock only means another task panicked mid-update; the
        // state is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.template.to_tag()
    }

    pub(crate) fn final_status(&self) -> Option<u16> {
        self.lock().final_status()
    }

    pub(crate) fn set_reporter(&self, reporter: Reporter) {
        let _ = self.reporter.set(reporter);
    }

    pub(crate) fn reporter(&self) -> Option<&Reporter> {
        self.reporter.get()
    }

    /// Reports a response that went out for the first time.
    pub(crate) fn report(&self, bytes: &[u8], status: u16, reason: &str, cause: Option<Cause>) {
        if let Some(reporter) = self.reporter() {
            reporter.response(&SentResponse {
                status,
                reason,
                bytes,
                cause,
            });
        }
    }

    /// A retransmitted request gets the most recent response again, or
    /// nothing if none was sent yet (§17.2.1, §17.2.2). Returns whether
    /// something was sent.
    pub(crate) async fn retransmit(&self) -> bool {
        if let Some(reporter) = self.reporter() {
            reporter.retransmission();
        }
        let last = self.lock().last();
        let Some(bytes) = last else {
            return false;
        };
        if let Err(error) = self.flow.send(&bytes).await {
            debug!(%error, "response retransmission failed");
        }
        true
    }

    /// Renders one response of this transaction.
    pub(crate) fn render(&self, buf: &mut Vec<u8>, parts: &ResponseParts<'_>) -> Bytes {
        self.template
            .write(buf, &self.settings.server_header, parts);
        Bytes::copy_from_slice(buf)
    }

    /// Resolves with the reason once the user can no longer answer.
    pub(crate) async fn ended(&self) -> Ended {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(ended) = self.lock().ended {
                return ended;
            }
            notified.await;
        }
    }

    /// 100 Trying (§17.2.1), once, while nothing else was sent.
    pub(crate) async fn send_trying(&self) {
        let parts = ResponseParts {
            status: 100,
            reason: reason_phrase(100),
            ..ResponseParts::default()
        };
        let bytes = self.render(&mut Vec::with_capacity(256), &parts);
        let sent = {
            let mut state = self.lock();
            match state.invite() {
                Some(fsm) if !fsm.has_sent() => {
                    fsm.provisional(bytes.clone(), None, Instant::now())
                }
                _ => false,
            }
        };
        if !sent {
            return;
        }
        self.changed.notify_waiters();
        match self.flow.send(&bytes).await {
            Ok(()) => self.report(&bytes, 100, parts.reason, None),
            Err(error) => debug!(%error, "100 Trying not sent"),
        }
    }

    /// A final response the layer decides (487 after CANCEL, the ring
    /// timeout's, 500 without PRACK), unless one went already. Returns
    /// whether it was sent.
    pub(crate) async fn send_layer_final(
        &self,
        parts: &ResponseParts<'_>,
        cause: Option<Cause>,
        ended: Ended,
    ) -> bool {
        let bytes = self.render(&mut Vec::with_capacity(512), parts);
        let reliable = {
            let mut state = self.lock();
            let sent = state
                .invite()
                .is_some_and(|fsm| fsm.final_response(bytes.clone(), parts.status, Instant::now()));
            if !sent {
                return false;
            }
            state.ended = Some(ended);
            state.reliable.clone()
        };
        if let Some(reliable) = reliable {
            reliable.finish();
        }
        self.changed.notify_waiters();
        if let Err(error) = self.flow.send(&bytes).await {
            debug!(%error, sip.status = parts.status, "final response not sent");
        }
        self.report(&bytes, parts.status, parts.reason, cause);
        true
    }

    /// §9.2: a CANCEL for this INVITE; 487 if it still rings. Returns
    /// whether it did.
    pub(crate) async fn cancel(&self) -> bool {
        if !self.lock().invite().is_some_and(|fsm| fsm.is_cancelable()) {
            return false;
        }
        let parts = ResponseParts {
            status: 487,
            reason: reason_phrase(487),
            ..ResponseParts::default()
        };
        self.send_layer_final(&parts, Some(Cause::Canceled), Ended::Canceled)
            .await
    }

    /// The ACK for a non-2xx final response (§17.2.1): Confirmed.
    pub(crate) fn ack(&self) -> bool {
        let confirmed = self.lock().invite().is_some_and(InviteFsm::ack);
        if confirmed {
            self.changed.notify_waiters();
        }
        confirmed
    }
}
