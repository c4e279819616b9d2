//! One MQTT-SN client (UDP peer): drives the channel with datagrams and bus deliveries.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gw_core::bus::{
    Action, AuthDecision, Bus, ClientId, ClientInfo, CloseKind, Doorbell, IncomingQos2, Message, Metrics, OpenSession,
    Outbound, QoS, RetainHandling, SessionHandle, SubOptions, SubscriptionFilter, Topic, Will,
};
use gw_core::conn::{CloseCause, DatagramHandler, Flow};
use gw_mqttsn::channel::{decode_qos_minus_one, Channel, ChannelConfig, CloseReason, DeliverError, Event, MinusOne};
use gw_mqttsn::codec::{self, return_code, Encapsulated, Message as SnMessage};
use tokio::time::Instant;

use super::{MqttSnSettings, QOS_MINUS_ONE_CLIENT};
use crate::mountpoint::{MountVars, Mountpoint};

fn qos_from(level: u8) -> QoS {
    QoS::from_u8(level.min(2)).unwrap_or(QoS::AtMostOnce)
}

/// The will as the client last described it (topic and message may be updated separately).
#[derive(Debug, Clone)]
struct WillParts {
    topic: String,
    qos: u8,
    retain: bool,
    payload: Bytes,
}

/// The per-peer handler of the MQTT-SN front-end.
#[derive(Debug)]
pub struct MqttSnConnection {
    bus: Bus,
    settings: Arc<MqttSnSettings>,
    channel_config: Arc<ChannelConfig>,
    channel: Channel,
    doorbell: Arc<Doorbell>,
    peer: SocketAddr,
    client: Option<ClientInfo>,
    session: Option<SessionHandle>,
    mountpoint: Mountpoint,
    will: Option<WillParts>,
    /// Set when the client talks through a forwarder: replies are encapsulated the same way.
    forwarder: Option<(u8, Bytes)>,
    close_kind: Option<CloseKind>,
    outbound: Vec<Outbound>,
}

