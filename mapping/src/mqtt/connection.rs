//! One MQTT connection: drives the channel with socket input and bus deliveries.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::BytesMut;
use gw_core::bus::{
    Action, AuthDecision, Bus, ClientId, ClientInfo, CloseKind, Delivery, Doorbell, IncomingQos2, KickReason, Metrics,
    OpenSession, Outbound, PublishBatch, RetainHandling, Sent, SessionHandle, SubOptions, SubscriptionFilter, Topic,
    Will,
};
use gw_core::conn::{CloseCause, Flow, ReadPause, StreamHandler};
use gw_mqtt::channel::{Channel, ChannelConfig, CloseReason, ConnAckParams, Event, SendError};
use gw_mqtt::codec::{self, reason, Connect, MqttString, ProtocolVersion, PublishProperties, Subscribe, Unsubscribe};
use tokio::time::Instant;

use super::convert::{delivery_properties, message_from_publish, props_to_bus, publish_for_delivery, qos_to_bus};
use super::MqttSettings;
use crate::backpressure::PublisherPause;

/// The per-connection handler of the MQTT front-end.
#[derive(Debug)]
pub struct MqttConnection {
    bus: Bus,
    settings: Arc<MqttSettings>,
    channel: Channel,
    doorbell: Arc<Doorbell>,
    /// Who the client is, for the bus's access checks: only its address until the CONNECT
    /// (which fills in the rest); boxed, it keeps the handler small.
    client: Box<ClientInfo>,
    session: Option<SessionHandle>,
    /// How the session ends when the connection does; set from the channel's close reason.
    close_kind: Option<CloseKind>,
    /// PUBACK/PUBCOMP packet ids read but not yet applied to the session: applied together,
    /// under one lock, before the next deliveries are taken.
    acked: Vec<NonZeroU16>,
    /// Publisher back-pressure: no reading while paused.
    read_pause: PublisherPause,
}

fn std_now(now: Instant) -> std::time::Instant {
    now.into_std()
}

fn expiry_secs(d: Option<Duration>) -> u32 {
    d.map_or(u32::MAX, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX - 1))
}

