//! Where each protocol meets the bus.
//!
//! A protocol crate knows its wire format and its rules; the bus knows topics, sessions and
//! messages. This crate translates between the two vocabularies (topics, payload metadata,
//! QoS, acknowledgements) and glues each protocol's sans-IO channel to the bus as a
//! `gw_core::conn` handler.
//!
//! # Layout
//! - [`mqtt`]: the MQTT front-end: [`mqtt::MqttFrontend`] (one per listener) and its
//!   per-connection handler; `mqtt/convert.rs` holds the packet ⇄ message translation.
//! - [`stomp`]: the STOMP front-end; `stomp/convert.rs` maps frames and headers to
//!   messages and MQTT 5 properties.
//! - [`mqttsn`]: the MQTT-SN front-end (one handler per UDP peer, QoS -1 without one).
//! - [`coap`]: the CoAP front-end (EMQX's `/ps` and `/mqtt/connection` scheme).
//! - [`lwm2m`]: EMQX's LwM2M JSON over MQTT ⇄ LwM2M operations (pure translation).
//! - [`mountpoint`]: per-client topic prefixes, shared by every front-end.
//! - `backpressure.rs`: queueing a publisher's batch and pausing it for slow subscribers
//!   (MQTT and STOMP).

mod backpressure;
pub mod coap;
pub mod lwm2m;
pub mod mountpoint;
pub mod mqtt;
pub mod mqttsn;
pub mod stomp;
