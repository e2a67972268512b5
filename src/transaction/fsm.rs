//! The INVITE server transaction's state machine (RFC 3261 §17.2.1 with
//! RFC 6026's Accepted state, RFC 3262 §3 for reliable provisional
//! responses), free of I/O: each event changes the state and says what to
//! send; the driver and the handles do the sending.
//!
//! ```text
//!              1xx            non-2xx final        ACK
//! Proceeding ───────► Proceeding ───────► Completed ───► Confirmed ─(I)─► Terminated
//!     │  ring timeout: final  │  Timer G: resend      │ Timer H: no ACK ─► Terminated
//!     │  CANCEL: 487          │
//!     └── 2xx ──► Accepted ─(2xx resent until the dialog's ACK)─(L)─► Terminated
//! ```

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::schedule::{Due, Growth, Retransmission};
use crate::sip::Timers;

/// Where a server transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Non-INVITE: nothing sent yet.
    Trying,
    /// Provisional responses may go; no final response yet.
    Proceeding,
    /// A non-2xx final response to INVITE awaits its ACK (a non-INVITE's
    /// final response answers retransmissions until Timer J).
    Completed,
    /// The ACK arrived; retransmitted ACKs are absorbed until Timer I.
    Confirmed,
    /// A 2xx to INVITE went out; it is resent until the dialog's ACK, and
    /// INVITE retransmissions get it again until Timer L.
    Accepted,
    Terminated,
}

/// What a timer calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimerAction {
    /// Send these bytes again (Timer G, the 2xx).
    Resend(Bytes),
    /// Send the reliable provisional response numbered `rseq` again,
    /// unless its PRACK arrived meanwhile.
    ResendProvisional { rseq: u32, bytes: Bytes },
    /// Ringing for the ring timeout: the layer sends a final response.
    RingTimeout,
    /// The reliable provisional response `rseq` went 64·T1 without PRACK
    /// (unless it arrived meanwhile): 500.
    PrackTimeout { rseq: u32 },
    /// No ACK for the 2xx within 64·T1 (§13.3.1.4): the dialog ends by BYE.
    NoAckFor2xx,
    /// Timer H: no ACK for the non-2xx final response.
    NoAckForFinal,
}

/// How long a finished transaction still answers retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// It lingers this long in the completed-transaction cache.
    Linger(Duration),
    /// It is gone at once.
    Remove,
    /// It went to the cache when its 2xx was sent (Timer L runs there).
    Cached,
}

/// A reliable provisional response awaiting its PRACK.
#[derive(Debug, Clone)]
struct PendingReliable {
    rseq: u32,
    bytes: Bytes,
    schedule: Retransmission,
}

/// The state of one INVITE server transaction.
#[derive(Debug, Clone)]
pub(crate) struct InviteFsm {
    phase: Phase,
    timers: Timers,
    /// Over TCP/TLS/WS the transport retransmits: no Timer G.
    reliable_transport: bool,
    last: Option<Bytes>,
    final_status: Option<u16>,
    ring_deadline: Instant,
    /// Timer G/H (Completed) or the 2xx schedule (Accepted).
    resend: Option<Retransmission>,
    provisional: Option<PendingReliable>,
    /// Dropped by its rule: nothing is sent, retransmissions are absorbed.
    discarded: bool,
}

