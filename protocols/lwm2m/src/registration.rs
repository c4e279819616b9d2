//! The registration interface, server side (OMA LwM2M TS 1.1 Core §6.2, §8.2.3/§8.2.4;
//! behaviour per EMQX, emqx-conventions §3.3): Register `POST /rd?ep=&lt=&lwm2m=&b=..` with a
//! link-format payload, Update `POST /rd/{location}`, De-register `DELETE /rd/{location}`.
//!
//! Sans-IO, two steps so the glue can authenticate in between: [`parse_request`] turns a
//! CoAP request into an [`RdRequest`] (or the error response to send), then
//! [`Registrar::apply`] changes the state and builds the response. Time is passed in; the
//! lifetime timer restarts on every message from the device ([`Registrar::touch`], EMQX).

use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_coap::codec::{option, Code, Message, MessageType};

use crate::linkformat::{registered_objects, RegisteredObjects};

/// Registration settings (`gateway.lwm2m.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// Shortest lifetime granted (`lifetime_min`, default 15 s); a shorter `lt` is raised.
    pub lifetime_min: Duration,
    /// Longest lifetime granted and the one used for `lt=0` (`lifetime_max`, default 86400 s).
    pub lifetime_max: Duration,
    /// Queue-mode reachability window after the last uplink (`qmode_time_window`, 22 s).
    pub qmode_time_window: Duration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            lifetime_min: Duration::from_secs(15),
            lifetime_max: Duration::from_secs(86_400),
            qmode_time_window: Duration::from_secs(22),
        }
    }
}

/// A parsed registration-interface request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdRequest {
    /// `POST /rd?...`.
    Register {
        /// Every query parameter in order (`ep`, `lt`, `lwm2m`, `b`, `sms`, `apn`, `imei`, ...).
        params: Vec<(String, String)>,
        /// Endpoint name (`ep`).
        endpoint: String,
        /// `lt` as sent (seconds).
        lifetime: u32,
        /// `lwm2m` (`1.0` when absent, TS 1.0 default).
        version: String,
        /// Binding `b` (`U` when absent).
        binding: String,
        /// Objects and alternate path from the payload.
        objects: RegisteredObjects,
    },
    /// `POST /rd/{location}`.
    Update {
        /// The location segment.
        location: String,
        /// Query parameters sent (`lt`, `b`, `sms`, ...).
        params: Vec<(String, String)>,
        /// New objects, when the payload is not empty.
        objects: Option<RegisteredObjects>,
    },
    /// `DELETE /rd/{location}`.
    Deregister {
        /// The location segment.
        location: String,
    },
}

/// A rejected request: the CoAP code and the diagnostic payload to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct RdError {
    /// Response code (4.00, 4.04, 4.05).
    pub code: Code,
    /// Diagnostic text (EMQX's wording where it has one).
    pub reason: String,
}

impl RdError {
    fn bad(reason: &str) -> Self {
        Self { code: Code::BAD_REQUEST, reason: reason.to_owned() }
    }
}

