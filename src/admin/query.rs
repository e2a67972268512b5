//! Query strings of the admin routes: percent-decoding, the journal filter
//! of `/requests` (and of its `count`, `wait` and `unmatched` forms), and
//! the parameters of the other routes. Every parameter is known, given once
//! and non-empty, or the request is refused (400) naming it.
//!
//! Values are percent-decoded (RFC 3986); `+` is a literal plus, not a
//! space, because Call-IDs and RFC 3339 offsets contain it.

use super::since::since_ms;
use crate::lab::Placement;
use crate::observe::{Direction, JournalFilter, MAX_PAGE};

/// Why a query string was refused (the admin listener answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum QueryError {
    #[error("bad percent-encoding in `{0}`")]
    Percent(String),
    #[error("`{0}` is not UTF-8 once percent-decoded")]
    Utf8(String),
    #[error("unknown parameter `{name}` (known: {known})")]
    Unknown { name: String, known: String },
    #[error("parameter `{0}` is given twice")]
    Repeated(String),
    #[error("parameter `{0}` needs a value")]
    Empty(String),
    #[error("`since` must be milliseconds since the Unix epoch or an RFC 3339 time, not `{0}`")]
    Since(String),
    #[error("`{name}` must be {what}, not `{value}`")]
    Value {
        name: &'static str,
        what: String,
        value: String,
    },
    #[error("give one of `position`, `before` and `after`")]
    Placements,
}

/// The journal's filters, in `/requests` queries.
const FILTERS: [&str; 9] = [
    "method",
    "rule",
    "call_id",
    "scope",
    "direction",
    "status",
    "since",
    "after",
    "limit",
];

/// The decoded `name=value` pairs of `query`, each name once, among `known`.
fn pairs(query: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, QueryError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name)?, percent_decode(value)?);
        if !known.contains(&name.as_str()) {
            return Err(QueryError::Unknown {
                name,
                known: known.join(", "),
            });
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::Repeated(name));
        }
        if value.is_empty() {
            return Err(QueryError::Empty(name));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A number parameter within `range`.
fn number<T>(
    name: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, QueryError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    value
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| QueryError::Value {
            name,
            what: format!("a number from {} to {}", range.start(), range.end()),
            value: value.to_owned(),
        })
}

/// The journal filter a query asks for, and the values of `extra`
/// parameters it may also carry (in `extra`'s order, `None` when absent).
pub(super) fn journal_query(
    query: Option<&str>,
    extra: &[&'static str],
) -> Result<(JournalFilter, Vec<Option<String>>), QueryError> {
    let mut known: Vec<&str> = FILTERS.to_vec();
    known.extend_from_slice(extra);
    let mut filter = JournalFilter::default();
    let mut extras = vec![None; extra.len()];
    for (name, value) in pairs(query, &known)? {
        match name.as_str() {
            "method" => filter.method = Some(value),
            "rule" => filter.rule = Some(value),
            "call_id" => filter.call_id = Some(value),
            "scope" => filter.scope = Some(value),
            "direction" => filter.direction = Some(direction(&value)?),
            "status" => filter.status = Some(number("status", &value, 100..=699)?),
            "since" => filter.since_ms = Some(since_ms(&value)?),
            "after" => filter.after = Some(number("after", &value, 0..=u64::MAX)?),
            "limit" => filter.limit = number("limit", &value, 1..=MAX_PAGE)?,
            other => {
                if let Some(i) = extra.iter().position(|e| *e == other) {
                    extras[i] = Some(value);
                }
            }
        }
    }
    Ok((filter, extras))
}

/// The filter of `GET /requests`.
pub(super) fn journal_filter(query: Option<&str>) -> Result<JournalFilter, QueryError> {
    journal_query(query, &[]).map(|(filter, _)| filter)
}

fn direction(value: &str) -> Result<Direction, QueryError> {
    match value {
        "received" => Ok(Direction::Received),
        "sent" => Ok(Direction::Sent),
        _ => Err(QueryError::Value {
            name: "direction",
            what: "`received` or `sent`".to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// `timeout_ms` of `/requests/wait`: from 1 to `max`, `default` if absent.
pub(super) fn timeout_ms(value: Option<&str>, default: u64, max: u64) -> Result<u64, QueryError> {
    value.map_or(Ok(default), |v| number("timeout_ms", v, 1..=max))
}

/// Where `POST /rules` puts its rules: `?position=first|last` (last by
/// default), `?before=NAME` or `?after=NAME`.
pub(super) fn placement(query: Option<&str>) -> Result<Placement, QueryError> {
    let given = pairs(query, &["position", "before", "after"])?;
    let [(name, value)] = given.as_slice() else {
        return if given.is_empty() {
            Ok(Placement::Last)
        } else {
            Err(QueryError::Placements)
        };
    };
    match (name.as_str(), value.as_str()) {
        ("position", "first") => Ok(Placement::First),
        ("position", "last") => Ok(Placement::Last),
        ("position", other) => Err(QueryError::Value {
            name: "position",
            what: "`first` or `last` (or use `before` / `after`)".to_owned(),
            value: other.to_owned(),
        }),
        ("before", anchor) => Ok(Placement::Before(anchor.to_owned())),
        (_, anchor) => Ok(Placement::After(anchor.to_owned())),
    }
}

/// `?keep_api_rules=true|false` of `POST /reload` (true by default).
pub(super) fn keep_api_rules(query: Option<&str>) -> Result<bool, QueryError> {
    match pairs(query, &["keep_api_rules"])?.first() {
        None => Ok(true),
        Some((_, value)) => match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(QueryError::Value {
                name: "keep_api_rules",
                what: "`true` or `false`".to_owned(),
                value: other.to_owned(),
            }),
        },
    }
}

/// `?limit=` of `GET /dialogs` (1000 by default).
pub(super) fn limit(query: Option<&str>) -> Result<usize, QueryError> {
    match pairs(query, &["limit"])?.first() {
        None => Ok(crate::observe::DEFAULT_PAGE),
        Some((_, value)) => number("limit", value, 1..=MAX_PAGE),
    }
}

/// A query that must be empty.
pub(super) fn none(query: Option<&str>) -> Result<(), QueryError> {
    pairs(query, &[]).map(|_| ())
}

/// `%XX` escapes decoded; the result must be UTF-8.
pub(super) fn percent_decode(raw: &str) -> Result<String, QueryError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex);
            let low = bytes.get(i + 2).copied().and_then(hex);
            let (Some(high), Some(low)) = (high, low) else {
                return Err(QueryError::Percent(raw.to_owned()));
            };
            out.push((high << 4) | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::Utf8(raw.to_owned()))
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
