//! One LwM2M device (UDP peer): the registration interface (CoAP server for `/rd`), the
//! bus session, and downlink commands as CoAP requests to the device (one outstanding at a
//! time, the rest queued; buffered while a queue-mode device sleeps).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_coap::codec::{self, option, Code, Message as CoapMessage, MessageType};
use gw_coap::transaction::{Received, TransactionEvent, Transactions};
use gw_core::bus::{
    AuthDecision, Bus, ClientId, ClientInfo, CloseKind, Doorbell, Message, OpenSession, Outbound, QoS, RetainHandling,
    SessionHandle, SubOptions, SubscriptionFilter, Topic,
};
use gw_core::conn::{CloseCause, DatagramHandler, Flow};
use gw_lwm2m::blockwise::{ResponseAssembler, ResponseStep};
use gw_lwm2m::commands::{build_request, code_string, decode_response, Operation};
use gw_lwm2m::registration::{
    is_rd_request, parse_request, response_to, uri_query, RdError, RdEvent, RdRequest, Registrar,
};
use gw_lwm2m::Path;
use serde_json::json;
use tokio::time::Instant;

use super::endpoints::EndpointRegistry;
use super::frontend::{Lwm2mSettings, Translator, UpdatePublish};
use super::{
    ack_json, coap_reset_json, coap_timeout_json, notify_json, parse_command, register_json, response_json,
    undecodable_response_json, update_json, Command,
};
use crate::mountpoint::{MountVars, Mountpoint};

/// EMQX's default `mheaders.ttl` (seconds a command may wait in the queue).
const DEFAULT_TTL: Duration = Duration::from_secs(7200);
/// OMA object 5, Firmware Update: its notifications go to [`FIRMWARE_NOTIFY_TOPIC`].
const FIRMWARE_UPDATE_OBJECT: u16 = 5;
/// EMQX's fixed topic for them, appended to the mountpoint as it is.
const FIRMWARE_NOTIFY_TOPIC: &str = "/v1/up/dm";
/// A peer that never registers is forgotten after this.
const UNREGISTERED_IDLE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Queued {
    command: Command,
    expires_at: Option<Instant>,
}

#[derive(Debug)]
struct Pending {
    tag: u64,
    command: Command,
    token: Bytes,
    /// The request sent, to ask for the next block of a block-wise response.
    request: CoapMessage,
}

#[derive(Debug)]
struct Observation {
    command: Command,
}

/// The per-peer handler of the LwM2M front-end.
#[derive(Debug)]
pub struct Lwm2mConnection {
    bus: Bus,
    settings: Arc<Lwm2mSettings>,
    peer: SocketAddr,
    doorbell: Arc<Doorbell>,
    trans: Transactions,
    registrar: Registrar,
    session: Option<SessionHandle>,
    client_id: Option<String>,
    mountpoint: Mountpoint,
    command_filter: Option<SubscriptionFilter>,
    queue: VecDeque<Queued>,
    pending: Option<Pending>,
    next_tag: u64,
    /// Observe token → the observe command.
    observations: HashMap<Bytes, Observation>,
    /// Block-wise responses being fetched (`None`: block-wise transfers off).
    blocks: Option<ResponseAssembler>,
    idle_deadline: Instant,
    outbound: Vec<Outbound>,
    /// Who holds which endpoint in this front-end; this handler's id there, and the endpoint
    /// this peer registered.
    endpoints: EndpointRegistry,
    handler_id: u64,
    endpoint: Option<String>,
}

fn qos_of(level: u8) -> QoS {
    QoS::from_u8(level.min(2)).unwrap_or(QoS::AtMostOnce)
}

