//! The message layer of RFC 7252 §4 for one peer, sans-IO and reusable (the `/ps` channel uses
//! it as a server; LwM2M will also use it as a client for downlink requests).
//!
//! - **Deduplication** (§4.5): every CON/NON message received is remembered by Message ID for
//!   EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON). A duplicate CON gets the cached reply
//!   (piggy-backed response, empty ACK or RST) again and is not processed; a duplicate NON is
//!   ignored.
//! - **Our CON messages** (§4.2): retransmitted after a random initial timeout in
//!   `[ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR)`, doubling each time, at most MAX_RETRANSMIT
//!   times; then [`TransactionEvent::TimedOut`] one timeout later. An ACK or RST with the same
//!   Message ID ends the exchange ([`Received::Acked`] / [`Received::Reset`]).
//! - **Our NON messages** are remembered for NON_LIFETIME so an RST can be matched (RFC 7641
//!   §3.6 uses that to cancel observations).
//! - **Our requests** ([`Transactions::send_request`]) are also matched by token, so a separate
//!   response (CON or NON, §5.2.2) ends up as [`Received::Response`]; a CON one is ACKed here.
//!
//! Callers attach an opaque `tag: u64` to what they send and get it back in events.
//! Randomness comes from a seed ([`Rng`]) so tests are deterministic.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::{encode, Code, EncodeError, Message, MessageType};

/// Transmission parameters (RFC 7252 §4.8, §4.8.2).
#[derive(Debug, Clone, PartialEq)]
pub struct TransmissionParams {
    /// ACK_TIMEOUT (2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR (1.5).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT (4).
    pub max_retransmit: u32,
    /// EXCHANGE_LIFETIME (247 s): how long a CON Message ID is remembered.
    pub exchange_lifetime: Duration,
    /// NON_LIFETIME (145 s): how long a NON Message ID is remembered.
    pub non_lifetime: Duration,
}

impl Default for TransmissionParams {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            exchange_lifetime: Duration::from_secs(247),
            non_lifetime: Duration::from_secs(145),
        }
    }
}

impl TransmissionParams {
    /// MAX_LATENCY (RFC 7252 §4.8.2): the longest a datagram is assumed to be in flight.
    const MAX_LATENCY: Duration = Duration::from_secs(100);

    /// The given base parameters with EXCHANGE_LIFETIME and NON_LIFETIME derived from them as
    /// RFC 7252 §4.8.2 does (PROCESSING_DELAY = ACK_TIMEOUT), so that message IDs are
    /// remembered exactly as long as the chosen retransmissions can last; the defaults give
    /// 247 s and 145 s.
    pub fn derived(ack_timeout: Duration, ack_random_factor: f64, max_retransmit: u32) -> Self {
        // MAX_TRANSMIT_SPAN = ACK_TIMEOUT × (2^MAX_RETRANSMIT − 1) × ACK_RANDOM_FACTOR; saturating,
        // so that no choice of parameters can panic.
        let factor = ((1u64 << max_retransmit.min(63)) - 1) as f64 * ack_random_factor;
        let span = Duration::try_from_secs_f64(ack_timeout.as_secs_f64() * factor).unwrap_or(Duration::MAX);
        Self {
            ack_timeout,
            ack_random_factor,
            max_retransmit,
            exchange_lifetime: span.saturating_add(2 * Self::MAX_LATENCY).saturating_add(ack_timeout),
            non_lifetime: span.saturating_add(Self::MAX_LATENCY),
        }
    }
}

