//! The transaction layer (RFC 3261 §17) and dialogs (§12): absorbs
//! retransmissions, matches ACK and CANCEL, answers what the rules never see
//! (481, 200 to BYE and CANCEL, 503 when full), and runs the client
//! transactions of the BYE and MESSAGE requests the responder sends.

mod client;
mod dialog;
mod inbound;
mod key;
mod reliable;
mod server;
mod table;

use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::time::Instant;
use tracing::warn;

pub use client::ClientOutcome;
pub use dialog::{Dialog, DialogSpec};
pub use key::TransactionKey;
pub use reliable::{RAck, Reliable, reliable_header_lines};
pub use server::{ServerTransaction, new_tag};

use crate::sip::Timers;
use crate::transport::Flow;
use client::ClientTable;
use dialog::DialogTable;
use reliable::ReliableTable;
use table::Table;

/// Settings of the transaction layer; a reload replaces them, and each
/// transaction reads them when it needs them.
#[derive(Debug, Clone)]
pub struct LayerSettings {
    pub timers: Timers,
    /// Most transactions in progress, and most dialogs, at once.
    pub max_transactions: usize,
    /// `Server: …\r\n`, rendered once.
    pub server_header: Bytes,
    pub user_agent: String,
    /// Answer UDP at the source port even without `;rport`.
    pub force_rport: bool,
}

/// State shared by the layer and its transaction handles.
#[derive(Debug)]
pub(crate) struct Core {
    settings: ArcSwap<LayerSettings>,
    table: Mutex<Table>,
    dialogs: DialogTable,
    /// INVITEs sending reliable provisional responses (RFC 3262).
    reliable: ReliableTable,
    clients: ClientTable,
    /// Messages sent again: responses to retransmitted requests, Timer G,
    /// 2xx and Timer E retransmissions.
    pub(crate) retransmissions: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("active", &self.active())
            .field("len", &self.len())
            .finish()
    }
}

impl Core {
    /// The current settings (a reload swaps them).
    pub(crate) fn settings(&self) -> arc_swap::Guard<Arc<LayerSettings>> {
        self.settings.load()
    }

    pub(crate) fn timers(&self) -> Timers {
        self.settings.load().timers
    }

    /// Most transactions in progress, and most dialogs, at once.
    pub(crate) fn max(&self) -> usize {
        self.settings.load().max_transactions
    }

