//! CoAP for the gateway: a codec (RFC 7252 §3), a reusable transaction layer (RFC 7252 §4:
//! CON/NON/ACK/RST, deduplication, retransmission) and the sans-IO server channel for EMQX's
//! CoAP scheme (`/ps/{topic}` publish/subscribe, `/mqtt/connection`), with Observe (RFC 7641)
//! and block-wise transfers (RFC 7959).
//!
//! # Layout
//! - [`codec`]: [`codec::Message`] (our own model: owned `Bytes`, options as `(number, value)`
//!   in wire order), [`codec::decode`] / [`codec::encode`], [`codec::BlockValue`], option numbers
//!   and codes. **Uses coap-lite** (`Packet::from_bytes`, `Packet::to_bytes_unlimited`) for the
//!   byte-level header/token/option/payload work: it bounds-checks every index and returns
//!   errors (verified with a proptest and the `coap_decode` fuzz target). **Written here**: the
//!   checks coap-lite lacks (version 1, payload marker with an empty payload, Empty message
//!   with content, token ≤ 8 and option length ≤ 65804 on encode), the message model, the block
//!   option values and `uint` helpers: coap-lite's `Packet` keeps options in a
//!   `BTreeMap<u16, LinkedList<Vec<u8>>>`, its `Header::set_token_length`/`set_code` assert,
//!   and its block handler is a server framework rather than a value type.
//! - [`transaction`]: **written here.** [`transaction::Transactions`], one per peer: message-ID
//!   deduplication with cached responses (EXCHANGE_LIFETIME / NON_LIFETIME), our own CON
//!   messages with randomised, exponentially backed-off retransmission, ACK/RST matching by
//!   message ID and separate responses matched by token. Not tied to `/ps`: LwM2M reuses it as a
//!   client (downlink requests) and a server (registrations). coap-lite 0.13 offers no sans-IO
//!   retransmission/deduplication layer with an injectable clock and random factor.
//! - [`channel`]: **written here.** The server side of one UDP peer speaking EMQX's scheme, split
//!   by concern: `requests` (URI/query → what the client asks), `observe` (relations, sequence
//!   numbers, the CON notification queue), [`channel::block`] (public, reusable: Block1
//!   reassembly, Block2 representations),
//!   and `mod.rs` (dispatch, connection mode, responses, timers).
//!
//! Nothing here does I/O, reads the clock or knows about the bus. See `DESIGN.md`.
#![warn(missing_docs)]

pub mod channel;
pub mod codec;
pub mod transaction;
