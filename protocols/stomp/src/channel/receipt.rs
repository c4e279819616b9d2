//! RECEIPT and ERROR frames (1.2 §"Header receipt", §"RECEIPT", §"ERROR").
//!
//! A RECEIPT is queued after the frame that asked for it was handled by the channel: for
//! frames inside a transaction, when buffered; for SEND / SUBSCRIBE, right after the event
//! was queued, i.e. before the glue ran its ACL checks — a denial then arrives as an ERROR
//! after the RECEIPT.

use crate::codec::{Command, Frame};

use super::Channel;

impl Channel {
    pub(super) fn send_receipt(&mut self, receipt: &str) {
        self.send(&Frame::new(Command::Receipt).with_header("receipt-id", receipt));
    }

    /// ERROR with a `message` header (and `receipt-id`); no body.
    pub(super) fn send_error(&mut self, message: &str, receipt_id: Option<&str>) {
        let mut frame = Frame::new(Command::Error).with_header("message", message);
        if let Some(receipt) = receipt_id {
            frame.push_header("receipt-id", receipt);
        }
        self.send(&frame);
    }
}
