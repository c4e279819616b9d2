//! Large responses from the device, block by block (RFC 7959 §2.4): the device answers a GET
//! with the first block of a representation and Block2 `M=1`; the server asks for each next
//! block with the same request and Block2 `NUM+1` until `M=0`, and only the whole body is
//! decoded. The reassembly rules (each block at its offset, full blocks before the last, a
//! body limit) are gw-coap's [`Block1Assembler`]: they are the same for any body received
//! block by block, so it is reused here rather than written again.
//!
//! One transfer at a time, as a device has one outstanding command at a time. Only GET is
//! continued (read, discover, observe: the operations that return representations); the
//! first block of another method's response is passed on as it is.

use std::time::{Duration, Instant};

use gw_coap::channel::block::{Block1Assembler, Block1Outcome};
use gw_coap::codec::{option, size_to_szx, szx_to_size, BlockValue, Code, Message};

/// What a transfer may use (`gateway.lwm2m.blockwise.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Largest block asked for (16..=1024): later blocks are requested at the smaller of this
    /// and the device's block size (RFC 7959 §2.4, late negotiation).
    pub max_block_size: u16,
    /// Largest body reassembled.
    pub max_body_size: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self { max_block_size: 1024, max_body_size: 4 << 20 }
    }
}

/// What to do with a response.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseStep {
    /// The whole response: the first block's code and options (Observe, Content-Format) with
    /// the body of every block; no Block2/Size2.
    Complete(Message),
    /// Not the last block: send this request for the next one (it still needs a token and a
    /// Message ID).
    Next(Message),
    /// The transfer cannot complete; the command's answer gets this code: 4.08 for a block
    /// out of order or short (RFC 7959 §2.9.2), 4.13 for a body over the limit (§2.9.3), 4.02
    /// for an unreadable Block2 option.
    Failed(Code),
}

/// Reassembles the device's block-wise responses to one command at a time.
#[derive(Debug)]
pub struct ResponseAssembler {
    limits: BlockLimits,
    body: Block1Assembler,
    /// The first block's response (code and options kept for the result), while a transfer
    /// is in progress.
    first: Option<Message>,
}

/// The assembler's key: there is one transfer at a time.
const KEY: &str = "response";
/// Given to the assembler, which only uses it to expire abandoned transfers when asked to;
/// here a transfer ends with its command (answer, CoAP timeout or reset), so it is never asked.
const TRANSFER_LIFETIME: Duration = Duration::from_secs(247);

impl ResponseAssembler {
    /// An idle assembler.
    pub fn new(limits: BlockLimits) -> Self {
        Self { limits, body: Block1Assembler::default(), first: None }
    }

    /// Whether a transfer is in progress (later blocks are being fetched).
    pub fn in_progress(&self) -> bool {
        self.first.is_some()
    }

    /// Forgets a transfer in progress (its command ended otherwise: timeout, reset).
    pub fn reset(&mut self) {
        self.first = None;
        self.body = Block1Assembler::default();
    }

    /// `response` answers `request` (the first request or one for a later block).
    pub fn on_response(&mut self, now: Instant, request: &Message, response: Message) -> ResponseStep {
        let block = match response.option(option::BLOCK2).map(|v| BlockValue::decode(v)) {
            None => return self.complete(response),
            Some(Err(_)) => {
                self.reset();
                return ResponseStep::Failed(Code::BAD_OPTION);
            }
            Some(Ok(b)) => b,
        };
        let continued = request.code == Code::GET && response.code.is_success();
        if !continued || (block.num == 0 && !block.more) {
            return self.complete(response);
        }
        if block.num == 0 {
            self.first = Some(Message { payload: Default::default(), ..response.clone() });
        }
        let size2 = response.uint_option(option::SIZE2).ok().flatten();
        let max_szx = size_to_szx(usize::from(self.limits.max_block_size));
        let outcome = self.body.on_block(
            now,
            TRANSFER_LIFETIME,
            KEY,
            block,
            &response.payload,
            size2,
            self.limits.max_body_size,
            max_szx,
        );
        match outcome {
            Block1Outcome::Continue(next) => {
                // Later blocks at the smaller size: NUM counts blocks of that size (§2.2).
                let received = (block.num as usize + 1) * block.size();
                let num = u32::try_from(received / szx_to_size(next.szx)).unwrap_or(u32::MAX);
                if num > BlockValue::MAX_NUM {
                    self.reset();
                    return ResponseStep::Failed(Code::REQUEST_ENTITY_TOO_LARGE);
                }
                ResponseStep::Next(next_request(request, BlockValue { num, more: false, szx: next.szx }))
            }
            Block1Outcome::Complete(body, _) => {
                let first = self.first.take().unwrap_or(response);
                self.complete(Message { payload: body, ..first })
            }
            Block1Outcome::Incomplete => {
                self.reset();
                ResponseStep::Failed(Code::REQUEST_ENTITY_INCOMPLETE)
            }
            Block1Outcome::TooLarge => {
                self.reset();
                ResponseStep::Failed(Code::REQUEST_ENTITY_TOO_LARGE)
            }
        }
    }

    fn complete(&mut self, mut response: Message) -> ResponseStep {
        self.first = None;
        response.remove_option(option::BLOCK2);
        response.remove_option(option::SIZE2);
        ResponseStep::Complete(response)
    }
}

/// `request` again, asking for `block`: without Observe, which only the first request of an
/// observation carries (RFC 7959 §3.4).
fn next_request(request: &Message, block: BlockValue) -> Message {
    let mut next = request.clone();
    next.remove_option(option::OBSERVE);
    next.set_option(option::BLOCK2, block.encode());
    next
}
