//! The dialog table's places and clock: deadlines fire in order, a later
//! deadline adds no entry, and an earlier one leaves a stale entry that is
//! ignored when it comes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::super::dialog::{ByeReason, Dialog, DialogSeed, DialogStart, Due};
use super::super::report::Silent;
use super::super::session_timer::{Refresher, SessionTerms};
use super::super::settings::LayerSettings;
use super::DialogTable;
use crate::sip::{Limits, Request, Transport, parse_datagram};
use crate::transport::{Flow, ListenerInfo};

fn request(call_id: &str) -> Request {
    let text = format!(
        "INVITE sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:u@h>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
    );
    Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
        .expect("valid")
}

fn dialog(table: &DialogTable, call_id: &str, session: Option<SessionTerms>) -> Arc<Dialog> {
    let local = "127.0.0.1:5060".parse().expect("addr");
    let (recorder, _) = tokio::sync::mpsc::unbounded_channel();
    let flow = Flow::recorder(Transport::Udp, local, local, recorder);
    let listener = ListenerInfo::new(Transport::Udp, local, None);
    let slot = table.reserve(10).expect("a place");
    let seed = DialogSeed::new(&request(call_id), flow, &listener, slot);
    let settings = LayerSettings::default();
    let start = DialogStart {
        local_tag: "l".into(),
        reporter: Arc::new(Silent),
        settings: Arc::new(settings),
        answer: None,
        session,
        early_cseq: 0,
    };
    let dialog = Arc::new(Dialog::new(seed, start, Instant::now()));
    dialog.acknowledge(1);
    table.insert(dialog.clone());
    dialog
}

#[tokio::test(start_paused = true)]
async fn deadlines_fire_in_order_and_places_are_bounded() {
    let table = Arc::new(DialogTable::default());
    let start = Instant::now();
    let long = dialog(&table, "long", None);
    let hung_up = dialog(&table, "hangup", None);
    hung_up.set_hangup(Duration::from_secs(30), start);
    table.schedule(&hung_up);
    let timed = dialog(
        &table,
        "timer",
        Some(SessionTerms {
            interval: 90,
            refresher: Refresher::Uac,
            uac_supports: true,
        }),
    );
    assert!(table.reserve(3).is_none(), "three places taken of three");
    assert_eq!(
        table.clock_len(),
        4,
        "the hang-up came earlier: one stale entry"
    );

    let fired = Arc::new(Mutex::new(Vec::new()));
    let clock = {
        let (table, fired) = (table.clone(), fired.clone());
        tokio::spawn(async move {
            let inner = table.clone();
            table
                .run_clock(move |dialog, due| {
                    fired.lock().expect("lock").push((
                        dialog.call_id.to_string(),
                        due,
                        start.elapsed(),
                    ));
                    inner.remove(&dialog);
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(5 * 3600)).await;
    clock.abort();
    let fired = fired.lock().expect("lock").clone();
    assert_eq!(
        fired,
        [
            (
                "hangup".to_owned(),
                Due::Bye(ByeReason::Hangup),
                Duration::from_secs(30)
            ),
            // RFC 4028 §10: 90 s less min(32 s, 30 s).
            (
                "timer".to_owned(),
                Due::Bye(ByeReason::SessionExpired),
                Duration::from_secs(60)
            ),
            (
                "long".to_owned(),
                Due::Bye(ByeReason::MaxDuration),
                Duration::from_secs(4 * 3600)
            ),
        ]
    );
    assert_eq!(table.len(), 0);
    assert_eq!(table.clock_len(), 0, "stale entries are popped too");
    drop((long, hung_up, timed));
    assert!(table.reserve(3).is_some(), "the places are free again");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_moves_the_session_deadline_without_a_new_entry() {
    let table = Arc::new(DialogTable::default());
    let terms = SessionTerms {
        interval: 90,
        refresher: Refresher::Uac,
        uac_supports: true,
    };
    let refreshed = dialog(&table, "refreshed", Some(terms));
    let before = table.clock_len();
    tokio::time::advance(Duration::from_secs(50)).await;
    refreshed.refreshed(Some(terms), Instant::now());
    table.schedule(&refreshed);
    assert_eq!(table.clock_len(), before, "a later deadline adds nothing");
    assert_eq!(
        refreshed.next_due(),
        (
            Instant::now() + Duration::from_secs(60),
            Due::Bye(ByeReason::SessionExpired)
        )
    );
}
