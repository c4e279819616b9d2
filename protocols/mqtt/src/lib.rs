//! MQTT 3.1 / 3.1.1 / 5.0 for the gateway: a codec and a sans-IO server channel.
//!
//! # Layout
//! - [`codec`]: the packet model ([`codec::Packet`]) and its decoder/encoder, one file per
//!   packet family. Pure functions over `bytes`; nom parsers.
//! - [`channel`]: the server side of one MQTT connection as a sans-IO state machine: feed it
//!   bytes, time and the bus's answers; drain events, bytes to send and the next deadline.
//!
//! Nothing here does I/O, reads the clock or knows about the bus; `gw-mapping` connects a
//! channel to the bus and `gw-core` drives it over a socket.
#![warn(missing_docs)]

pub mod channel;
pub mod codec;
