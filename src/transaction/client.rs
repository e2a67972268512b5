//! Non-INVITE client transactions (RFC 3261 §17.1.2), for the BYE and
//! MESSAGE the responder originates.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

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
}

/// Client transactions waiting for responses, by Via branch.
#[derive(Debug, Default)]
pub(crate) struct ClientTable {
    pending: Mutex<HashMap<String, (String, mpsc::UnboundedSender<u16>)>>,
}

impl ClientTable {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, mpsc::UnboundedSender<u16>)>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands a response to its client transaction (§17.1.3: branch and CSeq
    /// method must match). Returns whether one was waiting.
    pub(crate) fn deliver(&self, response: &ResponseSummary) -> bool {
        let pending = self.lock();
        match pending.get(&response.branch) {
            Some((method, sender)) if *method == response.cseq_method => {
                sender.send(response.status).is_ok()
            }
            _ => false,
        }
    }

    /// Sends `request` and runs Timers E and F until a final response.
    pub(crate) async fn run(
        &self,
        timers: Timers,
        flow: &Flow,
        request: Bytes,
        branch: String,
        method: &str,
        retransmissions: &AtomicU64,
    ) -> ClientOutcome {
        let (sender, mut responses) = mpsc::unbounded_channel();
        self.lock()
            .insert(branch.clone(), (method.to_owned(), sender));
        let outcome = exchange(timers, flow, &request, &mut responses, retransmissions).await;
        self.lock().remove(&branch);
        outcome
    }
}

async fn exchange(
    timers: Timers,
    flow: &Flow,
    request: &[u8],
    responses: &mut mpsc::UnboundedReceiver<u16>,
    retransmissions: &AtomicU64,
) -> ClientOutcome {
    if let Err(error) = flow.send(request).await {
        return ClientOutcome::TransportError(error.to_string());
    }
    let reliable = flow.transport.is_reliable();
    // Timer F bounds the whole exchange; Timer E retransmits over UDP,
    // doubling to T2 (and staying at T2 once a provisional arrived).
    let deadline = Instant::now() + timers.timeout();
    let mut interval = timers.t1;
    loop {
        let wait = if reliable {
            deadline
        } else {
            (Instant::now() + interval).min(deadline)
        };
        tokio::select! {
            status = responses.recv() => match status {
                Some(status) if status >= 200 => return ClientOutcome::Final(status),
                Some(_) => interval = timers.t2,
                None => return ClientOutcome::Timeout,
            },
            () = tokio::time::sleep_until(wait) => {
                if Instant::now() >= deadline {
                    return ClientOutcome::Timeout;
                }
                retransmissions.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = flow.send(request).await {
                    return ClientOutcome::TransportError(error.to_string());
                }
                interval = timers.backoff(interval);
            }
        }
    }
}
