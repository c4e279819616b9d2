//! LwM2M 1.0 / 1.1 (OMA LwM2M TS Core) for the gateway, on top of `gw-coap`: the
//! registration interface (server side), device management requests, and the content
//! formats a device answers in. Behaviour follows EMQX's LwM2M gateway (emqx-conventions §3)
//! where the TS leaves room.
//!
//! # Layout
//! - [`path`]: `/obj/inst/res/ri` paths.
//! - [`value`]: typed values ([`value::Value`]), `{path, value}` entries, EMQX's JSON
//!   rendering, base64/hex helpers.
//! - [`object_model`]: OMA object XML definitions (`roxmltree`) → [`object_model::ObjectRegistry`].
//! - [`linkformat`]: CoRE link format of Register/Update/Discover → object list + alternate path.
//! - [`tlv`]: TLV (11542) raw codec and typed entries via the object model.
//! - [`senml`]: SenML JSON (110) / CBOR (112, `ciborium`) decode and encode.
//! - [`oma_json`]: OMA LwM2M JSON (11543) decode.
//! - [`text`]: text/plain (0) and opaque (42) single values.
//! - [`registration`]: sans-IO Register/Update/De-register state ([`registration::Registrar`]).
//! - [`commands`]: downlink operations → CoAP requests ([`commands::build_request`]) and
//!   response payloads → [`commands::Content`].
//! - [`blockwise`]: large device responses fetched block by block (RFC 7959 Block2) and
//!   reassembled before decoding ([`blockwise::ResponseAssembler`], on gw-coap's assembler).
//!
//! Nothing here does network I/O, reads the clock or knows about the bus; the CoAP message
//! layer (retransmission, dedup, token matching) is `gw_coap::transaction`. See `DESIGN.md`.
#![warn(missing_docs)]

pub mod blockwise;
pub mod commands;
pub mod linkformat;
pub mod object_model;
pub mod oma_json;
pub mod path;
pub mod registration;
pub mod senml;
pub mod text;
pub mod tlv;
pub mod value;

pub use path::Path;
pub use value::{Entry, Value};
