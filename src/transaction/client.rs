//! Non-INVITE client transactions (RFC 3261 §17.1.2), for the BYE, UPDATE
//! and MESSAGE the responder originates: bounded in number, each ended by
//! its final response or Timer F.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Core;
use super::schedule::{Due, Growth, Retransmission};
use super::settings::LayerSettings;
use crate::sip::{ResponseSummary, Timers};
use crate::transport::Flow;

/// How a client transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    /// A final response with this status.
    Final(u16),
    /// Timer F fired (Request Timeout).
    Timeout,
    /// The request could not be sent (Connection Error).
    TransportError(String),
    /// As many client transactions as transactions may run were under way:
    /// the request went once, untracked (a BYE), or not at all.
    Overloaded { sent: bool },
}

/// One client transaction waiting for responses.
#[derive(Debug)]
struct Waiting {
    method: Box<str>,
    /// Status codes of its responses, provisional or final.
    responses: mpsc::Sender<u16>,
}

/// Client transactions waiting for responses, by Via branch.
#[derive(Debug, Default)]
pub(crate) struct ClientTable {
    pending: Mutex<HashMap<Box<str>, Waiting>>,
}

impl ClientTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Waiting>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Hands a response to its client transaction (§17.1.3: branch and CSeq
    /// method must match). Returns whether one was waiting.
    pub(crate) fn deliver(&self, response: &ResponseSummary) -> bool {
        let pending = self.lock();
        match pending.get(response.branch.as_str()) {
            // A full queue means a final response is already waiting.
            Some(waiting) if *waiting.method == *response.cseq_method => {
                let _ = waiting.responses.try_send(response.status);
                true
            }
            _ => false,
        }
    }

    /// Registers a transaction for `branch`, unless `max` are under way.
    fn open(&self, branch: &str, method: &str, max: usize) -> Option<mpsc::Receiver<u16>> {
        let mut pending = self.lock();
        if pending.len() >= max {
            return None;
        }
        // A few responses at most: provisionals beyond are dropped.
        let (responses, receiver) = mpsc::channel(4);
        let waiting = Waiting {
            method: method.into(),
            responses,
        };
        pending.insert(branch.into(), waiting);
        Some(receiver)
    }

    fn close(&self, branch: &str) {
        self.lock().remove(branch);
    }
}

impl Core {
    /// Sends `request` (branch `branch`) through a client transaction:
    /// Timer E retransmits over UDP, Timer F ends it. When the client table
    /// is full, a request that `must_go` is sent once untracked.
    pub(crate) async fn run_client(
        &self,
        settings: &LayerSettings,
        flow: &Flow,
        request: Bytes,
        (branch, method): (&str, &str),
        must_go: bool,
    ) -> ClientOutcome {
        let max = settings.max_transactions;
        let Some(mut responses) = self.clients.open(branch, method, max) else {
            self.bounds.hit(super::Bound::ClientTransactions);
            let sent = must_go && flow.send_again(&request).await.is_ok();
            return ClientOutcome::Overloaded { sent };
        };
        let outcome = self
            .exchange(settings.timers, flow, &request, &mut responses)
            .await;
        self.clients.close(branch);
        outcome
    }

    async fn exchange(
        &self,
        timers: Timers,
        flow: &Flow,
        request: &[u8],
        responses: &mut mpsc::Receiver<u16>,
    ) -> ClientOutcome {
        if let Err(error) = flow.send_again(request).await {
            return ClientOutcome::TransportError(error.to_string());
        }
        let now = Instant::now();
        // Timer F bounds the whole exchange; Timer E retransmits over UDP,
        // doubling to T2 (and staying at T2 once a provisional arrived).
        let mut schedule = if flow.transport.is_reliable() {
            Retransmission::window_only(now, timers.timeout())
        } else {
            let growth = Growth::DoublingUpTo(timers.t2);
            Retransmission::new(now, timers.t1, growth, timers.timeout())
        };
        loop {
            let wake = match schedule.poll(Instant::now()) {
                Due::GiveUp => return ClientOutcome::Timeout,
                Due::Resend => {
                    self.count_retransmission();
                    if let Err(error) = flow.send_again(request).await {
                        return ClientOutcome::TransportError(error.to_string());
                    }
                    continue;
                }
                Due::Wait(at) => at,
            };
            tokio::select! {
                status = responses.recv() => match status {
                    Some(status) if status >= 200 => return ClientOutcome::Final(status),
                    Some(_) => schedule.hold_at(Instant::now(), timers.t2),
                    None => return ClientOutcome::Timeout,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
