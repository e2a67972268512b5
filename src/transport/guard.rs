//! No amplification toward UDP sources that have not shown they receive
//! (RFC 3261 §26.1.5, §26.3.2.4; the anti-amplification limit of RFC 9000
//! §8.1). Each response to a request may be at most `ratio` times the
//! request's size; everything else sent to the source — retransmissions
//! (Timer G, the 2xx, reliable provisionals, Timer E) and the requests we
//! originate (BYE, UPDATE, MESSAGE) — spends credit the source earned by
//! what it sent (`ratio` times its bytes and messages, plus an optional
//! allowance per second). What finds no credit is not sent. A source that
//! proves it receives (an ACK or request that names our To-tag, a PRACK of
//! our RSeq, a response to our branch) is trusted for a while. Per-source state is bounded: 16 shards of an LRU, a new
//! source evicting the least recently seen; an evicted source starts again
//! with no credit (never failing open).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

const SHARDS: usize = 16;
/// Sources remembered per shard (65,536 in all, about 64 bytes each).
const PER_SHARD: usize = 4096;
/// How long a source that proved it receives is trusted after its last
/// proof.
const TRUSTED_FOR: Duration = Duration::from_secs(600);
/// Credit not spent within this long is forgotten.
const CREDIT_LIFETIME: Duration = Duration::from_secs(64);
/// The most credit a source can bank, whatever it sent.
const MAX_CREDIT_BYTES: f64 = 65_536.0;
const MAX_CREDIT_MESSAGES: f64 = 64.0;

/// How much an unverified source may be sent (`[server.unverified_udp]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    /// Bytes and messages sent per byte and message received.
    pub ratio: f64,
    /// Credit earned per second besides (for lossy links), per source.
    pub messages_per_second: f64,
    pub bytes_per_second: f64,
}

impl Default for Allowance {
    fn default() -> Self {
        Self {
            ratio: 3.0,
            messages_per_second: 0.0,
            bytes_per_second: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Source {
    bytes: f64,
    messages: f64,
    /// When credit was last added.
    updated: Instant,
    trusted_until: Option<Instant>,
}

impl Source {
    fn new(now: Instant) -> Self {
        Self {
            bytes: 0.0,
            messages: 0.0,
            updated: now,
            trusted_until: None,
        }
    }

    /// Adds the per-second allowance since the last update (or forgets
    /// credit grown stale).
    fn accrue(&mut self, now: Instant, allowance: &Allowance) {
        let elapsed = now.saturating_duration_since(self.updated);
        if elapsed > CREDIT_LIFETIME {
            self.bytes = 0.0;
            self.messages = 0.0;
        }
        let seconds = elapsed.min(CREDIT_LIFETIME).as_secs_f64();
        self.bytes = (self.bytes + seconds * allowance.bytes_per_second).min(MAX_CREDIT_BYTES);
        self.messages =
            (self.messages + seconds * allowance.messages_per_second).min(MAX_CREDIT_MESSAGES);
        self.updated = now;
    }

    fn is_trusted(&self, now: Instant) -> bool {
        self.trusted_until.is_some_and(|until| until > now)
    }
}

/// The credit of every UDP source.
#[derive(Debug)]
pub struct SourceGuard {
    shards: Vec<Mutex<LruCache<IpAddr, Source>>>,
    seed: RandomState,
    /// Messages not sent for want of credit.
    withheld: AtomicU64,
}

impl Default for SourceGuard {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(PER_SHARD).unwrap_or(NonZeroUsize::MIN);
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(capacity)))
                .collect(),
            seed: RandomState::new(),
            withheld: AtomicU64::new(0),
        }
    }
}

impl SourceGuard {
    fn with_source<T>(&self, ip: IpAddr, f: impl FnOnce(&mut Source, Instant) -> T) -> T {
        let ip = ip.to_canonical();
        let shard = self.seed.hash_one(ip) as usize % SHARDS;
        let now = Instant::now();
        let mut sources = self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let source = sources.get_or_insert_mut(ip, || Source::new(now));
        f(source, now)
    }

    /// A datagram of `len` bytes arrived from `ip`: it earns credit.
    pub fn received(&self, ip: IpAddr, len: usize, allowance: &Allowance) {
        self.with_source(ip, |source, now| {
            source.accrue(now, allowance);
            source.bytes = (source.bytes + allowance.ratio * len as f64).min(MAX_CREDIT_BYTES);
            source.messages = (source.messages + allowance.ratio).min(MAX_CREDIT_MESSAGES);
        });
    }

    /// `ip` showed it receives what we send it.
    pub fn trust(&self, ip: IpAddr) {
        self.with_source(ip, |source, now| {
            source.trusted_until = Some(now + TRUSTED_FOR);
        });
    }

