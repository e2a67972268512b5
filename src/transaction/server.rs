//! Server transactions (RFC 3261 §17.2): the state shared with the table
//! (for retransmissions, ACK and CANCEL) and the handle the TU answers with.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::Core;
use super::key::TransactionKey;
use crate::sip::{ResponseParts, ResponseTemplate, Transport};
use crate::transport::{self, Flow};

/// A flood of unacknowledged INVITEs logs one line per second.
static NO_ACK_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

/// A fresh random tag of 10 alphanumeric characters (RFC 3261 §19.3 asks
/// for at least 32 bits of randomness; this has about 59).
pub fn new_tag() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..10)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

#[derive(Debug, Default)]
struct LastResponse {
    bytes: Option<Bytes>,
    final_status: Option<u16>,
}

/// What the table keeps of a server transaction.
#[derive(Debug)]
pub(crate) struct TxShared {
    /// Where responses go.
    pub(crate) flow: Flow,
    pub(crate) is_invite: bool,
    pub(crate) to_tag: Option<String>,
    last: Mutex<LastResponse>,
    /// Fired by a CANCEL for this INVITE (RFC 3261 §9.2).
    pub(crate) cancel: CancellationToken,
    /// Fired by the ACK for a non-2xx final response.
    pub(crate) ack: Notify,
}

impl TxShared {
    pub(crate) fn new(flow: Flow, is_invite: bool, to_tag: Option<String>) -> Self {
        Self {
            flow,
            is_invite,
            to_tag,
            last: Mutex::new(LastResponse::default()),
            cancel: CancellationToken::new(),
            ack: Notify::new(),
        }
    }

    /// A retransmitted request gets the most recent response again, or
    /// nothing if none was sent yet (§17.2.1, §17.2.2).
    pub(crate) async fn retransmit(&self) {
        let last = self.lock().bytes.clone();
        if let Some(bytes) = last
            && let Err(error) = self.flow.send(&bytes).await
        {
            debug!(%error, "response retransmission failed");
        }
    }

    pub(crate) fn final_status(&self) -> Option<u16> {
        self.lock().final_status
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LastResponse> {
        // A poisoned lock only means another task panicked mid-update; the
        // data (bytes and a status) is still consistent.
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The handle the transaction user answers a request with.
#[derive(Debug)]
pub struct ServerTransaction {
    core: Arc<Core>,
    key: Option<TransactionKey>,
    shared: Arc<TxShared>,
    template: ResponseTemplate,
    buf: Vec<u8>,
    /// The table entry was completed or removed; nothing to clean up on drop.
    settled: bool,
}

impl ServerTransaction {
    pub(crate) fn new(
        core: Arc<Core>,
        key: Option<TransactionKey>,
        shared: Arc<TxShared>,
        template: ResponseTemplate,
    ) -> Self {
        Self {
            core,
            settled: key.is_none(),
            key,
            shared,
            template,
            buf: Vec::with_capacity(512),
        }
    }

    /// Renders and sends one response; a final response to a non-INVITE
    /// request completes the transaction (Timer J keeps it for retransmissions).
    pub async fn respond(&mut self, parts: &ResponseParts<'_>) -> Result<(), transport::Error> {
        self.template
            .write(&mut self.buf, &self.core.settings().server_header, parts);
        let bytes = Bytes::copy_from_slice(&self.buf);
        {
            let mut last = self.shared.lock();
            last.bytes = Some(bytes.clone());
            if parts.status >= 200 {
                last.final_status = Some(parts.status);
            }
        }
        let sent = self.shared.flow.send(&bytes).await;
        if parts.status >= 200 && !self.shared.is_invite {
            let linger = self.core.timers().timer_j(self.transport().is_reliable());
            self.settle(linger);
        }
        sent
    }

    /// Resolves when a CANCEL for this INVITE arrived.
    pub async fn cancelled(&self) {
        self.shared.cancel.cancelled().await;
    }

    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// After a non-2xx final to an INVITE: retransmit it on Timer G (UDP)
    /// until the ACK arrives or Timer H fires (§17.2.1). Returns whether the
    /// ACK arrived.
    pub async fn await_ack(&mut self) -> bool {
        let timers = self.core.timers();
        let reliable = self.transport().is_reliable();
        let deadline = Instant::now() + timers.timeout();
        let mut interval = timers.t1;
        let acked = loop {
            let wait = if reliable {
                deadline
            } else {
                (Instant::now() + interval).min(deadline)
            };
            tokio::select! {
                () = self.shared.ack.notified() => break true,
                () = tokio::time::sleep_until(wait) => {}
            }
            if Instant::now() >= deadline {
                break false;
            }
            self.core.count_retransmission();
            self.shared.retransmit().await;
            interval = timers.backoff(interval);
        };
        if acked {
            // The layer moved the slot to Timer I when the ACK arrived.
            self.settled = true;
        } else {
            crate::limited!(
                NO_ACK_LOG,
                warn!(peer = %self.peer(), sip.status = self.shared.final_status(), "no ACK for final response (Timer H)")
            );
            self.settle(Duration::ZERO);
        }
        acked
    }

    /// After a 2xx to an INVITE: the transaction keeps answering INVITE
    /// retransmissions with the 2xx for 64·T1 (RFC 6026 "Accepted").
    pub fn accepted(&mut self) {
        let linger = self.core.timers().timeout();
        self.settle(linger);
    }

    /// The most recent response sent.
    pub fn last_response(&self) -> Option<Bytes> {
        self.shared.lock().bytes.clone()
    }

    pub fn final_status(&self) -> Option<u16> {
        self.shared.final_status()
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.template.to_tag()
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

    fn settle(&mut self, linger: Duration) {
        if self.settled {
            return;
        }
        self.settled = true;
        if let Some(key) = &self.key {
            self.core.table().complete(key, linger, Instant::now());
        }
    }
}

impl Drop for ServerTransaction {
    fn drop(&mut self) {
        // A transaction abandoned without a final response (a ringing INVITE
        // given up on, a failed send) must not hold its table slot.
        if !self.settled
            && let Some(key) = &self.key
        {
            self.core.table().remove(key);
        }
    }
}