impl Lwm2mConnection {
    pub(crate) fn new(
        bus: Bus,
        settings: Arc<Lwm2mSettings>,
        endpoints: EndpointRegistry,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        let registrar = Registrar::new(settings.registration.clone());
        let trans = Transactions::new(settings.transmission.clone(), rand::random());
        let blocks = settings.blockwise.map(ResponseAssembler::new);
        Self {
            bus,
            settings,
            peer,
            doorbell: Arc::new(Doorbell::new()),
            trans,
            registrar,
            session: None,
            client_id: None,
            mountpoint: Mountpoint::default(),
            command_filter: None,
            queue: VecDeque::new(),
            pending: None,
            next_tag: 1,
            observations: HashMap::new(),
            blocks,
            idle_deadline: now + UNREGISTERED_IDLE,
            outbound: Vec::new(),
            handler_id: endpoints.handler_id(),
            endpoints,
            endpoint: None,
        }
    }

    fn publish(&self, translator: &Translator, payload: Vec<u8>, now: Instant) {
        let Some(session) = &self.session else { return };
        let Ok(topic) = Topic::new(self.mountpoint.mount(&translator.topic).into_owned()) else {
            tracing::warn!(topic = %translator.topic, "lwm2m_invalid_uplink_topic");
            return;
        };
        let mut message = Message::new(topic, Bytes::from(payload), qos_of(translator.qos), false);
        message.publisher = self.client_id.as_deref().map(ClientId::new);
        if let Err(e) = session.publish(message, now) {
            tracing::debug!(error = %e, "lwm2m_publish_failed");
        }
    }

    /// Answers a request from the device (piggy-backed for CON, NON otherwise).
    fn reply(&mut self, now: Instant, req: &CoapMessage, response: CoapMessage) {
        if req.mtype == MessageType::Confirmable {
            self.trans.reply(req.message_id, &response);
        } else {
            let _ = self.trans.send_non(now.into_std(), response, 0);
        }
    }

    async fn on_rd(&mut self, now: Instant, req: CoapMessage) -> Flow {
        let rd = match parse_request(&req) {
            Ok(rd) => rd,
            Err(e) => {
                self.reply(now, &req, Registrar::reject(&req, &e));
                return Flow::Continue;
            }
        };
        if let RdRequest::Register { endpoint, .. } = &rd {
            let query = uri_query(&req);
            let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let client_id = q("device_id").unwrap_or_else(|| endpoint.clone());
            let username = q("imei").unwrap_or_else(|| endpoint.clone());
            let client = ClientInfo { protocol: "lwm2m", client_id, username: Some(username), peer: Some(self.peer) };
            let password = q("password");
            let allowed = matches!(
                self.bus.authenticate(&client, password.as_deref().map(str::as_bytes)).await,
                AuthDecision::Allow { .. }
            );
            if !allowed {
                let err = RdError { code: Code::BAD_REQUEST, reason: "Login Failed: not authorized".into() };
                self.reply(now, &req, Registrar::reject(&req, &err));
                return Flow::Continue;
            }
            self.open_session(&client.client_id, endpoint.clone(), client.username.as_deref(), now);
        }
        let outcome = self.registrar.apply(now.into_std(), &req, rd);
        self.reply(now, &req, outcome.response);
        match outcome.event {
            Some(RdEvent::Registered) => {
                let Some(reg) = self.registrar.registration() else { return Flow::Continue };
                tracing::info!(endpoint = %reg.endpoint, "lwm2m_registered");
                self.endpoints.claim(&reg.endpoint, self.handler_id, self.doorbell.clone());
                // A peer that registers again under another name gives the old one up.
                if let Some(old) = self.endpoint.replace(reg.endpoint.clone()).filter(|e| *e != reg.endpoint) {
                    self.endpoints.release(&old, self.handler_id);
                }
                let payload = register_json(reg);
                let objects = reg.objects.object_list.clone();
                self.publish(&self.settings.translators.register.clone(), payload, now);
                self.auto_observe(&objects);
                Flow::Continue
            }
            Some(RdEvent::Updated { objects_changed }) => {
                let publish = self.settings.update_publish == UpdatePublish::Always || objects_changed;
                if let (true, Some(reg)) = (publish, self.registrar.registration()) {
                    let payload = update_json(reg);
                    self.publish(&self.settings.translators.update.clone(), payload, now);
                }
                Flow::Continue
            }
            Some(RdEvent::Deregistered) => {
                tracing::info!("lwm2m_deregistered");
                Flow::Close
            }
            None => Flow::Continue,
        }
    }