impl MqttConnection {
    pub(crate) fn new(
        bus: Bus,
        settings: Arc<MqttSettings>,
        channel_config: Arc<ChannelConfig>,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            bus,
            settings,
            channel: Channel::new(channel_config, std_now(now)),
            doorbell: Arc::new(Doorbell::new()),
            client: Box::new(ClientInfo {
                protocol: "mqtt",
                client_id: String::new(),
                username: None,
                peer: Some(peer),
            }),
            session: None,
            close_kind: None,
            acked: Vec::new(),
            read_pause: PublisherPause::default(),
        }
    }

    /// Handles every event the channel has produced. PUBLISHes are routed into `batch`;
    /// anything else first queues what the batch holds, so it acts after them.
    async fn drain_events(&mut self, now: Instant, batch: &mut PublishBatch) -> Flow {
        while let Some(event) = self.channel.poll_event() {
            // Acknowledgements of deliveries only touch this session's window: no need to
            // break the batch for them.
            if !matches!(event, Event::Publish(_) | Event::PubAck { .. } | Event::PubComp { .. }) {
                self.flush_publishes(batch, now);
            }
            match event {
                // Boxed: the connect path (authentication) is large and runs once, and an
                // idle connection's task should not carry its state inline.
                Event::Connect(connect) => Box::pin(self.on_connect(*connect, now)).await,
                Event::Publish(publish) => self.on_publish(publish, now, batch),
                Event::PubAck { packet_id, .. } | Event::PubComp { packet_id, .. } => self.acked.push(packet_id),
                Event::PubRec { packet_id, reason_code } => self.on_pubrec(packet_id, reason_code, now),
                Event::PubRel { packet_id } => {
                    let found = self.session.as_ref().is_some_and(|s| s.release_qos2(packet_id));
                    self.channel.complete_release(packet_id, found);
                }
                Event::Subscribe(subscribe) => self.on_subscribe(subscribe, now),
                Event::Unsubscribe(unsubscribe) => self.on_unsubscribe(unsubscribe),
                Event::Closed(reason) => {
                    self.on_channel_closed(reason);
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    async fn on_connect(&mut self, connect: Connect, now: Instant) {
        let v5 = connect.version == ProtocolVersion::V5;
        let assigned = connect.client_id.is_empty();
        let client_id = if assigned { generated_client_id() } else { connect.client_id.as_str().to_owned() };
        self.client.client_id.clone_from(&client_id);
        self.client.username = connect.username.as_ref().map(|u| u.as_str().to_owned());
        match self.bus.authenticate(&self.client, connect.password.as_deref()).await {
            AuthDecision::Allow { .. } => {}
            AuthDecision::BadCredentials => {
                tracing::info!(client_id, "connect_refused_bad_credentials");
                self.channel.reject_connect(reason::BAD_USER_NAME_OR_PASSWORD, None);
                return;
            }
            AuthDecision::NotAuthorized => {
                tracing::info!(client_id, "connect_refused_not_authorized");
                self.channel.reject_connect(reason::NOT_AUTHORIZED, None);
                return;
            }
        }
        let will = match &connect.will {
            None => None,
            Some(w) => {
                let Ok(topic) = Topic::new(w.topic.as_bytes().clone()) else {
                    self.channel.reject_connect(reason::TOPIC_NAME_INVALID, None);
                    return;
                };
                let action = Action::Publish { qos: qos_to_bus(w.qos), retain: w.retain };
                // A will the client may not publish is dropped, as EMQX does.
                self.bus.authorize(&self.client, action, topic.as_str()).then(|| {
                    let p = &w.properties;
                    let mut message = gw_core::bus::Message::new(topic, w.payload.clone(), qos_to_bus(w.qos), w.retain);
                    message.publisher = Some(ClientId::new(client_id.as_str()));
                    message.props = props_to_bus(
                        p.payload_format_indicator,
                        p.content_type.as_ref(),
                        p.response_topic.as_ref(),
                        p.correlation_data.as_ref(),
                        &p.user_properties,
                    );
                    Will {
                        message,
                        delay: Duration::from_secs(u64::from(p.will_delay_interval.unwrap_or(0))),
                        message_expiry: p.message_expiry_interval.map(|s| Duration::from_secs(u64::from(s))),
                    }
                })
            }
        };
        // Session expiry: MQTT 5 says it in CONNECT (u32::MAX = never); 3.x persistent
        // sessions get `mqtt.session_expiry_interval` (EMQX's 2h).
        let (expiry, changed) = if v5 {
            let asked = connect.properties.session_expiry_interval.unwrap_or(0);
            let asked = (asked != u32::MAX).then(|| Duration::from_secs(u64::from(asked)));
            match (asked, self.settings.max_session_expiry_interval) {
                (None, Some(max)) => (Some(max), true),
                (Some(a), Some(max)) if a > max => (Some(max), true),
                (a, _) => (a, false),
            }
        } else if connect.clean_start {
            (Some(Duration::ZERO), false)
        } else {
            (self.settings.session_expiry_interval, false)
        };
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(client_id.as_str()),
                clean_start: connect.clean_start,
                expiry,
                will,
                doorbell: self.doorbell.clone(),
            },
            now,
        );
        tracing::Span::current().record("client_id", client_id.as_str());
        tracing::debug!(version = ?connect.version, clean_start = connect.clean_start, present = opened.session_present, "connected");
        self.channel.accept_connect(
            std_now(now),
            ConnAckParams {
                session_present: opened.session_present,
                assigned_client_id: (assigned && v5).then(|| MqttString::from(client_id.clone())),
                session_expiry_interval: (v5 && changed).then(|| expiry_secs(expiry)),
            },
        );
        // Unacknowledged messages of a resumed session go first, with DUP set.
        let mut resend = Vec::new();
        opened.handle.resend_inflight(now, &mut resend);
        self.session = Some(opened.handle);
        self.write_outbound(resend, now);
    }

    fn on_publish(&mut self, publish: codec::Publish, now: Instant, batch: &mut PublishBatch) {
        let (Some(session), client) = (&self.session, &self.client) else { return };
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        let topic = match Topic::new(publish.topic.as_bytes().clone()) {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(error = %e, "publish_topic_invalid");
                return self.finish_publish(packet_id, qos, reason::TOPIC_NAME_INVALID);
            }
        };
        let action = Action::Publish { qos: qos_to_bus(qos), retain: publish.retain };
        if !self.bus.authorize(client, action, topic.as_str()) {
            tracing::info!(topic = topic.as_str(), "publish_not_authorized");
            return self.finish_publish(packet_id, qos, reason::NOT_AUTHORIZED);
        }
        if let (codec::QoS::ExactlyOnce, Some(id)) = (qos, packet_id) {
            match session.incoming_qos2(id, now) {
                IncomingQos2::New => {}
                // Already published; only acknowledge again [MQTT-4.3.3-10].
                IncomingQos2::Duplicate => return self.finish_publish(packet_id, qos, reason::SUCCESS),
                IncomingQos2::Full => {
                    tracing::info!(max = self.bus.config().session.max_awaiting_rel, "max_awaiting_rel_reached");
                    self.channel.disconnect(reason::RECEIVE_MAXIMUM_EXCEEDED, None);
                    return;
                }
            }
        }
        let message = message_from_publish(topic, &publish, session.client_id(), now);
        // Acknowledged now, but the acknowledgement is only written after the batch is
        // queued (`on_input` flushes it before taking the channel's output).
        let code = match session.publish_into(batch, message, now) {
            Ok(0) => reason::NO_MATCHING_SUBSCRIBERS,
            Ok(_) => reason::SUCCESS,
            Err(e) => {
                tracing::info!(error = %e, "publish_refused");
                reason::TOPIC_NAME_INVALID
            }
        };
        self.finish_publish(packet_id, qos, code);
    }

    fn finish_publish(&mut self, packet_id: Option<NonZeroU16>, qos: codec::QoS, code: u8) {
        if let Some(id) = packet_id {
            if code >= 0x80 && qos == codec::QoS::ExactlyOnce {
                if let Some(s) = &self.session {
                    s.release_qos2(id);
                }
            }
            self.channel.ack_publish(id, qos, code);
        }
    }

    fn on_pubrec(&mut self, packet_id: NonZeroU16, reason_code: u8, now: Instant) {
        let Some(session) = &self.session else { return };
        if reason_code >= 0x80 {
            // The receiver refused the message: the exchange ends here.
            session.complete(packet_id);
            return;
        }
        session.received(packet_id, now);
        self.channel.send_pubrel(packet_id);
    }

    fn on_subscribe(&mut self, subscribe: Subscribe, now: Instant) {
        let (Some(session), client) = (&self.session, &self.client) else { return };
        let channel = &self.settings.channel;
        let sub_id = subscribe.properties.subscription_identifier;
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        for (text, opts) in &subscribe.filters {
            let code = match SubscriptionFilter::parse(text.as_str()) {
                Err(_) => reason::TOPIC_FILTER_INVALID,
                Ok(f) if f.is_shared() && !channel.shared_subscription => reason::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
                Ok(f) if f.filter.has_wildcard() && !channel.wildcard_subscription => {
                    reason::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
                }
                Ok(f) if f.is_shared() && opts.no_local => {
                    // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
                    tracing::info!(
                        filter = text.as_str(),
                        "protocol_error no_local on shared subscription [MQTT-3.8.3-4]"
                    );
                    self.channel.disconnect(reason::PROTOCOL_ERROR, None);
                    return;
                }
                Ok(f) => {
                    let granted = opts.qos.min(channel.max_qos_allowed);
                    if !self.bus.authorize(client, Action::Subscribe { qos: qos_to_bus(granted) }, text.as_str()) {
                        tracing::info!(filter = text.as_str(), "subscribe_not_authorized");
                        reason::NOT_AUTHORIZED
                    } else {
                        let options = SubOptions {
                            qos: qos_to_bus(granted),
                            no_local: opts.no_local,
                            retain_as_published: opts.retain_as_published,
                            subscription_id: sub_id,
                            upgrade_qos: false,
                        };
                        let rh = match opts.retain_handling {
                            codec::RetainHandling::SendAtSubscribe => RetainHandling::Send,
                            codec::RetainHandling::SendIfNew => RetainHandling::SendIfNew,
                            codec::RetainHandling::DoNotSend => RetainHandling::DoNotSend,
                        };
                        match session.subscribe(&f, options, rh, now) {
                            Ok(_) => granted as u8,
                            Err(_) => reason::TOPIC_FILTER_INVALID,
                        }
                    }
                }
            };
            codes.push(code);
        }
        self.channel.ack_subscribe(subscribe.packet_id, codes);
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let Some(session) = &self.session else { return };
        let codes = unsubscribe
            .filters
            .iter()
            .map(|text| match SubscriptionFilter::parse(text.as_str()) {
                Err(_) => reason::TOPIC_FILTER_INVALID,
                Ok(f) if session.unsubscribe(&f) => reason::SUCCESS,
                Ok(_) => reason::NO_SUBSCRIPTION_EXISTED,
            })
            .collect();
        self.channel.ack_unsubscribe(unsubscribe.packet_id, codes);
    }

    fn on_channel_closed(&mut self, reason: CloseReason) {
        let kind = match &reason {
            CloseReason::ClientDisconnect { reason_code, session_expiry_interval } => {
                if let (Some(secs), Some(s)) = (session_expiry_interval, &self.session) {
                    let expiry = (*secs != u32::MAX).then(|| Duration::from_secs(u64::from(*secs)));
                    let capped = match (expiry, self.settings.max_session_expiry_interval) {
                        (None, Some(max)) => Some(max),
                        (Some(e), Some(max)) if e > max => Some(max),
                        (e, _) => e,
                    };
                    s.set_expiry(capped);
                }
                if *reason_code == reason::DISCONNECT_WITH_WILL_MESSAGE {
                    CloseKind::WithWill
                } else {
                    CloseKind::Normal
                }
            }
            CloseReason::ProtocolError { reason_code, detail } => {
                tracing::info!(reason_code = format!("0x{reason_code:02X}"), detail, "protocol_error");
                CloseKind::WithWill
            }
            CloseReason::KeepAliveTimeout => {
                tracing::info!("keepalive_timeout");
                CloseKind::WithWill
            }
            CloseReason::IdleTimeout => {
                tracing::debug!("idle_timeout");
                CloseKind::WithWill
            }
            CloseReason::ConnectRejected(code) => {
                tracing::info!(reason_code = format!("0x{code:02X}"), "connect_rejected");
                CloseKind::WithWill
            }
            CloseReason::ServerDisconnect(_) => CloseKind::WithWill,
        };
        self.close_kind = Some(kind);
    }

    /// Queues the routed PUBLISHes; pauses reading if a subscriber is falling behind (give it
    /// time rather than drop its oldest).
    fn flush_publishes(&mut self, batch: &mut PublishBatch, now: Instant) {
        self.read_pause.flush(self.session.as_ref(), batch, self.settings.publish_backpressure, now);
    }

    /// Sends what the session has for the client, within its inflight window.
    fn pump(&mut self, now: Instant) {
        let Some(session) = &self.session else { return };
        if !self.acked.is_empty() {
            session.complete_all(&self.acked);
            self.acked.clear();
        }
        if !self.channel.is_connected() {
            return;
        }
        let window = usize::from(self.channel.client_receive_maximum());
        let (channel, bus) = (&mut self.channel, &self.bus);
        let more = session.send_outbound(now, window, self.settings.delivery_batch, |delivery, packet_id| {
            send_delivery(channel, bus, &delivery, packet_id, false, now)
        });
        if more {
            // Continue after this batch is written: the driver polls the doorbell again
            // once the write buffer is below its watermark.
            self.doorbell.ring();
        }
    }

    /// Sends what the session handed out to be sent again (after a reconnect or a retry).
    fn write_outbound(&mut self, outbound: Vec<Outbound>, now: Instant) {
        for outbound in outbound {
            match outbound {
                Outbound::Publish { packet_id, delivery, dup } => {
                    match send_delivery(&mut self.channel, &self.bus, &delivery, packet_id, dup, now) {
                        Sent::Sent => {}
                        Sent::Discarded => {
                            if let (Some(id), Some(s)) = (packet_id, &self.session) {
                                s.complete(id);
                            }
                        }
                        Sent::Stop => break,
                    }
                }
                Outbound::PubRel(id) => self.channel.send_pubrel(id),
            }
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

/// 3.x has no properties, and most 5.0 deliveries none to send: one empty set for those.
static NO_PROPERTIES: LazyLock<PublishProperties> = LazyLock::new(PublishProperties::default);

/// Encodes one PUBLISH of `delivery`; one larger than the client accepts is dropped and
/// counted, the caller ending its exchange.
fn send_delivery(
    channel: &mut Channel,
    bus: &Bus,
    delivery: &Delivery,
    packet_id: Option<NonZeroU16>,
    dup: bool,
    now: Instant,
) -> Sent {
    let own = if channel.version() == Some(ProtocolVersion::V5) { delivery_properties(delivery, now) } else { None };
    let properties = own.as_ref().unwrap_or(&NO_PROPERTIES);
    match channel.send_publish_ref(publish_for_delivery(delivery, properties, packet_id, dup)) {
        Ok(()) => Sent::Sent,
        Err(SendError::TooLarge) => {
            // Discarded as if delivered [MQTT-3.1.2-25].
            Metrics::inc(&bus.metrics().delivery_dropped_too_large);
            Sent::Discarded
        }
        Err(SendError::Closed) => Sent::Stop,
    }
}

fn generated_client_id() -> String {
    format!("gw-{:016x}", rand::random::<u64>())
}

impl StreamHandler for MqttConnection {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_input(&mut self, now: Instant, input: &mut BytesMut, out: &mut BytesMut) -> Flow {
        // One packet at a time, so a publisher can be paused between two PUBLISHes; what is
        // left stays in `input` and the driver hands it back when the pause ends. The
        // PUBLISHes in between are routed into one batch, queued when it is full, when a
        // subscriber in it is congested, or when the input runs out.
        let mut flow = Flow::Continue;
        let mut batch = PublishBatch::new();
        while !self.read_pause.is_active(now) {
            let consumed = self.channel.handle_one(std_now(now), input);
            flow = self.drain_events(now, &mut batch).await;
            if flow == Flow::Close || !consumed {
                break;
            }
            if batch.should_flush() {
                self.flush_publishes(&mut batch, now);
            }
        }
        self.flush_publishes(&mut batch, now);
        self.pump(now);
        self.channel.take_transmit(out);
        self.channel.shrink_to_fit();
        if flow == Flow::Close {
            return flow;
        }
        self.flow()
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        if let Some(kick) = self.doorbell.kicked() {
            let code = match kick {
                KickReason::TakenOver | KickReason::Discarded => reason::SESSION_TAKEN_OVER,
            };
            tracing::info!(?kick, "session_taken_over");
            // The session belongs to the new connection now.
            self.session = None;
            self.channel.disconnect(code, None);
            let _ = self.channel.poll_event();
            self.channel.take_transmit(out);
            return Flow::Close;
        }
        self.pump(now);
        self.channel.take_transmit(out);
        self.flow()
    }

    fn on_timeout(&mut self, now: Instant, out: &mut BytesMut) -> Flow {
        self.channel.handle_timeout(std_now(now));
        while let Some(event) = self.channel.poll_event() {
            if let Event::Closed(reason) = event {
                self.on_channel_closed(reason);
            }
        }
        if let Some(session) = &self.session {
            if session.next_retry_at().is_some_and(|at| at <= now) {
                let mut resend = Vec::new();
                session.resend_due(now, &mut resend);
                self.write_outbound(resend, now);
            }
        }
        self.channel.take_transmit(out);
        self.flow()
    }

    fn next_timeout(&self) -> Option<Instant> {
        let channel = self.channel.poll_timeout().map(Instant::from_std);
        let retry = self.session.as_ref().and_then(SessionHandle::next_retry_at);
        match (channel, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn read_pause(&self) -> Option<ReadPause> {
        self.read_pause.current()
    }

    fn end_read_pause(&mut self) {
        self.read_pause.end();
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut BytesMut) {
        self.channel.disconnect(reason::SERVER_SHUTTING_DOWN, None);
        self.channel.take_transmit(out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        if let Some(session) = self.session.take() {
            // Acknowledged before the close: not to be sent again on resume.
            session.complete_all(&self.acked);
            // A connection that ended without DISCONNECT publishes its will.
            let kind = self.close_kind.unwrap_or(CloseKind::WithWill);
            if self.close_kind.is_none() {
                tracing::debug!(?cause, "connection_lost");
            }
            session.close(kind, now);
        }
    }

    fn client_id(&self) -> Option<&str> {
        // Known once the CONNECT is accepted (and the session open).
        self.session.as_ref().map(|_| self.client.client_id.as_str())
    }

    fn on_hibernate(&mut self) {
        self.channel.shrink_to_fit();
        self.acked.shrink_to_fit();
        if let Some(session) = &self.session {
            session.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    /// A connection keeps its handler for life, hibernated or not (issue 7: at most 1 KB per
    /// idle connection).
    #[test]
    fn a_connection_handler_stays_small() {
        let size = size_of::<super::MqttConnection>();
        println!("MqttConnection: {size} bytes");
        // 256 is an allocator size class (jemalloc's; glibc's chunk is then 272).
        assert!(size <= 256, "MqttConnection is {size} bytes, more than 256");
    }
}