    /// Whether a response of `len` bytes to a request of `request_len`
    /// bytes may go to `ip`: within `ratio` times the request, or else on
    /// credit.
    pub fn admit_response(
        &self,
        ip: IpAddr,
        len: usize,
        request_len: usize,
        allowance: &Allowance,
    ) -> bool {
        if len as f64 <= allowance.ratio * request_len as f64 {
            return true;
        }
        self.admit(ip, len, allowance)
    }

    /// Whether `len` bytes may go to `ip` now; spends the credit if so.
    pub fn admit(&self, ip: IpAddr, len: usize, allowance: &Allowance) -> bool {
        let admitted = self.with_source(ip, |source, now| {
            if source.is_trusted(now) {
                return true;
            }
            source.accrue(now, allowance);
            let len = len as f64;
            if source.bytes < len || source.messages < 1.0 {
                return false;
            }
            source.bytes -= len;
            source.messages -= 1.0;
            true
        });
        if !admitted {
            self.withheld.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// Messages withheld so far for want of credit.
    pub fn withheld(&self) -> u64 {
        self.withheld.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOOFED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));

    #[tokio::test(start_paused = true)]
    async fn an_unverified_source_gets_three_times_what_it_sent() {
        let guard = SourceGuard::default();
        let allowance = Allowance::default();
        assert!(
            !guard.admit(SPOOFED, 10, &allowance),
            "no credit before it sends"
        );
        guard.received(SPOOFED, 1000, &allowance);
        assert!(guard.admit(SPOOFED, 1200, &allowance));
        assert!(guard.admit(SPOOFED, 1200, &allowance));
        assert!(
            !guard.admit(SPOOFED, 1200, &allowance),
            "3000 bytes at most"
        );
        assert!(guard.admit(SPOOFED, 500, &allowance));
        assert!(
            !guard.admit(SPOOFED, 1, &allowance),
            "three messages at most"
        );
        assert_eq!(guard.withheld(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_within_the_ratio_is_free_a_larger_one_needs_credit() {
        let guard = SourceGuard::default();
        let allowance = Allowance::default();
        guard.received(SPOOFED, 400, &allowance);
        for _ in 0..10 {
            assert!(guard.admit_response(SPOOFED, 900, 300, &allowance));
        }
        assert!(
            !guard.admit_response(SPOOFED, 23_000, 3_300, &allowance),
            "a 64 m-line answer"
        );
        assert!(
            guard.admit_response(SPOOFED, 1000, 300, &allowance),
            "on credit"
        );
        assert!(!guard.admit(SPOOFED, 901, &allowance), "credit spent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trusted_source_is_not_metered_and_credit_goes_stale() {
        let guard = SourceGuard::default();
        let allowance = Allowance::default();
        guard.received(SPOOFED, 100, &allowance);
        tokio::time::advance(CREDIT_LIFETIME + Duration::from_secs(1)).await;
        guard.received(SPOOFED, 10, &allowance);
        assert!(
            !guard.admit(SPOOFED, 100, &allowance),
            "old credit forgotten"
        );
        guard.trust(SPOOFED);
        for _ in 0..100 {
            assert!(guard.admit(SPOOFED, 10_000, &allowance));
        }
        tokio::time::advance(TRUSTED_FOR).await;
        assert!(!guard.admit(SPOOFED, 10_000, &allowance), "trust expires");
    }

    #[tokio::test(start_paused = true)]
    async fn the_per_second_allowance_adds_credit_up_to_a_cap() {
        let guard = SourceGuard::default();
        let allowance = Allowance {
            ratio: 0.0,
            messages_per_second: 1.0,
            bytes_per_second: 500.0,
        };
        guard.received(SPOOFED, 1000, &allowance);
        assert!(!guard.admit(SPOOFED, 400, &allowance));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(guard.admit(SPOOFED, 400, &allowance));
        assert!(!guard.admit(SPOOFED, 400, &allowance));
    }

    #[tokio::test(start_paused = true)]
    async fn sources_are_bounded_and_an_evicted_one_has_no_credit() {
        let guard = SourceGuard::default();
        let allowance = Allowance::default();
        guard.received(SPOOFED, 1000, &allowance);
        for n in 0..(SHARDS * PER_SHARD * 2) as u32 {
            guard.received(
                IpAddr::from((n | 0x0a00_0000).to_be_bytes()),
                10,
                &allowance,
            );
        }
        let held: usize = guard
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").len())
            .sum();
        assert!(held <= SHARDS * PER_SHARD, "{held}");
        assert!(
            !guard.admit(SPOOFED, 100, &allowance),
            "evicted: fails closed"
        );
    }
}
