"""`$SYS/` topics as EMQX publishes them (`emqx_sys`): `$SYS/brokers/{node}/version`,
`sysdescr` (retained), `uptime`, `datetime`, `stats/<name>/count` and `metrics/<name>` with
EMQX's dotted metric names as levels — so an mqueue overflow is visible, never silent."""

import time

from mqtt_helpers import MosqSub, TClient, mosq_pub, uid

NODE = "gw-test@127.0.0.1"


def _gateway(make_gateway, **mqtt):
    return make_gateway({
        "node": {"name": NODE},
        "sys_topics": {"sys_msg_interval": "500ms", "sys_heartbeat_interval": "500ms"},
        "mqtt": mqtt,
    })


def test_mqueue_overflow_is_counted_in_sys_metrics(make_gateway):
    """A persistent session offline with max_mqueue_len=2 receives 5 QoS 1 messages: 3 are
    dropped (oldest first), and `$SYS/brokers/{node}/metrics/delivery/dropped/queue_full`
    says 3 to a paho subscriber (EMQX metric `delivery.dropped.queue_full`)."""
    gw = _gateway(make_gateway, max_mqueue_len=2)
    cid, topic = uid("sysq"), uid("sysq/")
    offline = TClient(gw, client_id=cid, proto=4, clean=False)
    offline.connect(clean=False)
    offline.subscribe(topic, 1)
    offline.disconnect()
    for i in range(5):
        mosq_pub(gw, topic, f"m{i}", qos=1)
    watcher = TClient(gw, proto=5)
    watcher.connect()
    watcher.subscribe(f"$SYS/brokers/{NODE}/metrics/delivery/dropped/queue_full", 0)
    deadline = time.monotonic() + 10
    values = []
    while time.monotonic() < deadline and "3" not in values:
        values += [m.payload.decode() for m in watcher.quiet(0.6)]
    assert "3" in values, values
    watcher.disconnect()


def test_identity_uptime_and_stats_with_mosquitto_sub(make_gateway):
    """mosquitto_sub on `$SYS/brokers/{node}/#` sees the retained version and sysdescr, an
    uptime in milliseconds, an RFC 3339 datetime and `stats/connections/count` counting
    itself; `$SYS/brokers` (retained) names the node. A leading `#` does not match `$SYS`."""
    gw = _gateway(make_gateway)
    everything = MosqSub(gw, "#", 1, timeout=2)
    sub = MosqSub(gw, f"$SYS/brokers/{NODE}/#", 40, timeout=8)
    msgs, _ = sub.result()
    by_topic = {}
    for retain, _qos, topic, payload in msgs:
        by_topic.setdefault(topic.removeprefix(f"$SYS/brokers/{NODE}/"), []).append((retain, payload))
    assert by_topic["version"][0][1], by_topic
    assert "sysdescr" in by_topic
    assert all(p.isdigit() for _, p in by_topic["uptime"]), by_topic["uptime"]
    assert all(p.endswith("Z") and "T" in p for _, p in by_topic["datetime"]), by_topic["datetime"]
    assert int(by_topic["stats/connections/count"][-1][1]) >= 1
    assert "metrics/messages/received" in by_topic
    nodes, _ = MosqSub(gw, "$SYS/brokers", 1, timeout=5).result()
    assert nodes == [["1", "0", "$SYS/brokers", NODE]], nodes
    leaked, _ = everything.result()
    assert leaked == [], leaked
