//! Block-wise transfers (RFC 7959) for the server side: Block1 reassembly of request bodies
//! (§2.5) and Block2 representations kept for the client to fetch (§2.4, §3.4 for notifications).
//! Reusable by LwM2M: neither type knows the `/ps` scheme; state is keyed by a string the caller
//! derives from the request URI.

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::codec::{szx_to_size, BlockValue};

/// One Block1 body being received.
#[derive(Debug)]
struct Assembly {
    key: String,
    body: BytesMut,
    expires: Instant,
}

/// What to answer to one Block1 block.
#[derive(Debug, PartialEq, Eq)]
pub enum Block1Outcome {
    /// Not the last block: answer 2.31 Continue with this Block1 (§2.3).
    Continue(BlockValue),
    /// Last block: the whole body, and the Block1 to echo in the final response.
    Complete(Bytes, BlockValue),
    /// Missing/out-of-order block or no transfer in progress: 4.08 (§2.9.2).
    Incomplete,
    /// The body would exceed the limit: 4.13 with Size1 = limit (§2.9.3, §4).
    TooLarge,
}

/// Block1 reassembly: one transfer at a time per peer (a new block 0 replaces the old one).
#[derive(Debug, Default)]
pub struct Block1Assembler {
    current: Option<Assembly>,
}

impl Block1Assembler {
    /// Feeds one block of the request to `key`. `size1` is the client's announced total size,
    /// `max_szx` our preferred block size exponent (echoed in the 2.31 when smaller).
    #[allow(clippy::too_many_arguments)]
    pub fn on_block(
        &mut self,
        now: Instant,
        lifetime: std::time::Duration,
        key: &str,
        block: BlockValue,
        payload: &[u8],
        size1: Option<u32>,
        max_body: usize,
        max_szx: u8,
    ) -> Block1Outcome {
        if size1.is_some_and(|s| s as usize > max_body) {
            self.current = None;
            return Block1Outcome::TooLarge;
        }
        if block.num == 0 {
            self.current = Some(Assembly { key: key.to_owned(), body: BytesMut::new(), expires: now });
        }
        let Some(asm) = self.current.as_mut().filter(|a| a.key == key) else {
            return Block1Outcome::Incomplete;
        };
        if block.offset() != asm.body.len() || (block.more && payload.len() != block.size()) {
            self.current = None;
            return Block1Outcome::Incomplete;
        }
        if asm.body.len() + payload.len() > max_body {
            self.current = None;
            return Block1Outcome::TooLarge;
        }
        asm.body.extend_from_slice(payload);
        asm.expires = now + lifetime;
        if block.more {
            Block1Outcome::Continue(BlockValue { num: block.num, more: true, szx: block.szx.min(max_szx) })
        } else {
            let body = self.current.take().map(|a| a.body.freeze()).unwrap_or_default();
            Block1Outcome::Complete(body, BlockValue { num: block.num, more: false, szx: block.szx })
        }
    }

    /// When the transfer in progress expires.
    pub fn deadline(&self) -> Option<Instant> {
        self.current.as_ref().map(|a| a.expires)
    }

    /// Drops an expired transfer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.current.as_ref().is_some_and(|a| a.expires <= now) {
            self.current = None;
        }
    }
}

#[derive(Debug)]
struct Representation {
    payload: Bytes,
    expires: Instant,
}

/// Large response/notification bodies kept until fetched block by block or superseded.
#[derive(Debug, Default)]
pub struct Block2Store {
    entries: HashMap<String, Representation>,
}

impl Block2Store {
    /// Block `num` of size 2^(szx+4) of `payload`, and its Block2 value.
    pub fn slice(payload: &Bytes, num: u32, szx: u8) -> Option<(Bytes, BlockValue)> {
        let size = szx_to_size(szx);
        let start = (num as usize).checked_mul(size)?;
        if start >= payload.len() && !(start == 0 && payload.is_empty()) {
            return None;
        }
        let end = (start + size).min(payload.len());
        Some((payload.slice(start..end), BlockValue { num, more: end < payload.len(), szx }))
    }

    /// Keeps `payload` under `key` (replacing any older one) until `expires`.
    pub fn store(&mut self, key: String, payload: Bytes, expires: Instant) {
        self.entries.insert(key, Representation { payload, expires });
    }

    /// Block `num` of what is kept under `key`, with the total size.
    pub fn fetch(&mut self, now: Instant, key: &str, num: u32, szx: u8) -> Option<(Bytes, BlockValue, usize)> {
        let rep = self.entries.get(key).filter(|r| r.expires > now)?;
        let total = rep.payload.len();
        let (block, value) = Self::slice(&rep.payload, num, szx)?;
        if !value.more {
            self.entries.remove(key);
        }
        Some((block, value, total))
    }

    /// Earliest expiry.
    pub fn deadline(&self) -> Option<Instant> {
        self.entries.values().map(|r| r.expires).min()
    }

    /// Drops expired representations.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.entries.retain(|_, r| r.expires > now);
    }
}
