//! The live dialogs: found by Call-ID and tags, bounded in count (a place
//! is reserved when an initial INVITE's transaction opens), and ended by a
//! clock that fires each dialog's next deadline (hang-up, maximum duration,
//! session timer) without a task per dialog.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::dialog::{Dialog, DialogKey, Due};
use super::key::Prehashed;

/// A place in the table, held from an initial INVITE's transaction to the
/// end of its dialog; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct DialogSlot(Arc<AtomicUsize>);

impl Drop for DialogSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One clock entry: the instant a dialog must be looked at.
struct Entry {
    at: Instant,
    seq: u64,
    dialog: Weak<Dialog>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The dialogs, their places and their clock.
#[derive(Default)]
pub(crate) struct DialogTable {
    dialogs: Mutex<HashMap<DialogKey, Arc<Dialog>, Prehashed>>,
    /// Places reserved or in use.
    places: Arc<AtomicUsize>,
    clock: Mutex<BinaryHeap<Reverse<Entry>>>,
    next_seq: AtomicU64,
    /// Wakes the clock when an entry earlier than all others is added.
    wake: Notify,
}

impl std::fmt::Debug for DialogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialogTable")
            .field("dialogs", &self.len())
            .field("places", &self.places.load(Ordering::Relaxed))
            .finish()
    }
}

impl DialogTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<DialogKey, Arc<Dialog>, Prehashed>> {
        self.dialogs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_clock(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Entry>>> {
        self.clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves a place for a dialog, unless `max` are reserved or in use.
    pub(crate) fn reserve(&self, max: usize) -> Option<DialogSlot> {
        self.places
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| DialogSlot(self.places.clone()))
    }

    /// Adds a dialog and schedules its first deadline.
    pub(crate) fn insert(&self, dialog: Arc<Dialog>) {
        if let Some(old) = self.lock().insert(dialog.key, dialog.clone()) {
            old.ended.cancel();
        }
        self.schedule(&dialog);
    }

    pub(crate) fn find(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<Arc<Dialog>> {
        self.lock()
            .get(&DialogKey::new(call_id, local_tag, remote_tag))
            .filter(|d| &*d.call_id == call_id && &*d.local_tag == local_tag)
            .cloned()
    }

    /// Ends `dialog` (it stays usable for the BYE that ends it).
    pub(crate) fn remove(&self, dialog: &Dialog) {
        let mut dialogs = self.lock();
        if dialogs
            .get(&dialog.key)
            .is_some_and(|d| std::ptr::eq(Arc::as_ptr(d), dialog))
        {
            dialogs.remove(&dialog.key);
        }
        drop(dialogs);
        dialog.ended.cancel();
    }

    /// Takes every dialog out of the table (shutdown).
    pub(crate) fn take_all(&self) -> Vec<Arc<Dialog>> {
        let taken: Vec<_> = self.lock().drain().map(|(_, d)| d).collect();
        for dialog in &taken {
            dialog.ended.cancel();
        }
        taken
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Every live dialog.
    pub(crate) fn list(&self) -> Vec<Arc<Dialog>> {
        self.lock().values().cloned().collect()
    }

    /// Makes sure the clock looks at `dialog` by its next deadline.
    pub(crate) fn schedule(&self, dialog: &Arc<Dialog>) {
        let (at, _) = dialog.next_due();
        if !dialog.schedule_at(at) {
            return;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut clock = self.lock_clock();
        let earliest = clock.peek().is_none_or(|Reverse(top)| at < top.at);
        clock.push(Reverse(Entry {
            at,
            seq,
            dialog: Arc::downgrade(dialog),
        }));
        drop(clock);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Entries held by the clock (live and stale).
    #[cfg(test)]
    pub(crate) fn clock_len(&self) -> usize {
        self.lock_clock().len()
    }

    /// Fires every deadline as it comes: `due` gets each dialog whose
    /// deadline passed and what it calls for. Runs until dropped.
    pub(crate) async fn run_clock(&self, mut due: impl FnMut(Arc<Dialog>, Due)) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.lock_clock().peek().map(|Reverse(top)| top.at);
            match next {
                Some(at) => tokio::select! {
                    () = &mut notified => continue,
                    () = tokio::time::sleep_until(at) => {}
                },
                None => {
                    notified.await;
                    continue;
                }
            }
            let now = Instant::now();
            for entry in self.pop_due(now) {
                let Some(dialog) = entry.dialog.upgrade() else {
                    continue;
                };
                if dialog.is_ended() || !dialog.take_schedule(entry.at) {
                    continue;
                }
                match dialog.next_due() {
                    (at, what) if at <= now => due(dialog, what),
                    _ => self.schedule(&dialog),
                }
            }
        }
    }

    fn pop_due(&self, now: Instant) -> Vec<Entry> {
        let mut clock = self.lock_clock();
        let mut due = Vec::new();
        while clock.peek().is_some_and(|Reverse(top)| top.at <= now) {
            if let Some(Reverse(entry)) = clock.pop() {
                due.push(entry);
            }
        }
        due
    }
}

#[cfg(test)]
#[path = "dialogs_tests.rs"]
mod tests;
