//! The bounded server transaction table, in shards so that receive loops
//! on different cores seldom meet on one lock. Transactions in progress
//! count against the bound (new ones beyond it are refused) — INVITE and
//! non-INVITE ones separately, so a flood of unanswered INVITEs cannot
//! starve OPTIONS pings. Completed ones shrink to what answering a
//! retransmission needs (nothing, the bytes, or the status to write again)
//! and linger for Timers I, J and L in a FIFO per shard, evicted oldest
//! first: a flood cannot grow memory without limit, and no timer task is
//! needed for the linger.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::key::{Prehashed, TransactionKey};
use super::server::TxShared;

const SHARDS: usize = 16;

/// What a completed transaction still does for a retransmission of its
/// request.
#[derive(Debug, Clone)]
pub(crate) enum Completed {
    /// Nothing: it is absorbed (an ACK after Confirmed, an INVITE after
    /// the 2xx was ACKed, a request a rule dropped).
    Absorb,
    /// These bytes go again.
    Resend(Bytes),
    /// A response with this status and nothing else, written again from the
    /// retransmitted request (it fully determines it).
    Regenerate(u16),
}

/// Our To-tag of a completed INVITE (a CANCEL after its final response
/// gets 200 with it, RFC 3261 §9.2): the tags we make are 10 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag([u8; 10]);

