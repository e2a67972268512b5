//! Draining at shutdown: wait until nothing is in flight or the drain
//! timeout passes, telling systemd what is going on (STATUS=) and asking
//! for the time it takes (EXTEND_TIMEOUT_USEC=, so a `drain_timeout_ms`
//! longer than TimeoutStopSec= is not cut short by SIGKILL).

use std::time::Duration;

use super::systemd::Notifier;
use crate::engine::Engine;

/// How often the drain looks at what is left.
const POLL: Duration = Duration::from_millis(20);
/// How often STATUS= and EXTEND_TIMEOUT_USEC= are sent while draining.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Time asked for beyond what the drain has left: stopping the listeners
/// and exiting.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// Waits until nothing is in flight, or `limit` passes. True when drained.
pub(super) async fn drain(engine: &Engine, limit: Duration, notifier: &Notifier) -> bool {
    let start = tokio::time::Instant::now();
    let deadline = start + limit;
    let mut next_report = start;
    loop {
        if engine.is_idle() {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        if now >= next_report {
            let left = deadline - now;
            notifier.send(&drain_notification(
                engine.transactions().transactions_in_progress(),
                left,
            ));
            next_report = now + REPORT_EVERY;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `STATUS=` and `EXTEND_TIMEOUT_USEC=` for a drain with `in_flight`
/// transactions and `left` to go. Each notification asks for what is left
/// plus a margin, and the next one comes before that runs out.
pub(super) fn drain_notification(in_flight: usize, left: Duration) -> String {
    format!(
        "STATUS=draining: {in_flight} transaction(s) in flight, at most {} s left\nEXTEND_TIMEOUT_USEC={}",
        left.as_secs_f64().ceil() as u64,
        (left + EXIT_MARGIN).as_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notification_asks_for_what_is_left_and_a_margin() {
        assert_eq!(
            drain_notification(3, Duration::from_millis(29_500)),
            "STATUS=draining: 3 transaction(s) in flight, at most 30 s left\nEXTEND_TIMEOUT_USEC=34500000"
        );
    }
}
