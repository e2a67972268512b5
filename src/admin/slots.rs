//! Connection slots of the admin listener. Every connection holds one of
//! [`TOTAL`] slots from its accept; its requests then place it in a class:
//! authorized requests for the journal, metrics and registrations take one
//! of [`AUTHORIZED`] slots, anything else (`/health`, refusals) one of
//! [`PUBLIC`], so unauthenticated keep-alive connections (64 of them
//! polling `/health`, say) can never keep a scraper out.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Slots of connections whose requests carry the token (or need none).
pub const AUTHORIZED: usize = 64;
/// Slots of connections that only ask for `/health` or are refused.
pub const PUBLIC: usize = 16;
/// Connections open at once, classified or not.
pub const TOTAL: usize = AUTHORIZED + PUBLIC;

/// Which slots a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Authorized,
    Public,
}

/// The listener's slot pools.
#[derive(Debug)]
pub(super) struct Slots {
    total: Arc<Semaphore>,
    authorized: Arc<Semaphore>,
    public: Arc<Semaphore>,
}

impl Slots {
    pub(super) fn new() -> Self {
        Self {
            total: Arc::new(Semaphore::new(TOTAL)),
            authorized: Arc::new(Semaphore::new(AUTHORIZED)),
            public: Arc::new(Semaphore::new(PUBLIC)),
        }
    }

    /// A slot for a new connection, if any is free.
    pub(super) fn accept(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let open = self.total.clone().try_acquire_owned().ok()?;
        Some(ConnectionSlot {
            slots: self.clone(),
            _open: open,
            class: Mutex::new(None),
        })
    }
}

/// One connection's hold on the listener's slots; released on drop.
#[derive(Debug)]
pub(super) struct ConnectionSlot {
    slots: Arc<Slots>,
    _open: OwnedSemaphorePermit,
    class: Mutex<Option<(Class, OwnedSemaphorePermit)>>,
}

impl ConnectionSlot {
    /// Whether the connection may serve a request of `class`: it keeps
    /// an authorized slot once it has one (that covers every request), and
    /// moves from a public slot to an authorized one when it first needs it.
    pub(super) fn admit(&self, class: Class) -> bool {
        let mut held = self
            .class
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (held.as_ref().map(|(c, _)| *c), class) {
            (Some(Class::Authorized), _) | (Some(Class::Public), Class::Public) => true,
            (_, wanted) => {
                let pool = match wanted {
                    Class::Authorized => &self.slots.authorized,
                    Class::Public => &self.slots.public,
                };
                match pool.clone().try_acquire_owned() {
                    Ok(permit) => {
                        *held = Some((wanted, permit));
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_connections_cannot_take_the_authorized_slots() {
        let slots = Arc::new(Slots::new());
        let health: Vec<ConnectionSlot> =
            (0..PUBLIC).map(|_| slots.accept().expect("free")).collect();
        assert!(health.iter().all(|c| c.admit(Class::Public)));
        let one_more = slots.accept().expect("a total slot is free");
        assert!(!one_more.admit(Class::Public), "public slots are full");
        assert!(one_more.admit(Class::Authorized), "a scrape still gets in");
        assert!(one_more.admit(Class::Public), "and may ask for /health too");
        // A health poller that then authenticates moves to an authorized slot.
        assert!(health[0].admit(Class::Authorized));
        let freed = slots.accept().expect("free");
        assert!(freed.admit(Class::Public), "its public slot came back");
        drop((health, one_more, freed));
        let all: Vec<ConnectionSlot> = (0..TOTAL).map(|_| slots.accept().expect("free")).collect();
        assert!(slots.accept().is_none(), "at most {TOTAL} connections");
        drop(all);
    }
}
