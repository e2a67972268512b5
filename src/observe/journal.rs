//! The request journal: the last requests received (and those the daemon
//! sent), with what became of them, bounded in count (`journal_size`) and in
//! bytes (`journal_max_bytes`, responses included), oldest dropped first;
//! each complete record is also copied to a file (see `journal_file.rs`);
//! the INVITE of a call with media is complete when its media ends.
//! Readers take a page of shared records under the lock and serialise them
//! after it, so the SIP path never waits for a large answer; waiters
//! (`GET /requests/wait`) are woken on every change.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;

use super::filter::JournalFilter;
use super::journal_file::{JournalFile, Line};
use super::record::Record;
use super::sent::ResponseRecord;

/// Records in one page of `GET /requests` when the query names no limit.
pub const DEFAULT_PAGE: usize = 1000;
/// Most records in one page.
pub const MAX_PAGE: usize = 10_000;

/// How big the journal may grow, and where its copy goes.
#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// Records kept.
    pub capacity: usize,
    /// Bytes kept (the records' estimated sizes).
    pub max_bytes: usize,
    /// The JSON-lines copy, if any.
    pub file: Option<PathBuf>,
    /// The copy is rotated at this size.
    pub file_max_bytes: u64,
}

impl JournalSettings {
    /// `capacity` records in memory, no file.
    pub fn in_memory(capacity: usize) -> Self {
        Self {
            capacity,
            max_bytes: 16 * 1024 * 1024,
            file: None,
            file_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A ring of records bounded in count and bytes.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    max_bytes: usize,
    state: Mutex<State>,
    file: Option<JournalFile>,
    /// Wakes `GET /requests/wait` on every record added or changed.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Oldest first; ids grow.
    records: VecDeque<Arc<Record>>,
    bytes: usize,
    next_id: u64,
}

impl State {
    /// Drops the oldest records until both bounds hold (the newest stays).
    fn evict(&mut self, capacity: usize, max_bytes: usize) -> Vec<Arc<Record>> {
        let mut evicted = Vec::new();
        while self.records.len() > capacity || (self.bytes > max_bytes && self.records.len() > 1) {
            let Some(oldest) = self.records.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(oldest.size());
            evicted.push(oldest);
        }
        evicted
    }

    fn find(&self, id: u64) -> Option<&Arc<Record>> {
        let index = self.records.partition_point(|r| r.id < id);
        self.records.get(index).filter(|r| r.id == id)
    }
}

impl Journal {
    /// `file_dropped` counts lines the file's writer was too far behind for.
    pub fn new(settings: JournalSettings, file_dropped: Counter) -> std::io::Result<Self> {
        let file = match settings.file {
            Some(path) => Some(JournalFile::open(
                path,
                settings.file_max_bytes,
                file_dropped,
            )?),
            None => None,
        };
        Ok(Self {
            capacity: settings.capacity.max(1),
            max_bytes: settings.max_bytes,
            state: Mutex::new(State::default()),
            file,
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `record` (built outside the lock) under a new id, which it
    /// returns; what it evicts is freed outside the lock too.
    pub fn add(&self, mut record: Record) -> u64 {
        let (id, evicted) = {
            let mut state = self.lock();
            state.next_id += 1;
            record.id = state.next_id;
            let record = Arc::new(record);
            state.bytes += record.size();
            state.records.push_back(record);
            let id = state.next_id;
            (id, state.evict(self.capacity, self.max_bytes))
        };
        self.release_evicted(evicted);
        self.changed.notify_waiters();
        id
    }

    /// Runs `change` on the record of `id`, if still kept, and wakes the
    /// waiters.
    fn change(&self, id: u64, change: impl FnOnce(&Record)) {
        let record = self.lock().find(id).cloned();
        if let Some(record) = record {
            change(&record);
            self.changed.notify_waiters();
        }
    }

    pub fn set_rule(&self, id: u64, rule: &str) {
        self.change(id, |record| record.set_rule(rule));
    }

    /// Who request `id` authenticated as (or why not).
    pub fn set_auth(&self, id: u64, auth: super::AuthRecord) {
        self.change(id, |record| record.set_auth(auth));
    }

    pub fn set_near_misses(&self, id: u64, misses: Vec<crate::rules::NearMiss>) {
        self.change(id, |record| record.set_near_misses(misses));
    }

    pub fn count_retransmission(&self, id: u64) {
        self.change(id, Record::count_retransmission);
    }

    /// A response sent to `id`'s request, given as the bytes that went out;
    /// named `rule` when no rule was named yet (the layer's own answers).
    pub fn add_response(&self, id: u64, rule: &str, status: u16, reason: &str, bytes: &[u8]) {
        let Some(record) = self.lock().find(id).cloned() else {
            return;
        };
        record.default_rule(rule);
        let response = ResponseRecord::of(status, reason, bytes, record.at);
        let evicted = {
            let mut state = self.lock();
            // Counted only while the record is kept (it may have gone
            // since it was looked up).
            let added = match state.find(id) {
                Some(kept) if Arc::ptr_eq(kept, &record) => record.add_response(response),
                _ => 0,
            };
            state.bytes += added;
            state.evict(self.capacity, self.max_bytes)
        };
        self.release_evicted(evicted);
        self.changed.notify_waiters();
    }

    /// A media event (a digit, the media's end) of the call whose INVITE
    /// is `id`; its bytes count as a response's do.
    pub fn add_media(&self, id: u64, event: serde_json::Value) {
        let evicted = {
            let mut state = self.lock();
            let added = state.find(id).map_or(0, |record| record.add_media(event));
            state.bytes += added;
            state.evict(self.capacity, self.max_bytes)
        };
        self.release_evicted(evicted);
        self.changed.notify_waiters();
    }

    /// The call of `id` has media: its line waits for the media's end
    /// ([`Self::release_media`]).
    pub fn hold_for_media(&self, id: u64) {
        if let Some(record) = self.lock().find(id) {
            record.media_held.store(true, Ordering::Release);
        }
    }

    /// The call's media ended: its record is complete once its transaction
    /// is (then its line goes to the file).
    pub fn release_media(&self, id: u64) {
        let record = self.lock().find(id).cloned();
        if let Some(record) = record {
            record.media_held.store(false, Ordering::Release);
            self.finish(id);
        }
    }

    /// Frees what eviction took, outside the lock; a record still held for
    /// its media goes to the file as it stands (its media's end will not).
    fn release_evicted(&self, evicted: Vec<Arc<Record>>) {
        if let Some(file) = &self.file {
            for record in evicted {
                if record.media_held.load(Ordering::Acquire)
                    && !record.written.swap(true, Ordering::AcqRel)
                {
                    file.push(Line(record));
                }
            }
        }
    }

    /// How a request of ours (`id`) ended.
    pub fn set_outcome(&self, id: u64, outcome: &crate::transaction::ClientOutcome) {
        self.change(id, |record| {
            record.set_sent_outcome(super::sent::SentOutcome::of(outcome, record.at));
        });
    }

    /// The record of `id` is complete: its line goes to the file (once).
    pub fn finish(&self, id: u64) {
        let Some(file) = &self.file else {
            return;
        };
        let record = self.lock().find(id).cloned();
        if let Some(record) = record
            && !record.media_held.load(Ordering::Acquire)
            && !record.written.swap(true, Ordering::AcqRel)
        {
            file.push(Line(record));
        }
    }

    /// One page of the records kept, oldest first, that pass `filter`:
    /// shared records, to be serialised after the lock is released.
    pub fn page(&self, filter: &JournalFilter) -> Vec<Arc<Record>> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let state = self.lock();
        let start = filter
            .after
            .map_or(0, |after| state.records.partition_point(|r| r.id <= after));
        state
            .records
            .range(start..)
            .filter(|r| filter.keeps(r))
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many records kept pass `filter` (its page bounds aside).
    pub fn count(&self, filter: &JournalFilter) -> usize {
        let state = self.lock();
        let start = filter
            .after
            .map_or(0, |after| state.records.partition_point(|r| r.id <= after));
        state
            .records
            .range(start..)
            .filter(|r| filter.keeps(r))
            .count()
    }

    /// The oldest record that passes `filter`, waiting for one until
    /// `deadline`; `None` when none came by then.
    pub async fn wait(
        &self,
        filter: &JournalFilter,
        deadline: tokio::time::Instant,
    ) -> Option<Arc<Record>> {
        let first = JournalFilter {
            limit: 1,
            ..filter.clone()
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(record) = self.page(&first).pop() {
                return Some(record);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// Records and bytes held now.
    pub fn usage(&self) -> (usize, usize) {
        let state = self.lock();
        (state.records.len(), state.bytes)
    }

    pub fn clear(&self) {
        let records = {
            let mut state = self.lock();
            state.bytes = 0;
            std::mem::take(&mut state.records)
        };
        drop(records);
    }

    /// Drops the records of `scope`; returns how many.
    pub fn remove_scope(&self, scope: &str) -> usize {
        let mut removed = Vec::new();
        {
            let mut state = self.lock();
            let records = std::mem::take(&mut state.records);
            for record in records {
                if record.scope.as_deref() == Some(scope) {
                    state.bytes = state.bytes.saturating_sub(record.size());
                    removed.push(record);
                } else {
                    state.records.push_back(record);
                }
            }
        }
        removed.len()
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