impl MqttSnConnection {
    pub(crate) fn new(
        bus: Bus,
        settings: Arc<MqttSnSettings>,
        channel_config: Arc<ChannelConfig>,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            bus,
            settings,
            channel: Channel::new(channel_config.clone(), now.into_std()),
            channel_config,
            doorbell: Arc::new(Doorbell::new()),
            peer,
            client: None,
            session: None,
            mountpoint: Mountpoint::default(),
            will: None,
            forwarder: None,
            close_kind: None,
            outbound: Vec::new(),
        }
    }

    /// A QoS -1 PUBLISH from a peer without a connection (MQTT-SN 1.2 §6.8): published as
    /// QoS 0 by client `NegQoS-Client`, without mountpoint (as EMQX). Returns whether the
    /// datagram was one.
    fn handle_qos_minus_one(&mut self, data: &[u8], now: Instant, out: &mut Vec<Bytes>) -> bool {
        match decode_qos_minus_one(&self.channel_config, data) {
            Some(MinusOne::Publish { topic, payload, retain }) => {
                let client = ClientInfo {
                    protocol: "mqttsn",
                    client_id: QOS_MINUS_ONE_CLIENT.to_string(),
                    username: None,
                    peer: Some(self.peer),
                };
                if !self.bus.authorize(&client, Action::Publish { qos: QoS::AtMostOnce, retain }, &topic) {
                    tracing::info!(topic, "qos_minus_one_not_authorized");
                    return true;
                }
                if let Ok(topic) = Topic::new(topic) {
                    let mut message = Message::new(topic, payload, QoS::AtMostOnce, retain);
                    message.publisher = Some(ClientId::new(QOS_MINUS_ONE_CLIENT));
                    if let Err(e) = self.bus.publish(message, now) {
                        tracing::info!(error = %e, "qos_minus_one_refused");
                    }
                }
                true
            }
            Some(MinusOne::Refused(puback)) => {
                out.push(puback);
                true
            }
            None => false,
        }
    }

    /// Handles the channel's events up to the next CONNECT (which needs the asynchronous
    /// authentication entry point, so it is handed back to the caller).
    fn drain(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Drained {
        while let Some(event) = self.channel.poll_event() {
            match event {
                Event::Connect { client_id, clean_session, will, .. } => {
                    return Drained::Connect { client_id, clean_session, will };
                }
                Event::Publish { topic, topic_id, payload, qos, retain, msg_id, .. } => {
                    self.on_publish(&topic, topic_id, payload, qos, retain, msg_id, now);
                }
                Event::PubRel { msg_id } => {
                    if let (Some(s), Some(id)) = (&self.session, NonZeroU16::new(msg_id)) {
                        s.release_qos2(id);
                    }
                    self.channel.complete_release(msg_id);
                }
                Event::PubAck { msg_id, .. } | Event::PubComp { msg_id } => self.complete(msg_id),
                Event::PubRec { msg_id } => {
                    if let (Some(s), Some(id)) = (&self.session, NonZeroU16::new(msg_id)) {
                        s.received(id, now);
                    }
                }
                Event::Subscribe { msg_id, topic, qos } => self.on_subscribe(msg_id, topic.filter(), qos, now),
                Event::Unsubscribe { msg_id, topic } => {
                    if let (Some(s), Ok(f)) =
                        (&self.session, SubscriptionFilter::parse(&self.mountpoint.mount_filter(topic.filter())))
                    {
                        s.unsubscribe(&f);
                    }
                    self.channel.ack_unsubscribe(msg_id);
                }
                Event::WillTopicUpdate { will } => {
                    self.will = will.map(|(topic, qos, retain)| WillParts {
                        topic,
                        qos,
                        retain,
                        payload: self.will.as_ref().map(|w| w.payload.clone()).unwrap_or_default(),
                    });
                    self.push_will();
                }
                Event::WillMessageUpdate { payload } => {
                    if let Some(w) = &mut self.will {
                        w.payload = payload;
                    }
                    self.push_will();
                }
                Event::Sleep { duration } => tracing::debug!(duration, "asleep"),
                Event::Wake => {
                    // Everything buffered while asleep goes out before PINGRESP.
                    while self.pump(now) {}
                    self.channel.finish_wake();
                }
                Event::Lost { msg_id } => {
                    tracing::info!(msg_id, "client_not_acknowledging");
                    self.close_kind = Some(CloseKind::WithWill);
                    self.channel.disconnect();
                }
                Event::DeliveryFailed { msg_id, topic } => {
                    tracing::info!(topic, "delivery_failed_register");
                    if let Some(id) = msg_id {
                        self.complete(id);
                    }
                }
                Event::Malformed { reason } => tracing::info!(reason, "malformed_datagram"),
                Event::Closed(reason) => {
                    let kind = match reason {
                        CloseReason::ClientDisconnect => CloseKind::Normal,
                        other => {
                            tracing::info!(reason = ?other, "mqttsn_closed");
                            CloseKind::WithWill
                        }
                    };
                    self.close_kind.get_or_insert(kind);
                    self.transmit(out);
                    return Drained::Done(Flow::Close);
                }
            }
        }
        self.transmit(out);
        Drained::Done(if self.channel.is_closed() { Flow::Close } else { Flow::Continue })
    }

    /// Drains events, answering each CONNECT on the way.
    async fn drain_all(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        loop {
            match self.drain(now, out) {
                Drained::Done(flow) => return flow,
                Drained::Connect { client_id, clean_session, will } => {
                    self.on_connect(client_id, clean_session, will, now).await;
                }
            }
        }
    }

    async fn on_connect(
        &mut self,
        client_id: String,
        clean_session: bool,
        will: Option<gw_mqttsn::channel::Will>,
        now: Instant,
    ) {
        let client =
            ClientInfo { protocol: "mqttsn", client_id: client_id.clone(), username: None, peer: Some(self.peer) };
        // MQTT-SN 1.2 has no credentials: the decision can only be about the client id.
        if !matches!(self.bus.authenticate(&client, None).await, AuthDecision::Allow { .. }) {
            tracing::info!(client_id, "connect_refused");
            self.channel.reject_connect(return_code::NOT_AUTHORIZED);
            return;
        }
        self.mountpoint = Mountpoint::resolve(
            &self.settings.mountpoint,
            MountVars { client_id: Some(&client_id), username: None, endpoint_name: None },
        );
        self.will = will.map(|w| WillParts { topic: w.topic, qos: w.qos, retain: w.retain, payload: w.payload });
        let expiry = if clean_session { Some(Duration::ZERO) } else { self.settings.session_expiry_interval };
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(client_id.as_str()),
                clean_start: clean_session,
                expiry,
                will: self.bus_will(),
                doorbell: self.doorbell.clone(),
            },
            now,
        );
        tracing::Span::current().record("client_id", client_id.as_str());
        self.channel.accept_connect(now.into_std());
        opened.handle.resend_inflight(now, &mut self.outbound);
        self.session = Some(opened.handle);
        self.client = Some(client);
        self.write_outbound(now);
    }

    fn bus_will(&self) -> Option<Will> {
        let w = self.will.as_ref()?;
        let topic = Topic::new(self.mountpoint.mount(&w.topic).into_owned()).ok()?;
        Some(Will {
            message: Message::new(topic, w.payload.clone(), qos_from(w.qos), w.retain),
            delay: Duration::ZERO,
            message_expiry: None,
        })
    }

    fn push_will(&self) {
        if let Some(s) = &self.session {
            s.set_will(self.bus_will());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_publish(
        &mut self,
        topic: &str,
        topic_id: u16,
        payload: Bytes,
        qos: u8,
        retain: bool,
        msg_id: u16,
        now: Instant,
    ) {
        let (Some(session), Some(client)) = (&self.session, &self.client) else { return };
        let bus_qos = qos_from(qos);
        let allowed = self.bus.authorize(client, Action::Publish { qos: bus_qos, retain }, topic);
        let topic = Topic::new(self.mountpoint.mount(topic).into_owned());
        let code = match (allowed, topic) {
            (false, _) => return_code::NOT_AUTHORIZED,
            (true, Err(_)) => return_code::INVALID_TOPIC_ID,
            (true, Ok(topic)) => {
                let duplicate = bus_qos == QoS::ExactlyOnce
                    && NonZeroU16::new(msg_id)
                        .is_some_and(|id| session.incoming_qos2(id, now) == IncomingQos2::Duplicate);
                if !duplicate {
                    let mut message = Message::new(topic, payload, bus_qos, retain);
                    message.publisher = Some(session.client_id().clone());
                    if let Err(e) = session.publish(message, now) {
                        tracing::info!(error = %e, "publish_refused");
                    }
                }
                return_code::ACCEPTED
            }
        };
        if qos > 0 {
            self.channel.ack_publish(msg_id, topic_id, code);
        }
    }

    fn on_subscribe(&mut self, msg_id: u16, filter: &str, qos: u8, now: Instant) {
        let (Some(session), Some(client)) = (&self.session, &self.client) else { return };
        let granted = qos_from(qos);
        let result =
            SubscriptionFilter::parse(&self.mountpoint.mount_filter(filter)).map_err(|_| return_code::NOT_SUPPORTED);
        let result = result.and_then(|f| {
            if self.bus.authorize(client, Action::Subscribe { qos: granted }, filter) {
                Ok(f)
            } else {
                Err(return_code::NOT_AUTHORIZED)
            }
        });
        let result = result.and_then(|f| {
            let opts = SubOptions { qos: granted, ..SubOptions::default() };
            session.subscribe(&f, opts, RetainHandling::Send, now).map_err(|_| return_code::NOT_SUPPORTED)
        });
        match result {
            Ok(_) => self.channel.ack_subscribe(msg_id, granted as u8, return_code::ACCEPTED),
            Err(rc) => self.channel.ack_subscribe(msg_id, 0, rc),
        }
    }

    fn complete(&self, msg_id: u16) {
        if let (Some(s), Some(id)) = (&self.session, NonZeroU16::new(msg_id)) {
            s.complete(id);
        }
    }

    /// Sends what the session has while the client is awake. Returns whether more waits.
    fn pump(&mut self, now: Instant) -> bool {
        let Some(session) = &self.session else { return false };
        if !(self.channel.is_active() || self.channel.is_awake()) {
            return false;
        }
        let window = usize::from(self.bus.config().session.max_inflight);
        let more = session.take_outbound(now, window, 64, &mut self.outbound);
        self.write_outbound(now);
        more
    }

    fn write_outbound(&mut self, now: Instant) {
        for outbound in std::mem::take(&mut self.outbound) {
            match outbound {
                Outbound::Publish { packet_id, delivery, .. } => {
                    let topic = self.mountpoint.unmount(delivery.message.topic.as_str()).to_string();
                    let result = self.channel.deliver(
                        now.into_std(),
                        &topic,
                        delivery.message.payload.clone(),
                        delivery.qos as u8,
                        delivery.retain,
                        packet_id.map(NonZeroU16::get),
                    );
                    if let Err(e) = result {
                        if e == DeliverError::TooLarge {
                            Metrics::inc(&self.bus.metrics().delivery_dropped_too_large);
                        }
                        tracing::debug!(error = ?e, topic, "delivery_dropped");
                        if let Some(id) = packet_id {
                            self.complete(id.get());
                        }
                    }
                }
                // A QoS 2 exchange interrupted after PUBREC: the channel of this connection
                // never saw the PUBLISH, so the exchange is completed here.
                Outbound::PubRel(id) => self.complete(id.get()),
            }
        }
    }

    fn transmit(&mut self, out: &mut Vec<Bytes>) {
        while let Some(datagram) = self.channel.poll_transmit() {
            out.push(match &self.forwarder {
                None => datagram,
                Some((ctrl, node)) => encapsulate(*ctrl, node.clone(), &datagram).unwrap_or(datagram),
            });
        }
    }
}

/// Wraps a reply for a client behind a forwarder (MQTT-SN 1.2 §5.5).
fn encapsulate(ctrl: u8, wireless_node_id: Bytes, datagram: &[u8]) -> Option<Bytes> {
    let inner = codec::decode(datagram).ok()?;
    let wrapped = SnMessage::Encapsulated(Encapsulated { ctrl, wireless_node_id, message: Box::new(inner) });
    let mut buf = BytesMut::new();
    codec::encode(&wrapped, &mut buf).ok()?;
    Some(buf.freeze())
}

/// What draining the channel's events stopped at.
enum Drained {
    /// All events handled.
    Done(Flow),
    /// A CONNECT to authenticate.
    Connect { client_id: String, clean_session: bool, will: Option<gw_mqttsn::channel::Will> },
}

impl DatagramHandler for MqttSnConnection {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_datagram(&mut self, now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        if !self.channel.is_connected() && self.handle_qos_minus_one(&datagram, now, out) {
            // QoS -1 needs no connection; a peer that only does that keeps none.
            return if self.session.is_none() { Flow::Close } else { Flow::Continue };
        }
        match codec::decode(&datagram) {
            Ok(SnMessage::Encapsulated(e)) => {
                self.forwarder = Some((e.ctrl, e.wireless_node_id.clone()));
                self.channel.handle_message(now.into_std(), *e.message);
            }
            _ => self.channel.handle_datagram(now.into_std(), &datagram),
        }
        let flow = self.drain_all(now, out).await;
        if flow == Flow::Continue {
            self.pump(now);
            self.transmit(out);
        }
        flow
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        if let Some(kick) = self.doorbell.kicked() {
            tracing::info!(?kick, "session_taken_over");
            self.session = None;
            self.channel.disconnect();
            self.transmit(out);
            return Flow::Close;
        }
        if self.pump(now) {
            self.doorbell.ring();
        }
        self.transmit(out);
        Flow::Continue
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        self.channel.handle_timeout(now.into_std());
        // Timers never produce a CONNECT.
        match self.drain(now, out) {
            Drained::Done(flow) => flow,
            Drained::Connect { .. } => Flow::Continue,
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.channel.poll_timeout().map(Instant::from_std)
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut Vec<Bytes>) {
        if self.channel.is_connected() {
            self.channel.disconnect();
        }
        self.transmit(out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        tracing::debug!(?cause, "mqttsn_peer_closed");
        if let Some(session) = self.session.take() {
            session.close(self.close_kind.unwrap_or(CloseKind::WithWill), now);
        }
    }
}
