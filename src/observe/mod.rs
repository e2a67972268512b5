//! What the admin listener shows: the request journal and the metrics. The
//! engine, contexts and daemon feed an [`Observer`]; nothing is collected
//! when the admin listener is off.

mod journal;
mod journal_file;
mod metrics;
mod record;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

pub use journal::{DEFAULT_PAGE, Journal, JournalFilter, JournalSettings, MAX_PAGE};
pub use metrics::Metrics;
pub use record::{BODY_LIMIT, Record, ResponseRecord, VALUE_LIMIT};

use crate::sip::{Cause, Request, Transport};

/// The journal and the metrics of one daemon.
#[derive(Debug)]
pub struct Observer {
    pub journal: Journal,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl Observer {
    /// A journal as `journal` says (its file, if any, gets every record
    /// as a JSON line) and fresh metrics.
    pub fn new(journal: JournalSettings) -> std::io::Result<Self> {
        let metrics = Metrics::new();
        let file_dropped = metrics.drop_counter("journal file behind");
        Ok(Self {
            journal: Journal::new(journal, file_dropped)?,
            metrics,
            ready: AtomicBool::new(false),
        })
    }

    /// Listeners are bound (`GET /health` answers 200 from now on).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A request reached the rules; returns its journal id.
    pub fn request(&self, request: &Request, source: SocketAddr, transport: Transport) -> u64 {
        self.metrics.request(request.method(), transport);
        self.journal.record_request(request, source, transport)
    }

    /// The rule (or "fallback", "protocol", a dialog's rule) that answers.
    pub fn rule(&self, id: u64, rule: &str) {
        self.journal.set_rule(id, rule);
    }

    /// A response was sent.
    pub fn response(&self, id: u64, rule: &str, status: u16, reason: &str) {
        self.metrics.response(rule, status);
        self.journal.record_response(id, status, reason);
    }

    /// An event (progress, accepted, rejected, failed, …) with its cause.
    pub fn event(&self, kind: &'static str, cause: Option<Cause>) {
        self.metrics.event(kind, cause);
    }
}
