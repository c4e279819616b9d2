//! MQTT-SN 1.2 for the gateway: a datagram codec and a sans-IO per-client channel.
//!
//! # Layout
//! - [`codec`]: the message model ([`codec::Message`]) and `decode`/`encode` for one
//!   datagram, one file per message family. Pure functions; nom *complete* parsers (a
//!   short datagram is an error, never "need more").
//! - [`channel`]: one MQTT-SN client as a sans-IO state machine (connect + will flow, topic
//!   id registry, QoS and retransmission, subscribe, keep alive and sleep): feed it
//!   datagrams, time and the bus's answers; drain events, datagrams and the next deadline.
//!   Also the free functions the glue uses for peers without a channel
//!   ([`channel::gwinfo_for`], [`channel::decode_qos_minus_one`]).
//!
//! Nothing here does I/O, reads the clock or knows about the bus.
#![warn(missing_docs)]

pub mod channel;
pub mod codec;
