//! The gateway's core: the protocol-neutral bus and the transport drivers every front-end
//! shares.
//!
//! # Layout
//! - [`bus`]: topics, messages, the subscription trie, the retained store, sessions with
//!   their mqueue and inflight window, shared-subscription strategies, auth entry points and
//!   metrics. Synchronous; never awaits a client.
//! - [`conn`]: the two transport drivers, written once: [`conn::stream`] runs a
//!   [`conn::StreamHandler`] over TCP or WebSocket bytes, [`conn::datagram`] runs one
//!   [`conn::DatagramHandler`] per UDP peer. Each drives a protocol's sans-IO channel with
//!   socket input, doorbell rings, timers and shutdown.
//! - [`listener`]: accept loops for TCP and WebSocket listeners, with connection limits.
//! - [`config`]: config value types shared by every section (durations, sizes).
//! - [`shutdown`]: the shutdown signal.
//! - [`sys`]: the `$SYS/` topics (broker identity, uptime, statistics, counters).

pub mod bus;
pub mod config;
pub mod conn;
pub mod listener;
pub mod shutdown;
pub mod sys;
