//! Which handler holds each endpoint's registration, shared by the handlers of one front-end
//! and its unknown-endpoint responder.
//!
//! An endpoint belongs to the handler that registered it last. A device whose address
//! changed (NAT rebinding, a new DTLS session) registers again from a new peer, so from a new
//! handler; the old handler is told to end at once through its doorbell instead of holding a
//! dead registration until its lifetime runs out. Handlers are told apart by an id, not by
//! peer address: the driver may start a new handler for an address before the old one for
//! that address has finished closing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gw_core::bus::{Doorbell, KickReason};

#[derive(Debug)]
struct Owner {
    handler: u64,
    doorbell: Arc<Doorbell>,
}

/// Endpoint name → the handler holding its registration. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointRegistry {
    owners: Arc<Mutex<HashMap<String, Owner>>>,
    next_handler: Arc<AtomicU64>,
}

impl EndpointRegistry {
    fn owners(&self) -> MutexGuard<'_, HashMap<String, Owner>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh handler id.
    pub(crate) fn handler_id(&self) -> u64 {
        self.next_handler.fetch_add(1, Ordering::Relaxed)
    }

    /// `handler` registered `endpoint`: it owns it now, and a previous owner is kicked.
    pub(crate) fn claim(&self, endpoint: &str, handler: u64, doorbell: Arc<Doorbell>) {
        let previous = self.owners().insert(endpoint.to_owned(), Owner { handler, doorbell });
        if let Some(old) = previous.filter(|o| o.handler != handler) {
            tracing::info!(endpoint, "lwm2m_registration_taken_over");
            old.doorbell.kick(KickReason::TakenOver);
        }
    }

    /// `handler` is done with `endpoint`; a newer owner keeps it.
    pub(crate) fn release(&self, endpoint: &str, handler: u64) {
        let mut owners = self.owners();
        if owners.get(endpoint).is_some_and(|o| o.handler == handler) {
            owners.remove(endpoint);
        }
    }

    /// Whether some handler holds `endpoint`.
    pub(crate) fn contains(&self, endpoint: &str) -> bool {
        self.owners().contains_key(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_registration_wins_and_the_old_one_is_kicked() {
        let reg = EndpointRegistry::default();
        let (a, b) = (reg.handler_id(), reg.handler_id());
        let (bell_a, bell_b) = (Arc::new(Doorbell::new()), Arc::new(Doorbell::new()));
        reg.claim("ep", a, bell_a.clone());
        reg.claim("ep", a, bell_a.clone()); // a re-registration from the same peer
        assert_eq!(bell_a.kicked(), None);
        reg.claim("ep", b, bell_b.clone());
        assert_eq!(bell_a.kicked(), Some(KickReason::TakenOver));
        reg.release("ep", a); // the old handler closing late must not unregister the new one
        assert!(reg.contains("ep"));
        reg.release("ep", b);
        assert!(!reg.contains("ep"));
        assert_eq!(bell_b.kicked(), None);
    }
}
