//! Query strings of `GET /requests`: percent-decoding, the journal filter,
//! and `since` as epoch milliseconds or an RFC 3339 time.
//!
//! Values are percent-decoded (RFC 3986); `+` is a literal plus, not a
//! space, because Call-IDs and RFC 3339 offsets contain it.

use crate::observe::{JournalFilter, MAX_PAGE};

/// Why a query string was refused (the admin listener answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum QueryError {
    #[error("bad percent-encoding in `{0}`")]
    Percent(String),
    #[error("`{0}` is not UTF-8 once percent-decoded")]
    Utf8(String),
    #[error("unknown parameter `{0}` (known: method, rule, call_id, since, after, limit)")]
    Unknown(String),
    #[error("parameter `{0}` is given twice")]
    Repeated(String),
    #[error("parameter `{0}` needs a value")]
    Empty(String),
    #[error("`since` must be milliseconds since the Unix epoch or an RFC 3339 time, not `{0}`")]
    Since(String),
    #[error("`after` must be a record id (a decimal number), not `{0}`")]
    After(String),
    #[error("`limit` must be from 1 to {max}, not `{value}`")]
    Limit { value: String, max: usize },
}

/// The filter a `GET /requests` query string asks for (`None`: no query).
pub(super) fn journal_filter(query: Option<&str>) -> Result<JournalFilter, QueryError> {
    let mut filter = JournalFilter::default();
    let mut limit_seen = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        let slot = match name.as_str() {
            "method" => &mut filter.method,
            "rule" => &mut filter.rule,
            "call_id" => &mut filter.call_id,
            "since" => {
                if filter.since_ms.is_some() {
                    return Err(QueryError::Repeated(name));
                }
                filter.since_ms = Some(since_ms(&value)?);
                continue;
            }
            "after" => {
                if filter.after.is_some() {
                    return Err(QueryError::Repeated(name));
                }
                filter.after = Some(value.parse().map_err(|_| QueryError::After(value))?);
                continue;
            }
            "limit" => {
                if limit_seen {
                    return Err(QueryError::Repeated(name));
                }
                limit_seen = true;
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or(QueryError::Limit {
                        value,
                        max: MAX_PAGE,
                    })?;
                continue;
            }
            _ => return Err(QueryError::Unknown(name)),
        };
        if slot.is_some() {
            return Err(QueryError::Repeated(name));
        }
        if value.is_empty() {
            return Err(QueryError::Empty(name));
        }
        *slot = Some(value);
    }
    Ok(filter)
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

