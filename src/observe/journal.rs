//! The request journal: the last requests that reached the rules, with the
//! rule that answered and the responses sent, bounded in count
//! (`journal_size`) and in bytes (`journal_max_bytes`), oldest dropped
//! first; optionally copied to a file (see `journal_file.rs`). Readers take
//! a page of shared records under the lock and serialise them after it, so
//! the SIP path never waits for a large answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;

use super::journal_file::{JournalFile, Line};
use super::record::{Record, ResponseRecord, now_ms};
use crate::sip::{Request, Transport};

/// Records in one page of `GET /requests` when the query names no limit.
pub const DEFAULT_PAGE: usize = 1000;
/// Most records in one page.
pub const MAX_PAGE: usize = 10_000;

/// How big the journal may grow, and where its copy goes.
#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// Records kept.
    pub capacity: usize,
    /// Bytes kept (the records' estimated sizes).
    pub max_bytes: usize,
    /// The JSON-lines copy, if any.
    pub file: Option<PathBuf>,
    /// The copy is rotated at this size.
    pub file_max_bytes: u64,
}

impl JournalSettings {
    /// `capacity` records in memory, no file.
    pub fn in_memory(capacity: usize) -> Self {
        Self {
            capacity,
            max_bytes: 16 * 1024 * 1024,
            file: None,
            file_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What `GET /requests` may filter on, and which page it wants.
#[derive(Debug, Clone)]
pub struct JournalFilter {
    pub method: Option<String>,
    pub rule: Option<String>,
    pub call_id: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only records with a greater id (the last id of the previous page).
    pub after: Option<u64>,
    /// At most this many records.
    pub limit: usize,
}

impl Default for JournalFilter {
    fn default() -> Self {
        Self {
            method: None,
            rule: None,
            call_id: None,
            since_ms: None,
            after: None,
            limit: DEFAULT_PAGE,
        }
    }
}

impl JournalFilter {
    fn keeps(&self, record: &Record) -> bool {
        self.method.as_deref().is_none_or(|m| record.method == m)
            && self
                .rule
                .as_deref()
                .is_none_or(|r| record.rule().as_deref() == Some(r))
            && self.call_id.as_deref().is_none_or(|c| record.call_id == c)
            && self.since_ms.is_none_or(|t| record.time_ms >= t)
    }
}

/// A ring of records bounded in count and bytes.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    max_bytes: usize,
    state: Mutex<State>,
    file: Option<JournalFile>,
}

#[derive(Debug, Default)]
struct State {
    records: VecDeque<Arc<Record>>,
    bytes: usize,
    next_id: u64,
}

impl Journal {
    /// `file_dropped` counts lines the file's writer was too far behind for.
    pub fn new(settings: JournalSettings, file_dropped: Counter) -> std::io::Result<Self> {
        let file = match settings.file {
            Some(path) => Some(JournalFile::open(
                path,
                settings.file_max_bytes,
                file_dropped,
            )?),
            None => None,
        };
        Ok(Self {
            capacity: settings.capacity.max(1),
            max_bytes: settings.max_bytes,
            state: Mutex::new(State::default()),
            file,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `request`; returns its id. The record is built outside the
    /// lock, and the records it evicts are freed outside it too.
    pub fn record_request(
        &self,
        request: &Request,
        source: SocketAddr,
        transport: Transport,
    ) -> u64 {
        let mut record = Record::of(0, request, source, transport);
        let mut evicted = Vec::new();
        let record = {
            let mut state = self.lock();
            state.next_id += 1;
            record.id = state.next_id;
            let record = Arc::new(record);
            state.bytes += record.size();
            state.records.push_back(record.clone());
            while state.records.len() > self.capacity
                || (state.bytes > self.max_bytes && state.records.len() > 1)
            {
                let Some(oldest) = state.records.pop_front() else {
                    break;
                };
                state.bytes -= oldest.size();
                evicted.push(oldest);
            }
            record
        };
        drop(evicted);
        let id = record.id;
        if let Some(file) = &self.file {
            file.push(Line::Request(record));
        }
        id
    }

    pub fn set_rule(&self, id: u64, rule: &str) {
        if let Some(record) = self.find(id) {
            record.set_rule(rule);
        }
        if let Some(file) = &self.file {
            file.push(Line::Rule {
                id,
                rule: rule.to_owned(),
            });
        }
    }

    pub fn record_response(&self, id: u64, status: u16, reason: &str) {
        let response = ResponseRecord {
            status,
            reason: reason.to_owned(),
            time_ms: now_ms(),
        };
        if let Some(record) = self.find(id) {
            record.add_response(response.clone());
        }
        if let Some(file) = &self.file {
            file.push(Line::Response { id, response });
        }
    }

    /// One page of the records kept, oldest first, that pass `filter`:
    /// shared records, to be serialised after the lock is released.
    pub fn page(&self, filter: &JournalFilter) -> Vec<Arc<Record>> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let state = self.lock();
        let start = filter
            .after
            .map_or(0, |after| state.records.partition_point(|r| r.id <= after));
        state
            .records
            .range(start..)
            .filter(|r| filter.keeps(r))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Records and bytes held now.
    pub fn usage(&self) -> (usize, usize) {
        let state = self.lock();
        (state.records.len(), state.bytes)
    }

    pub fn clear(&self) {
        let records = {
            let mut state = self.lock();
            state.bytes = 0;
            std::mem::take(&mut state.records)
        };
        drop(records);
    }

    /// The record of `id`, if still kept (ids grow by one, so it is at a
    /// known offset).
    fn find(&self, id: u64) -> Option<Arc<Record>> {
        let state = self.lock();
        let first = state.records.front()?.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        state.records.get(index).filter(|r| r.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(call_id: &str, body_len: usize) -> Request {
        let body = "b".repeat(body_len);
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
        Request::validate(message).expect("valid")
    }

    fn journal(capacity: usize, max_bytes: usize) -> Journal {
        let settings = JournalSettings {
            max_bytes,
            ..JournalSettings::in_memory(capacity)
        };
        Journal::new(settings, Counter::default()).expect("in memory")
    }

    fn source() -> SocketAddr {
        "192.0.2.1:5060".parse().expect("addr")
    }

    #[test]
    fn bounded_in_count_and_in_bytes() {
        let by_count = journal(3, usize::MAX);
        for i in 0..10 {
            by_count.record_request(&request(&format!("c{i}"), 0), source(), Transport::Udp);
        }
        let ids: Vec<u64> = by_count
            .page(&JournalFilter::default())
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, [8, 9, 10]);

        let by_bytes = journal(1000, 64 * 1024);
        for i in 0..100 {
            by_bytes.record_request(&request(&format!("c{i}"), 4000), source(), Transport::Udp);
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
    fn pages_follow_after_and_limit_and_filters() {
        let journal = journal(100, usize::MAX);
        for i in 0..25 {
            let id = journal.record_request(
                &request(&format!("c{}", i % 2), 0),
                source(),
                Transport::Udp,
            );
            journal.set_rule(id, if i % 2 == 0 { "even" } else { "odd" });
            journal.record_response(id, 200, "OK");
        }
        let page = |after, limit| {
            journal
                .page(&JournalFilter {
                    after,
                    limit,
                    ..JournalFilter::default()
                })
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
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
        let ids: Vec<u64> = odd.iter().map(|r| r.id).collect();
        assert_eq!(ids, [6, 8, 10]);
        assert_eq!(odd[0].responses().len(), 1);
        journal.clear();
        assert_eq!(journal.usage(), (0, 0));
    }
}
