//! Return codes (MQTT-SN 1.2 §5.3.10, Table 5) plus the EMQX-private ones.

/// Accepted.
pub const ACCEPTED: u8 = 0x00;
/// Rejected: congestion.
pub const CONGESTION: u8 = 0x01;
/// Rejected: invalid topic ID.
pub const INVALID_TOPIC_ID: u8 = 0x02;
/// Rejected: not supported.
pub const NOT_SUPPORTED: u8 = 0x03;
/// EMQX private: not authorized.
pub const NOT_AUTHORIZED: u8 = 0x80;
/// EMQX private: failed to open the session.
pub const FAILED_SESSION: u8 = 0x81;
/// EMQX private: keep alive timeout.
pub const KEEPALIVE_TIMEOUT: u8 = 0x82;
/// EMQX private: a limit was exceeded.
pub const EXCEED_LIMITATION: u8 = 0x83;
/// EMQX private: retransmission retries exhausted.
pub const REACHED_MAX_RETRY: u8 = 0x84;
