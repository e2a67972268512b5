//! The built-in registrar (RFC 3261 §10.3): bindings of address-of-record to
//! contacts with their expiry, kept in memory and bounded; a live binding is
//! where an auto-reply MESSAGE to that user goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::rules::RegisterPolicy;
use crate::sip::{HeaderName, Request};
use crate::transport::Flow;

/// Most bindings kept at once; beyond it new registrations get 503.
const MAX_BINDINGS: usize = 100_000;

/// One contact bound to an address-of-record.
#[derive(Debug, Clone)]
pub struct Binding {
    pub contact: String,
    pub expires: Instant,
    /// The flow the REGISTER came over (requests to the user go back on it).
    pub flow: Flow,
}

/// What the registrar answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterAnswer {
    pub status: u16,
    /// Pre-rendered `Name: value\r\n` lines (Contact, Min-Expires, Date).
    pub headers: String,
}

/// Bindings by address-of-record.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: Mutex<HashMap<String, Vec<Binding>>>,
}

impl Registrar {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Binding>>> {
        self.bindings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies a REGISTER (§10.3 steps 6-8) and says what to answer.
    pub fn register(
        &self,
        request: &Request,
        policy: &RegisterPolicy,
        flow: &Flow,
    ) -> RegisterAnswer {
        let now = Instant::now();
        let aor = address_of_record(request.to_uri());
        let default_expires = request
            .header(HeaderName::Expires)
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(policy.default_expires);
        let contacts: Vec<&str> = request
            .header_values(HeaderName::Contact)
            .flat_map(split_contacts)
            .collect();
        let mut bindings = self.lock();
        bindings.retain(|_, list| {
            list.retain(|b| b.expires > now);
            !list.is_empty()
        });
        // `Contact: *` with expiry 0 removes every binding (§10.2.2).
        if contacts.iter().any(|c| c.trim() == "*") {
            if default_expires != 0 || contacts.len() != 1 {
                return answer(400, String::new());
            }
            bindings.remove(&aor);
            return answer(200, date_header());
        }
        let mut wanted = Vec::new();
        for contact in &contacts {
            let Some(uri) = contact_uri(contact) else {
                return answer(400, String::new());
            };
            let expires = expires_param(contact).unwrap_or(default_expires);
            // §10.3 step 7: too brief is refused with Min-Expires.
            if expires != 0 && expires < policy.min_expires {
                return answer(423, format!("Min-Expires: {}\r\n", policy.min_expires));
            }
            wanted.push((uri.to_owned(), expires.min(policy.max_expires)));
        }
        let total: usize = bindings.values().map(Vec::len).sum();
        let list = bindings.entry(aor.clone()).or_default();
        for (uri, expires) in wanted {
            list.retain(|b| b.contact != uri);
            if expires > 0 {
                if total >= MAX_BINDINGS {
                    return answer(503, "Retry-After: 60\r\n".to_owned());
                }
                list.push(Binding {
                    contact: uri,
                    expires: now + Duration::from_secs(u64::from(expires)),
                    flow: flow.clone(),
                });
            }
        }
        // The 200 lists every current binding with its remaining time.
        let mut headers = String::new();
        for binding in list.iter() {
            let left = binding.expires.saturating_duration_since(now).as_secs();
            headers.push_str(&format!(
                "Contact: <{}>;expires={left}\r\n",
                binding.contact
            ));
        }
        if list.is_empty() {
            bindings.remove(&aor);
        }
        headers.push_str(&date_header());
        answer(200, headers)
    }

    /// The freshest live binding of `uri`'s address-of-record.
    pub fn lookup(&self, uri: &str) -> Option<Binding> {
        let now = Instant::now();
        self.lock()
            .get(&address_of_record(uri))?
            .iter()
            .filter(|b| b.expires > now)
            .max_by_key(|b| b.expires)
            .cloned()
    }

    /// Every live binding: (address-of-record, contact, seconds left).
    pub fn list(&self) -> Vec<(String, String, u64)> {
        let now = Instant::now();
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .flat_map(|(aor, list)| {
                list.iter().filter(|b| b.expires > now).map(move |b| {
                    (
                        aor.clone(),
                        b.contact.clone(),
                        b.expires.saturating_duration_since(now).as_secs(),
                    )
                })
            })
            .collect();
        out.sort();
        out
    }
}

fn answer(status: u16, headers: String) -> RegisterAnswer {
    RegisterAnswer { status, headers }
}

/// `sip:user@host` without parameters, host lower-cased (RFC 3261 §10.3 step 5).
fn address_of_record(uri: &str) -> String {
    let bare = uri.split([';', '?']).next().unwrap_or(uri);
    match bare.rsplit_once('@') {
        Some((user, host)) => format!(
            "{}@{}",
            user.to_ascii_lowercase().replacen("sips:", "sip:", 1),
            host.to_ascii_lowercase()
        ),
        None => bare.to_ascii_lowercase(),
    }
}

fn split_contacts(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

fn contact_uri(contact: &str) -> Option<&str> {
    match contact.find('<') {
        Some(open) => {
            let rest = &contact[open + 1..];
            Some(&rest[..rest.find('>')?])
        }
        None => Some(contact.split(';').next()?.trim()),
    }
}

/// The `expires` parameter of a contact (after the URI).
fn expires_param(contact: &str) -> Option<u32> {
    let params = match contact.rfind('>') {
        Some(close) => &contact[close + 1..],
        None => contact.split_once(';').map_or("", |(_, p)| p),
    };
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("expires"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// `Date:` now, RFC 1123 in GMT (RFC 3261 §20.17).
fn date_header() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("Date: {}\r\n", http_date(secs))
}

/// Seconds since the epoch as `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc1123() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 GMT");
    }

    #[test]
    fn contact_parts() {
        assert_eq!(
            split_contacts("<sip:a@b>;expires=60, \"X, Y\" <sip:c@d>"),
            ["<sip:a@b>;expires=60", "\"X, Y\" <sip:c@d>"]
        );
        assert_eq!(
            contact_uri("\"X\" <sip:c@d;transport=ws>;expires=5"),
            Some("sip:c@d;transport=ws")
        );
        assert_eq!(expires_param("<sip:c@d;expires=9>;expires=5"), Some(5));
        assert_eq!(expires_param("sip:c@d;expires=7"), Some(7));
        assert_eq!(
            address_of_record("sip:Bob@Example.COM;transport=udp"),
            "sip:bob@example.com"
        );
    }
}
