//! The built-in registrar (RFC 3261 §10.3): bindings of address-of-record to
//! contacts with their expiry, kept in memory and bounded (per
//! address-of-record, in total and in bytes), removed when they expire by a
//! task of their own; a live binding is where an auto-reply MESSAGE to that
//! user goes.

mod table;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::observe::Observer;
use crate::rules::RegisterPolicy;
use crate::sip::{ContactValue, Contacts, Request, address_of_record, wire_bytes};
use crate::transport::Flow;
use table::{BindingKey, Entry, Table};

/// Most bindings kept at once; beyond it new bindings get 503.
pub const MAX_BINDINGS: usize = 100_000;
/// Longest contact URI or address-of-record a binding stores, in bytes
/// (Kamailio's location table holds 512); longer gets 400.
pub const MAX_URI_BYTES: usize = 512;
/// Longest `+sip.instance` a binding stores, in bytes; longer gets 400.
pub const MAX_INSTANCE_BYTES: usize = 256;

/// A live binding, as a lookup returns it.
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
    /// The reason phrase, when not the standard one.
    pub reason: Option<String>,
    /// Pre-rendered `Name: value\r\n` lines (Contact, Min-Expires, Date…),
    /// contacts as the bytes they were received as.
    pub headers: Vec<u8>,
}

/// Bindings by address-of-record, and the task that expires them.
#[derive(Debug, Default)]
pub struct Registrar {
    shared: Arc<Shared>,
    /// Started by the first REGISTER (a runtime is running then); stops
    /// the expiry task when the registrar goes.
    reaper: OnceLock<DropGuard>,
}

#[derive(Debug)]
struct Shared {
    table: Mutex<Table>,
    /// An earlier expiry than the task sleeps for was added.
    sooner: Notify,
    observer: OnceLock<Arc<Observer>>,
    /// Most bindings in total ([`MAX_BINDINGS`]).
    max_bindings: usize,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            table: Mutex::default(),
            sooner: Notify::new(),
            observer: OnceLock::new(),
            max_bindings: MAX_BINDINGS,
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a bound reached (`bound_reached_total{state}`).
    fn count(&self, state: &'static str) {
        if let Some(observer) = self.observer.get() {
            observer.metrics.bound_reached(state);
        }
    }

    /// Sleeps until the next expiry (or an earlier one is added), removes
    /// what expired, until `stop`.
    async fn reap(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let next = self.lock().next_expiry();
            let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.sooner.notified() => continue,
                () = tokio::time::sleep_until(wake) => {}
            }
            let expired = self.lock().expire(Instant::now());
            if let Some(observer) = self.observer.get() {
                for _ in 0..expired {
                    observer.metrics.registrar_expired();
                }
            }
        }
    }
}

/// A contact of the REGISTER, checked and with its granted expiry.
struct Wanted<'a> {
    uri: &'a str,
    key: BindingKey,
    expires: u32,
}

impl Registrar {
    /// Counts the registrar's bounds in `observer`'s metrics from now on.
    pub fn observed_by(&self, observer: Option<&Arc<Observer>>) {
        if let Some(observer) = observer {
            let _ = self.shared.observer.set(observer.clone());
        }
    }

    fn start_reaper(&self) {
        self.reaper.get_or_init(|| {
            let stop = CancellationToken::new();
            tokio::spawn(self.shared.clone().reap(stop.clone()));
            stop.drop_guard()
        });
    }

    /// Applies a REGISTER (§10.3 steps 5-8) and says what to answer. The
    /// bindings change all together or not at all (§10.3 step 7).
    pub fn register(
        &self,
        request: &Request,
        policy: &RegisterPolicy,
        flow: &Flow,
    ) -> RegisterAnswer {
        self.start_reaper();
        let aor = address_of_record(request.to_uri());
        if aor.len() > MAX_URI_BYTES {
            self.shared.count("registrar_binding_bytes");
            return too_long("address-of-record", MAX_URI_BYTES);
        }
        let Ok(contacts) = request.contacts() else {
            return answer(400, Vec::new());
        };
        let default_expires = request.expires().unwrap_or(policy.default_expires);
        let now = Instant::now();
        let list = match contacts {
            Contacts::None => return self.bindings_answer(&aor, policy, now),
            // `Contact: *` with expiry 0 removes every binding (§10.2.2).
            Contacts::Star if default_expires != 0 => return answer(400, Vec::new()),
            Contacts::Star => {
                self.shared.lock().replace(&aor, Vec::new());
                return answer(200, date_header().into_bytes());
            }
            Contacts::List(list) => list,
        };
        let mut wanted = Vec::with_capacity(list.len());
        for contact in &list {
            match self.wanted(contact, default_expires, policy) {
                Ok(one) => wanted.push(one),
                Err(refusal) => return refusal,
            }
        }
        if let Err(refusal) = self.apply(&aor, &wanted, policy, flow, now) {
            return refusal;
        }
        self.bindings_answer(&aor, policy, now)
    }

