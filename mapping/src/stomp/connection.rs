//! One STOMP connection: drives the channel with socket input and bus deliveries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gw_core::bus::{
    Action, AuthDecision, Bus, ClientId, ClientInfo, CloseKind, Doorbell, OpenSession, Outbound, PublishBatch, QoS,
    RetainHandling, SessionHandle, SubOptions, SubscriptionFilter, Topic,
};
use gw_core::conn::{CloseCause, Flow, ReadPause, StreamHandler};
use gw_stomp::channel::{AckMode, Channel, ChannelConfig, CloseReason, Event};
use tokio::time::Instant;

use super::convert::{message_from_send, message_headers};
use super::StompSettings;
use crate::backpressure::PublisherPause;
use crate::mountpoint::{MountVars, Mountpoint};

/// A STOMP subscription as the glue knows it.
#[derive(Debug)]
struct Subscription {
    stomp_id: String,
    filter: SubscriptionFilter,
}

/// The per-connection handler of the STOMP front-end.
#[derive(Debug)]
pub struct StompConnection {
    bus: Bus,
    settings: Arc<StompSettings>,
    channel: Channel,
    doorbell: Arc<Doorbell>,
    peer: SocketAddr,
    client: Option<ClientInfo>,
    session: Option<SessionHandle>,
    mountpoint: Mountpoint,
    /// Internal subscription identifier (carried by deliveries) → subscription.
    subscriptions: HashMap<u32, Subscription>,
    next_subscription: u32,
    /// STOMP ack id → (session packet id, internal subscription identifier).
    unacked: HashMap<u64, (NonZeroU16, u32)>,
    outbound: Vec<Outbound>,
    /// Publisher back-pressure (see the MQTT glue): no reading before this.
    read_pause: PublisherPause,
}

