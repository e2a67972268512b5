//! The request journal: the last N requests that reached the rules, with
//! the rule that answered and the responses sent, as JSON; optionally
//! appended to a file as JSON lines.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::sip::{Request, Transport};

/// One response sent to a journalled request.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRecord {
    pub status: u16,
    pub reason: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// One request and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub transport: &'static str,
    pub source: String,
    pub method: String,
    pub request_uri: String,
    pub call_id: String,
    pub from: String,
    pub to: String,
    /// Every header field as received, in order.
    pub headers: Vec<(String, String)>,
    pub rule: Option<String>,
    pub responses: Vec<ResponseRecord>,
}

/// What `GET /requests` may filter on.
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub method: Option<String>,
    pub rule: Option<String>,
    pub call_id: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
}

impl JournalFilter {
    fn keeps(&self, record: &Record) -> bool {
        self.method.as_deref().is_none_or(|m| record.method == m)
            && self
                .rule
                .as_deref()
                .is_none_or(|r| record.rule.as_deref() == Some(r))
            && self.call_id.as_deref().is_none_or(|c| record.call_id == c)
            && self.since_ms.is_none_or(|t| record.time_ms >= t)
    }
}

/// A bounded ring of records.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    state: Mutex<State>,
    file: Option<Mutex<std::fs::File>>,
}

#[derive(Debug, Default)]
struct State {
    records: VecDeque<Record>,
    next_id: u64,
}

impl Journal {
    pub fn new(capacity: usize, file: Option<PathBuf>) -> std::io::Result<Self> {
        let file = match file {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        Ok(Self {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            file,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record_request(
        &self,
        request: &Request,
        source: SocketAddr,
        transport: Transport,
    ) -> u64 {
        let message = request.message();
        let mut state = self.lock();
        state.next_id += 1;
        let record = Record {
            id: state.next_id,
            time_ms: now_ms(),
            transport: transport.name(),
            source: source.to_string(),
            method: request.method().to_owned(),
            request_uri: request.uri().to_owned(),
            call_id: request.call_id().to_owned(),
            from: request.from_value().to_owned(),
            to: request.to_value().to_owned(),
            headers: message
                .header_fields()
                .map(|(_, name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            rule: None,
            responses: Vec::new(),
        };
        self.append_line(&serde_json::json!({ "type": "request", "record": &record }));
        let id = record.id;
        if state.records.len() == self.capacity {
            state.records.pop_front();
        }
        state.records.push_back(record);
        id
    }

    pub fn set_rule(&self, id: u64, rule: &str) {
        if let Some(record) = self.lock().find(id) {
            record.rule = Some(rule.to_owned());
        }
        self.append_line(&serde_json::json!({ "type": "rule", "id": id, "rule": rule }));
    }

    pub fn record_response(&self, id: u64, status: u16, reason: &str) {
        let response = ResponseRecord {
            status,
            reason: reason.to_owned(),
            time_ms: now_ms(),
        };
        self.append_line(
            &serde_json::json!({ "type": "response", "id": id, "response": &response }),
        );
        if let Some(record) = self.lock().find(id) {
            record.responses.push(response);
        }
    }

    /// The records kept, oldest first, that pass `filter`.
    pub fn list(&self, filter: &JournalFilter) -> Vec<Record> {
        self.lock()
            .records
            .iter()
            .filter(|r| filter.keeps(r))
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.lock().records.clear();
    }

    fn append_line(&self, value: &serde_json::Value) {
        if let Some(file) = &self.file {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{value}");
        }
    }
}

impl State {
    /// Ids grow by one, so the record of `id` is at a known offset.
    fn find(&mut self, id: u64) -> Option<&mut Record> {
        let first = self.records.front()?.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        self.records.get_mut(index).filter(|r| r.id == id)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
