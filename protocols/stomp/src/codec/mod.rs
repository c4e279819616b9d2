//! STOMP frames on the wire (STOMP 1.2 §"STOMP Frames", §"Augmented BNF").
//!
//! # Layout
//! - `frame.rs`: [`Frame`], [`Command`], [`Version`], [`Decoded`].
//! - `error.rs`: [`DecodeError`]; its `Display` is what goes in an ERROR frame's `message`.
//! - `escape.rs`: header value escaping per version (§"Value Encoding").
//! - `decode.rs`: [`Decoder`] and its [`FrameLimits`]: streaming, limits checked before
//!   buffering beyond them, heart-beat EOLs reported as [`Decoded::Heartbeat`].
//! - `encode.rs`: [`encode`].
//!
//! # Leniencies (documented choices where the spec leaves room)
//! - CR LF line endings are accepted in every version (1.2 made them legal; 1.0/1.1 clients
//!   exist that send them). A CR just before LF is never part of a header value.
//! - A header line is split at its first `:`; later colons belong to the value (needed for
//!   CONNECT/1.0 frames, which are not escaped).
//! - `STOMP` frames, like `CONNECT`, are not unescaped: the version is not negotiated yet.
//! - A body on a frame that may not carry one is kept, not refused; the channel ignores it.

mod decode;
mod encode;
mod error;
mod escape;
mod frame;

pub use decode::{Decoder, FrameLimits};
pub use encode::encode;
pub use error::DecodeError;

pub use frame::{Command, Decoded, Frame, Version};
