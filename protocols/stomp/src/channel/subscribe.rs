//! SUBSCRIBE / UNSUBSCRIBE, MESSAGE, ACK / NACK (1.2 §SUBSCRIBE, §ACK, §NACK, §MESSAGE).
//!
//! Every MESSAGE gets a per-connection `message-id` (a counter); for `client` and
//! `client-individual` subscriptions the same number is the `ack` header (1.2) and the
//! [`AckId`] the glue keeps. 1.2 clients acknowledge by `id` (= the `ack` header), 1.1
//! and 1.0 clients by `message-id` (+ `subscription`, checked when present).
//! `client` acks and nacks are cumulative per subscription: every outstanding id of that
//! subscription up to the acknowledged one; `client-individual` ones cover one message.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use crate::codec::{Command, Frame, Version};

use super::transaction::TxOp;
use super::{first_occurrences, Channel, Event, SendError, State};

/// Acknowledgement mode of a subscription (`ack` header of SUBSCRIBE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AckMode {
    /// No ACKs: a message counts as consumed once sent (the default).
    #[default]
    Auto,
    /// Cumulative ACK / NACK.
    Client,
    /// ACK / NACK per message.
    ClientIndividual,
}

impl AckMode {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Client => "client",
            Self::ClientIndividual => "client-individual",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "client" => Some(Self::Client),
            "client-individual" => Some(Self::ClientIndividual),
            _ => None,
        }
    }
}

/// Identifies one MESSAGE awaiting ACK / NACK on this connection (its `message-id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AckId(u64);

impl AckId {
    /// The number, as written in the `message-id` and `ack` headers.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What an ACK / NACK frame names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AckTarget {
    id: String,
    subscription: Option<String>,
}

#[derive(Debug)]
struct Subscription {
    destination: String,
    ack: AckMode,
    /// Message ids sent and not yet acknowledged (client modes only).
    outstanding: BTreeSet<u64>,
}

/// The connection's subscriptions and unacknowledged messages.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    by_id: HashMap<String, Subscription>,
    /// Outstanding message id → subscription id.
    owner: HashMap<u64, String>,
    last_message_id: u64,
}

impl Subscriptions {
    /// Resolves and removes the acknowledged ids.
    fn resolve(&mut self, target: &AckTarget) -> Result<Vec<AckId>, String> {
        let unknown = || format!("Unknown ack id {}", target.id);
        let id: u64 = target.id.parse().map_err(|_| unknown())?;
        let sub_id = self.owner.get(&id).ok_or_else(unknown)?;
        if target.subscription.as_ref().is_some_and(|s| s != sub_id) {
            return Err(format!(
                "Message {id} does not belong to subscription {}",
                target.subscription.as_deref().unwrap_or("")
            ));
        }
        let sub = self.by_id.get_mut(sub_id).ok_or_else(unknown)?;
        let acked: Vec<u64> = match sub.ack {
            AckMode::Client => {
                let rest = sub.outstanding.split_off(&id.saturating_add(1));
                std::mem::replace(&mut sub.outstanding, rest).into_iter().collect()
            }
            AckMode::ClientIndividual | AckMode::Auto => {
                sub.outstanding.remove(&id);
                vec![id]
            }
        };
        for id in &acked {
            self.owner.remove(id);
        }
        Ok(acked.into_iter().map(AckId).collect())
    }

    fn is_outstanding(&self, target: &AckTarget) -> bool {
        target.id.parse::<u64>().is_ok_and(|id| self.owner.contains_key(&id))
    }
}

