//! The one retransmission schedule (RFC 3261 §17, §13.3.1.4; RFC 3262 §3):
//! first after T1, then at growing intervals, until a window closes. It
//! serves Timer G/H, the 2xx retransmission, reliable provisional responses
//! and Timer E/F of client transactions; the caller says what stops it
//! (an ACK, a PRACK, a response).

use std::time::Duration;

use tokio::time::Instant;

/// How the interval grows after each retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Growth {
    /// Doubling up to a cap (T2: Timers E, G and the 2xx).
    DoublingUpTo(Duration),
    /// Doubling without a cap (RFC 3262 §3).
    Doubling,
}

/// What a schedule calls for at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing before this instant.
    Wait(Instant),
    /// Send the message again now.
    Resend,
    /// The window closed without the stop condition.
    GiveUp,
}

/// One message's retransmission schedule.
#[derive(Debug, Clone)]
pub(crate) struct Retransmission {
    /// The next resend; `None` when only the window runs (reliable
    /// transports, where the transport retransmits).
    next: Option<Instant>,
    interval: Duration,
    growth: Growth,
    deadline: Instant,
}

impl Retransmission {
    /// Resends after `first`, growing by `growth`, for `window` from `now`.
    pub(crate) fn new(now: Instant, first: Duration, growth: Growth, window: Duration) -> Self {
        Self {
            next: Some(now + first),
            interval: first,
            growth,
            deadline: now + window,
        }
    }

    /// No resends, only the window (Timer H or F over a reliable transport).
    pub(crate) fn window_only(now: Instant, window: Duration) -> Self {
        Self {
            next: None,
            interval: window,
            growth: Growth::Doubling,
            deadline: now + window,
        }
    }

    /// The earliest instant at which [`Self::poll`] has something to say.
    pub(crate) fn wake_at(&self) -> Instant {
        self.next
            .map_or(self.deadline, |next| next.min(self.deadline))
    }

    /// What is due at `now`; a resend moves the schedule on.
    pub(crate) fn poll(&mut self, now: Instant) -> Due {
        if now >= self.deadline {
            return Due::GiveUp;
        }
        match self.next {
            Some(next) if now >= next => {
                self.interval = match self.growth {
                    Growth::DoublingUpTo(cap) => self.interval.saturating_mul(2).min(cap),
                    Growth::Doubling => self.interval.saturating_mul(2),
                };
                self.next = Some(now + self.interval);
                Due::Resend
            }
            _ => Due::Wait(self.wake_at()),
        }
    }

    /// From now on resend every `interval` (Timer E after a provisional
    /// response: T2, RFC 3261 §17.1.2.2).
    pub(crate) fn hold_at(&mut self, now: Instant, interval: Duration) {
        if self.next.is_some() {
            self.interval = interval;
            self.next = Some(now + interval);
            self.growth = Growth::DoublingUpTo(interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Duration = Duration::from_millis(500);
    const T2: Duration = Duration::from_secs(4);

    /// The instants (ms after the start) a schedule resends at.
    fn resends(mut schedule: Retransmission, start: Instant) -> Vec<u128> {
        let mut out = Vec::new();
        let mut now = start;
        loop {
            match schedule.poll(now) {
                Due::GiveUp => return out,
                Due::Resend => out.push((now - start).as_millis()),
                Due::Wait(at) => now = at,
            }
        }
    }

    #[test]
    fn timer_g_doubles_up_to_t2_until_64_t1() {
        let start = Instant::now();
        let g = Retransmission::new(start, T1, Growth::DoublingUpTo(T2), T1 * 64);
        assert_eq!(
            resends(g, start),
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
    }

    #[test]
    fn reliable_provisionals_double_without_a_cap() {
        let start = Instant::now();
        let rel = Retransmission::new(start, T1, Growth::Doubling, T1 * 64);
        assert_eq!(resends(rel, start), [500, 1500, 3500, 7500, 15500, 31500]);
    }

    #[test]
    fn a_window_alone_never_resends() {
        let start = Instant::now();
        let mut h = Retransmission::window_only(start, T1 * 64);
        assert_eq!(h.wake_at(), start + T1 * 64);
        assert_eq!(h.poll(start), Due::Wait(start + T1 * 64));
        assert_eq!(h.poll(start + T1 * 64), Due::GiveUp);
    }

    #[test]
    fn timer_e_holds_at_t2_after_a_provisional() {
        let start = Instant::now();
        let mut e = Retransmission::new(start, T1, Growth::DoublingUpTo(T2), T1 * 64);
        assert_eq!(e.poll(start + T1), Due::Resend);
        e.hold_at(start + T1, T2);
        assert_eq!(
            resends(e, start + T1),
            [4000, 8000, 12000, 16000, 20000, 24000, 28000]
        );
    }
}