    fn open_session(&mut self, client_id: &str, endpoint: String, username: Option<&str>, now: Instant) {
        if self.session.is_some() && self.client_id.as_deref() == Some(client_id) {
            return;
        }
        if let Some(old) = self.session.take() {
            old.close(CloseKind::Normal, now);
        }
        self.mountpoint = Mountpoint::resolve(
            &self.settings.mountpoint,
            MountVars { client_id: Some(client_id), username, endpoint_name: Some(&endpoint) },
        );
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(client_id),
                clean_start: true,
                expiry: Some(Duration::ZERO),
                will: None,
                doorbell: self.doorbell.clone(),
            },
            now,
        );
        tracing::Span::current().record("client_id", client_id);
        let command = &self.settings.translators.command;
        match SubscriptionFilter::parse(&self.mountpoint.mount_filter(&command.topic)) {
            Ok(filter) => {
                let opts = SubOptions { qos: qos_of(command.qos), ..SubOptions::default() };
                if let Err(e) = opened.handle.subscribe(&filter, opts, RetainHandling::Send, now) {
                    tracing::warn!(error = %e, "lwm2m_subscribe_failed");
                }
                self.command_filter = Some(filter);
            }
            Err(e) => tracing::warn!(error = %e, "lwm2m_invalid_command_topic"),
        }
        self.session = Some(opened.handle);
        self.client_id = Some(client_id.to_owned());
    }

    /// Queues EMQX's auto-observe commands (no `reqID`, `"is_auto_observe": true`).
    fn auto_observe(&mut self, object_list: &[String]) {
        for path in self.settings.auto_observe.paths_for(object_list, &self.settings.objects) {
            let cmd = json!({"msgType": "observe", "data": {"path": path.to_string()}, "is_auto_observe": true});
            if let Ok(command) = parse_command(cmd.to_string().as_bytes()) {
                self.queue.push_back(Queued { command, expires_at: None });
            }
        }
    }

    /// A command from the bus.
    fn on_command(&mut self, payload: &[u8], expires_at: Option<Instant>, now: Instant) {
        match parse_command(payload) {
            Ok(command) => {
                let ttl_expiry = match command.ttl {
                    Some(0) => None,
                    Some(s) => Some(now + Duration::from_secs(s)),
                    None => Some(now + DEFAULT_TTL),
                };
                let expires_at = match (ttl_expiry, expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.queue.push_back(Queued { command, expires_at });
            }
            Err(e) => {
                tracing::info!(reason = %e.reason, "lwm2m_invalid_command");
                let payload = e.response_json();
                self.publish(&self.settings.translators.response.clone(), payload, now);
            }
        }
    }

    /// Sends the next queued command if none is outstanding and the device is reachable.
    fn send_next(&mut self, now: Instant) {
        while self.pending.is_none() && self.registrar.is_reachable(now.into_std()) {
            let was_full = self.queue.len() >= self.settings.max_queued_commands;
            let Some(q) = self.queue.pop_front() else { return };
            if was_full {
                // Room again: take the commands that waited in the session's mqueue.
                self.doorbell.ring();
            }
            if q.expires_at.is_some_and(|at| at <= now) {
                // Dropped without an answer, as EMQX does: `emqx_lwm2m_session:send_to_coap/2`
                // skips expired queue entries and publishes nothing. The log is the trace.
                tracing::info!(path = %q.command.req_path, "lwm2m_command_expired");
                continue;
            }
            let command = q.command;
            let alternate =
                self.registrar.registration().map_or_else(|| "/".to_owned(), |r| r.objects.alternate_path.clone());
            let token = match &command.operation {
                Operation::CancelObserve(path) => self
                    .observations
                    .iter()
                    .find(|(_, o)| o.command.operation.path() == path)
                    .map(|(t, _)| t.clone())
                    .unwrap_or_else(|| self.trans.new_token()),
                _ => self.trans.new_token(),
            };
            let request = match build_request(&command.operation, &alternate, token.clone()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(error = %e, "lwm2m_command_unbuildable");
                    let payload = undecodable_response_json(&command);
                    self.publish(&self.settings.translators.response.clone(), payload, now);
                    continue;
                }
            };
            let tag = self.next_tag;
            self.next_tag += 1;
            match self.trans.send_request(now.into_std(), request.clone(), tag) {
                Ok(_) => self.pending = Some(Pending { tag, command, token, request }),
                Err(e) => {
                    tracing::info!(error = %e, "lwm2m_command_unencodable");
                    let payload = undecodable_response_json(&command);
                    self.publish(&self.settings.translators.response.clone(), payload, now);
                }
            }
        }
    }

    fn take_pending(&mut self, tag: u64) -> Option<Pending> {
        if self.pending.as_ref().is_some_and(|p| p.tag == tag) {
            if let Some(blocks) = &mut self.blocks {
                blocks.reset();
            }
            self.pending.take()
        } else {
            None
        }
    }

    /// A response to the outstanding command, or to the request for one of its blocks: the
    /// whole representation is put together before it is decoded (RFC 7959 §2.4).
    fn on_response(&mut self, tag: u64, response: CoapMessage, now: Instant) {
        let (Some(pending), Some(blocks)) = (self.pending.as_ref().filter(|p| p.tag == tag), &mut self.blocks) else {
            return self.on_whole_response(tag, &response, now);
        };
        match blocks.on_response(now.into_std(), &pending.request, response) {
            ResponseStep::Complete(whole) => self.on_whole_response(tag, &whole, now),
            ResponseStep::Next(mut next) => {
                next.token = self.trans.new_token();
                if let Some(p) = &mut self.pending {
                    p.request = next.clone();
                }
                if let Err(e) = self.trans.send_request(now.into_std(), next, tag) {
                    tracing::info!(error = %e, "lwm2m_block_request_unencodable");
                    self.fail_pending(tag, Code::INTERNAL_SERVER_ERROR, now);
                }
            }
            ResponseStep::Failed(code) => {
                tracing::info!(code = %code_string(code), "lwm2m_blockwise_response_failed");
                self.fail_pending(tag, code, now);
            }
        }
    }

    /// Ends the outstanding command with `code` and no content.
    fn fail_pending(&mut self, tag: u64, code: Code, now: Instant) {
        if let Some(p) = self.take_pending(tag) {
            let payload = response_json(&p.command, code, None, None);
            self.publish(&self.settings.translators.response.clone(), payload, now);
        }
    }

    /// The device's whole answer to the outstanding command.
    fn on_whole_response(&mut self, tag: u64, response: &CoapMessage, now: Instant) {
        let Some(pending) = self.take_pending(tag) else { return };
        let command = pending.command;
        let target: &Path = command.operation.path();
        let seq = response.uint_option(option::OBSERVE).ok().flatten();
        let payload = if response.payload.is_empty() {
            response_json(&command, response.code, None, seq)
        } else {
            match decode_response(response, target, &self.settings.objects) {
                Ok(content) => response_json(&command, response.code, Some(&content), seq),
                Err(e) => {
                    tracing::info!(error = %e, "lwm2m_undecodable_response");
                    undecodable_response_json(&command)
                }
            }
        };
        match &command.operation {
            Operation::Observe(_) if response.code.is_success() && seq.is_some() => {
                self.observations.insert(pending.token, Observation { command: command.clone() });
            }
            Operation::CancelObserve(path) => {
                self.observations.retain(|_, o| o.command.operation.path() != path);
            }
            _ => {}
        }
        self.publish(&self.settings.translators.response.clone(), payload, now);
    }

    /// A response the device sent on its own: a notification of an observation.
    fn on_notification(&mut self, msg: &CoapMessage, now: Instant) {
        let Some(obs) = self.observations.get(&msg.token) else {
            if msg.mtype == MessageType::Confirmable {
                self.trans.reply(msg.message_id, &CoapMessage::reset(msg.message_id));
            }
            return;
        };
        if msg.mtype == MessageType::Confirmable {
            self.trans.reply(msg.message_id, &CoapMessage::empty_ack(msg.message_id));
        }
        let command = obs.command.clone();
        let seq = msg.uint_option(option::OBSERVE).ok().flatten().unwrap_or(0);
        let content = if msg.payload.is_empty() {
            None
        } else {
            match decode_response(msg, command.operation.path(), &self.settings.objects) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::info!(error = %e, "lwm2m_undecodable_notification");
                    None
                }
            }
        };
        let payload = notify_json(command.req_id(), seq, &command.req_path, msg.code, content.as_ref());
        if !msg.code.is_success() {
            self.observations.remove(&msg.token);
        }
        let translator = if command.operation.path().object == FIRMWARE_UPDATE_OBJECT {
            // EMQX publishes Firmware Update notifications (firmware upgrade progress, for its
            // device-management callbacks) to the mountpoint + `/v1/up/dm` at QoS 0, plain
            // concatenation (`lwm2m/{ep}//v1/up/dm`), *instead of* the notify topic:
            // `emqx_lwm2m_session:handle_coap_response/3` picks one of the two branches.
            Translator::new(FIRMWARE_NOTIFY_TOPIC)
        } else {
            self.settings.translators.notify.clone()
        };
        self.publish(&translator, payload, now);
    }

    async fn on_message(&mut self, now: Instant, msg: CoapMessage) -> Flow {
        match self.trans.on_message(now.into_std(), msg) {
            Received::New(m) if m.code.is_request() => {
                if is_rd_request(&m) {
                    return self.on_rd(now, m).await;
                }
                let resp = response_to(&m, Code::NOT_FOUND, b"");
                self.reply(now, &m, resp);
            }
            Received::New(m) if m.code.is_response() => self.on_notification(&m, now),
            Received::New(_) => {}
            Received::Acked { tag, response: Some(resp), .. } => self.on_response(tag, resp, now),
            Received::Acked { tag, response: None, .. } => {
                // EMQX's `ack` once per command, not again for each later block.
                let fetching_blocks = self.blocks.as_ref().is_some_and(ResponseAssembler::in_progress);
                if let Some(p) = self.pending.as_ref().filter(|p| p.tag == tag && !fetching_blocks) {
                    let payload = ack_json(&p.command);
                    self.publish(&self.settings.translators.response.clone(), payload, now);
                }
            }
            Received::Response { tag, message } => {
                if self.pending.as_ref().is_some_and(|p| p.tag == tag) {
                    self.on_response(tag, message, now);
                } else {
                    self.on_notification(&message, now);
                }
            }
            Received::Reset { tag, .. } => {
                if let Some(p) = self.take_pending(tag) {
                    let payload = coap_reset_json(&p.command);
                    self.publish(&self.settings.translators.response.clone(), payload, now);
                }
            }
            Received::Duplicate | Received::Unmatched | Received::Ping => {}
        }
        Flow::Continue
    }

    /// Takes commands from the bus, as many as the handler's bounded queue has room for; the
    /// rest wait in the session's mqueue (bounded, drop-oldest, counted).
    fn pump(&mut self, now: Instant) {
        let Some(session) = &self.session else { return };
        let room = self.settings.max_queued_commands.saturating_sub(self.queue.len());
        if room == 0 {
            self.send_next(now);
            return;
        }
        let more = session.take_outbound(now, usize::MAX, room, &mut self.outbound);
        let mut commands = Vec::new();
        for outbound in std::mem::take(&mut self.outbound) {
            match outbound {
                Outbound::Publish { packet_id, delivery, .. } => {
                    commands.push((delivery.message.payload.clone(), delivery.message.expires_at));
                    if let Some(id) = packet_id {
                        session.complete(id);
                    }
                }
                Outbound::PubRel(id) => {
                    session.complete(id);
                }
            }
        }
        if more {
            self.doorbell.ring();
        }
        for (payload, expires_at) in commands {
            self.on_command(&payload, expires_at, now);
        }
        self.send_next(now);
    }

    /// The session (same client id) or the endpoint (same name) was registered by another
    /// peer: end now. `on_closed` still closes the session: a no-op when the bus handed it to
    /// the new owner, and the end of it when the new registration uses another client id.
    fn taken_over(&self) -> Flow {
        tracing::info!("lwm2m_taken_over");
        Flow::Close
    }

    fn transmit(&mut self, out: &mut Vec<Bytes>) {
        while let Some(datagram) = self.trans.poll_transmit() {
            out.push(datagram);
        }
    }
}