    /// Checks one contact and grants its expiry (§10.3 step 6).
    fn wanted<'a>(
        &self,
        contact: &ContactValue<'a>,
        default_expires: u32,
        policy: &RegisterPolicy,
    ) -> Result<Wanted<'a>, RegisterAnswer> {
        if contact.uri.len() > MAX_URI_BYTES {
            self.shared.count("registrar_binding_bytes");
            return Err(too_long("Contact URI", MAX_URI_BYTES));
        }
        let key = match contact.instance {
            Some(instance) if instance.len() > MAX_INSTANCE_BYTES => {
                self.shared.count("registrar_binding_bytes");
                return Err(too_long("+sip.instance", MAX_INSTANCE_BYTES));
            }
            // RFC 5626 §6: instance and reg-id name the binding.
            Some(instance) => BindingKey::Instance {
                instance: instance.into(),
                reg_id: contact.reg_id,
            },
            None => BindingKey::Uri(contact.uri.into()),
        };
        let expires = contact.expires.unwrap_or(default_expires);
        // §10.3 step 7: too brief is refused with Min-Expires.
        if expires != 0 && expires < policy.min_expires {
            let headers = format!("Min-Expires: {}\r\n", policy.min_expires);
            return Err(answer(423, headers.into_bytes()));
        }
        Ok(Wanted {
            uri: contact.uri,
            key,
            expires: expires.min(policy.max_expires),
        })
    }

    /// Updates the bindings of `aor` with `wanted`, within the bounds.
    fn apply(
        &self,
        aor: &str,
        wanted: &[Wanted<'_>],
        policy: &RegisterPolicy,
        flow: &Flow,
        now: Instant,
    ) -> Result<(), RegisterAnswer> {
        let mut table = self.shared.lock();
        let stored = table.bindings(aor).len();
        let mut entries: Vec<Entry> = table
            .bindings(aor)
            .iter()
            .filter(|b| b.expires > now)
            .cloned()
            .collect();
        let mut replaced = 0;
        for one in wanted {
            entries.retain(|b| !b.is_replaced_by(&one.key, one.uri));
            if one.expires == 0 {
                continue;
            }
            if entries.len() >= policy.max_contacts {
                if !policy.replace_oldest {
                    self.shared.count("registrar_contacts");
                    return Err(RegisterAnswer {
                        status: 503,
                        reason: Some("Too Many Registered Contacts".into()),
                        headers: Vec::new(),
                    });
                }
                if let Some(oldest) = (0..entries.len()).min_by_key(|&i| entries[i].written) {
                    entries.remove(oldest);
                    replaced += 1;
                }
            }
            entries.push(Entry {
                contact: one.uri.into(),
                key: one.key.clone(),
                expires: now + Duration::from_secs(u64::from(one.expires)),
                flow: flow.clone(),
                written: table.next_write(),
            });
        }
        let max_bindings = self.shared.max_bindings;
        if entries.len() > stored && table.total() - stored + entries.len() > max_bindings {
            self.shared.count("registrar_bindings");
            return Err(answer(503, b"Retry-After: 60\r\n".to_vec()));
        }
        for _ in 0..replaced {
            self.shared.count("registrar_contacts");
        }
        table.replace(aor, entries);
        drop(table);
        self.shared.sooner.notify_one();
        Ok(())
    }

    /// The 200: the current bindings of `aor` with their remaining time,
    /// at most `max_contacts` of them (the most recently written), so a
    /// query is never answered with more than that (no amplification).
    fn bindings_answer(&self, aor: &str, policy: &RegisterPolicy, now: Instant) -> RegisterAnswer {
        let table = self.shared.lock();
        let live: Vec<&Entry> = table
            .bindings(aor)
            .iter()
            .filter(|b| b.expires > now)
            .collect();
        let skip = live.len().saturating_sub(policy.max_contacts);
        let mut headers = Vec::with_capacity(64 * live.len().min(policy.max_contacts) + 40);
        for binding in live.iter().skip(skip) {
            let left = binding.expires.saturating_duration_since(now).as_secs();
            headers.extend_from_slice(b"Contact: <");
            headers.extend_from_slice(&wire_bytes(&binding.contact));
            headers.extend_from_slice(format!(">;expires={left}\r\n").as_bytes());
        }
        headers.extend_from_slice(date_header().as_bytes());
        answer(200, headers)
    }

    /// The freshest live binding of `uri`'s address-of-record.
    pub fn lookup(&self, uri: &str) -> Option<Binding> {
        let now = Instant::now();
        self.shared
            .lock()
            .bindings(&address_of_record(uri))
            .iter()
            .filter(|b| b.expires > now)
            .max_by_key(|b| b.expires)
            .map(|b| Binding {
                contact: b.contact.to_string(),
                expires: b.expires,
                flow: b.flow.clone(),
            })
    }

    /// Every live binding: (address-of-record, contact, seconds left).
    pub fn list(&self) -> Vec<(String, String, u64)> {
        let now = Instant::now();
        let mut out: Vec<_> = self
            .shared
            .lock()
            .iter()
            .filter(|(_, b)| b.expires > now)
            .map(|(aor, b)| {
                let left = b.expires.saturating_duration_since(now).as_secs();
                (aor.to_owned(), b.contact.to_string(), left)
            })
            .collect();
        out.sort();
        out
    }

    /// Forgets every binding (the admin API's reset); returns how many.
    pub fn clear(&self) -> usize {
        let gone = std::mem::take(&mut *self.shared.lock());
        gone.total()
    }

    /// Bindings held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.shared.lock().total()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn answer(status: u16, headers: Vec<u8>) -> RegisterAnswer {
    RegisterAnswer {
        status,
        reason: None,
        headers,
    }
}

/// 400 naming a part longer than a binding may store.
fn too_long(what: &str, limit: usize) -> RegisterAnswer {
    RegisterAnswer {
        status: 400,
        reason: Some(format!("Bad Request ({what} longer than {limit} bytes)")),
        headers: Vec::new(),
    }
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
mod tests;
