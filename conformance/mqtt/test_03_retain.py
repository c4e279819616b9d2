"""Retained messages."""

from mqtt_helpers import MosqSub, TClient, mosq_pub, uid


def _pub(gw, topic, payload, retain=True, qos=1, proto=4):
    p = TClient(gw, proto=proto)
    p.connect()
    p.publish(topic, payload, qos=qos, retain=retain)
    p.disconnect()


def test_retained_delivered_on_subscribe(gateway):
    """[MQTT-3.3.1-5]/[MQTT-3.3.1-6]/[MQTT-3.3.1-8] (3.1.1): a retained message is stored and
    sent to a new subscription with the RETAIN flag set to 1."""
    topic = uid("ret/a/")
    mosq_pub(gateway, topic, "stored", qos=1, retain=True)
    sub = MosqSub(gateway, topic, count=1, timeout=5, qos=1)
    msgs, rc = sub.result()
    assert rc == 0
    assert msgs == [["1", "1", topic, "stored"]]


def test_retained_replaced_by_newer(gateway):
    """[MQTT-3.3.1-5]: a new retained message on a topic replaces the previous one."""
    topic = uid("ret/b/")
    _pub(gateway, topic, b"old")
    _pub(gateway, topic, b"new")
    sub = TClient(gateway, proto=4)
    sub.connect()
    sub.subscribe(topic, 1)
    msgs = sub.quiet(0.8)
    assert [(m.payload, m.retain) for m in msgs] == [(b"new", True)]
    sub.disconnect()


def test_empty_retained_deletes(gateway):
    """[MQTT-3.3.1-10]/[MQTT-3.3.1-11] (3.1.1): a retained PUBLISH with a zero-byte payload
    removes the retained message and is not stored itself."""
    topic = uid("ret/c/")
    _pub(gateway, topic, b"something")
    _pub(gateway, topic, b"")
    sub = TClient(gateway, proto=4)
    sub.connect()
    sub.subscribe(topic, 1)
    assert sub.quiet(0.8) == []
    sub.disconnect()


def test_forward_to_established_subscription_has_retain_0(gateway):
    """[MQTT-3.3.1-9] (3.1.1): a retained PUBLISH forwarded to an established subscription
    is sent with RETAIN=0."""
    topic = uid("ret/d/")
    sub = TClient(gateway, proto=4)
    sub.connect()
    sub.subscribe(topic, 1)
    _pub(gateway, topic, b"live")
    msgs = sub.expect_messages(1)
    assert (msgs[0].payload, msgs[0].retain) == (b"live", False)
    sub.disconnect()
    # ... but it is stored and the next new subscription gets it with RETAIN=1
    sub2 = TClient(gateway, proto=4)
    sub2.connect()
    sub2.subscribe(topic, 1)
    msgs = sub2.expect_messages(1)
    assert (msgs[0].payload, msgs[0].retain) == (b"live", True)
    sub2.disconnect()


def test_retained_not_stored_without_flag(gateway):
    """[MQTT-3.3.1-12] (3.1.1): a PUBLISH with RETAIN=0 must not store, remove or replace a
    retained message."""
    topic = uid("ret/e/")
    _pub(gateway, topic, b"kept")
    _pub(gateway, topic, b"transient", retain=False)
    sub = TClient(gateway, proto=4)
    sub.connect()
    sub.subscribe(topic, 1)
    msgs = sub.quiet(0.8)
    assert [(m.payload, m.retain) for m in msgs] == [(b"kept", True)]
    sub.disconnect()


def test_retained_across_wildcards(gateway):
    """[MQTT-3.3.1-6] with wildcard filters ([MQTT-4.7]): every retained message whose topic
    matches the new filter is sent ('+' one level, '#' all levels)."""
    base = uid("retw")
    topics = [f"{base}/a/x", f"{base}/a/y", f"{base}/b/x", f"{base}/a/x/deep"]
    for i, t in enumerate(topics):
        _pub(gateway, t, f"v{i}".encode())
    sub = TClient(gateway, proto=4)
    sub.connect()
    sub.subscribe(f"{base}/a/+", 1)
    msgs = sub.quiet(0.8)
    assert sorted(m.topic for m in msgs) == sorted([f"{base}/a/x", f"{base}/a/y"])
    assert all(m.retain for m in msgs)
    sub.clear()
    sub.subscribe(f"{base}/#", 1)
    msgs = sub.quiet(0.8)
    assert sorted(m.topic for m in msgs) == sorted(topics)
    sub.disconnect()


def test_retained_v5_qos_is_min(gateway):
    """[MQTT-3.3.1-6]: the retained message is sent at min(stored QoS, subscription QoS)."""
    topic = uid("ret/q/")
    _pub(gateway, topic, b"q2", qos=2, proto=5)
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 1)
    msgs = sub.expect_messages(1)
    assert (msgs[0].payload, msgs[0].qos, msgs[0].retain) == (b"q2", 1, True)
    sub.disconnect()