/// A small deterministic generator (SplitMix64), seeded by the caller.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// From a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a received message means at the message layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A new CON or NON message (request, or a response that is not ours): process it and
    /// answer a CON with [`Transactions::reply`].
    New(Message),
    /// A duplicate: already handled (a cached reply was queued again if there was one).
    Duplicate,
    /// An ACK for one of our CON messages; `response` is the piggy-backed response if the ACK
    /// carried a code (RFC 7252 §5.2.1).
    Acked {
        /// The tag given when sending.
        tag: u64,
        /// The Message ID we used.
        message_id: u16,
        /// Piggy-backed response.
        response: Option<Message>,
    },
    /// An RST for one of our CON or NON messages.
    Reset {
        /// The tag given when sending.
        tag: u64,
        /// The Message ID we used.
        message_id: u16,
    },
    /// A separate response to one of our requests, matched by token (RFC 7252 §5.2.2).
    Response {
        /// The tag given to [`Transactions::send_request`].
        tag: u64,
        /// The response.
        message: Message,
    },
    /// An ACK or RST matching nothing we sent (ignored, RFC 7252 §4.2).
    Unmatched,
    /// An Empty CON ("CoAP ping", §4.3): answered with RST here.
    Ping,
}

/// Something that happened on a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A CON message was retransmitted MAX_RETRANSMIT times without ACK or RST.
    TimedOut {
        /// The tag given when sending.
        tag: u64,
        /// The Message ID we used.
        message_id: u16,
    },
}

#[derive(Debug)]
struct Seen {
    expires: Instant,
    reply: Option<Bytes>,
    confirmable: bool,
}

#[derive(Debug)]
struct Outgoing {
    bytes: Bytes,
    tag: u64,
    retransmits: u32,
    timeout: Duration,
    deadline: Instant,
    token: Option<Bytes>,
}

/// The message layer for one peer. See the module docs.
#[derive(Debug)]
pub struct Transactions {
    params: TransmissionParams,
    rng: Rng,
    next_mid: u16,
    seen: HashMap<u16, Seen>,
    seen_order: VecDeque<(Instant, u16)>,
    outgoing: HashMap<u16, Outgoing>,
    non_sent: HashMap<u16, (u64, Instant)>,
    non_order: VecDeque<(Instant, u16)>,
    requests: HashMap<Bytes, (u64, Instant)>,
    transmit: VecDeque<Bytes>,
    events: VecDeque<TransactionEvent>,
}

