use std::time::Duration;

use super::*;
use crate::observe::record::{Direction, Endpoints};
use crate::sip::{Limits, Transport, parse_datagram};

fn record(call_id: &str, body_len: usize, scope: Option<&str>) -> Record {
    let body = "b".repeat(body_len);
    let text = format!(
        "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
    let endpoints = Endpoints {
        transport: Transport::Udp,
        source: "192.0.2.1:5060".parse().expect("addr"),
        destination: "192.0.2.2:5060".parse().expect("addr"),
    };
    Record::of(&message, Direction::Received, endpoints, scope, None)
}

fn journal(capacity: usize, max_bytes: usize) -> Journal {
    let settings = JournalSettings {
        max_bytes,
        ..JournalSettings::in_memory(capacity)
    };
    Journal::new(settings, Counter::default()).expect("in memory")
}

fn ids(records: &[Arc<Record>]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

#[test]
fn bounded_in_count_and_in_bytes() {
    let by_count = journal(3, usize::MAX);
    for i in 0..10 {
        by_count.add(record(&format!("c{i}"), 0, None));
    }
    assert_eq!(ids(&by_count.page(&JournalFilter::default())), [8, 9, 10]);

    let by_bytes = journal(1000, 64 * 1024);
    for i in 0..100 {
        by_bytes.add(record(&format!("c{i}"), 4000, None));
    }
    let (records, bytes) = by_bytes.usage();
    assert!(bytes <= 64 * 1024, "{bytes}");
    assert!((5..100).contains(&records), "{records}");
    let newest = by_bytes.page(&JournalFilter {
        after: Some(99),
        ..JournalFilter::default()
    });
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].call_id, "c99");
}

#[test]
fn responses_count_against_the_byte_bound() {
    let journal = journal(1000, 64 * 1024);
    let first = journal.add(record("c0", 0, None));
    let (_, empty) = journal.usage();
    let body = "v".repeat(4000);
    let response = format!("SIP/2.0 200 OK\r\nContent-Length: 4000\r\n\r\n{body}");
    journal.add_response(first, "r", 200, "OK", response.as_bytes());
    let (_, with_response) = journal.usage();
    assert!(
        with_response >= empty + 4000,
        "{empty} then {with_response}"
    );
    for i in 1..40 {
        let id = journal.add(record(&format!("c{i}"), 0, None));
        journal.add_response(id, "r", 200, "OK", response.as_bytes());
    }
    let (records, bytes) = journal.usage();
    assert!(bytes <= 64 * 1024, "{bytes}");
    assert!(records < 40, "the oldest went: {records}");
}

#[test]
fn pages_follow_after_and_limit_and_filters() {
    let journal = journal(100, usize::MAX);
    for i in 0..25 {
        let scope = (i % 5 == 0).then_some("t1");
        let id = journal.add(record(&format!("c{}", i % 2), 0, scope));
        journal.set_rule(id, if i % 2 == 0 { "even" } else { "odd" });
        journal.add_response(id, "x", 200, "OK", b"SIP/2.0 200 OK\r\n\r\n");
    }
    let page = |after, limit| {
        ids(&journal.page(&JournalFilter {
            after,
            limit,
            ..JournalFilter::default()
        }))
    };
    assert_eq!(page(None, 10), (1..=10).collect::<Vec<_>>());
    assert_eq!(page(Some(10), 10), (11..=20).collect::<Vec<_>>());
    assert_eq!(page(Some(20), 10), (21..=25).collect::<Vec<_>>());
    assert!(page(Some(25), 10).is_empty());
    let odd = journal.page(&JournalFilter {
        rule: Some("odd".into()),
        after: Some(5),
        limit: 3,
        ..JournalFilter::default()
    });
    assert_eq!(ids(&odd), [6, 8, 10]);
    assert_eq!(odd[0].responses().len(), 1);
    let scoped = JournalFilter {
        scope: Some("t1".into()),
        ..JournalFilter::default()
    };
    assert_eq!(journal.count(&scoped), 5);
    assert_eq!(journal.remove_scope("t1"), 5);
    assert_eq!(journal.count(&scoped), 0);
    assert_eq!(journal.count(&JournalFilter::default()), 20);
    // Ids still find their records once some are gone.
    journal.set_rule(2, "changed");
    assert_eq!(
        journal.page(&JournalFilter::default())[0].rule().as_deref(),
        Some("changed")
    );
    journal.clear();
    assert_eq!(journal.usage(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_wait_ends_when_a_matching_record_comes_or_at_its_deadline() {
    let journal = Arc::new(journal(100, usize::MAX));
    let bye = JournalFilter {
        call_id: Some("call".into()),
        rule: Some("hangup".into()),
        ..JournalFilter::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let waiter = {
        let (journal, bye) = (journal.clone(), bye.clone());
        tokio::spawn(async move { journal.wait(&bye, deadline).await.map(|r| r.id) })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    journal.add(record("other", 0, None));
    let id = journal.add(record("call", 0, None));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiter.is_finished(), "the rule is not named yet");
    journal.set_rule(id, "hangup");
    assert_eq!(waiter.await.expect("joins"), Some(id));
    // Already there: at once. Never coming: at the deadline.
    let now = tokio::time::Instant::now();
    assert_eq!(journal.wait(&bye, now).await.map(|r| r.id), Some(id));
    let missing = JournalFilter {
        call_id: Some("never".into()),
        ..JournalFilter::default()
    };
    let deadline = now + Duration::from_secs(3);
    assert!(journal.wait(&missing, deadline).await.is_none());
    assert_eq!(tokio::time::Instant::now(), deadline);
}
