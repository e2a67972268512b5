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

#[test]
fn media_events_count_against_the_bytes_and_are_bounded() {
    let journal = journal(10, usize::MAX);
    let id = journal.add(record("call", 0, None));
    let (_, before) = journal.usage();
    for digit in 0..100 {
        journal.add_media(id, serde_json::json!({ "type": "dtmf", "digit": digit }));
    }
    let (_, after) = journal.usage();
    let kept = journal.page(&JournalFilter::default());
    assert_eq!(kept[0].media().len(), crate::observe::MAX_MEDIA_EVENTS);
    assert!(after > before, "the events' bytes are counted");
    assert_eq!(after, kept[0].size(), "exactly what the record holds");
    // Eviction takes back the media's bytes with their record.
    let small = journal_bounded(1);
    let first = small.add(record("a", 0, None));
    small.add_media(first, serde_json::json!({ "type": "dtmf" }));
    small.add(record("b", 0, None));
    let (records, bytes) = small.usage();
    assert_eq!(records, 1);
    assert_eq!(bytes, small.page(&JournalFilter::default())[0].size());
}

fn journal_bounded(capacity: usize) -> Journal {
    journal(capacity, usize::MAX)
}

/// A journal with a file in a scratch directory, and the file's lines.
fn journal_with_file(capacity: usize) -> (Journal, impl Fn() -> Vec<serde_json::Value>) {
    let dir = std::env::temp_dir().join(format!(
        "sip-autoresponder-journal-media-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("journal.jsonl");
    let settings = JournalSettings {
        file: Some(path.clone()),
        ..JournalSettings::in_memory(capacity)
    };
    let journal = Journal::new(settings, Counter::default()).expect("file");
    let lines = move || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    (journal, lines)
}

/// Waits (bounded) for the writer thread to have written `count` lines.
fn lines_within(
    lines: &impl Fn() -> Vec<serde_json::Value>,
    count: usize,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = lines();
        if now.len() >= count || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_call_with_media_is_written_when_its_media_ends() {
    let (journal, lines) = journal_with_file(10);
    let call = journal.add(record("call", 0, None));
    journal.hold_for_media(call);
    // Its final response would complete it; the media holds it open.
    journal.finish(call);
    journal.add_media(call, serde_json::json!({ "type": "dtmf", "digit": "5" }));
    let other = journal.add(record("other", 0, None));
    journal.finish(other);
    let written = lines_within(&lines, 1);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["call_id"], "other");
    journal.add_media(call, serde_json::json!({ "type": "media_ended" }));
    journal.release_media(call);
    let written = lines_within(&lines, 2);
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(written[1]["call_id"], "call");
    assert_eq!(written[1]["media"][0]["digit"], "5");
    assert_eq!(written[1]["media"][1]["type"], "media_ended");
    // Written once: a later finish changes nothing (the writer keeps the
    // order, so once a later record is in the file, nothing else came).
    journal.finish(call);
    let sentinel = journal.add(record("sentinel", 0, None));
    journal.finish(sentinel);
    let written = lines_within(&lines, 3);
    let calls: Vec<_> = written.iter().map(|l| l["call_id"].clone()).collect();
    assert_eq!(calls, ["other", "call", "sentinel"]);
}

#[test]
fn a_held_record_the_journal_evicts_is_written_as_it_stands() {
    let (journal, lines) = journal_with_file(1);
    let call = journal.add(record("long-call", 0, None));
    journal.hold_for_media(call);
    journal.finish(call);
    journal.add_media(call, serde_json::json!({ "type": "dtmf", "digit": "1" }));
    journal.add(record("next", 0, None));
    let written = lines_within(&lines, 1);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["call_id"], "long-call");
    assert_eq!(written[0]["media"][0]["digit"], "1");
    // Its media's end finds no record: nothing more is written.
    journal.release_media(call);
    let sentinel = journal.add(record("sentinel", 0, None));
    journal.finish(sentinel);
    let written = lines_within(&lines, 2);
    let calls: Vec<_> = written.iter().map(|l| l["call_id"].clone()).collect();
    assert_eq!(calls, ["long-call", "sentinel"]);
}
