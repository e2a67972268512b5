//! What `GET /requests` (and its `count`, `wait` and `unmatched` forms)
//! may ask of the journal: the records' fields to match, and the page.

use super::journal::DEFAULT_PAGE;
use super::record::{Direction, Record};
use crate::rules::FALLBACK_RULE;

/// Filters on a record and the page wanted; every filter given must hold.
#[derive(Debug, Clone)]
pub struct JournalFilter {
    pub method: Option<String>,
    pub rule: Option<String>,
    pub call_id: Option<String>,
    pub scope: Option<String>,
    pub direction: Option<Direction>,
    /// A response with this status was sent (or, for a request of ours,
    /// came back).
    pub status: Option<u16>,
    /// Only requests no rule took (answered by the fallback).
    pub unmatched: bool,
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
            scope: None,
            direction: None,
            status: None,
            unmatched: false,
            since_ms: None,
            after: None,
            limit: DEFAULT_PAGE,
        }
    }
}

impl JournalFilter {
    pub(super) fn keeps(&self, record: &Record) -> bool {
        let rule = || record.rule();
        self.method.as_deref().is_none_or(|m| record.method == m)
            && self.call_id.as_deref().is_none_or(|c| record.call_id == c)
            && self
                .scope
                .as_deref()
                .is_none_or(|s| record.scope.as_deref() == Some(s))
            && self.direction.is_none_or(|d| record.direction == d)
            && self.since_ms.is_none_or(|t| record.time_ms >= t)
            && self
                .rule
                .as_deref()
                .is_none_or(|r| rule().as_deref() == Some(r))
            && (!self.unmatched || rule().as_deref() == Some(FALLBACK_RULE))
            && self.status.is_none_or(|s| record.has_status(s))
    }
}
