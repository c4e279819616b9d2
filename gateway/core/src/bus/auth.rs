//! Authentication and authorization entry points that every front-end calls the same way:
//! at connect, on publish and on subscribe.
//!
//! The default policy allows everything, as EMQX does out of the box with no authenticator
//! configured; real backends (built-in database, HTTP, ACL file) plug in behind these traits.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use super::message::QoS;

/// Who is asking.
#[derive(Clone)]
pub struct ClientInfo {
    /// Front-end protocol name: `mqtt`, `mqttsn`, `coap`, `lwm2m`, `stomp`.
    pub protocol: &'static str,
    /// Client identifier.
    pub client_id: String,
    /// User name, if the protocol carries one.
    pub username: Option<String>,
    /// Remote address.
    pub peer: Option<SocketAddr>,
}

impl std::fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInfo")
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("peer", &self.peer)
            .finish()
    }
}

/// The result of authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the client in.
    Allow {
        /// Superusers skip authorization.
        is_superuser: bool,
    },
    /// Wrong user name or password.
    BadCredentials,
    /// Not allowed to connect.
    NotAuthorized,
}

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Publish with this QoS and retain flag.
    Publish {
        /// QoS of the publish.
        qos: QoS,
        /// Retain flag of the publish.
        retain: bool,
    },
    /// Subscribe with this maximum QoS.
    Subscribe {
        /// Requested QoS.
        qos: QoS,
    },
}

/// Boxed future returned by authenticators (connects are rare; a box per connect is fine).
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = AuthDecision> + Send + 'a>>;

/// Decides whether a client may connect. Asynchronous because real backends ask a database
/// or an HTTP service.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks the client's credentials.
    fn authenticate<'a>(&'a self, client: &'a ClientInfo, password: Option<&'a [u8]>) -> AuthFuture<'a>;
}

/// Decides whether a client may publish to or subscribe to a topic. Synchronous: it sits on
/// the publish path; backends keep a cache (EMQX's `authorization.cache`).
pub trait Authorizer: Send + Sync + 'static {
    /// Whether `client` may perform `action` on `topic` (a topic name or filter as the client
    /// wrote it, without mountpoint).
    fn authorize(&self, client: &ClientInfo, action: Action, topic: &str) -> bool;
}

/// The default: everybody may connect, publish and subscribe.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate<'a>(&'a self, _client: &'a ClientInfo, _password: Option<&'a [u8]>) -> AuthFuture<'a> {
        Box::pin(std::future::ready(AuthDecision::Allow { is_superuser: false }))
    }
}

impl Authorizer for AllowAll {
    fn authorize(&self, _client: &ClientInfo, _action: Action, _topic: &str) -> bool {
        true
    }
}
