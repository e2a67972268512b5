//! The bounded server transaction table. Transactions in progress count
//! against the bound (new ones beyond it are refused) — INVITE and
//! non-INVITE ones separately, so a flood of unanswered INVITEs cannot
//! starve OPTIONS pings; completed ones only linger to answer
//! retransmissions (Timers I and J) and are evicted oldest first, so a flood
//! cannot grow memory without limit and no per-transaction timer task is
//! needed for the linger.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::key::TransactionKey;
use super::server::TxShared;

struct Slot {
    tx: Arc<TxShared>,
    /// Set once the transaction completed: it is removed after this instant.
    expires: Option<Instant>,
}

/// The table is full of transactions in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

pub(crate) struct Table {
    slots: HashMap<TransactionKey, Slot>,
    lingering: VecDeque<(TransactionKey, Instant)>,
    /// In progress, INVITE and other.
    active: [usize; 2],
    /// The bound the last insert was checked against: the lingering cache
    /// holds as many.
    max: usize,
    /// Completed transactions evicted before their time to make room.
    evicted: u64,
}

fn class(tx: &TxShared) -> usize {
    usize::from(!tx.is_invite)
}

impl Table {
    pub(crate) fn new() -> Self {
        Self {
            slots: HashMap::new(),
            lingering: VecDeque::new(),
            active: [0, 0],
            max: usize::MAX,
            evicted: 0,
        }
    }

    /// The live transaction under `key`.
    pub(crate) fn get(&mut self, key: &TransactionKey, now: Instant) -> Option<Arc<TxShared>> {
        self.sweep(now);
        let slot = self.slots.get(key)?;
        match slot.expires {
            Some(expires) if expires <= now => None,
            _ => Some(slot.tx.clone()),
        }
    }

    /// Registers a new transaction in progress, unless `max` of its class
    /// are (a reload that lowers `max` lets those in progress finish).
    pub(crate) fn insert(
        &mut self,
        key: TransactionKey,
        tx: Arc<TxShared>,
        max: usize,
        now: Instant,
    ) -> Result<(), Full> {
        self.sweep(now);
        self.max = max;
        let class = class(&tx);
        if self.active[class] >= max {
            return Err(Full);
        }
        let previous = self.slots.insert(key, Slot { tx, expires: None });
        if let Some(slot) = previous.filter(|slot| slot.expires.is_none()) {
            self.active[self::class(&slot.tx)] -= 1;
        }
        self.active[class] += 1;
        Ok(())
    }

    /// The transaction is done; it answers retransmissions for `linger`.
    /// Nothing happens when the key now names another transaction.
    pub(crate) fn complete(
        &mut self,
        key: &TransactionKey,
        tx: &TxShared,
        linger: Duration,
        now: Instant,
    ) {
        if linger.is_zero() {
            self.remove(key, tx);
            return;
        }
        let Some(slot) = self
            .slots
            .get_mut(key)
            .filter(|s| std::ptr::eq(Arc::as_ptr(&s.tx), tx))
        else {
            return;
        };
        if slot.expires.is_none() {
            self.active[class(&slot.tx)] -= 1;
        }
        let expires = now + linger;
        slot.expires = Some(expires);
        self.lingering.push_back((key.clone(), expires));
        // Completed transactions are only a retransmission cache: past the
        // bound the oldest go first.
        while self.lingering.len() > self.max {
            if let Some((old, at)) = self.lingering.pop_front()
                && self.remove_if_expiring(&old, at)
            {
                self.evicted += 1;
            }
        }
    }

    /// Drops a transaction (terminated, or never completed), if the key
    /// still names it.
    pub(crate) fn remove(&mut self, key: &TransactionKey, tx: &TxShared) {
        if !self
            .slots
            .get(key)
            .is_some_and(|slot| std::ptr::eq(Arc::as_ptr(&slot.tx), tx))
        {
            return;
        }
        if let Some(slot) = self.slots.remove(key)
            && slot.expires.is_none()
        {
            self.active[class(&slot.tx)] -= 1;
        }
    }

    /// Transactions in progress.
    pub(crate) fn active(&self) -> usize {
        self.active[0] + self.active[1]
    }

    /// All entries, lingering ones included.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Drops expired lingering entries and, once the table is empty after a
    /// burst, gives its memory back.
    pub(crate) fn maintain(&mut self, now: Instant) {
        self.sweep(now);
        if self.slots.is_empty() && self.slots.capacity() > 1024 {
            self.slots = HashMap::new();
            self.lingering = VecDeque::new();
        }
    }

    fn sweep(&mut self, now: Instant) {
        while let Some((_, at)) = self.lingering.front() {
            if *at > now {
                break;
            }
            if let Some((key, at)) = self.lingering.pop_front() {
                self.remove_if_expiring(&key, at);
            }
        }
    }

    /// Removes `key` only if it is still the completed entry that was queued
    /// with `at` (a new transaction may have reused the key meanwhile).
    fn remove_if_expiring(&mut self, key: &TransactionKey, at: Instant) -> bool {
        let expiring = self
            .slots
            .get(key)
            .is_some_and(|slot| slot.expires == Some(at));
        if expiring {
            self.slots.remove(key);
        }
        expiring
    }

    /// Completed transactions evicted early so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }
}