impl InviteFsm {
    pub(crate) fn new(
        now: Instant,
        timers: Timers,
        ring_timeout: Duration,
        reliable: bool,
    ) -> Self {
        Self {
            phase: Phase::Proceeding,
            timers,
            reliable_transport: reliable,
            last: None,
            final_status: None,
            ring_deadline: now + ring_timeout,
            resend: None,
            provisional: None,
            discarded: false,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// Whether anything was sent yet (else a waiting TU owes 100 Trying).
    pub(crate) fn has_sent(&self) -> bool {
        self.last.is_some()
    }

    /// A provisional response; `rseq` when it goes reliably (resent from T1,
    /// doubling, until its PRACK). False once a final response went.
    pub(crate) fn provisional(&mut self, bytes: Bytes, rseq: Option<u32>, now: Instant) -> bool {
        if self.phase != Phase::Proceeding {
            return false;
        }
        if let Some(rseq) = rseq {
            let window = self.timers.timeout();
            self.provisional = Some(PendingReliable {
                rseq,
                bytes: bytes.clone(),
                schedule: Retransmission::new(now, self.timers.t1, Growth::Doubling, window),
            });
        }
        self.last = Some(bytes);
        true
    }

    /// The final response. False when one was already sent.
    pub(crate) fn final_response(&mut self, bytes: Bytes, status: u16, now: Instant) -> bool {
        if self.phase != Phase::Proceeding {
            return false;
        }
        let window = self.timers.timeout();
        // RFC 3262 §3: no retransmission of provisionals after the final.
        self.provisional = None;
        self.final_status = Some(status);
        self.last = Some(bytes);
        if (200..300).contains(&status) {
            // §13.3.1.4: the 2xx is resent (whatever the transport) until
            // the ACK, T1 doubling to T2; RFC 6026 Timer L is 64·T1 too.
            self.phase = Phase::Accepted;
            let growth = Growth::DoublingUpTo(self.timers.t2);
            self.resend = Some(Retransmission::new(now, self.timers.t1, growth, window));
        } else {
            // §17.2.1: Timer G (unreliable transports only) and Timer H.
            self.phase = Phase::Completed;
            self.resend = Some(if self.reliable_transport {
                Retransmission::window_only(now, window)
            } else {
                let growth = Growth::DoublingUpTo(self.timers.t2);
                Retransmission::new(now, self.timers.t1, growth, window)
            });
        }
        true
    }

    /// What a retransmitted INVITE gets: the last response, if any.
    pub(crate) fn retransmission(&self) -> Option<Bytes> {
        self.last.clone()
    }

    /// The ACK of a non-2xx final response (§17.2.1): Confirmed. False when
    /// it changed nothing.
    pub(crate) fn ack(&mut self) -> bool {
        if self.phase != Phase::Completed {
            return false;
        }
        self.phase = Phase::Confirmed;
        self.resend = None;
        true
    }

    /// The dialog's ACK for the 2xx arrived: stop resending it.
    pub(crate) fn dialog_acked(&mut self) {
        if self.phase == Phase::Accepted {
            self.resend = None;
        }
    }

    /// Whether a CANCEL still finds it ringing (then 487 is due).
    pub(crate) fn is_cancelable(&self) -> bool {
        self.phase == Phase::Proceeding
    }

    /// The PRACK for `rseq` arrived: stop resending that provisional.
    pub(crate) fn prack_acknowledged(&mut self, rseq: u32) {
        if self.provisional.as_ref().is_some_and(|p| p.rseq == rseq) {
            self.provisional = None;
        }
    }

    /// The rule drops the request: no response, ever; the transaction only
    /// absorbs retransmissions for 64·T1.
    pub(crate) fn discard(&mut self) -> bool {
        if self.phase != Phase::Proceeding || self.last.is_some() {
            return false;
        }
        self.phase = Phase::Terminated;
        self.discarded = true;
        true
    }

    /// The transport failed: nothing more can be sent.
    pub(crate) fn abandon(&mut self) {
        self.phase = Phase::Terminated;
        self.resend = None;
        self.provisional = None;
    }

    /// The next instant a timer may fire; `None` when no timer runs.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        let ring = (self.phase == Phase::Proceeding).then_some(self.ring_deadline);
        let provisional = self.provisional.as_ref().map(|p| p.schedule.wake_at());
        let resend = self.resend.as_ref().map(Retransmission::wake_at);
        [ring, provisional, resend].into_iter().flatten().min()
    }

    /// The timers due at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant) -> Vec<TimerAction> {
        let mut actions = Vec::new();
        if let Some(pending) = &mut self.provisional {
            let rseq = pending.rseq;
            match pending.schedule.poll(now) {
                Due::Resend => actions.push(TimerAction::ResendProvisional {
                    rseq,
                    bytes: pending.bytes.clone(),
                }),
                Due::GiveUp => {
                    self.provisional = None;
                    actions.push(TimerAction::PrackTimeout { rseq });
                }
                Due::Wait(_) => {}
            }
        }
        if self.phase == Phase::Proceeding && now >= self.ring_deadline {
            actions.push(TimerAction::RingTimeout);
        }
        if let Some(resend) = &mut self.resend {
            match resend.poll(now) {
                Due::Resend => {
                    if let Some(last) = &self.last {
                        actions.push(TimerAction::Resend(last.clone()));
                    }
                }
                Due::GiveUp => {
                    self.resend = None;
                    actions.push(if self.phase == Phase::Accepted {
                        TimerAction::NoAckFor2xx
                    } else {
                        TimerAction::NoAckForFinal
                    });
                    self.phase = Phase::Terminated;
                }
                Due::Wait(_) => {}
            }
        }
        actions
    }

    /// When the driver's work is over, how long the transaction lingers.
    pub(crate) fn done(&self) -> Option<Done> {
        match self.phase {
            Phase::Confirmed => Some(Done::Linger(self.timers.timer_i(self.reliable_transport))),
            Phase::Accepted if self.resend.is_none() => Some(Done::Cached),
            Phase::Terminated if self.discarded => Some(Done::Linger(self.timers.timeout())),
            Phase::Terminated => Some(Done::Remove),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
