//! Nonce-count memory (RFC 7616 §3.4: a server that checks `nc` refuses a
//! request whose count it has seen): the highest `nc` used with each
//! nonce, bounded in entries (a 64-bit hash of the nonce per entry, in 16
//! shards so receive loops rarely meet on one lock). At the bound the least
//! recently used nonce is forgotten; a nonce that might have been forgotten
//! (issued no later than the newest one forgotten) is then answered as
//! stale rather than trusted, so no replay ever passes: its client gets a
//! fresh nonce instead.

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;

/// Nonces whose counts are remembered, in all.
pub const MAX_NONCES: usize = 65_536;
const SHARDS: usize = 16;

/// What a nonce count is against what was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountCheck {
    /// Higher than any count seen with this nonce.
    Fresh,
    /// Seen already (or lower): a replay.
    Replayed,
    /// The nonce may have been forgotten at the bound: treat it as stale.
    Forgotten,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    highest: u32,
    issued_ms: u64,
}

#[derive(Debug)]
struct Shard {
    seen: LruCache<u64, Seen>,
    /// The latest issue time of a nonce this shard forgot.
    forgot_up_to: Option<u64>,
}

/// The counts of every nonce in use.
#[derive(Debug)]
pub struct NonceCounts {
    shards: Box<[Mutex<Shard>]>,
    seed: std::collections::hash_map::RandomState,
    forgotten: AtomicU64,
}

impl NonceCounts {
    /// Remembers about `capacity` nonces (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        seen: LruCache::new(per_shard),
                        forgot_up_to: None,
                    })
                })
                .collect(),
            seed: std::collections::hash_map::RandomState::new(),
            forgotten: AtomicU64::new(0),
        }
    }

    /// Whether `nc` may be used with `nonce` (issued at `issued_ms`),
    /// without recording it.
    pub fn check(&self, nonce: &str, issued_ms: u64, nc: u32) -> CountCheck {
        let (hash, shard) = self.shard(nonce);
        let shard = lock(shard);
        verdict(&shard, hash, issued_ms, nc)
    }

    /// Records `nc` for `nonce` if it may be used (the check and the
    /// record are one step: two requests cannot both pass with one count).
    pub fn commit(&self, nonce: &str, issued_ms: u64, nc: u32) -> CountCheck {
        let (hash, shard) = self.shard(nonce);
        let mut shard = lock(shard);
        let verdict = verdict(&shard, hash, issued_ms, nc);
        if verdict != CountCheck::Fresh {
            return verdict;
        }
        let seen = Seen {
            highest: nc,
            issued_ms,
        };
        if let Some((evicted, old)) = shard.seen.push(hash, seen)
            && evicted != hash
        {
            shard.forgot_up_to = Some(shard.forgot_up_to.unwrap_or(0).max(old.issued_ms));
            self.forgotten.fetch_add(1, Ordering::Relaxed);
        }
        CountCheck::Fresh
    }

    /// Nonces forgotten at the bound so far.
    pub fn forgotten(&self) -> u64 {
        self.forgotten.load(Ordering::Relaxed)
    }

    fn shard(&self, nonce: &str) -> (u64, &Mutex<Shard>) {
        let hash = self.seed.hash_one(nonce);
        (hash, &self.shards[(hash as usize) % SHARDS])
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn verdict(shard: &Shard, hash: u64, issued_ms: u64, nc: u32) -> CountCheck {
    match shard.seen.peek(&hash) {
        Some(seen) if nc <= seen.highest => CountCheck::Replayed,
        Some(_) => CountCheck::Fresh,
        None if shard.forgot_up_to.is_some_and(|t| issued_ms <= t) => CountCheck::Forgotten,
        None => CountCheck::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_used_once_and_must_grow() {
        let counts = NonceCounts::new(1024);
        assert_eq!(counts.check("n", 5, 1), CountCheck::Fresh);
        assert_eq!(
            counts.check("n", 5, 1),
            CountCheck::Fresh,
            "check records nothing"
        );
        assert_eq!(counts.commit("n", 5, 1), CountCheck::Fresh);
        assert_eq!(counts.commit("n", 5, 1), CountCheck::Replayed);
        assert_eq!(counts.check("n", 5, 1), CountCheck::Replayed);
        assert_eq!(counts.commit("n", 5, 3), CountCheck::Fresh);
        assert_eq!(
            counts.commit("n", 5, 2),
            CountCheck::Replayed,
            "lower than seen"
        );
        assert_eq!(counts.commit("other", 5, 1), CountCheck::Fresh);
    }

    #[test]
    fn at_the_bound_a_forgotten_nonce_is_never_trusted() {
        let counts = NonceCounts::new(SHARDS);
        // One nonce per shard fits; a flood of newer ones pushes it out.
        assert_eq!(counts.commit("victim", 10, 1), CountCheck::Fresh);
        for i in 0..10_000 {
            counts.commit(&format!("flood-{i}"), 20, 1);
        }
        assert!(counts.forgotten() > 0);
        assert_eq!(
            counts.commit("victim", 10, 1),
            CountCheck::Forgotten,
            "its replay gets a fresh nonce, not a pass"
        );
        // A nonce issued after everything forgotten is known never seen.
        assert_eq!(counts.commit("new", 21, 1), CountCheck::Fresh);
        let held: usize = counts.shards.iter().map(|s| lock(s).seen.len()).sum();
        assert!(held <= SHARDS, "bounded: {held}");
    }
}
