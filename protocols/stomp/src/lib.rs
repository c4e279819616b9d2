//! STOMP 1.0 / 1.1 / 1.2 for the gateway: a codec and a sans-IO server channel.
//!
//! # Layout
//! - [`codec`]: the frame model ([`codec::Frame`], [`codec::Command`], [`codec::Version`]), a
//!   streaming decoder with size limits checked before buffering ([`codec::Decoder`]) and the
//!   encoder ([`codec::encode`]), one file per concern (frame, errors, escaping, decode, encode).
//! - [`channel`]: the server side of one STOMP connection as a sans-IO state machine: feed it
//!   bytes, time and the glue's answers; drain events, bytes to send and the next deadline.
//!   Split by concern: connect/version negotiation, heart-beats, subscriptions and acks,
//!   transactions, receipts and errors.
//!
//! Nothing here does I/O, reads the clock or knows about the bus; `gw-mapping` connects a
//! channel to the bus and `gw-core` drives it over a socket. See `DESIGN.md` for the life
//! cycle of a connection.
#![warn(missing_docs)]

pub mod channel;
pub mod codec;
