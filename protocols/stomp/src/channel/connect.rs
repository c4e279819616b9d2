//! CONNECT / STOMP, version negotiation (1.2 §"Protocol Negotiation"), CONNECTED.

use std::time::{Duration, Instant};

use crate::codec::{Command, Frame, Version};

use super::heartbeat::negotiate;
use super::{first_occurrences, Channel, CloseReason, Event, State};

/// The highest version in `accept-version` we speak; absent header = 1.0.
pub(super) fn negotiate_version(accept_version: Option<&str>) -> Option<Version> {
    match accept_version {
        None => Some(Version::V1_0),
        Some(list) => list.split(',').filter_map(|v| Version::parse(v.trim())).max(),
    }
}

/// `cx,cy` in milliseconds.
fn parse_heartbeat(value: &str) -> Option<(u32, u32)> {
    let (x, y) = value.split_once(',')?;
    Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
}

impl Channel {
    pub(super) fn on_connect(&mut self, frame: Frame) {
        let Some(version) = negotiate_version(frame.header("accept-version")) else {
            let supported: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
            let message = format!("Supported protocol versions are {}", supported.join(" "));
            let error = Frame::new(Command::Error)
                .with_header("version", supported.join(","))
                .with_header("content-type", "text/plain")
                .with_header("message", message.as_str())
                .with_body(message.clone().into_bytes());
            self.send(&error);
            self.close(CloseReason::Error { message });
            return;
        };
        // 1.0 has no heart-beating; a 1.0 client's header means nothing defined.
        let heartbeat = match (version, frame.header("heart-beat")) {
            (Version::V1_0, _) | (_, None) => (0, 0),
            (_, Some(value)) => match parse_heartbeat(value) {
                Some(hb) => hb,
                None => {
                    self.fail(format!("Invalid heart-beat header: {value}"), None);
                    return;
                }
            },
        };
        self.version = Some(version);
        self.decoder.set_version(version);
        self.client_heartbeat = heartbeat;
        self.state = State::AwaitAccept;
        let owned = |name: &str| frame.header(name).map(str::to_owned);
        self.events.push_back(Event::Connect {
            version,
            login: owned("login"),
            passcode: owned("passcode"),
            host: owned("host"),
            heartbeat,
            headers: first_occurrences(&frame.headers, &["passcode"]),
        });
    }

    /// Accepts the CONNECT: CONNECTED with `version`, `heart-beat` (1.1+; the server's
    /// `sx,sy` from the config), `server` and `session`; arms the heart-beat timers and
    /// handles the frames received meanwhile. Ignored unless a CONNECT awaits an answer.
    pub fn accept_connect(&mut self, now: Instant, session_id: &str) {
        if self.state != State::AwaitAccept {
            return;
        }
        let version = self.version.unwrap_or(Version::V1_0);
        let mut connected = Frame::new(Command::Connected).with_header("version", version.as_str());
        let (send_ms, recv_ms) = if version == Version::V1_0 {
            (None, None)
        } else {
            let (sx, sy) = (self.config.heartbeat_send_ms, self.config.heartbeat_recv_ms);
            connected.push_header("heart-beat", format!("{sx},{sy}"));
            let (cx, cy) = self.client_heartbeat;
            (negotiate(sx, cy), negotiate(cx, sy))
        };
        connected.push_header("server", self.config.server_name.as_str());
        connected.push_header("session", session_id);
        self.send(&connected);
        self.heartbeat.start(now, send_ms, recv_ms, self.config.heartbeat_timeout_factor);
        self.state = State::Connected;
        while let Some(frame) = self.pending.pop_front() {
            if self.state != State::Connected {
                return;
            }
            self.on_frame(frame);
        }
        if let Some(err) = self.pending_error.take() {
            self.on_decode_error(err);
        }
    }

    /// Refuses the CONNECT (e.g. `Login Failed: <reason>`): ERROR with `message`, then
    /// [`Event::Closed`]`(`[`CloseReason::Rejected`]`)`. Ignored unless a CONNECT awaits
    /// an answer.
    pub fn reject_connect(&mut self, message: &str) {
        if self.state != State::AwaitAccept {
            return;
        }
        self.send_error(message, None);
        self.close(CloseReason::Rejected);
    }

    /// The negotiated heart-beat: how often the server sends an EOL, and how much client
    /// silence closes the connection (interval × factor). `None`: not in that direction.
    pub fn heartbeat(&self) -> (Option<Duration>, Option<Duration>) {
        self.heartbeat.intervals()
    }
}
