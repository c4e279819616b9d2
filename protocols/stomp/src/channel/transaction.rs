//! BEGIN / COMMIT / ABORT (1.2 §BEGIN, §COMMIT, §ABORT).
//!
//! SEND, ACK and NACK with a `transaction` header are buffered (at most
//! `max_tx_frames` per transaction) and turned into events, in order, at COMMIT; ABORT,
//! DISCONNECT and closing drop them. ACK / NACK ids are checked when buffered and resolved
//! at COMMIT (a COMMIT naming an id acknowledged meanwhile is an ERROR; nothing of that
//! transaction is emitted).

use std::collections::HashMap;

use crate::codec::Frame;

use super::subscribe::AckTarget;
use super::{Channel, Event};

/// A frame buffered in a transaction.
#[derive(Debug)]
pub(super) enum TxOp {
    /// The [`Event::Send`] to emit.
    Send(Event),
    /// An ACK or NACK to resolve.
    Ack { nack: bool, target: AckTarget },
}

/// Open transactions by id.
#[derive(Debug, Default)]
pub(super) struct Transactions {
    open: HashMap<String, Vec<TxOp>>,
}

impl Transactions {
    pub(super) fn clear(&mut self) {
        self.open.clear();
    }
}

impl Channel {
    pub(super) fn on_begin(&mut self, frame: &Frame) -> Result<(), String> {
        let tx = Self::required(frame, "transaction")?;
        let open = &mut self.transactions.open;
        if open.contains_key(tx) {
            return Err(format!("Transaction {tx} already begun"));
        }
        if open.len() >= self.config.max_transactions {
            return Err(format!("Too many open transactions (limit {})", self.config.max_transactions));
        }
        open.insert(tx.to_owned(), Vec::new());
        Ok(())
    }

    pub(super) fn on_commit(&mut self, frame: &Frame) -> Result<(), String> {
        let tx = Self::required(frame, "transaction")?;
        let ops = self.transactions.open.remove(tx).ok_or_else(|| format!("Transaction {tx} not found"))?;
        let mut events = Vec::with_capacity(ops.len());
        for op in ops {
            events.push(match op {
                TxOp::Send(event) => event,
                TxOp::Ack { nack, target } => self.resolve_ack(&target, nack)?,
            });
        }
        self.events.extend(events);
        Ok(())
    }

    pub(super) fn on_abort(&mut self, frame: &Frame) -> Result<(), String> {
        let tx = Self::required(frame, "transaction")?;
        self.transactions.open.remove(tx).map(drop).ok_or_else(|| format!("Transaction {tx} not found"))
    }

    pub(super) fn buffer_in_transaction(&mut self, tx: &str, op: TxOp) -> Result<(), String> {
        let max = self.config.max_tx_frames;
        let ops = self.transactions.open.get_mut(tx).ok_or_else(|| format!("Transaction {tx} not found"))?;
        if ops.len() >= max {
            return Err(format!("Too many frames in transaction {tx} (limit {max})"));
        }
        ops.push(op);
        Ok(())
    }
}