/// The Uri-Path segments of a request.
pub fn uri_path(msg: &Message) -> Vec<String> {
    msg.options_of(option::URI_PATH).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// The Uri-Query parameters of a request (`k=v`; a bare `k` has an empty value).
pub fn uri_query(msg: &Message) -> Vec<(String, String)> {
    msg.options_of(option::URI_QUERY)
        .map(|v| {
            let s = String::from_utf8_lossy(v);
            match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (s.into_owned(), String::new()),
            }
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Whether a request belongs to the registration interface (`/rd...`).
pub fn is_rd_request(msg: &Message) -> bool {
    msg.code.is_request() && uri_path(msg).first().is_some_and(|s| s == "rd")
}

fn objects_of(payload: &[u8]) -> Result<RegisteredObjects, RdError> {
    let text = std::str::from_utf8(payload).map_err(|_| RdError::bad("invalid link format payload"))?;
    registered_objects(text).map_err(|_| RdError::bad("invalid link format payload"))
}

/// Parses a registration-interface request (TS Core §8.2.3/§8.2.4). Register needs `ep` and
/// `lt` (EMQX: "Login Failed: invalid queries"), and `lwm2m` of `1.0`, `1` or `1.1`.
pub fn parse_request(msg: &Message) -> Result<RdRequest, RdError> {
    let path = uri_path(msg);
    let params = uri_query(msg);
    match (msg.code, path.as_slice()) {
        (Code::POST, [rd]) if rd == "rd" => {
            let (Some(ep), Some(lt)) = (param(&params, "ep"), param(&params, "lt")) else {
                return Err(RdError::bad("Login Failed: invalid queries"));
            };
            if ep.is_empty() {
                return Err(RdError::bad("Login Failed: invalid queries"));
            }
            let lifetime = lt.trim().parse::<u32>().map_err(|_| RdError::bad("Login Failed: invalid queries"))?;
            let version = param(&params, "lwm2m").unwrap_or("1.0").to_owned();
            if !matches!(version.as_str(), "1.0" | "1" | "1.1") {
                return Err(RdError::bad("Login Failed: unsupported lwm2m version"));
            }
            Ok(RdRequest::Register {
                endpoint: ep.to_owned(),
                lifetime,
                version,
                binding: param(&params, "b").unwrap_or("U").to_owned(),
                objects: objects_of(&msg.payload)?,
                params,
            })
        }
        (Code::POST, [rd, loc]) if rd == "rd" => {
            if let Some(lt) = param(&params, "lt") {
                lt.trim().parse::<u32>().map_err(|_| RdError::bad("invalid lt"))?;
            }
            let objects = if msg.payload.is_empty() { None } else { Some(objects_of(&msg.payload)?) };
            Ok(RdRequest::Update { location: loc.clone(), params, objects })
        }
        (Code::DELETE, [rd, loc]) if rd == "rd" => Ok(RdRequest::Deregister { location: loc.clone() }),
        (Code::POST | Code::DELETE, _) => Err(RdError { code: Code::NOT_FOUND, reason: String::new() }),
        _ => Err(RdError { code: Code::METHOD_NOT_ALLOWED, reason: String::new() }),
    }
}

/// Whether a client is in queue ("cache") mode: binding `UQ`, `SQ` or `UQS`, or one of the
/// NB-IoT APNs EMQX recognises (emqx-conventions §3.7).
pub fn is_queue_mode(binding: &str, apn: Option<&str>) -> bool {
    matches!(binding, "UQ" | "SQ" | "UQS")
        || apn.is_some_and(|a| matches!(a, "Ctnb" | "psmA.eDRX0.ctnb" | "psmC.eDRX0.ctnb" | "psmF.eDRXC.ctnb"))
}

/// One device's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Endpoint name.
    pub endpoint: String,
    /// Location segment: `rd/{location}` (the endpoint name, as EMQX).
    pub location: String,
    /// Query parameters merged over Register and Updates (`lt` as the device sent it).
    pub params: Vec<(String, String)>,
    /// LwM2M version.
    pub version: String,
    /// Current binding.
    pub binding: String,
    /// Lifetime granted (after `lt=0` and the min/max bounds).
    pub lifetime: Duration,
    /// Object list and alternate path.
    pub objects: RegisteredObjects,
    /// When the registration expires unless a message arrives.
    pub expires_at: Instant,
    /// Last message from the device.
    pub last_seen: Instant,
}

impl Registration {
    /// Queue mode per binding and APN.
    pub fn queue_mode(&self) -> bool {
        is_queue_mode(&self.binding, param(&self.params, "apn"))
    }

    /// A query parameter.
    pub fn param(&self, k: &str) -> Option<&str> {
        param(&self.params, k)
    }
}

/// What [`Registrar::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdEvent {
    /// A new registration (or a re-registration replacing the previous one).
    Registered,
    /// An Update; `objects_changed` when it carried an object list.
    Updated {
        /// The Update had a payload (EMQX's `contains_object_list`).
        objects_changed: bool,
    },
    /// De-registered: close the session.
    Deregistered,
}

/// The outcome of a request: the response to send and, if accepted, what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdOutcome {
    /// Response (piggy-backed ACK for a CON, NON otherwise: the glue gives a NON a fresh MID).
    pub response: Message,
    /// What changed.
    pub event: Option<RdEvent>,
}

/// A response to `req` with `code`: an ACK with the request's MID and token for a CON, a NON
/// with the token otherwise.
pub fn response_to(req: &Message, code: Code, payload: &[u8]) -> Message {
    let mtype =
        if req.mtype == MessageType::Confirmable { MessageType::Acknowledgement } else { MessageType::NonConfirmable };
    let mut m = Message::new(mtype, code, req.message_id, req.token.clone());
    if !payload.is_empty() {
        m.payload = Bytes::copy_from_slice(payload);
    }
    m
}

/// Registration state of one peer.
#[derive(Debug, Clone)]
pub struct Registrar {
    config: RegistrationConfig,
    registration: Option<Registration>,
}

