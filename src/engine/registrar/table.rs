//! The registrar's bindings: address-of-record → contacts, with an index by
//! expiry so bindings are removed when they expire (without traffic) and
//! with every count kept as it changes rather than computed (O(1)).

use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use crate::transport::Flow;

/// What identifies a binding within its address-of-record: the instance
/// and reg-id of RFC 5626 §6 when the contact has an instance, else its
/// URI (RFC 3261 §10.3 step 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BindingKey {
    Instance {
        instance: Box<str>,
        reg_id: Option<u32>,
    },
    Uri(Box<str>),
}

/// One contact bound to an address-of-record.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The contact URI as received (escapes of `sip::wire` kept).
    pub(super) contact: Box<str>,
    pub(super) key: BindingKey,
    pub(super) expires: Instant,
    /// The flow the REGISTER came over (requests to the user go back on it).
    pub(super) flow: Flow,
    /// When the binding was last written, in writes: unique, so it also
    /// names the binding in the expiry index, and orders replace-oldest.
    pub(super) written: u64,
}

impl Entry {
    /// Whether a new contact with `key` and `uri` replaces this binding.
    pub(super) fn is_replaced_by(&self, key: &BindingKey, uri: &str) -> bool {
        match (&self.key, key) {
            (BindingKey::Instance { .. }, BindingKey::Instance { .. }) => self.key == *key,
            // One side without an instance: the URIs decide (§10.3 step 7).
            _ => *self.contact == *uri,
        }
    }
}

/// Every binding, by address-of-record.
#[derive(Debug, Default)]
pub(super) struct Table {
    by_aor: HashMap<Box<str>, Vec<Entry>>,
    /// (expiry, written) of every binding → its address-of-record.
    expiry: BTreeMap<(Instant, u64), Box<str>>,
    total: usize,
    writes: u64,
}

impl Table {
    /// The bindings of `aor`, expired ones the reaper has not reached yet
    /// included.
    pub(super) fn bindings(&self, aor: &str) -> &[Entry] {
        self.by_aor.get(aor).map_or(&[], Vec::as_slice)
    }

    /// Bindings in the table.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// A fresh `written` stamp.
    pub(super) fn next_write(&mut self) -> u64 {
        self.writes += 1;
        self.writes
    }

    /// Makes `entries` the bindings of `aor` (none removes it): O(entries
    /// log n).
    pub(super) fn replace(&mut self, aor: &str, entries: Vec<Entry>) {
        if let Some(old) = self.by_aor.remove(aor) {
            for entry in &old {
                self.expiry.remove(&(entry.expires, entry.written));
            }
            self.total -= old.len();
        }
        if entries.is_empty() {
            return;
        }
        let key: Box<str> = aor.into();
        for entry in &entries {
            self.expiry
                .insert((entry.expires, entry.written), key.clone());
        }
        self.total += entries.len();
        self.by_aor.insert(key, entries);
    }

    /// When the next binding expires.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes every binding expired at `now`; returns how many.
    pub(super) fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(entry) = self.expiry.first_entry() {
            let (at, written) = *entry.key();
            if at > now {
                break;
            }
            let aor = entry.remove();
            if let Some(list) = self.by_aor.get_mut(&aor) {
                let before = list.len();
                list.retain(|binding| binding.written != written);
                let gone = before - list.len();
                self.total -= gone;
                removed += gone;
                if list.is_empty() {
                    self.by_aor.remove(&aor);
                }
            }
        }
        removed
    }

    /// Every binding with its address-of-record.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.by_aor
            .iter()
            .flat_map(|(aor, list)| list.iter().map(move |entry| (&**aor, entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Flow;
    use std::time::Duration;

    /// A UDP flow on loopback (the table only stores it).
    async fn flow() -> Flow {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let local = socket.local_addr().expect("address");
        Flow::udp(std::sync::Arc::new(socket), local, local)
    }

    fn entry(table: &mut Table, flow: &Flow, contact: &str, expires: Instant) -> Entry {
        Entry {
            contact: contact.into(),
            key: BindingKey::Uri(contact.into()),
            expires,
            flow: flow.clone(),
            written: table.next_write(),
        }
    }

    #[tokio::test]
    async fn counts_follow_every_change_and_expiry_removes() {
        let flow = flow().await;
        let now = Instant::now();
        let mut table = Table::default();
        let soon = entry(&mut table, &flow, "sip:a@h", now + Duration::from_secs(1));
        let later = entry(&mut table, &flow, "sip:b@h", now + Duration::from_secs(9));
        table.replace("sip:u@h", vec![soon, later.clone()]);
        let other = entry(&mut table, &flow, "sip:c@h", now + Duration::from_secs(5));
        table.replace("sip:v@h", vec![other]);
        assert_eq!(table.total(), 3);
        assert_eq!(table.next_expiry(), Some(now + Duration::from_secs(1)));
        assert_eq!(table.expire(now + Duration::from_secs(5)), 2);
        assert_eq!(table.total(), 1);
        assert!(table.bindings("sip:v@h").is_empty());
        assert_eq!(table.bindings("sip:u@h").len(), 1);
        table.replace("sip:u@h", Vec::new());
        assert_eq!((table.total(), table.next_expiry()), (0, None));
        assert_eq!(table.expire(now + Duration::from_secs(60)), 0);
    }

    #[tokio::test]
    async fn instance_keys_replace_each_other_and_uris_decide_otherwise() {
        let flow = flow().await;
        let now = Instant::now();
        let mut table = Table::default();
        let mut binding = entry(&mut table, &flow, "sip:a@h", now);
        let instance = |reg_id| BindingKey::Instance {
            instance: "<urn:uuid:1>".into(),
            reg_id,
        };
        binding.key = instance(Some(1));
        assert!(binding.is_replaced_by(&instance(Some(1)), "sip:other@h"));
        assert!(!binding.is_replaced_by(&instance(Some(2)), "sip:a@h"));
        let by_uri = |uri: &str| BindingKey::Uri(uri.into());
        assert!(binding.is_replaced_by(&by_uri("sip:a@h"), "sip:a@h"));
        assert!(!binding.is_replaced_by(&by_uri("sip:b@h"), "sip:b@h"));
    }
}
