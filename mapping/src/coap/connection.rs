//! One CoAP peer: drives the channel with datagrams and bus deliveries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_coap::channel::{Channel, ChannelConfig, Event, RequestId, ResponseCode, SubscriptionKey};
use gw_core::bus::{
    Action, AuthDecision, Bus, ClientId, ClientInfo, CloseKind, Doorbell, Message, Metrics, OpenSession, Outbound, QoS,
    RetainHandling, SessionHandle, SubOptions, SubscriptionFilter, Topic,
};
use gw_core::conn::{CloseCause, DatagramHandler, Flow};
use tokio::time::Instant;

use super::CoapSettings;
use crate::mountpoint::{MountVars, Mountpoint};

/// The per-peer handler of the CoAP front-end.
#[derive(Debug)]
pub struct CoapConnection {
    bus: Bus,
    settings: Arc<CoapSettings>,
    channel: Channel,
    doorbell: Arc<Doorbell>,
    peer: SocketAddr,
    session: Option<SessionHandle>,
    client: Option<ClientInfo>,
    mountpoint: Mountpoint,
    /// Subscription identifier on the bus → observe relation and its filter.
    relations: HashMap<u32, (SubscriptionKey, SubscriptionFilter)>,
    outbound: Vec<Outbound>,
}

fn qos_of(level: u8) -> QoS {
    QoS::from_u8(level.min(2)).unwrap_or(QoS::AtMostOnce)
}

