//! Counts of the times a bound of the layer's state was reached: the newest
//! work was refused (503, 513, a request not sent) or the oldest idle entry
//! made room. `/metrics` shows them; nothing else depends on them.

use std::sync::atomic::{AtomicU64, Ordering};

/// A bounded piece of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Transactions in progress (`max_transactions`): 503.
    Transactions,
    /// The completed-transaction cache: the oldest entry evicted.
    CompletedCache,
    /// Dialogs (`[dialog] max_dialogs`): 503.
    Dialogs,
    /// A dialog's state (`[dialog] max_bytes`, or too many routes): 513.
    DialogSize,
    /// Requests we send (as many as `max_transactions`): a MESSAGE not
    /// sent, a BYE sent once without retransmission.
    ClientTransactions,
    /// PRACK matching after the final response: dropped at once instead of
    /// lingering for 64·T1.
    PendingPracks,
}

impl Bound {
    pub const ALL: [Self; 6] = [
        Self::Transactions,
        Self::CompletedCache,
        Self::Dialogs,
        Self::DialogSize,
        Self::ClientTransactions,
        Self::PendingPracks,
    ];

    /// The `state` label in `/metrics`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Transactions => "transactions",
            Self::CompletedCache => "completed_transactions",
            Self::Dialogs => "dialogs",
            Self::DialogSize => "dialog_bytes",
            Self::ClientTransactions => "client_transactions",
            Self::PendingPracks => "pending_pracks",
        }
    }
}

/// How often each bound was reached.
#[derive(Debug, Default)]
pub(crate) struct BoundHits([AtomicU64; 6]);

impl BoundHits {
    pub(crate) fn hit(&self, bound: Bound) {
        self.0[bound as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, bound: Bound) -> u64 {
        self.0[bound as usize].load(Ordering::Relaxed)
    }
}
