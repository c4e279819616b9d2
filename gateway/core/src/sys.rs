//! `$SYS/` topics, as EMQX publishes them (`emqx_sys`): who the broker is, how long it has
//! been up, and its statistics and counters, so that a drop (a full mqueue, an expired
//! message) is visible to any subscriber of `$SYS/#`, never silent.
//!
//! Under `$SYS/brokers/{node}/`: `version` and `sysdescr` (retained), `uptime` (milliseconds)
//! and `datetime` every heartbeat interval; `stats/<name>/count` and `metrics/<name>` (EMQX's
//! dotted names with dots as levels, e.g. `metrics/delivery/dropped/queue_full`) every
//! message interval. `$SYS/brokers` itself holds the node list (retained).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::{Instant, MissedTickBehavior};

use crate::bus::{Bus, Message, QoS, Topic};
use crate::shutdown::Shutdown;

/// `sys_topics.*` and the node name.
#[derive(Debug, Clone)]
pub struct SysTopicsSettings {
    /// `node.name`: the `{node}` level of every topic.
    pub node: String,
    /// `sys_topics.sys_msg_interval`: identity, statistics and counters; None = never.
    pub msg_interval: Option<Duration>,
    /// `sys_topics.sys_heartbeat_interval`: uptime and datetime; None = never.
    pub heartbeat_interval: Option<Duration>,
}

/// The broker description published on `sysdescr`.
const SYSDESCR: &str = "Multi-protocol IoT message gateway (MQTT, MQTT-SN, CoAP, LwM2M, STOMP)";

/// Publishes the `$SYS/` topics until shutdown.
pub async fn run_sys_topics(bus: Bus, settings: SysTopicsSettings, shutdown: Shutdown) {
    let started = Instant::now();
    let sys = SysPublisher { bus, prefix: format!("$SYS/brokers/{}/", settings.node), node: settings.node };
    let mut msg = settings.msg_interval.map(ticker);
    let mut heartbeat = settings.heartbeat_interval.map(ticker);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick(&mut msg) => sys.publish_stats(),
            _ = tick(&mut heartbeat) => sys.publish_heartbeat(started.elapsed()),
        }
    }
}

fn ticker(period: Duration) -> tokio::time::Interval {
    // The first tick is immediate: a subscriber need not wait a whole period for the first
    // values.
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

async fn tick(interval: &mut Option<tokio::time::Interval>) -> Instant {
    match interval {
        Some(i) => i.tick().await,
        None => std::future::pending().await,
    }
}

struct SysPublisher {
    bus: Bus,
    node: String,
    prefix: String,
}

impl SysPublisher {
    fn publish_stats(&self) {
        self.publish_topic("$SYS/brokers", self.node.clone(), true);
        self.publish("version", env!("CARGO_PKG_VERSION").to_owned(), true);
        self.publish("sysdescr", SYSDESCR.to_owned(), true);
        let stats = [
            ("connections", self.bus.connection_count()),
            ("sessions", self.bus.session_count()),
            ("subscriptions", self.bus.subscription_count()),
            ("retained", self.bus.retained_count()),
        ];
        for (name, count) in stats {
            self.publish(&format!("stats/{name}/count"), count.to_string(), false);
        }
        let datagrams = self.bus.datagram_stats().snapshot();
        for (name, value) in self.bus.metrics().snapshot().into_iter().chain(datagrams) {
            self.publish(&format!("metrics/{}", name.replace('.', "/")), value.to_string(), false);
        }
    }

    fn publish_heartbeat(&self, uptime: Duration) {
        self.publish("uptime", uptime.as_millis().to_string(), false);
        self.publish("datetime", humantime::format_rfc3339_seconds(SystemTime::now()).to_string(), false);
    }

    fn publish(&self, suffix: &str, payload: String, retain: bool) {
        self.publish_topic(&format!("{}{suffix}", self.prefix), payload, retain);
    }

    fn publish_topic(&self, topic: &str, payload: String, retain: bool) {
        match Topic::new(Bytes::from(topic.to_owned())) {
            Ok(topic) => {
                let message = Message::new(topic, Bytes::from(payload), QoS::AtMostOnce, retain);
                // No subscriber is the common case; nothing to report then.
                let _ = self.bus.publish_internal(message, Instant::now());
            }
            // Only a node name that is no valid topic level gets here.
            Err(e) => tracing::warn!(topic, error = %e, "sys_topic_invalid"),
        }
    }
}
