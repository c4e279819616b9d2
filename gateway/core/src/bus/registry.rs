//! The sessions by client id.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::session::Session;
use super::ClientId;

/// Every session (connected or parked) by client id: a set of sessions hashed by the client
/// id each of them holds, rather than a map from a second copy of it. An entry takes 8
/// bytes instead of 24, and every session lives here for as long as it lives.
#[derive(Debug, Default)]
pub(crate) struct SessionRegistry(HashSet<Registered>);

/// A session as the registry holds it: equal and hashed as its client id, so the set can be
/// searched by client id.
#[derive(Debug)]
struct Registered(Arc<Session>);

impl Borrow<ClientId> for Registered {
    fn borrow(&self) -> &ClientId {
        &self.0.client_id
    }
}

impl Hash for Registered {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.client_id.hash(state);
    }
}

impl PartialEq for Registered {
    fn eq(&self, other: &Self) -> bool {
        self.0.client_id == other.0.client_id
    }
}

impl Eq for Registered {}

impl SessionRegistry {
    pub(crate) fn get(&self, client_id: &ClientId) -> Option<&Arc<Session>> {
        self.0.get(client_id).map(|registered| &registered.0)
    }

    /// Registers `session`, in place of any session with its client id.
    pub(crate) fn insert(&mut self, session: Arc<Session>) {
        self.0.replace(Registered(session));
    }

    pub(crate) fn remove(&mut self, client_id: &ClientId) -> Option<Arc<Session>> {
        self.0.take(client_id).map(|registered| registered.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.0.iter().map(|registered| &registered.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, subscriber: u32) -> Arc<Session> {
        Arc::new(Session::new(ClientId::new(id), subscriber, 0, None))
    }

    #[test]
    fn sessions_are_found_by_client_id_and_replaced_by_a_new_one_with_it() {
        let mut registry = SessionRegistry::default();
        let (a, b) = (session("a", 1), session("b", 2));
        registry.insert(a.clone());
        registry.insert(b.clone());
        assert!(registry.get(&ClientId::new("a")).is_some_and(|s| Arc::ptr_eq(s, &a)));
        assert!(registry.get(&ClientId::new("c")).is_none());
        let newer = session("a", 3);
        registry.insert(newer.clone());
        assert_eq!(registry.len(), 2);
        assert!(registry.get(&ClientId::new("a")).is_some_and(|s| Arc::ptr_eq(s, &newer)));
        assert!(registry.remove(&ClientId::new("a")).is_some_and(|s| Arc::ptr_eq(&s, &newer)));
        assert!(registry.remove(&ClientId::new("a")).is_none());
        assert_eq!(registry.iter().map(|s| s.client_id.as_str()).collect::<Vec<_>>(), ["b"]);
    }
}