impl Tag {
    fn of(tx: &TxShared) -> Option<Self> {
        let tag = tx.to_tag()?.as_bytes();
        Some(Self(tag.try_into().ok()?))
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What the table holds under a key.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    Live(Arc<TxShared>),
    Done(Completed, Option<Tag>),
}

#[derive(Debug)]
enum Entry {
    Live(Arc<TxShared>),
    /// Removed after the instant.
    Done(Completed, Instant, Option<Tag>),
}

#[derive(Debug, Default)]
struct Shard {
    slots: HashMap<TransactionKey, Entry, Prehashed>,
    lingering: VecDeque<(TransactionKey, Instant)>,
    /// Completed transactions evicted before their time to make room.
    evicted: u64,
}

/// The table is full of transactions in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

pub(crate) struct Table {
    shards: Vec<Mutex<Shard>>,
    /// In progress, INVITE and other.
    active: [AtomicUsize; 2],
    /// The bound the last insert was checked against: the completed cache
    /// holds as many (spread over the shards).
    max: AtomicUsize,
}

fn class(tx: &TxShared) -> usize {
    usize::from(!tx.is_invite)
}

fn is(entry: &Entry, tx: &TxShared) -> bool {
    matches!(entry, Entry::Live(live) if std::ptr::eq(Arc::as_ptr(live), tx))
}

impl Table {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            active: [AtomicUsize::new(0), AtomicUsize::new(0)],
            max: AtomicUsize::new(usize::MAX),
        }
    }

    fn shard(&self, key: TransactionKey) -> MutexGuard<'_, Shard> {
        self.shards[key.shard(SHARDS)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The transaction under `key`, live or completed.
    pub(crate) fn get(&self, key: TransactionKey, now: Instant) -> Option<Found> {
        let mut shard = self.shard(key);
        shard.sweep(now);
        match shard.slots.get(&key)? {
            Entry::Live(tx) => Some(Found::Live(tx.clone())),
            Entry::Done(_, expires, _) if *expires <= now => None,
            Entry::Done(completed, _, tag) => Some(Found::Done(completed.clone(), *tag)),
        }
    }

    /// The live transaction under `key`, if any.
    pub(crate) fn live(&self, key: TransactionKey, now: Instant) -> Option<Arc<TxShared>> {
        match self.get(key, now)? {
            Found::Live(tx) => Some(tx),
            Found::Done(..) => None,
        }
    }

    /// Registers a new transaction in progress, unless `max` of its class
    /// are (a reload that lowers `max` lets those in progress finish).
    pub(crate) fn insert(
        &self,
        key: TransactionKey,
        tx: Arc<TxShared>,
        max: usize,
        now: Instant,
    ) -> Result<(), Full> {
        let class = class(&tx);
        if self.active[class].fetch_add(1, Ordering::AcqRel) >= max {
            self.active[class].fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        self.max.store(max, Ordering::Relaxed);
        let mut shard = self.shard(key);
        shard.sweep(now);
        if let Some(Entry::Live(previous)) = shard.slots.insert(key, Entry::Live(tx)) {
            self.active[self::class(&previous)].fetch_sub(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The transaction is done; it answers retransmissions as `completed`
    /// says for `linger`. Nothing happens when the key now names another
    /// transaction.
    pub(crate) fn complete(
        &self,
        key: TransactionKey,
        tx: &TxShared,
        completed: Completed,
        linger: Duration,
        now: Instant,
    ) {
        if linger.is_zero() {
            return self.remove(key, tx);
        }
        let bound = self.max.load(Ordering::Relaxed).div_ceil(SHARDS).max(1);
        let mut shard = self.shard(key);
        let Some(entry) = shard.slots.get_mut(&key).filter(|entry| is(entry, tx)) else {
            return;
        };
        let expires = now + linger;
        let tag = if tx.is_invite { Tag::of(tx) } else { None };
        *entry = Entry::Done(completed, expires, tag);
        self.active[class(tx)].fetch_sub(1, Ordering::AcqRel);
        shard.lingering.push_back((key, expires));
        // Completed transactions are only a retransmission cache: past the
        // bound the oldest go first.
        while shard.lingering.len() > bound {
            if let Some((old, at)) = shard.lingering.pop_front()
                && shard.remove_if_expiring(old, at)
            {
                shard.evicted += 1;
            }
        }
    }

    /// A completed transaction stops resending (RFC 6026: once the 2xx is
    /// ACKed, retransmitted INVITEs are only absorbed): its bytes go.
    pub(crate) fn absorb_only(&self, key: TransactionKey) {
        if let Some(Entry::Done(completed, ..)) = self.shard(key).slots.get_mut(&key) {
            *completed = Completed::Absorb;
        }
    }

    /// Drops a transaction (terminated, or never completed), if the key
    /// still names it.
    pub(crate) fn remove(&self, key: TransactionKey, tx: &TxShared) {
        let mut shard = self.shard(key);
        if shard.slots.get(&key).is_some_and(|entry| is(entry, tx)) {
            shard.slots.remove(&key);
            self.active[class(tx)].fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Transactions in progress.
    pub(crate) fn active(&self) -> usize {
        self.active[0].load(Ordering::Acquire) + self.active[1].load(Ordering::Acquire)
    }

    /// All entries, completed ones included.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.slots.len()))
            .sum()
    }

    /// Completed transactions evicted early so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.evicted))
            .sum()
    }

    /// Drops expired entries and, once a shard is empty after a burst,
    /// gives its memory back.
    pub(crate) fn maintain(&self, now: Instant) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.sweep(now);
            if shard.slots.is_empty() && shard.slots.capacity() > 1024 {
                shard.slots = HashMap::default();
                shard.lingering = VecDeque::new();
            }
        }
    }
}

impl Shard {
    fn sweep(&mut self, now: Instant) {
        while let Some(&(key, at)) = self.lingering.front() {
            if at > now {
                break;
            }
            self.lingering.pop_front();
            self.remove_if_expiring(key, at);
        }
    }

    /// Removes `key` only if it is still the completed entry that was queued
    /// with `at` (a new transaction may have reused the key meanwhile).
    fn remove_if_expiring(&mut self, key: TransactionKey, at: Instant) -> bool {
        let expiring =
            matches!(self.slots.get(&key), Some(Entry::Done(_, expires, _)) if *expires == at);
        if expiring {
            self.slots.remove(&key);
        }
        expiring
    }
}