impl StompConnection {
    pub(crate) fn new(
        bus: Bus,
        settings: Arc<StompSettings>,
        channel_config: Arc<ChannelConfig>,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            bus,
            settings,
            channel: Channel::new(channel_config, now.into_std()),
            doorbell: Arc::new(Doorbell::new()),
            peer,
            client: None,
            session: None,
            mountpoint: Mountpoint::default(),
            subscriptions: HashMap::new(),
            next_subscription: 1,
            unacked: HashMap::new(),
            outbound: Vec::new(),
            read_pause: PublisherPause::default(),
        }
    }

    /// Handles every event the channel has produced. SENDs are routed into `batch`; anything
    /// else first queues what the batch holds, so it acts after them.
    async fn drain_events(&mut self, now: Instant, batch: &mut PublishBatch) -> Flow {
        while let Some(event) = self.channel.poll_event() {
            if !matches!(event, Event::Send { .. }) {
                self.flush_sends(batch, now);
            }
            match event {
                Event::Connect { login, passcode, headers, .. } => {
                    // Boxed: large, runs once (see the MQTT glue).
                    Box::pin(self.on_connect(login, passcode, &headers, now)).await;
                }
                Event::Send { destination, headers, body, .. } => {
                    self.on_send(&destination, &headers, body, now, batch);
                }
                Event::Subscribe { id, destination, ack } => self.on_subscribe(id, &destination, ack, now),
                Event::Unsubscribe { id, .. } => self.on_unsubscribe(&id, now),
                Event::Ack { ack_ids } => {
                    for ack in ack_ids {
                        if let (Some((packet_id, _)), Some(s)) = (self.unacked.remove(&ack.get()), &self.session) {
                            s.complete(packet_id);
                        }
                    }
                }
                Event::Nack { ack_ids } => {
                    for ack in ack_ids {
                        if let (Some((packet_id, _)), Some(s)) = (self.unacked.remove(&ack.get()), &self.session) {
                            s.nack(packet_id, now);
                        }
                    }
                }
                Event::Closed(reason) => {
                    match reason {
                        CloseReason::Error { message } => tracing::info!(message, "stomp_error_sent"),
                        CloseReason::HeartbeatTimeout => tracing::info!("heartbeat_timeout"),
                        other => tracing::debug!(reason = ?other, "stomp_closed"),
                    }
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    async fn on_connect(
        &mut self,
        login: Option<String>,
        passcode: Option<String>,
        headers: &[(String, String)],
        now: Instant,
    ) {
        // EMQX gives STOMP clients a random client id; an explicit `client-id` header (an
        // ActiveMQ convention) is honoured so that a client can take its session over.
        let client_id = headers
            .iter()
            .find(|(k, _)| k == "client-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("stomp-{:016x}", rand::random::<u64>()));
        let client =
            ClientInfo { protocol: "stomp", client_id: client_id.clone(), username: login, peer: Some(self.peer) };
        match self.bus.authenticate(&client, passcode.as_deref().map(str::as_bytes)).await {
            AuthDecision::Allow { .. } => {}
            AuthDecision::BadCredentials => {
                return self.channel.reject_connect("Login Failed: bad username or password")
            }
            AuthDecision::NotAuthorized => return self.channel.reject_connect("Login Failed: not authorized"),
        }
        self.mountpoint = Mountpoint::resolve(
            &self.settings.mountpoint,
            MountVars { client_id: Some(&client_id), username: client.username.as_deref(), endpoint_name: None },
        );
        // STOMP sessions live as long as the connection (EMQX: a trivial session).
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(client_id.as_str()),
                clean_start: true,
                expiry: Some(Duration::ZERO),
                will: None,
                doorbell: self.doorbell.clone(),
            },
            now,
        );
        tracing::Span::current().record("client_id", client_id.as_str());
        self.channel.accept_connect(now.into_std(), &client_id);
        self.session = Some(opened.handle);
        self.client = Some(client);
    }

    fn on_send(
        &mut self,
        destination: &str,
        headers: &[(String, String)],
        body: Bytes,
        now: Instant,
        batch: &mut PublishBatch,
    ) {
        let (Some(session), Some(client)) = (&self.session, &self.client) else { return };
        let topic = match Topic::new(self.mountpoint.mount(destination).into_owned()) {
            Ok(t) => t,
            Err(e) => return self.channel.error(&format!("Invalid destination {destination:?}: {e}"), None),
        };
        let action = Action::Publish { qos: QoS::AtMostOnce, retain: false };
        if !self.bus.authorize(client, action, destination) {
            return self.channel.error(&format!("Insufficient permissions for {destination}"), None);
        }
        let message = message_from_send(topic, headers, body, session.client_id());
        // A RECEIPT for it is written only after the batch is queued (`on_input` flushes it
        // before taking the channel's output).
        if let Err(e) = session.publish_into(batch, message, now) {
            self.channel.error(&format!("Invalid destination {destination:?}: {e}"), None);
        }
    }

    /// Queues the routed SENDs; pauses reading if a subscriber is falling behind.
    fn flush_sends(&mut self, batch: &mut PublishBatch, now: Instant) {
        self.read_pause.flush(self.session.as_ref(), batch, self.settings.publish_backpressure, now);
    }

    fn on_subscribe(&mut self, stomp_id: String, destination: &str, ack: AckMode, now: Instant) {
        let (Some(session), Some(client)) = (&self.session, &self.client) else { return };
        let filter = match SubscriptionFilter::parse(&self.mountpoint.mount_filter(destination)) {
            Ok(f) => f,
            Err(e) => return self.channel.error(&format!("Invalid destination {destination:?}: {e}"), None),
        };
        let tracked = ack != AckMode::Auto;
        let qos = if tracked { QoS::AtLeastOnce } else { QoS::AtMostOnce };
        if !self.bus.authorize(client, Action::Subscribe { qos }, destination) {
            return self.channel.error(&format!("Insufficient permissions for {destination}"), None);
        }
        // One bus subscription per filter and session: a second STOMP subscription to the
        // same destination is refused, as in EMQX.
        if self.subscriptions.values().any(|s| s.filter == filter) {
            return self.channel.error(&format!("Duplicated subscription to {destination}"), None);
        }
        let internal = self.next_subscription;
        self.next_subscription += 1;
        let opts = SubOptions { qos, upgrade_qos: tracked, subscription_id: Some(internal), ..SubOptions::default() };
        if let Err(e) = session.subscribe(&filter, opts, RetainHandling::Send, now) {
            return self.channel.error(&format!("Invalid destination {destination:?}: {e}"), None);
        }
        self.subscriptions.insert(internal, Subscription { stomp_id, filter });
    }

    fn on_unsubscribe(&mut self, stomp_id: &str, now: Instant) {
        let Some(session) = &self.session else { return };
        let Some(internal) = self.subscriptions.iter().find(|(_, s)| s.stomp_id == stomp_id).map(|(id, _)| *id) else {
            return;
        };
        if let Some(sub) = self.subscriptions.remove(&internal) {
            session.unsubscribe(&sub.filter);
        }
        // Messages the subscription left un-ACKed go to another group member, or are
        // dropped and counted.
        let orphaned: Vec<u64> = self.unacked.iter().filter(|(_, (_, s))| *s == internal).map(|(a, _)| *a).collect();
        for ack in orphaned {
            if let Some((packet_id, _)) = self.unacked.remove(&ack) {
                session.nack(packet_id, now);
            }
        }
    }

    fn pump(&mut self, now: Instant) {
        let Some(session) = &self.session else { return };
        if !self.channel.is_connected() {
            return;
        }
        let window = usize::from(self.bus.config().session.max_inflight);
        let more = session.take_outbound(now, window, 256, &mut self.outbound);
        for outbound in std::mem::take(&mut self.outbound) {
            let Outbound::Publish { packet_id, delivery, .. } = outbound else { continue };
            let message = &delivery.message;
            let target = delivery
                .subscription_ids
                .iter()
                .find_map(|id| self.subscriptions.get(id).map(|s| (*id, s.stomp_id.as_str())));
            let sent = match target {
                Some((internal, stomp_id)) => {
                    let destination = self.mountpoint.unmount(message.topic.as_str());
                    let headers = message_headers(message);
                    match self.channel.send_message(stomp_id, destination, &headers, message.payload.clone()) {
                        Ok(Some(ack)) => packet_id.map(|p| (ack.get(), p, internal)),
                        _ => None,
                    }
                }
                None => None,
            };
            match (sent, packet_id) {
                (Some((ack, packet_id, internal)), _) => {
                    self.unacked.insert(ack, (packet_id, internal));
                }
                // Auto-acknowledged, or its subscription is gone: nothing to wait for.
                (None, Some(packet_id)) => {
                    session.complete(packet_id);
                }
                (None, None) => {}
            }
        }
        if more {
            self.doorbell.ring();
        }
    }

    fn flow(&self) -> Flow {
        if self.channel.is_closed() {
            Flow::Close
        } else {
            Flow::Continue
        }
    }
}

impl StreamHandler for StompConnection {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_input(&mut self, now: Instant, input: &mut BytesMut, out: &mut BytesMut) -> Flow {
        // One frame at a time, so a publisher can be paused between two SENDs; what is left
        // stays in `input` and the driver hands it back when the pause ends. The SENDs in
        // between are routed into one batch (see the MQTT glue).
        let mut batch = PublishBatch::new();
        while !self.read_pause.is_active(now) {
            let was_connected = self.channel.is_connected();
            let consumed = self.channel.handle_one(now.into_std(), input);
            if self.drain_events(now, &mut batch).await == Flow::Close {
                break;
            }
            // Frames pipelined behind CONNECT wait in `input` until the CONNECT is answered.
            let accepted = !was_connected && self.channel.is_connected();
            if !consumed && !accepted {
                break;
            }
            if batch.should_flush() {
                self.flush_sends(&mut batch, now);
            }
        }
        self.flush_sends(&mut batch, now);
        self.pump(now);
        self.channel.take_transmit(out);
        self.flow()
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        if let Some(kick) = self.doorbell.kicked() {
            tracing::info!(?kick, "session_taken_over");
            self.session = None;
            self.channel.error("Session taken over by another connection with the same client-id", None);
            self.channel.take_transmit(out);
            return Flow::Close;
        }
        self.pump(now);
        self.channel.take_transmit(out);
        self.flow()
    }

    fn on_timeout(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        self.channel.handle_timeout(now.into_std());
        while let Some(event) = self.channel.poll_event() {
            if let Event::Closed(reason) = event {
                tracing::info!(?reason, "stomp_closed_on_timer");
            }
        }
        self.channel.take_transmit(out);
        self.flow()
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.channel.poll_timeout().map(Instant::from_std)
    }

    fn read_pause(&self) -> Option<ReadPause> {
        self.read_pause.current()
    }

    fn end_read_pause(&mut self) {
        self.read_pause.end();
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut BytesMut) {
        if self.channel.is_connected() {
            self.channel.error("Server shutting down", None);
        }
        self.channel.take_transmit(out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        tracing::debug!(?cause, "stomp_connection_closed");
        if let Some(session) = self.session.take() {
            // Un-ACKed messages of shared subscriptions are redispatched as the session ends.
            session.close(CloseKind::Normal, now);
        }
    }

    fn client_id(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.client_id.as_str())
    }

    fn on_hibernate(&mut self) {
        self.unacked.shrink_to_fit();
        self.outbound.shrink_to_fit();
        if let Some(session) = &self.session {
            session.shrink_to_fit();
        }
    }
}
