//! Admission by source address (`[server] rate_limit`), decided on the raw
//! datagram or stream message before anything parses it: a token bucket
//! per source in a table bounded in entries, whose idle entries expire.
//! Sources the table has no room for share one bucket per shard, so a flood
//! from many (spoofed) addresses is limited too: the limit never fails open.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimit;
use crate::observe::Observer;
use crate::transport::Admission;

/// Most source addresses with a bucket of their own.
const MAX_SOURCES: usize = 65_536;
/// The table is split so receive loops rarely wait for each other.
const SHARDS: usize = 32;
/// A full shard looks for expired entries at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// At most one 503 per source (or per shared bucket) in this time.
const REFUSAL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    last_refusal: Option<Instant>,
}

impl Bucket {
    fn full(limit: &RateLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            last: now,
            last_refusal: None,
        }
    }

    fn refill(&mut self, limit: &RateLimit, now: Instant) {
        let earned = now.duration_since(self.last).as_secs_f64() * f64::from(limit.per_second);
        self.tokens = (self.tokens + earned).min(f64::from(limit.burst));
        self.last = now;
    }

    fn take(&mut self, limit: &RateLimit, now: Instant) -> Admission {
        self.refill(limit, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Admit;
        }
        let may_refuse = self
            .last_refusal
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_INTERVAL);
        if limit.answer_503 && may_refuse {
            self.last_refusal = Some(now);
            Admission::Refuse
        } else {
            Admission::Drop
        }
    }

    /// Full again and no recent 503: forgetting it changes nothing.
    fn is_expired(&self, limit: &RateLimit, now: Instant) -> bool {
        let mut refilled = *self;
        refilled.refill(limit, now);
        refilled.tokens >= f64::from(limit.burst)
            && self
                .last_refusal
                .is_none_or(|at| now.duration_since(at) >= REFUSAL_INTERVAL)
    }
}

#[derive(Debug, Default)]
struct Shard {
    buckets: HashMap<IpAddr, Bucket>,
    /// Shared by the sources this shard has no room for.
    overflow: Option<Bucket>,
    last_sweep: Option<Instant>,
}

/// The per-source buckets of one engine.
#[derive(Debug)]
pub(super) struct SourceLimiter {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// Keyed, so a sender cannot aim its sources at one shard.
    hasher: std::collections::hash_map::RandomState,
}

impl Default for SourceLimiter {
    fn default() -> Self {
        Self::new(MAX_SOURCES)
    }
}

impl SourceLimiter {
    /// A table with room for about `max_sources` sources.
    pub(super) fn new(max_sources: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: max_sources.div_ceil(SHARDS).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Takes a token for `source`: admitted, or over its rate (a 503 at
    /// most once a second when the action is "503", else dropped).
    pub(super) fn admit(&self, source: IpAddr, limit: &RateLimit) -> Admission {
        let source = source.to_canonical();
        let index = usize::try_from(self.hasher.hash_one(source) % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if let Some(bucket) = shard.buckets.get_mut(&source) {
            return bucket.take(limit, now);
        }
        if shard.buckets.len() >= self.per_shard {
            shard.sweep(limit, now);
        }
        if shard.buckets.len() < self.per_shard {
            return shard
                .buckets
                .entry(source)
                .or_insert_with(|| Bucket::full(limit, now))
                .take(limit, now);
        }
        shard
            .overflow
            .get_or_insert_with(|| Bucket::full(limit, now))
            .take(limit, now)
    }

    /// Sources with a bucket of their own now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.buckets.len()))
            .sum()
    }
}

impl Shard {
    /// Forgets expired buckets, at most once per [`SWEEP_INTERVAL`] so a
    /// full table of active sources costs no scan per datagram.
    fn sweep(&mut self, limit: &RateLimit, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|at| now.duration_since(at) < SWEEP_INTERVAL)
        {
            return;
        }
        self.last_sweep = Some(now);
        self.buckets
            .retain(|_, bucket| !bucket.is_expired(limit, now));
    }
}

/// Counts and logs (one line a second) what the limit held back.
pub(super) fn over_limit(observer: Option<&Observer>, peer: SocketAddr, limit: &RateLimit) {
    if let Some(observer) = observer {
        observer.metrics.drop("rate limited");
    }
    crate::warn_limited!(%peer, per_second = limit.per_second, "source over its rate limit");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32, answer_503: bool) -> RateLimit {
        RateLimit {
            per_second,
            burst,
            answer_503,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refills_at_the_rate() {
        let limiter = SourceLimiter::default();
        let limit = limit(10, 3, false);
        let a = ip("192.0.2.1");
        assert!((0..3).all(|_| limiter.admit(a, &limit) == Admission::Admit));
        assert_eq!(limiter.admit(a, &limit), Admission::Drop);
        assert_eq!(
            limiter.admit(ip("192.0.2.2"), &limit),
            Admission::Admit,
            "per source"
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(limiter.admit(a, &limit), Admission::Admit);
        assert_eq!(limiter.admit(a, &limit), Admission::Drop);
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_one_refusal_a_second_per_source() {
        let limiter = SourceLimiter::default();
        let limit = limit(2, 1, true);
        let a = ip("192.0.2.1");
        assert_eq!(limiter.admit(a, &limit), Admission::Admit);
        assert_eq!(limiter.admit(a, &limit), Admission::Refuse);
        for _ in 0..100 {
            assert_eq!(limiter.admit(a, &limit), Admission::Drop);
        }
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(limiter.admit(a, &limit), Admission::Admit, "refilled");
        assert_eq!(limiter.admit(a, &limit), Admission::Drop, "503 600 ms ago");
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(limiter.admit(a, &limit), Admission::Refuse);
        assert_eq!(limiter.admit(a, &limit), Admission::Drop);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_shares_a_bucket_instead_of_failing_open() {
        let limiter = SourceLimiter::new(SHARDS * 2);
        let limit = limit(1, 1, false);
        let mut admitted = 0;
        for n in 0..10_000u32 {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 | n));
            if limiter.admit(source, &limit) == Admission::Admit {
                admitted += 1;
            }
        }
        assert!(limiter.tracked() <= SHARDS * 2, "{}", limiter.tracked());
        // One token per tracked source, one per shard's shared bucket.
        assert!(admitted <= SHARDS * 3, "admitted {admitted} of 10000");
        // Idle entries expire: after a refill new sources get a bucket again.
        let before = limiter.tracked();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(limiter.admit(ip("192.0.2.9"), &limit), Admission::Admit);
        assert!(
            limiter.tracked() < before,
            "the shard swept its expired entries"
        );
    }
}