impl Registrar {
    /// Not registered.
    pub fn new(config: RegistrationConfig) -> Self {
        Self { config, registration: None }
    }

    /// The current registration.
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    /// The settings.
    pub fn config(&self) -> &RegistrationConfig {
        &self.config
    }

    /// The granted lifetime for `lt` seconds: 0 → `lifetime_max`, then bounded by
    /// `[lifetime_min, lifetime_max]` (EMQX leaves `lifetime_min` unenforced; we bound it).
    pub fn granted_lifetime(&self, lt: u32) -> Duration {
        if lt == 0 {
            return self.config.lifetime_max;
        }
        Duration::from_secs(u64::from(lt))
            .clamp(self.config.lifetime_min, self.config.lifetime_max.max(self.config.lifetime_min))
    }

    /// The error response for a rejected request (also for the glue's own rejections, e.g.
    /// failed authentication: `4.00`/`4.01` with a reason).
    pub fn reject(req: &Message, err: &RdError) -> Message {
        response_to(req, err.code, err.reason.as_bytes())
    }

    /// Applies a parsed request from message `req` at `now`.
    pub fn apply(&mut self, now: Instant, req: &Message, rd: RdRequest) -> RdOutcome {
        match rd {
            RdRequest::Register { params, endpoint, lifetime, version, binding, objects } => {
                let lifetime = self.granted_lifetime(lifetime);
                let location = endpoint.clone();
                let mut response = response_to(req, Code::CREATED, b"");
                response.add_option(option::LOCATION_PATH, Bytes::from_static(b"rd"));
                response.add_option(option::LOCATION_PATH, Bytes::from(location.clone().into_bytes()));
                self.registration = Some(Registration {
                    endpoint,
                    location,
                    params,
                    version,
                    binding,
                    lifetime,
                    objects,
                    expires_at: now + lifetime,
                    last_seen: now,
                });
                RdOutcome { response, event: Some(RdEvent::Registered) }
            }
            RdRequest::Update { location, params, objects } => {
                let lt = param(&params, "lt").and_then(|v| v.trim().parse::<u32>().ok());
                let granted = lt.map(|lt| self.granted_lifetime(lt));
                let Some(reg) = self.registration.as_mut().filter(|r| r.location == location) else {
                    return RdOutcome { response: response_to(req, Code::NOT_FOUND, b""), event: None };
                };
                for (k, v) in params {
                    if k == "b" {
                        reg.binding.clone_from(&v);
                    }
                    match reg.params.iter_mut().find(|(n, _)| *n == k) {
                        Some(slot) => slot.1 = v,
                        None => reg.params.push((k, v)),
                    }
                }
                if let Some(l) = granted {
                    reg.lifetime = l;
                }
                let objects_changed = objects.is_some();
                if let Some(o) = objects {
                    reg.objects = o;
                }
                reg.last_seen = now;
                reg.expires_at = now + reg.lifetime;
                RdOutcome {
                    response: response_to(req, Code::CHANGED, b""),
                    event: Some(RdEvent::Updated { objects_changed }),
                }
            }
            RdRequest::Deregister { location } => {
                if self.registration.as_ref().is_some_and(|r| r.location == location) {
                    self.registration = None;
                    RdOutcome { response: response_to(req, Code::DELETED, b""), event: Some(RdEvent::Deregistered) }
                } else {
                    RdOutcome { response: response_to(req, Code::NOT_FOUND, b""), event: None }
                }
            }
        }
    }

    /// Any message from the device: restarts the lifetime timer (EMQX) and the queue-mode
    /// window.
    pub fn touch(&mut self, now: Instant) {
        if let Some(r) = self.registration.as_mut() {
            r.last_seen = now;
            r.expires_at = now + r.lifetime;
        }
    }

    /// When [`Registrar::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.registration.as_ref().map(|r| r.expires_at)
    }

    /// Drops an expired registration; `true` if it expired (disconnect, reason `timeout`).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.registration.as_ref().is_some_and(|r| now >= r.expires_at) {
            self.registration = None;
            return true;
        }
        false
    }

    /// Whether a downlink can be sent now: always outside queue mode; in queue mode only
    /// within `qmode_time_window` of the last uplink (else buffer until the device talks).
    pub fn is_reachable(&self, now: Instant) -> bool {
        match &self.registration {
            None => false,
            Some(r) if r.queue_mode() => now.saturating_duration_since(r.last_seen) < self.config.qmode_time_window,
            Some(_) => true,
        }
    }
}
