//! The memory of a `[rule.sequence]`: how many requests each key (Call-ID,
//! From user, Request-URI) has made. Bounded in entries and bytes: a key is
//! kept as a 64-bit hash under a per-table random seed, the least recently
//! seen key makes room for a new one (O(1) either way), and a key idle for
//! the TTL starts again at the first policy.

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

/// Keys a sequence remembers by default.
pub const DEFAULT_KEYS: usize = 100_000;

/// Requests seen per key.
#[derive(Debug)]
pub struct SequenceTable {
    seen: Mutex<LruCache<u64, Seen>>,
    /// Seeds the key hash, so a peer cannot pick keys that collide.
    seed: std::collections::hash_map::RandomState,
    ttl: Duration,
    /// Keys dropped to make room for new ones.
    evicted: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Earlier requests with this key.
    count: u32,
    last: Instant,
}

impl SequenceTable {
    /// Remembers at most `keys` keys (at least one), each for `ttl` after
    /// its last request.
    pub fn new(keys: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(keys).unwrap_or(NonZeroUsize::MIN);
        Self {
            seen: Mutex::new(LruCache::new(capacity)),
            seed: std::collections::hash_map::RandomState::new(),
            ttl,
            evicted: AtomicU64::new(0),
        }
    }

    /// How many earlier requests `key` made within the TTL (0 for the
    /// first), counting this one.
    pub fn next_index(&self, key: &str) -> usize {
        let hash = self.seed.hash_one(key);
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = seen.get_mut(&hash) {
            let fresh = now.duration_since(entry.last) < self.ttl;
            entry.count = if fresh {
                entry.count.saturating_add(1)
            } else {
                0
            };
            entry.last = now;
            return entry.count as usize;
        }
        if seen.len() == seen.cap().get() {
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        seen.push(
            hash,
            Seen {
                count: 0,
                last: now,
            },
        );
        0
    }

    /// Forgets every key (each starts again at the first policy).
    pub fn clear(&self) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keys dropped so far to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_table_makes_room_for_a_new_key() {
        let table = SequenceTable::new(100, Duration::from_secs(60));
        assert_eq!(table.next_index("retry"), 0);
        for fresh in 0..1000 {
            assert_eq!(table.next_index(&format!("fresh-{fresh}")), 0);
        }
        assert_eq!(table.len(), 100, "bounded");
        assert_eq!(table.evicted(), 901);
        // The retry's key was the oldest: evicted, so it starts again.
        assert_eq!(table.next_index("retry"), 0);
        assert_eq!(table.next_index("retry"), 1, "then advances: it was stored");
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_in_use_survives_a_flood_of_fresh_ones() {
        let table = SequenceTable::new(100, Duration::from_secs(60));
        assert_eq!(table.next_index("caller"), 0);
        for fresh in 0..1000 {
            table.next_index(&format!("fresh-{fresh}"));
            if fresh % 50 == 0 {
                table.next_index("caller");
            }
        }
        assert!(table.next_index("caller") > 1, "kept while in use");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_key_starts_again_after_the_ttl() {
        let table = SequenceTable::new(10, Duration::from_secs(10));
        assert_eq!(table.next_index("a"), 0);
        assert_eq!(table.next_index("a"), 1);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(table.next_index("a"), 0);
    }
}