fn text(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Who sent a `/ps` request, as the channel reports it.
struct Requester {
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl CoapConnection {
    pub(crate) fn new(
        bus: Bus,
        settings: Arc<CoapSettings>,
        channel_config: Arc<ChannelConfig>,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            bus,
            settings,
            channel: Channel::new(channel_config, now.into_std(), rand::random()),
            doorbell: Arc::new(Doorbell::new()),
            peer,
            session: None,
            client: None,
            mountpoint: Mountpoint::default(),
            relations: HashMap::new(),
            outbound: Vec::new(),
        }
    }

    async fn drain(&mut self, now: Instant) -> Flow {
        while let Some(event) = self.channel.poll_event() {
            match event {
                Event::Connect { request, client_id, username, password } => {
                    self.on_connect(request, client_id, username, password, now).await;
                }
                Event::Heartbeat { request } => {
                    self.channel.respond(now.into_std(), request, ResponseCode::Changed, Bytes::new())
                }
                Event::Disconnect { request } => {
                    self.channel.respond(now.into_std(), request, ResponseCode::Deleted, Bytes::new());
                }
                Event::Publish { request, topic, payload, qos, retain, expiry, client_id, username, password } => {
                    let who = Requester { client_id, username, password };
                    self.on_publish(request, &topic, payload, qos, retain, expiry, who, now).await;
                }
                Event::Subscribe {
                    request,
                    subscription,
                    filter,
                    qos,
                    no_local,
                    retain_handling,
                    client_id,
                    username,
                    password,
                } => {
                    let who = Requester { client_id, username, password };
                    self.on_subscribe(request, subscription, &filter, qos, no_local, retain_handling, who, now).await;
                }
                Event::Unsubscribe { request, subscription } => {
                    self.drop_relation(subscription);
                    // EMQX answers an unsubscribe with its non-standard 2.07.
                    self.channel.respond(now.into_std(), request, ResponseCode::EmqxNoContent, Bytes::new());
                }
                Event::ObserveCancelled { subscription } => self.drop_relation(subscription),
                Event::Malformed { reason } => tracing::info!(reason, "malformed_datagram"),
                Event::Closed(reason) => {
                    tracing::debug!(?reason, "coap_closed");
                    return Flow::Close;
                }
            }
        }
        if self.channel.is_closed() {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    async fn authenticate(&self, client: &ClientInfo, password: Option<&str>) -> bool {
        matches!(self.bus.authenticate(client, password.map(str::as_bytes)).await, AuthDecision::Allow { .. })
    }

    /// Opens the peer's session on first use (connection mode opens it at CONNECT).
    fn ensure_session(&mut self, client: ClientInfo, now: Instant) {
        if self.session.is_some() {
            return;
        }
        self.mountpoint = Mountpoint::resolve(
            &self.settings.mountpoint,
            MountVars { client_id: Some(&client.client_id), username: client.username.as_deref(), endpoint_name: None },
        );
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(client.client_id.as_str()),
                clean_start: true,
                expiry: Some(Duration::ZERO),
                will: None,
                doorbell: self.doorbell.clone(),
            },
            now,
        );
        tracing::Span::current().record("client_id", client.client_id.as_str());
        self.session = Some(opened.handle);
        self.client = Some(client);
    }

    async fn on_connect(
        &mut self,
        request: RequestId,
        client_id: String,
        username: Option<String>,
        password: Option<String>,
        now: Instant,
    ) {
        if self.session.is_some() {
            return self.channel.respond(
                now.into_std(),
                request,
                ResponseCode::BadRequest,
                text("Bad Request: client has connected"),
            );
        }
        let client = ClientInfo { protocol: "coap", client_id: client_id.clone(), username, peer: Some(self.peer) };
        if !self.authenticate(&client, password.as_deref()).await {
            // EMQX answers a failed login with 4.00, not 4.01.
            return self.channel.respond(
                now.into_std(),
                request,
                ResponseCode::BadRequest,
                text("Login Failed: not authorized"),
            );
        }
        self.ensure_session(client, now);
        let token = rand::random::<u32>().max(1);
        self.channel.set_token(&client_id, token);
        self.channel.respond_connected(now.into_std(), request, token);
    }

    /// The requester of a `/ps` request, authenticated (connectionless mode authenticates
    /// every request, as EMQX does); None when refused.
    async fn requester(&mut self, who: Requester, now: Instant) -> Option<ClientInfo> {
        if let Some(client) = &self.client {
            return Some(client.clone());
        }
        let client_id = who.client_id.unwrap_or_else(|| format!("coap-{:016x}", rand::random::<u64>()));
        let client = ClientInfo { protocol: "coap", client_id, username: who.username, peer: Some(self.peer) };
        if !self.authenticate(&client, who.password.as_deref()).await {
            return None;
        }
        self.ensure_session(client.clone(), now);
        Some(client)
    }

    #[allow(clippy::too_many_arguments)]
    async fn on_publish(
        &mut self,
        request: RequestId,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
        expiry: Option<u32>,
        who: Requester,
        now: Instant,
    ) {
        let std_now = now.into_std();
        let Some(client) = self.requester(who, now).await else {
            return self.channel.respond(std_now, request, ResponseCode::Unauthorized, text("Unauthorized"));
        };
        let qos = qos_of(qos);
        if !self.bus.authorize(&client, Action::Publish { qos, retain }, topic) {
            return self.channel.respond(std_now, request, ResponseCode::Unauthorized, text("Unauthorized"));
        }
        let Ok(bus_topic) = Topic::new(self.mountpoint.mount(topic).into_owned()) else {
            return self.channel.respond(std_now, request, ResponseCode::BadRequest, text("invalid topic"));
        };
        let mut message = Message::new(bus_topic, payload, qos, retain);
        message.publisher = Some(ClientId::new(client.client_id.as_str()));
        message.expires_at = expiry.map(|s| now + Duration::from_secs(u64::from(s)));
        let result = match &self.session {
            Some(s) => s.publish(message, now),
            None => self.bus.publish(message, now),
        };
        match result {
            Ok(_) => self.channel.respond(std_now, request, ResponseCode::Changed, Bytes::new()),
            Err(e) => self.channel.respond(std_now, request, ResponseCode::BadRequest, text(&e.to_string())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn on_subscribe(
        &mut self,
        request: RequestId,
        subscription: SubscriptionKey,
        filter: &str,
        qos: u8,
        no_local: bool,
        retain_handling: u8,
        who: Requester,
        now: Instant,
    ) {
        let std_now = now.into_std();
        let Some(client) = self.requester(who, now).await else {
            return self.channel.respond(std_now, request, ResponseCode::Unauthorized, text("Unauthorized"));
        };
        let qos = qos_of(qos);
        if !self.bus.authorize(&client, Action::Subscribe { qos }, filter) {
            return self.channel.respond(std_now, request, ResponseCode::Unauthorized, text("Unauthorized"));
        }
        let Ok(parsed) = SubscriptionFilter::parse(&self.mountpoint.mount_filter(filter)) else {
            return self.channel.respond(std_now, request, ResponseCode::BadRequest, text("invalid topic"));
        };
        let Some(session) = &self.session else { return };
        let id = u32::try_from(subscription.0 % u64::from(u32::MAX)).unwrap_or(1).max(1);
        let opts = SubOptions { qos, no_local, subscription_id: Some(id), ..SubOptions::default() };
        let rh = match retain_handling {
            0 => RetainHandling::Send,
            2 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendIfNew,
        };
        match session.subscribe(&parsed, opts, rh, now) {
            Ok(_) => {
                self.relations.insert(id, (subscription, parsed));
                self.channel.respond(std_now, request, ResponseCode::Content, Bytes::new());
            }
            Err(e) => self.channel.respond(std_now, request, ResponseCode::BadRequest, text(&e.to_string())),
        }
    }

    fn drop_relation(&mut self, subscription: SubscriptionKey) {
        let Some(id) = self.relations.iter().find(|(_, (k, _))| *k == subscription).map(|(id, _)| *id) else {
            return;
        };
        if let (Some((_, filter)), Some(session)) = (self.relations.remove(&id), &self.session) {
            session.unsubscribe(&filter);
        }
    }

    /// Hands deliveries to the observe relations.
    fn pump(&mut self, now: Instant) {
        let Some(session) = &self.session else { return };
        let more = session.take_outbound(now, usize::MAX, 256, &mut self.outbound);
        let notify_type = self.settings.channel.notify_type;
        for outbound in std::mem::take(&mut self.outbound) {
            let Outbound::Publish { packet_id, delivery, .. } = outbound else { continue };
            let key = delivery.subscription_ids.iter().find_map(|id| self.relations.get(id).map(|(k, _)| *k));
            if let Some(key) = key {
                let confirmable = notify_type.confirmable(delivery.qos as u8);
                match self.channel.notify(now.into_std(), key, delivery.message.payload.clone(), confirmable) {
                    Ok(outcome) if outcome.dropped > 0 => {
                        Metrics::add(&self.bus.metrics().delivery_dropped_queue_full, outcome.dropped as u64);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "notification_dropped"),
                }
            }
            // The channel owns the notification's reliability from here on.
            if let Some(id) = packet_id {
                session.complete(id);
            }
        }
        if more {
            self.doorbell.ring();
        }
    }

    fn transmit(&mut self, out: &mut Vec<Bytes>) {
        while let Some(datagram) = self.channel.poll_transmit() {
            out.push(datagram);
        }
    }
}

impl DatagramHandler for CoapConnection {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_datagram(&mut self, now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        self.channel.handle_datagram(now.into_std(), &datagram);
        let flow = self.drain(now).await;
        if flow == Flow::Continue {
            self.pump(now);
        }
        self.transmit(out);
        flow
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        if self.doorbell.kicked().is_some() {
            // Another peer took this client id over (e.g. a DTLS reconnect from a new port).
            tracing::info!("session_taken_over");
            self.session = None;
            self.channel.close();
            return Flow::Close;
        }
        self.pump(now);
        self.transmit(out);
        Flow::Continue
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        self.channel.handle_timeout(now.into_std());
        let mut flow = Flow::Continue;
        while let Some(event) = self.channel.poll_event() {
            match event {
                Event::ObserveCancelled { subscription } => self.drop_relation(subscription),
                Event::Closed(reason) => {
                    tracing::info!(?reason, "coap_closed");
                    flow = Flow::Close;
                }
                other => tracing::debug!(event = ?other, "unexpected_timer_event"),
            }
        }
        self.transmit(out);
        if self.channel.is_closed() {
            Flow::Close
        } else {
            flow
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.channel.poll_timeout().map(Instant::from_std)
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut Vec<Bytes>) {
        self.channel.close();
        self.transmit(out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        tracing::debug!(?cause, "coap_peer_closed");
        if let Some(session) = self.session.take() {
            session.close(CloseKind::Normal, now);
        }
    }
}