impl Transactions {
    /// A fresh layer; the first Message ID and every random timeout come from `rng_seed`.
    pub fn new(params: TransmissionParams, rng_seed: u64) -> Self {
        let mut rng = Rng::new(rng_seed);
        let next_mid = rng.next_u64() as u16;
        Self {
            params,
            rng,
            next_mid,
            seen: HashMap::new(),
            seen_order: VecDeque::new(),
            outgoing: HashMap::new(),
            non_sent: HashMap::new(),
            non_order: VecDeque::new(),
            requests: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &TransmissionParams {
        &self.params
    }

    /// The generator (for tokens and the like).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A fresh Message ID (sequential from a random start, RFC 7252 §4.4).
    pub fn next_message_id(&mut self) -> u16 {
        let mid = self.next_mid;
        self.next_mid = self.next_mid.wrapping_add(1);
        mid
    }

    /// A fresh random 4-byte token (RFC 7252 §5.3.1).
    pub fn new_token(&mut self) -> Bytes {
        Bytes::copy_from_slice(&(self.rng.next_u64() as u32).to_be_bytes())
    }

    /// Classifies a decoded message from the peer and does the message-layer work for it.
    pub fn on_message(&mut self, now: Instant, msg: Message) -> Received {
        self.expire(now);
        match msg.mtype {
            MessageType::Acknowledgement | MessageType::Reset => self.on_ack_or_reset(now, msg),
            MessageType::Confirmable if msg.code.is_empty() => {
                self.queue(Message::reset(msg.message_id));
                Received::Ping
            }
            MessageType::NonConfirmable if msg.code.is_empty() => Received::Unmatched,
            MessageType::Confirmable | MessageType::NonConfirmable => {
                let confirmable = msg.mtype == MessageType::Confirmable;
                if let Some(seen) = self.seen.get(&msg.message_id) {
                    if seen.confirmable == confirmable {
                        if let Some(reply) = seen.reply.clone() {
                            self.transmit.push_back(reply);
                        }
                        return Received::Duplicate;
                    }
                }
                let lifetime = if confirmable { self.params.exchange_lifetime } else { self.params.non_lifetime };
                let expires = now + lifetime;
                self.seen.insert(msg.message_id, Seen { expires, reply: None, confirmable });
                self.seen_order.push_back((expires, msg.message_id));
                if msg.code.is_response() {
                    if let Some((tag, _)) = self.requests.remove(&msg.token) {
                        if confirmable {
                            self.reply(msg.message_id, &Message::empty_ack(msg.message_id));
                        }
                        return Received::Response { tag, message: msg };
                    }
                }
                Received::New(msg)
            }
        }
    }

    fn on_ack_or_reset(&mut self, _now: Instant, msg: Message) -> Received {
        let mid = msg.message_id;
        let reset = msg.mtype == MessageType::Reset;
        if let Some(out) = self.outgoing.remove(&mid) {
            if reset {
                if let Some(token) = &out.token {
                    self.requests.remove(token);
                }
                return Received::Reset { tag: out.tag, message_id: mid };
            }
            let response = (!msg.code.is_empty()).then_some(msg);
            if response.is_some() {
                if let Some(token) = &out.token {
                    self.requests.remove(token);
                }
            }
            return Received::Acked { tag: out.tag, message_id: mid, response };
        }
        if reset {
            if let Some((tag, _)) = self.non_sent.remove(&mid) {
                return Received::Reset { tag, message_id: mid };
            }
        }
        Received::Unmatched
    }

    /// Sends the reply (piggy-backed response, empty ACK or RST) to the CON or NON message
    /// `request_mid` received earlier, and caches it for duplicates of that message.
    pub fn reply(&mut self, request_mid: u16, reply: &Message) {
        let Ok(bytes) = encode(reply) else { return };
        if let Some(seen) = self.seen.get_mut(&request_mid) {
            if seen.confirmable {
                seen.reply = Some(bytes.clone());
            }
        }
        self.transmit.push_back(bytes);
    }

    /// Sends `msg` as a CON with a fresh Message ID (returned), retransmitting until ACK/RST.
    pub fn send_con(&mut self, now: Instant, msg: Message, tag: u64) -> Result<u16, EncodeError> {
        self.send_con_inner(now, msg, tag, None)
    }

    fn send_con_inner(
        &mut self,
        now: Instant,
        mut msg: Message,
        tag: u64,
        token: Option<Bytes>,
    ) -> Result<u16, EncodeError> {
        msg.mtype = MessageType::Confirmable;
        msg.message_id = self.next_message_id();
        let bytes = encode(&msg)?;
        let factor = 1.0 + (self.params.ack_random_factor - 1.0).max(0.0) * self.rng.next_f64();
        let timeout = self.params.ack_timeout.mul_f64(factor);
        self.outgoing.insert(
            msg.message_id,
            Outgoing { bytes: bytes.clone(), tag, retransmits: 0, timeout, deadline: now + timeout, token },
        );
        self.transmit.push_back(bytes);
        Ok(msg.message_id)
    }

    /// Sends `msg` as a NON with a fresh Message ID (returned); an RST to it within
    /// NON_LIFETIME is reported as [`Received::Reset`].
    pub fn send_non(&mut self, now: Instant, mut msg: Message, tag: u64) -> Result<u16, EncodeError> {
        msg.mtype = MessageType::NonConfirmable;
        msg.message_id = self.next_message_id();
        let bytes = encode(&msg)?;
        let expires = now + self.params.non_lifetime;
        self.non_sent.insert(msg.message_id, (tag, expires));
        self.non_order.push_back((expires, msg.message_id));
        self.transmit.push_back(bytes);
        Ok(msg.message_id)
    }

    /// Sends our own request (CON or NON per `msg.mtype`); its response comes back as
    /// [`Received::Acked`] with `response` (piggy-backed) or [`Received::Response`] (separate),
    /// matched by `msg.token`, which the caller makes unique (see [`Transactions::new_token`]).
    pub fn send_request(&mut self, now: Instant, msg: Message, tag: u64) -> Result<u16, EncodeError> {
        let expires = now + self.params.exchange_lifetime;
        let token = msg.token.clone();
        let mid = if msg.mtype == MessageType::Confirmable {
            self.send_con_inner(now, msg, tag, Some(token.clone()))?
        } else {
            self.send_non(now, msg, tag)?
        };
        self.requests.insert(token, (tag, expires));
        Ok(mid)
    }

    /// Stops retransmitting our CON `message_id` (no event).
    pub fn cancel(&mut self, message_id: u16) {
        if let Some(out) = self.outgoing.remove(&message_id) {
            if let Some(token) = out.token {
                self.requests.remove(&token);
            }
        }
    }

    /// Queues a message that needs no tracking (e.g. an RST).
    pub fn queue(&mut self, msg: Message) {
        if let Ok(bytes) = encode(&msg) {
            self.transmit.push_back(bytes);
        }
    }

    /// How many of our CON messages await an ACK.
    pub fn outstanding_con(&self) -> usize {
        self.outgoing.len()
    }

    /// Retransmits due CON messages, gives up on exhausted ones and forgets expired IDs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        let mut due: Vec<u16> = self.outgoing.iter().filter(|(_, o)| o.deadline <= now).map(|(m, _)| *m).collect();
        due.sort_unstable();
        for mid in due {
            let Some(out) = self.outgoing.get_mut(&mid) else { continue };
            if out.retransmits >= self.params.max_retransmit {
                let tag = out.tag;
                if let Some(out) = self.outgoing.remove(&mid) {
                    if let Some(token) = out.token {
                        self.requests.remove(&token);
                    }
                }
                self.events.push_back(TransactionEvent::TimedOut { tag, message_id: mid });
            } else {
                out.retransmits += 1;
                out.timeout *= 2;
                out.deadline = now + out.timeout;
                self.transmit.push_back(out.bytes.clone());
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, mid)) = self.seen_order.front() {
            if at > now {
                break;
            }
            self.seen_order.pop_front();
            if self.seen.get(&mid).is_some_and(|s| s.expires <= now) {
                self.seen.remove(&mid);
            }
        }
        while let Some(&(at, mid)) = self.non_order.front() {
            if at > now {
                break;
            }
            self.non_order.pop_front();
            if self.non_sent.get(&mid).is_some_and(|(_, e)| *e <= now) {
                self.non_sent.remove(&mid);
            }
        }
        self.requests.retain(|_, (_, e)| *e > now);
    }

    /// The next instant [`Transactions::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.outgoing.values().map(|o| o.deadline).min();
        let seen = self.seen_order.front().map(|(t, _)| *t);
        let non = self.non_order.front().map(|(t, _)| *t);
        let req = self.requests.values().map(|(_, e)| *e).min();
        [retransmit, seen, non, req].into_iter().flatten().min()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Next timer event.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// Whether `code` is a response that ends a request (not 2.31 Continue).
    pub fn is_final(code: Code) -> bool {
        code.is_response() && code != Code::CONTINUE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_lifetimes_are_the_rfc_defaults() {
        // RFC 7252 §4.8.2: EXCHANGE_LIFETIME 247 s and NON_LIFETIME 145 s for the defaults.
        assert_eq!(TransmissionParams::derived(Duration::from_secs(2), 1.5, 4), TransmissionParams::default());
        let short = TransmissionParams::derived(Duration::from_millis(100), 1.0, 1);
        assert_eq!(short.exchange_lifetime, Duration::from_millis(100 + 200_000 + 100));
        assert_eq!(short.non_lifetime, Duration::from_millis(100 + 100_000));
        let huge = TransmissionParams::derived(Duration::MAX, f64::MAX, u32::MAX);
        assert_eq!(huge.exchange_lifetime, Duration::MAX);
    }
}