    pub(crate) fn count_retransmission(&self) {
        self.retransmissions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a request carries an SDP body (an offer or an answer).
pub(crate) fn has_sdp(request: &crate::sip::Request) -> bool {
    let media_type = |value: &str| {
        let end = value.find(';').unwrap_or(value.len());
        value[..end].trim().eq_ignore_ascii_case("application/sdp")
    };
    !request.body().trim_ascii().is_empty()
        && request
            .header_values(crate::sip::HeaderName::ContentType)
            .next()
            .is_some_and(media_type)
}

/// What the layer made of a received request.
#[derive(Debug)]
pub enum Received {
    /// A new request for the rules; answer it through the transaction.
    New(Box<NewRequest>),
    /// A PRACK carrying a new offer (RFC 3262 §5): answer 200 with the SDP
    /// answer through the transaction.
    PrackOffer(Box<ServerTransaction>),
    /// Fully handled here (retransmission, ACK, CANCEL, BYE, 481, 503).
    Handled,
}

/// A new request and, for in-dialog requests, its dialog.
#[derive(Debug)]
pub struct NewRequest {
    pub transaction: ServerTransaction,
    pub dialog: Option<Arc<Dialog>>,
    /// An UPDATE in an early dialog (RFC 3311): not new, but with no
    /// confirmed dialog yet.
    pub early_dialog: bool,
}

/// An INVITE's reliable provisional responses, registered for PRACK
/// matching while this lives (and a while after, see `Drop`).
#[derive(Debug)]
pub struct PrackRegistration {
    core: Arc<Core>,
    reliable: Arc<Reliable>,
}

impl std::ops::Deref for PrackRegistration {
    type Target = Arc<Reliable>;

    fn deref(&self) -> &Arc<Reliable> {
        &self.reliable
    }
}

impl Drop for PrackRegistration {
    /// RFC 3262 §3: PRACKs for responses still outstanding after the final
    /// response must be answered; a PRACK lost over UDP comes again within
    /// 64·T1. So an entry with a response outstanding lingers that long,
    /// unless the table already holds as many entries as transactions may
    /// run (a flood of INVITEs that never PRACK must not grow it).
    fn drop(&mut self) {
        self.reliable.finish();
        let core = self.core.clone();
        let reliable = self.reliable.clone();
        let linger = reliable.is_pending() && core.reliable.len() < core.max();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if linger => {
                runtime.spawn(async move {
                    tokio::time::sleep(core.timers().timeout()).await;
                    core.reliable.remove(&reliable);
                });
            }
            _ => core.reliable.remove(&reliable),
        }
    }
}

/// How retransmission intervals grow.
#[derive(Debug, Clone, Copy)]
enum Backoff {
    /// Doubling up to T2 (RFC 3261 §13.3.1.4, §17).
    UpToT2,
    /// Doubling without a cap (RFC 3262 §3).
    Doubling,
}

/// The transaction layer; cheap to clone.
#[derive(Debug, Clone)]
pub struct TransactionLayer {
    core: Arc<Core>,
}

impl TransactionLayer {
    pub fn new(settings: LayerSettings) -> Self {
        Self {
            core: Arc::new(Core {
                table: Mutex::new(Table::new(settings.max_transactions)),
                settings: ArcSwap::from_pointee(settings),
                dialogs: DialogTable::default(),
                reliable: ReliableTable::default(),
                clients: ClientTable::default(),
                retransmissions: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Applies a reload: what starts from now on uses `settings` (a
    /// retransmission loop already running keeps its intervals).
    pub fn reconfigure(&self, settings: LayerSettings) {
        self.core.table().set_max(settings.max_transactions);
        self.core.settings.store(Arc::new(settings));
    }

    pub fn timers(&self) -> Timers {
        self.core.timers()
    }

    pub fn user_agent(&self) -> String {
        self.core.settings().user_agent.clone()
    }

    /// Expires lingering transactions even when no traffic arrives (so
    /// memory settles after a burst); runs until `cancel` fires.
    pub async fn maintain(&self, cancel: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticks.tick() => self.core.table().maintain(Instant::now()),
            }
        }
    }

    /// Transactions in progress (not counting completed ones lingering for
    /// retransmissions).
    pub fn transactions_in_progress(&self) -> usize {
        self.core.table().active()
    }

    pub fn dialogs(&self) -> usize {
        self.core.dialogs.len()
    }

    /// Messages retransmitted so far.
    pub fn retransmissions(&self) -> u64 {
        self.core
            .retransmissions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Creates the dialog of an INVITE answered with a 2xx.
    pub fn create_dialog(&self, spec: DialogSpec) -> Arc<Dialog> {
        let dialog = Arc::new(Dialog::new(spec));
        self.core.dialogs.insert(dialog.clone());
        dialog
    }

    /// Forgets a dialog whose 2xx could not be sent.
    pub fn discard_dialog(&self, dialog: &Dialog) {
        self.core.dialogs.remove(dialog);
    }

    /// Registers the reliable provisional responses of an INVITE answered
    /// with To-tag `local_tag`, so that PRACKs find them.
    pub fn register_for_prack(
        &self,
        request: &crate::sip::Request,
        local_tag: &str,
    ) -> PrackRegistration {
        let reliable = self.core.reliable.register(
            request.call_id(),
            local_tag,
            request.from_tag().unwrap_or(""),
            request.cseq(),
            has_sdp(request),
        );
        PrackRegistration {
            core: self.core.clone(),
            reliable,
        }
    }

    /// §13.3.1.4: retransmits the 2xx (T1 doubling to T2) until the ACK
    /// arrives, for at most 64·T1. Returns whether the ACK arrived.
    pub async fn await_ack_for_2xx(&self, dialog: &Dialog, response: &Bytes, flow: &Flow) -> bool {
        let acked = async {
            tokio::select! {
                () = dialog.acked() => {}
                () = dialog.ended() => {}
            }
        };
        self.retransmit(response, flow, acked, Backoff::UpToT2)
            .await
    }

    /// RFC 3262 §3: retransmits the reliable provisional response numbered
    /// `rseq` (T1, doubling without a cap) until its PRACK, or a final
    /// response, stops it; after 64·T1 without either it gives up, which
    /// the INVITE answers with 5xx.
    pub async fn retransmit_until_prack(
        &self,
        reliable: &Reliable,
        rseq: u32,
        response: &Bytes,
        flow: &Flow,
    ) {
        let stopped = async {
            tokio::select! {
                () = reliable.acknowledged_rseq(rseq) => {}
                () = reliable.finished() => {}
            }
        };
        if !self
            .retransmit(response, flow, stopped, Backoff::Doubling)
            .await
        {
            reliable.give_up(rseq);
        }
    }

    /// Sends `response` on `flow` again after T1, then at growing intervals,
    /// until `done` resolves (true) or 64·T1 have passed (false).
    async fn retransmit(
        &self,
        response: &Bytes,
        flow: &Flow,
        done: impl std::future::Future<Output = ()>,
        backoff: Backoff,
    ) -> bool {
        let timers = self.core.timers();
        let deadline = Instant::now() + timers.timeout();
        let mut interval = timers.t1;
        tokio::pin!(done);
        loop {
            let wait = (Instant::now() + interval).min(deadline);
            tokio::select! {
                () = &mut done => return true,
                () = tokio::time::sleep_until(wait) => {}
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.core.count_retransmission();
            if let Err(error) = flow.send(response).await {
                warn!(%error, peer = %flow.peer, "response retransmission failed");
            }
            interval = match backoff {
                Backoff::UpToT2 => timers.backoff(interval),
                Backoff::Doubling => interval.saturating_mul(2),
            };
        }
    }

    /// Sends BYE in the dialog (§15.1.1) and ends it; returns the outcome.
    pub async fn send_bye(&self, dialog: &Dialog) -> ClientOutcome {
        self.core.dialogs.remove(dialog);
        let (request_uri, routes) = dialog.request_target();
        let branch = format!("{}{}", crate::sip::MAGIC_COOKIE, new_tag());
        let user_agent = self.user_agent();
        let request = crate::sip::OutgoingRequest {
            method: "BYE",
            request_uri: &request_uri,
            transport: dialog.flow.transport,
            sent_by: &dialog.sent_by,
            branch: &branch,
            from: &dialog.local_header,
            from_tag: &dialog.local_tag,
            to: &dialog.remote_header,
            call_id: &dialog.call_id,
            cseq: dialog.next_cseq(),
            routes: &routes,
            user_agent: &user_agent,
            extra_headers: b"",
            content_type: None,
            body: b"",
        };
        self.send_request(&dialog.flow, &request).await
    }

    /// Sends an out-of-dialog non-INVITE request through a client
    /// transaction (Timers E and F).
    pub async fn send_request(
        &self,
        flow: &Flow,
        request: &crate::sip::OutgoingRequest<'_>,
    ) -> ClientOutcome {
        let mut buf = Vec::with_capacity(512);
        request.write(&mut buf);
        self.core
            .clients
            .run(
                self.core.timers(),
                flow,
                Bytes::from(buf),
                request.branch.to_owned(),
                request.method,
                &self.core.retransmissions,
            )
            .await
    }
}
