//! The task that runs one INVITE server transaction's timers from open to
//! end, whatever its user does: 100 Trying when the user let go without a
//! response, the ring timeout, reliable provisional retransmission and its
//! PRACK timeout, Timer G/H, the 2xx retransmission until the dialog's ACK,
//! and at the end the move into the completed-transaction cache.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::info;

use super::Core;
use super::dialog::{ByeReason, Dialog};
use super::fsm::{Done, Phase, TimerAction};
use super::key::TransactionKey;
use super::report::Ended;
use super::server::TxShared;
use super::table::Completed;
use crate::sip::{Cause, ResponseParts};

/// A flood of unacknowledged INVITEs logs one line per second.
static NO_ACK_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

/// What the driver looks at between two wake-ups.
struct Outlook {
    wake_at: Option<Instant>,
    done: Option<Done>,
    owes_trying: bool,
    /// Accepted: the dialog whose ACK stops the 2xx retransmission.
    awaiting_ack: Option<Arc<Dialog>>,
}

fn outlook(tx: &TxShared) -> Option<Outlook> {
    let mut state = tx.lock();
    let released = state.tu_released;
    let ended = state.ended.is_some();
    let dialog = state.dialog.clone();
    let fsm = state.invite()?;
    Some(Outlook {
        wake_at: fsm.wake_at(),
        done: fsm.done(),
        owes_trying: released && !ended && !fsm.has_sent() && fsm.phase() == Phase::Proceeding,
        awaiting_ack: dialog.filter(|_| fsm.phase() == Phase::Accepted && fsm.wake_at().is_some()),
    })
}

/// Runs `tx` (stored in the table under `key`) until it is done.
pub(crate) async fn drive(core: Arc<Core>, key: TransactionKey, tx: Arc<TxShared>) {
    let _running = core.drivers.start();
    loop {
        let notified = tx.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(outlook) = outlook(&tx) else {
            return;
        };
        if outlook.owes_trying {
            tx.send_trying().await;
            continue;
        }
        if let Some(done) = outlook.done {
            return finish(&core, key, &tx, done);
        }
        let acked = async {
            match &outlook.awaiting_ack {
                Some(dialog) => dialog.acked(tx.cseq).await,
                None => std::future::pending().await,
            }
        };
        // Every phase but the last has a timer; the fallback only guards
        // against a state with none.
        let wake_at = outlook
            .wake_at
            .unwrap_or_else(|| Instant::now() + tx.settings.timers.timeout());
        tokio::select! {
            () = &mut notified => continue,
            () = acked => {
                if let Some(fsm) = tx.lock().invite() {
                    fsm.dialog_acked();
                }
                continue;
            }
            () = tokio::time::sleep_until(wake_at) => {}
        }
        let actions = tx
            .lock()
            .invite()
            .map(|fsm| fsm.on_timer(Instant::now()))
            .unwrap_or_default();
        for action in actions {
            act(&core, &tx, action).await;
        }
    }
}

async fn act(core: &Arc<Core>, tx: &TxShared, action: TimerAction) {
    match action {
        TimerAction::Resend(bytes) => {
            core.count_retransmission();
            if let Err(error) = tx.flow.send_again(&bytes).await {
                tracing::debug!(%error, peer = %tx.flow.peer, "retransmission failed");
            }
        }
        TimerAction::RingTimeout => {
            let no_answer = tx.no_answer.get().cloned().unwrap_or_default();
            let parts = ResponseParts {
                status: no_answer.status,
                reason: &no_answer.reason,
                extra_headers: &no_answer.extra_headers,
                ..ResponseParts::default()
            };
            if tx
                .send_layer_final(&parts, Some(Cause::NoAnswer), Ended::NoAnswer)
                .await
            {
                info!(peer = %tx.flow.peer, sip.status = no_answer.status, ring_timeout_ms = tx.settings.ring_timeout.as_millis() as u64, "INVITE rang for the ring timeout: final response sent");
            }
        }
        TimerAction::ResendProvisional { rseq, bytes } => {
            let reliable = tx.lock().reliable.clone();
            if reliable.is_some_and(|r| r.awaits(rseq)) {
                core.count_retransmission();
                if let Err(error) = tx.flow.send_again(&bytes).await {
                    tracing::debug!(%error, peer = %tx.flow.peer, "retransmission failed");
                }
            } else if let Some(fsm) = tx.lock().invite() {
                fsm.prack_acknowledged(rseq);
            }
        }
        TimerAction::PrackTimeout { rseq } => {
            let reliable = tx.lock().reliable.clone();
            if !reliable.is_some_and(|r| r.awaits(rseq)) {
                return;
            }
            let parts = ResponseParts {
                status: 500,
                reason: "Reliable Provisional Response Not Acknowledged",
                ..ResponseParts::default()
            };
            if tx.send_layer_final(&parts, None, Ended::NoPrack).await {
                info!(peer = %tx.flow.peer, "no PRACK for a reliable provisional response: 500");
            }
        }
        TimerAction::NoAckFor2xx => {
            if let Some(reporter) = tx.reporter() {
                reporter.failed(Cause::NoAck);
            }
            let dialog = tx.lock().dialog.clone();
            if let Some(dialog) = dialog {
                core.end_dialog(dialog, ByeReason::NoAck);
            }
        }
        TimerAction::NoAckForFinal => {
            crate::limited!(
                NO_ACK_LOG,
                warn!(peer = %tx.flow.peer, sip.status = tx.final_status(), "no ACK for final response (Timer H)")
            );
        }
    }
}

/// The transaction's timers are over: it lingers in the completed cache (or
/// goes), and its reliable provisionals stay matchable for late PRACKs.
fn finish(core: &Arc<Core>, key: TransactionKey, tx: &TxShared, done: Done) {
    let table = core.table();
    match done {
        // Confirmed (or dropped by its rule): retransmissions are absorbed.
        Done::Linger(linger) => table.complete(key, tx, Completed::Absorb, linger, Instant::now()),
        Done::Remove => table.remove(key, tx),
        // The 2xx was ACKed: RFC 6026 Accepted only absorbs from now on.
        Done::Cached => table.absorb_only(key),
    }
    let reliable = tx.lock().reliable.clone();
    if let Some(reliable) = reliable {
        core.release_reliable(
            reliable,
            tx.settings.max_transactions,
            tx.settings.timers.timeout(),
        );
    }
}
