//! Draining at shutdown: wait until nothing is in flight or the drain
//! timeout passes, telling systemd what is going on (STATUS=) and asking
//! for the time it takes (EXTEND_TIMEOUT_USEC=, so a `drain_timeout_ms`
//! longer than TimeoutStopSec= is not cut short by SIGKILL).

use std::time::Duration;

use tracing::{info, warn};

use super::signals::Controls;
use super::systemd::Notifier;
use crate::engine::Engine;

/// How often the drain looks at what is left.
const POLL: Duration = Duration::from_millis(20);
/// How often STATUS= and EXTEND_TIMEOUT_USEC= are sent while draining.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Time asked for beyond what the drain has left: stopping the listeners
/// and exiting.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// SIGTERM: new requests get 503, what is in flight finishes (up to
/// `limit`; a second signal cuts it short), then the dialogs still up are
/// ended with BYE (their BYEs get a few seconds more).
pub(super) async fn stop_serving(
    engine: &Engine,
    limit: Duration,
    notifier: &Notifier,
    controls: &mut Controls,
) {
    notifier.stopping();
    engine.start_draining();
    info!(
        drain_timeout_ms = limit.as_millis() as u64,
        "stopping: draining transactions in flight"
    );
    let drained = tokio::select! {
        drained = drain(engine, limit, notifier) => drained,
        _ = controls.next() => {
            warn!("second stop signal: exiting at once");
            return;
        }
    };
    if !drained {
        warn!("transactions still in flight at exit");
    }
    let ended = engine.transactions().end_all_dialogs();
    if ended > 0 {
        info!(dialogs = ended, "ending the dialogs still up with BYE");
        drain(engine, limit.min(BYE_GRACE), notifier).await;
    }
}

/// How long the BYEs of the dialogs still up at shutdown may take.
const BYE_GRACE: Duration = Duration::from_secs(5);

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
