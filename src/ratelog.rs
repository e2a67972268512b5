//! Rate-limited logging: under a flood, one line per interval with the count
//! of lines held back, so the journal is never flooded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lets one log line through per `interval_ms`; counts the others.
#[derive(Debug)]
pub struct LogLimiter {
    interval_ms: u64,
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    pub const fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held
    /// back since the last one; `None` when this one is held back.
    pub fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.interval_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Logs through a [`LogLimiter`]: `limited!(LIMITER, warn!(…))` adds a
/// `suppressed` field with the count of lines held back.
#[macro_export]
macro_rules! limited {
    ($limiter:expr, $level:ident!($($arg:tt)*)) => {
        if let Some(suppressed) = $limiter.allow() {
            tracing::$level!(suppressed, $($arg)*);
        }
    };
}

/// A warning that input from the network can trigger: at most one line per
/// second from this call site, with a `suppressed` count of those held back.
/// Each use of the macro is its own kind (its own limiter).
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)*) => {{
        static LIMITER: $crate::ratelog::LogLimiter = $crate::ratelog::LogLimiter::new(1000);
        $crate::limited!(LIMITER, warn!($($arg)*));
    }};
}

/// [`warn_limited!`] at error level.
#[macro_export]
macro_rules! error_limited {
    ($($arg:tt)*) => {{
        static LIMITER: $crate::ratelog::LogLimiter = $crate::ratelog::LogLimiter::new(1000);
        $crate::limited!(LIMITER, error!($($arg)*));
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_a_count() {
        let limiter = LogLimiter::new(60_000);
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.suppressed.load(Ordering::Relaxed), 2);
    }
}
