//! The transaction layer (RFC 3261 §17) and dialogs (§12): absorbs
//! retransmissions, matches ACK and CANCEL, answers what the rules never see
//! (481, 200 to BYE and CANCEL, 503 when full, 422, 513), owns every timer of
//! a server transaction and a dialog's lifetime, and runs the client
//! transactions of the BYE, UPDATE and MESSAGE requests the responder sends.
//!
//! Who owns what: the table owns server transactions (an INVITE's driver
//! task runs its timers, the completed-transaction cache ends it); the
//! dialog table owns dialogs (its clock ends them); the reliable table owns
//! pending PRACKs until 64·T1 after the final response; the client table
//! owns the requests we send until Timer F.

mod answers;
mod bounds;
mod client;
mod deferred;
mod dialog;
mod dialogs;
mod driver;
mod fsm;
mod handle;
mod inbound;
mod key;
mod outgoing;
mod reliable;
mod report;
mod schedule;
mod server;
mod session_timer;
mod settings;
mod table;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub use bounds::Bound;
pub use client::ClientOutcome;
pub use deferred::{Deferred, Pending};
pub use dialog::{ByeReason, Dialog};
pub use fsm::Phase;
pub use handle::{RespondError, ServerTransaction, TableFull};
pub use inbound::sends_reliably;
pub use key::TransactionKey;
pub use reliable::{RAck, reliable_header_lines};
pub use report::{Behalf, Ended, Report, Reporter, SentLog, SentResponse, Silent};
pub use server::{NoAnswer, new_tag};
pub use session_timer::{Negotiation, Refresher, SessionTerms, negotiate};
pub use settings::{DialogSettings, LayerSettings, ReliableMode};

use bounds::BoundHits;
use client::ClientTable;
use dialogs::DialogTable;
use handle::PrackSeed;
use reliable::{Reliable, ReliableTable};
use server::TxShared;
use table::Table;

/// State shared by the layer, its transactions and its dialogs.
#[derive(Debug)]
pub(crate) struct Core {
    table: Table,
    dialogs: DialogTable,
    /// INVITEs sending reliable provisional responses (RFC 3262).
    reliable: ReliableTable,
    clients: ClientTable,
    /// Messages sent again: responses to retransmitted requests, Timer G,
    /// 2xx, reliable provisional and Timer E retransmissions.
    retransmissions: AtomicU64,
    /// INVITE drivers running (a 2xx still awaiting its ACK is one).
    drivers: Running,
    /// Times each bound was reached.
    bounds: BoundHits,
    /// Where the requests we send are reported (the journal), when on.
    sent_log: std::sync::OnceLock<Arc<dyn SentLog>>,
}

/// Counts what runs, until each guard drops.
#[derive(Debug, Default)]
pub(crate) struct Running(Arc<std::sync::atomic::AtomicUsize>);

/// One running thing.
pub(crate) struct RunningGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    pub(crate) fn start(&self) -> RunningGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        RunningGuard(self.0.clone())
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
    pub(crate) fn count_retransmission(&self) {
        self.retransmissions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    /// Registers an INVITE's reliable provisional responses, so that PRACKs
    /// (and UPDATEs of its early dialog) find them.
    fn register_for_prack(&self, seed: &PrackSeed, tx: &TxShared) -> Arc<Reliable> {
        let reliable = self.reliable.register(
            &seed.call_id,
            &seed.local_tag,
            &seed.remote_tag,
            tx.cseq,
            seed.offer,
        );
        tx.lock().reliable = Some(reliable.clone());
        reliable
    }

    /// RFC 3262 §3: PRACKs for responses still outstanding after the final
    /// response must be answered; a PRACK lost over UDP comes again within
    /// 64·T1. So an entry with a response outstanding lingers that long,
    /// unless the table holds as many entries as transactions may run (a
    /// flood of INVITEs that never PRACK must not grow it).
    fn release_reliable(self: &Arc<Self>, reliable: Arc<Reliable>, max: usize, linger: Duration) {
        reliable.finish();
        if !reliable.is_pending() {
            self.reliable.remove(&reliable);
            return;
        }
        if self.reliable.len() >= max {
            self.bounds.hit(Bound::PendingPracks);
            self.reliable.remove(&reliable);
            return;
        }
        let core = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            core.reliable.remove(&reliable);
        });
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
    /// Fully handled here (retransmission, ACK, CANCEL, BYE, 481, 503, …).
    Handled,
}

/// A new request and, for in-dialog requests, its dialog.
#[derive(Debug)]
pub struct NewRequest {
    /// Deferred for an out-of-dialog non-INVITE request: its rule decides
    /// whether it needs one.
    pub transaction: Pending,
    pub dialog: Option<Arc<Dialog>>,
    /// An UPDATE in an early dialog (RFC 3311): not new, but with no
    /// confirmed dialog yet.
    pub early_dialog: bool,
}

/// The transaction layer; cheap to clone.
#[derive(Debug, Clone)]
pub struct TransactionLayer {
    core: Arc<Core>,
}

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TransactionLayer {
    pub fn new() -> Self {
        Self {
            core: Arc::new(Core {
                table: Table::new(),
                dialogs: DialogTable::default(),
                reliable: ReliableTable::default(),
                clients: ClientTable::default(),
                retransmissions: AtomicU64::new(0),
                drivers: Running::default(),
                bounds: BoundHits::default(),
                sent_log: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Expires lingering transactions even when no traffic arrives (so
    /// memory settles after a burst) and ends dialogs at their deadlines;
    /// runs until `cancel` fires.
    pub async fn maintain(&self, cancel: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let sweep = async {
            loop {
                ticks.tick().await;
                self.core.table().maintain(Instant::now());
            }
        };
        let core = self.core.clone();
        let clock = self
            .core
            .dialogs
            .run_clock(move |dialog, due| core.dialog_due(dialog, due));
        tokio::select! {
            () = cancel.cancelled() => {}
            () = sweep => {}
            () = clock => {}
        }
    }

    /// Transactions in progress (not counting completed ones lingering for
    /// retransmissions).
    pub fn transactions_in_progress(&self) -> usize {
        self.core.table().active()
    }

    /// Whether any server transaction still has work: in progress, or an
    /// INVITE whose timers run (a 2xx awaiting its ACK).
    pub fn is_busy(&self) -> bool {
        self.transactions_in_progress() > 0 || self.core.drivers.count() > 0
    }

    pub fn dialogs(&self) -> usize {
        self.core.dialogs.len()
    }

    /// Client transactions (BYE, UPDATE, MESSAGE) under way.
    pub fn client_transactions(&self) -> usize {
        self.core.clients.len()
    }

    /// How often `bound` was reached so far.
    pub fn bound_reached(&self, bound: Bound) -> u64 {
        let evicted = match bound {
            Bound::CompletedCache => self.core.table().evicted(),
            _ => 0,
        };
        self.core.bounds.get(bound) + evicted
    }

    /// Messages retransmitted so far.
    pub fn retransmissions(&self) -> u64 {
        self.core.retransmissions.load(Ordering::Relaxed)
    }

    /// Ends every dialog with BYE (shutdown); returns how many.
    pub fn end_all_dialogs(&self) -> usize {
        let dialogs = self.core.dialogs.take_all();
        let count = dialogs.len();
        for dialog in dialogs {
            self.core.spawn_bye(dialog, None);
        }
        count
    }
}
