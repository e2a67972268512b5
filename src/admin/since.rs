//! `since` in the admin queries: epoch milliseconds or an RFC 3339 time
//! (RFC 3339 §5.6), as epoch milliseconds.

use super::query::QueryError;

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
