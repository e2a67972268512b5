//! Open connections per stream transport, for `/metrics`. A reload adds and
//! removes listeners, so the admin reads their counters through this list,
//! which the daemon replaces after every change.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::sip::Transport;

/// The open-connection counters of the running stream listeners.
#[derive(Debug, Default)]
pub struct OpenConnections {
    listed: RwLock<Listed>,
}

#[derive(Debug, Default)]
struct Listed {
    listeners: Vec<(Transport, Arc<AtomicUsize>)>,
    /// Every transport that had a listener: its series stays (at 0) when
    /// its last listener goes, rather than freezing at its last value.
    seen: Vec<Transport>,
}

impl OpenConnections {
    pub fn new(listeners: Vec<(Transport, Arc<AtomicUsize>)>) -> Self {
        let list = Self::default();
        list.replace(listeners);
        list
    }

    /// The counters of the listeners running now.
    pub fn replace(&self, listeners: Vec<(Transport, Arc<AtomicUsize>)>) {
        let mut listed = self
            .listed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (transport, _) in &listeners {
            if !listed.seen.contains(transport) {
                listed.seen.push(*transport);
            }
        }
        listed.listeners = listeners;
    }

    /// Open connections per transport that has or had a stream listener.
    pub fn per_transport(&self) -> Vec<(Transport, usize)> {
        let listed = self
            .listed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Transport::ALL
            .into_iter()
            .filter(|transport| listed.seen.contains(transport))
            .map(|transport| {
                let open = listed
                    .listeners
                    .iter()
                    .filter(|(t, _)| *t == transport)
                    .map(|(_, open)| open.load(Ordering::Relaxed))
                    .sum();
                (transport, open)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(n: usize) -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(n))
    }

    #[test]
    fn sums_per_transport_and_keeps_gone_transports_at_zero() {
        let list = OpenConnections::new(vec![
            (Transport::Tcp, open(2)),
            (Transport::Ws, open(1)),
            (Transport::Tcp, open(3)),
        ]);
        assert_eq!(
            list.per_transport(),
            [(Transport::Tcp, 5), (Transport::Ws, 1)]
        );
        list.replace(vec![(Transport::Tls, open(4))]);
        assert_eq!(
            list.per_transport(),
            [(Transport::Tcp, 0), (Transport::Tls, 4), (Transport::Ws, 0)]
        );
    }
}
