//! `$SYS/` topics: identity, uptime, statistics and counters reach `$SYS/#` subscribers.

use std::sync::Arc;
use std::time::Duration;

use gw_core::bus::{
    Bus, BusConfig, ClientId, Doorbell, OpenSession, Outbound, RetainHandling, SessionHandle, SubOptions,
    SubscriptionFilter,
};
use gw_core::shutdown::Shutdown;
use gw_core::sys::{run_sys_topics, SysTopicsSettings};
use tokio::time::Instant;

fn subscriber(bus: &Bus, filter: &str) -> SessionHandle {
    let request = OpenSession {
        client_id: ClientId::new("sys-watcher"),
        clean_start: true,
        expiry: Some(Duration::ZERO),
        will: None,
        doorbell: Arc::new(Doorbell::new()),
    };
    let handle = bus.open_session(request, Instant::now()).handle;
    let filter = SubscriptionFilter::parse(filter).unwrap();
    handle.subscribe(&filter, SubOptions::default(), RetainHandling::Send, Instant::now()).unwrap();
    handle
}

fn received(handle: &SessionHandle) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    handle.take_outbound(Instant::now(), 1000, 10_000, &mut out);
    out.into_iter()
        .filter_map(|o| match o {
            Outbound::Publish { delivery, .. } => Some((
                delivery.message.topic.as_str().to_owned(),
                String::from_utf8(delivery.message.payload.to_vec()).unwrap(),
                delivery.message.retain,
            )),
            Outbound::PubRel(_) => None,
        })
        .collect()
}

fn settings(msg: Option<Duration>, heartbeat: Option<Duration>) -> SysTopicsSettings {
    SysTopicsSettings { node: "gw@127.0.0.1".into(), msg_interval: msg, heartbeat_interval: heartbeat }
}

#[tokio::test(start_paused = true)]
async fn counters_and_stats_are_published_every_message_interval() {
    let bus = Bus::new(BusConfig::default());
    let watcher = subscriber(&bus, "$SYS/brokers/+/#");
    bus.metrics().delivery_dropped_queue_full.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
    let shutdown = Shutdown::new();
    let task =
        tokio::spawn(run_sys_topics(bus.clone(), settings(Some(Duration::from_secs(60)), None), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(1)).await;
    let first = received(&watcher);
    let value = |name: &str| first.iter().find(|(t, _, _)| t == name).map(|(_, v, r)| (v.clone(), *r));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/metrics/delivery/dropped/queue_full"), Some(("7".into(), false)));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/stats/sessions/count"), Some(("1".into(), false)));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/metrics/datagrams/dropped/queue_full"), Some(("0".into(), false)));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/stats/connections/count"), Some(("1".into(), false)));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/stats/subscriptions/count"), Some(("1".into(), false)));
    assert_eq!(value("$SYS/brokers/gw@127.0.0.1/version"), Some((env!("CARGO_PKG_VERSION").into(), true)));
    assert!(value("$SYS/brokers/gw@127.0.0.1/uptime").is_none(), "heartbeat is off");
    // Nothing more until the next interval, then the counters again with their new values.
    bus.metrics().delivery_dropped_queue_full.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(received(&watcher).is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = received(&watcher);
    assert!(second.contains(&(
        "$SYS/brokers/gw@127.0.0.1/metrics/delivery/dropped/queue_full".into(),
        "8".into(),
        false
    )));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn uptime_and_datetime_follow_the_heartbeat_and_the_node_list_is_retained() {
    let bus = Bus::new(BusConfig::default());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_sys_topics(
        bus.clone(),
        settings(Some(Duration::from_secs(60)), Some(Duration::from_secs(30))),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(31)).await;
    // Subscribed later: the retained node list is there at once.
    let watcher = subscriber(&bus, "$SYS/brokers");
    assert_eq!(received(&watcher), vec![("$SYS/brokers".into(), "gw@127.0.0.1".into(), true)]);
    let beats = subscriber(&bus, "$SYS/brokers/gw@127.0.0.1/uptime");
    tokio::time::sleep(Duration::from_secs(30)).await;
    let uptime: Vec<u64> = received(&beats).iter().map(|(_, v, _)| v.parse().unwrap()).collect();
    assert_eq!(uptime.len(), 1);
    assert!((60_000..62_000).contains(&uptime[0]), "uptime in milliseconds: {uptime:?}");
    shutdown.cancel();
    task.await.unwrap();
}