/// `since`: decimal milliseconds since the epoch, or an RFC 3339 date-time.
pub(super) fn since_ms(value: &str) -> Result<u64, QueryError> {
    let refuse = || QueryError::Since(value.to_owned());
    if value.is_empty() {
        return Err(QueryError::Empty("since".to_owned()));
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().map_err(|_| refuse());
    }
    rfc3339_ms(value).ok_or_else(refuse)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` as milliseconds since the epoch
/// (RFC 3339 §5.6); `None` when malformed or before 1970.
fn rfc3339_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, scale) in [100, 10, 1].into_iter().enumerate() {
            if i < len {
                millis += i64::from(fraction[i] - b'0') * scale;
            }
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0, 2)?;
            let minutes = digits(&[*m1, *m2], 0, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds.checked_mul(1000)? + millis).ok()
}

/// `len` ASCII digits of `b` from `at`.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    b.get(at..at + len)?.iter().try_fold(0i64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_query_filters_nothing() {
        for query in [None, Some(""), Some("&&")] {
            let filter = journal_filter(query).expect("empty query is valid");
            assert!(filter.method.is_none() && filter.rule.is_none());
            assert!(filter.call_id.is_none() && filter.since_ms.is_none());
        }
    }

    #[test]
    fn every_parameter_is_read_and_decoded() {
        let filter = journal_filter(Some(
            "method=INVITE&rule=busy%20line&call_id=a%40b+c&since=1700000000123",
        ))
        .expect("valid query");
        assert_eq!(filter.method.as_deref(), Some("INVITE"));
        assert_eq!(filter.rule.as_deref(), Some("busy line"));
        assert_eq!(filter.call_id.as_deref(), Some("a@b+c"), "`+` stays a plus");
        assert_eq!(filter.since_ms, Some(1_700_000_000_123));
    }

    #[test]
    fn pages_are_asked_with_after_and_limit() {
        let filter = journal_filter(Some("after=41&limit=7")).expect("valid");
        assert_eq!((filter.after, filter.limit), (Some(41), 7));
        let filter = journal_filter(None).expect("valid");
        assert_eq!(
            (filter.after, filter.limit),
            (None, crate::observe::DEFAULT_PAGE)
        );
        for bad in ["limit=0", "limit=10001", "limit=x", "limit=-1"] {
            assert!(
                matches!(journal_filter(Some(bad)), Err(QueryError::Limit { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            journal_filter(Some("after=soon")).err(),
            Some(QueryError::After("soon".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("limit=1&limit=2")).err(),
            Some(QueryError::Repeated("limit".to_owned()))
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("abc").as_deref(), Ok("abc"));
        assert_eq!(percent_decode("%41%2f%2F").as_deref(), Ok("A//"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Ok("é"));
        assert_eq!(percent_decode(""), Ok(String::new()));
        for bad in ["%", "%4", "%zz", "a%4g", "%%41"] {
            assert_eq!(
                percent_decode(bad),
                Err(QueryError::Percent(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            percent_decode("%FF"),
            Err(QueryError::Utf8("%FF".to_owned()))
        );
    }

    #[test]
    fn unknown_repeated_and_empty_parameters_are_refused() {
        assert_eq!(
            journal_filter(Some("methd=INVITE")).err(),
            Some(QueryError::Unknown("methd".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("rule=a&rule=b")).err(),
            Some(QueryError::Repeated("rule".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("since=1&since=2")).err(),
            Some(QueryError::Repeated("since".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("method=")).err(),
            Some(QueryError::Empty("method".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("call_id")).err(),
            Some(QueryError::Empty("call_id".to_owned()))
        );
        assert_eq!(
            journal_filter(Some("since=")).err(),
            Some(QueryError::Empty("since".to_owned()))
        );
        assert!(matches!(
            journal_filter(Some("rule=%G0")),
            Err(QueryError::Percent(_))
        ));
    }

    #[test]
    fn since_in_milliseconds() {
        assert_eq!(since_ms("0"), Ok(0));
        assert_eq!(since_ms("1700000000000"), Ok(1_700_000_000_000));
        assert!(matches!(
            since_ms("99999999999999999999999"),
            Err(QueryError::Since(_))
        ));
        assert!(matches!(since_ms("-5"), Err(QueryError::Since(_))));
        assert!(matches!(since_ms("yesterday"), Err(QueryError::Since(_))));
    }

    #[test]
    fn since_in_rfc3339() {
        assert_eq!(since_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(since_ms("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(since_ms("2023-11-14t22:13:20.5z"), Ok(1_700_000_000_500));
        assert_eq!(
            since_ms("2023-11-14 22:13:20.123456Z"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(since_ms("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000_000));
        assert_eq!(
            since_ms("2023-11-14T21:43:20.07-00:30"),
            Ok(1_700_000_000_070)
        );
        assert_eq!(since_ms("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(since_ms("2000-03-01T00:00:00Z"), Ok(951_868_800_000));
    }

    #[test]
    fn malformed_rfc3339_is_refused() {
        for bad in [
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20.Z",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z",
            "2023-11-14T22:13:20+24:00",
            "1969-12-31T23:59:59Z",
            "2023-11-14X22:13:20Z",
            "2023-1-14T22:13:20Z",
            "2023-11-14T22:13:20ZZ",
        ] {
            assert_eq!(
                since_ms(bad),
                Err(QueryError::Since(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
