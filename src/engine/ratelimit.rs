//! A token bucket per source address (`[server.rate_limit]`), bounded so a
//! flood from many addresses cannot grow it without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::config::RateLimit;

/// Most source addresses tracked; past it, idle ones are forgotten.
const MAX_SOURCES: usize = 65_536;

#[derive(Debug, Default)]
pub(super) struct SourceLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl SourceLimiter {
    /// Takes a token for `source`; false when it is over its rate.
    pub(super) fn admit(&self, source: IpAddr, limit: &RateLimit) -> bool {
        let now = Instant::now();
        let rate = f64::from(limit.per_second);
        let burst = f64::from(limit.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&source) {
            // A full bucket is as good as forgotten: drop those.
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_SOURCES {
                return true;
            }
        }
        let (tokens, last) = buckets.entry(source.to_canonical()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refills_at_the_rate() {
        let limiter = SourceLimiter::default();
        let limit = RateLimit {
            per_second: 10,
            burst: 3,
            answer_503: true,
        };
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!((0..3).all(|_| limiter.admit(ip, &limit)));
        assert!(!limiter.admit(ip, &limit));
        assert!(
            limiter.admit("192.0.2.2".parse().expect("ip"), &limit),
            "per source"
        );
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        assert!(limiter.admit(ip, &limit));
        assert!(!limiter.admit(ip, &limit));
    }
}
