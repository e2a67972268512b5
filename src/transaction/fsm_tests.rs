//! The INVITE server transaction's state machine, event by event.
use super::*;

const RING: Duration = Duration::from_secs(180);

fn fsm(reliable: bool) -> (InviteFsm, Instant) {
    let now = Instant::now();
    (InviteFsm::new(now, Timers::default(), RING, reliable), now)
}

fn bytes(text: &'static str) -> Bytes {
    Bytes::from_static(text.as_bytes())
}

#[test]
fn a_failure_is_resent_on_timer_g_until_the_ack() {
    let (mut tx, start) = fsm(false);
    assert!(tx.provisional(bytes("180"), None, start));
    assert!(tx.final_response(bytes("486"), 486, start));
    assert_eq!(tx.phase(), Phase::Completed);
    assert!(!tx.final_response(bytes("200"), 200, start), "one final");
    let at = tx.wake_at().expect("Timer G runs");
    assert_eq!(at, start + Duration::from_millis(500));
    assert_eq!(tx.on_timer(at), [TimerAction::Resend(bytes("486"))]);
    assert!(tx.ack());
    assert_eq!(tx.phase(), Phase::Confirmed);
    assert_eq!(tx.wake_at(), None);
    assert_eq!(tx.done(), Some(Done::Linger(Duration::from_secs(5))));
}

#[test]
fn timer_h_ends_a_failure_without_ack() {
    let (mut tx, start) = fsm(true);
    tx.final_response(bytes("486"), 486, start);
    let at = tx.wake_at().expect("Timer H runs");
    assert_eq!(at, start + Duration::from_secs(32), "no Timer G over TCP");
    assert_eq!(tx.on_timer(at), [TimerAction::NoAckForFinal]);
    assert_eq!(tx.done(), Some(Done::Remove));
}

#[test]
fn a_2xx_is_resent_until_the_dialog_acks_then_lingers_for_timer_l() {
    let (mut tx, start) = fsm(true);
    tx.final_response(bytes("200"), 200, start);
    assert_eq!(tx.phase(), Phase::Accepted);
    let at = tx.wake_at().expect("2xx schedule");
    assert_eq!(at, start + Duration::from_millis(500), "even over TCP");
    assert_eq!(tx.on_timer(at), [TimerAction::Resend(bytes("200"))]);
    assert_eq!(tx.done(), None, "still awaiting the ACK");
    tx.dialog_acked();
    assert_eq!(tx.retransmission(), Some(bytes("200")));
    assert_eq!(tx.done(), Some(Done::Cached), "Timer L runs in the cache");
}

#[test]
fn no_ack_for_the_2xx_in_64_t1_ends_the_dialog() {
    let (mut tx, start) = fsm(false);
    tx.final_response(bytes("200"), 200, start);
    let mut resent = 0;
    let now = loop {
        let now = tx.wake_at().expect("runs until it gives up");
        let actions = tx.on_timer(now);
        if actions.contains(&TimerAction::NoAckFor2xx) {
            break now;
        }
        resent += actions.len();
    };
    assert_eq!(now, start + Duration::from_secs(32));
    assert_eq!(resent, 10);
    assert_eq!(tx.done(), Some(Done::Remove));
}

#[test]
fn ringing_ends_at_the_ring_timeout_and_cancel_only_while_ringing() {
    let (mut tx, start) = fsm(false);
    assert!(tx.is_cancelable());
    assert_eq!(tx.wake_at(), Some(start + RING));
    assert_eq!(tx.on_timer(start + RING), [TimerAction::RingTimeout]);
    tx.final_response(bytes("480"), 480, start + RING);
    assert!(!tx.is_cancelable());
}

#[test]
fn a_reliable_provisional_is_resent_until_its_prack_or_times_out() {
    let (mut tx, start) = fsm(true);
    tx.provisional(bytes("180 rseq 7"), Some(7), start);
    let at = tx.wake_at().expect("resent over TCP too (RFC 3262 §3)");
    assert_eq!(at, start + Duration::from_millis(500));
    assert_eq!(
        tx.on_timer(at),
        [TimerAction::ResendProvisional {
            rseq: 7,
            bytes: bytes("180 rseq 7")
        }]
    );
    tx.prack_acknowledged(6);
    assert_eq!(tx.wake_at(), Some(start + Duration::from_millis(1500)));
    tx.prack_acknowledged(7);
    assert_eq!(tx.wake_at(), Some(start + RING), "only the ring timer");

    tx.provisional(bytes("183 rseq 8"), Some(8), start);
    let timed_out = loop {
        let now = tx.wake_at().expect("runs");
        let actions = tx.on_timer(now);
        if actions.contains(&TimerAction::PrackTimeout { rseq: 8 }) {
            break now;
        }
    };
    assert_eq!(timed_out, start + Duration::from_secs(32));
}

#[test]
fn the_final_response_stops_provisional_retransmission() {
    let (mut tx, start) = fsm(false);
    tx.provisional(bytes("183"), Some(1), start);
    tx.final_response(bytes("200"), 200, start);
    tx.dialog_acked();
    assert_eq!(tx.wake_at(), None);
}