impl DatagramHandler for Lwm2mConnection {
    fn doorbell(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }

    async fn on_datagram(&mut self, now: Instant, datagram: Bytes, out: &mut Vec<Bytes>) -> Flow {
        // Kicked, but the datagram was picked before the doorbell: this registration already
        // belongs to another handler, so nothing from this peer may act on it. A CON the
        // device repeats reaches a fresh handler once this one is gone.
        if self.doorbell.kicked().is_some() {
            return self.taken_over();
        }
        let msg = match codec::decode(&datagram) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(error = %e, peer = %self.peer, "lwm2m_malformed_datagram");
                return Flow::Continue;
            }
        };
        self.registrar.touch(now.into_std());
        let flow = self.on_message(now, msg).await;
        if flow == Flow::Continue {
            self.pump(now);
        }
        self.transmit(out);
        flow
    }

    fn on_doorbell(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        if self.doorbell.kicked().is_some() {
            return self.taken_over();
        }
        self.pump(now);
        self.transmit(out);
        Flow::Continue
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Flow {
        let std_now = now.into_std();
        self.trans.handle_timeout(std_now);
        while let Some(event) = self.trans.poll_event() {
            let TransactionEvent::TimedOut { tag, .. } = event;
            if let Some(p) = self.take_pending(tag) {
                let payload = coap_timeout_json(&p.command);
                self.publish(&self.settings.translators.response.clone(), payload, now);
            }
        }
        if self.registrar.handle_timeout(std_now) {
            tracing::info!(reason = "timeout", "lwm2m_lifetime_expired");
            self.transmit(out);
            return Flow::Close;
        }
        if self.registrar.registration().is_none() && self.session.is_none() && now >= self.idle_deadline {
            return Flow::Close;
        }
        self.send_next(now);
        self.transmit(out);
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        let idle = (self.registrar.registration().is_none() && self.session.is_none()).then_some(self.idle_deadline);
        [self.trans.poll_timeout().map(Instant::from_std), self.registrar.poll_timeout().map(Instant::from_std), idle]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_shutdown(&mut self, _now: Instant, out: &mut Vec<Bytes>) {
        self.transmit(out);
    }

    fn on_closed(&mut self, now: Instant, cause: CloseCause) {
        tracing::debug!(?cause, "lwm2m_peer_closed");
        if let Some(endpoint) = self.endpoint.take() {
            self.endpoints.release(&endpoint, self.handler_id);
        }
        if let Some(session) = self.session.take() {
            session.close(CloseKind::Normal, now);
        }
    }
}