impl Channel {
    pub(super) fn on_subscribe(&mut self, frame: &Frame) -> Result<(), String> {
        let destination = Self::required(frame, "destination")?.to_owned();
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id.to_owned(),
            (None, Some(Version::V1_0)) => destination.clone(),
            (None, _) => return Err(Self::missing(frame, "id")),
        };
        let ack = match frame.header("ack") {
            None => AckMode::Auto,
            Some(value) => AckMode::parse(value).ok_or_else(|| format!("Invalid ack mode {value}"))?,
        };
        let subs = &mut self.subscriptions;
        if subs.by_id.contains_key(&id) {
            return Err(format!("Subscription id {id} is already in use"));
        }
        if subs.by_id.values().any(|s| s.destination == destination) {
            return Err(format!("Already subscribed to {destination}"));
        }
        if subs.by_id.len() >= self.config.max_subscriptions {
            return Err(format!("Too many subscriptions (limit {})", self.config.max_subscriptions));
        }
        let sub = Subscription { destination: destination.clone(), ack, outstanding: BTreeSet::new() };
        subs.by_id.insert(id.clone(), sub);
        self.events.push_back(Event::Subscribe { id, destination, ack });
        Ok(())
    }

    /// An unknown id is ignored (EMQX does the same); the receipt is still sent.
    pub(super) fn on_unsubscribe(&mut self, frame: &Frame) -> Result<(), String> {
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id,
            (None, Some(Version::V1_0)) => Self::required(frame, "destination")?,
            (None, _) => Self::required(frame, "id")?,
        };
        if let Some(sub) = self.subscriptions.by_id.remove(id) {
            for message_id in &sub.outstanding {
                self.subscriptions.owner.remove(message_id);
            }
            self.events.push_back(Event::Unsubscribe { id: id.to_owned(), destination: sub.destination });
        }
        Ok(())
    }

    pub(super) fn on_ack(&mut self, frame: &Frame, nack: bool) -> Result<(), String> {
        let id = match self.version {
            Some(Version::V1_2) => frame.header("id").or_else(|| frame.header("message-id")),
            _ => frame.header("message-id").or_else(|| frame.header("id")),
        };
        let id = match id {
            Some(id) => id.to_owned(),
            None if self.version == Some(Version::V1_2) => return Err(Self::missing(frame, "id")),
            None => return Err(Self::missing(frame, "message-id")),
        };
        let target = AckTarget { id, subscription: frame.header("subscription").map(str::to_owned) };
        if !self.subscriptions.is_outstanding(&target) {
            return Err(format!("Unknown ack id {}", target.id));
        }
        match frame.header("transaction") {
            Some(tx) => {
                let tx = tx.to_owned();
                self.buffer_in_transaction(&tx, TxOp::Ack { nack, target })
            }
            None => {
                let event = self.resolve_ack(&target, nack)?;
                self.events.push_back(event);
                Ok(())
            }
        }
    }

    /// The ACK / NACK event for `target`, removing what it acknowledges.
    pub(super) fn resolve_ack(&mut self, target: &AckTarget, nack: bool) -> Result<Event, String> {
        let ack_ids = self.subscriptions.resolve(target)?;
        Ok(if nack { Event::Nack { ack_ids } } else { Event::Ack { ack_ids } })
    }

    pub(super) fn on_send(&mut self, frame: Frame) -> Result<(), String> {
        let destination = Self::required(&frame, "destination")?.to_owned();
        let headers = first_occurrences(&frame.headers, &["destination", "content-length", "transaction", "receipt"]);
        let content_type = frame.header("content-type").map(str::to_owned);
        let event = Event::Send { destination, headers, content_type, body: frame.body.clone() };
        match frame.header("transaction") {
            Some(tx) => self.buffer_in_transaction(tx, TxOp::Send(event)),
            None => {
                self.events.push_back(event);
                Ok(())
            }
        }
    }

    /// Writes a MESSAGE for subscription `subscription_id`: `subscription`, `message-id`,
    /// `destination`, `ack` (1.2, client modes), then `headers` as given (minus any of
    /// those names and `content-length`, which the encoder writes). `Ok(Some(id))`: the
    /// glue must remember `id` until [`Event::Ack`] / [`Event::Nack`] names it;
    /// `Ok(None)`: `auto` mode, consumed at once.
    pub fn send_message(
        &mut self,
        subscription_id: &str,
        destination: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Option<AckId>, SendError> {
        if self.state != State::Connected {
            return Err(SendError::NotConnected);
        }
        let subs = &mut self.subscriptions;
        let sub = subs.by_id.get_mut(subscription_id).ok_or(SendError::UnknownSubscription)?;
        subs.last_message_id += 1;
        let id = subs.last_message_id;
        let id_text = id.to_string();
        let mut frame = Frame::new(Command::Message)
            .with_header("subscription", subscription_id)
            .with_header("message-id", id_text.as_str())
            .with_header("destination", destination);
        let ack_id = match sub.ack {
            AckMode::Auto => None,
            AckMode::Client | AckMode::ClientIndividual => {
                sub.outstanding.insert(id);
                subs.owner.insert(id, subscription_id.to_owned());
                if self.version == Some(Version::V1_2) {
                    frame.push_header("ack", id_text.as_str());
                }
                Some(AckId(id))
            }
        };
        const RESERVED: [&str; 5] = ["subscription", "message-id", "destination", "ack", "content-length"];
        for (name, value) in headers {
            if !RESERVED.contains(&name.as_str()) {
                frame.push_header(name.as_str(), value.as_str());
            }
        }
        frame.body = body;
        self.send(&frame);
        Ok(ack_id)
    }

    /// The ack mode of subscription `id`, if it exists.
    pub fn subscription_ack_mode(&self, id: &str) -> Option<AckMode> {
        self.subscriptions.by_id.get(id).map(|s| s.ack)
    }

    /// The destination of subscription `id`, if it exists.
    pub fn subscription_destination(&self, id: &str) -> Option<&str> {
        self.subscriptions.by_id.get(id).map(|s| s.destination.as_str())
    }

    /// Messages sent on client / client-individual subscriptions and not yet acknowledged.
    pub fn outstanding_acks(&self) -> usize {
        self.subscriptions.owner.len()
    }
}
