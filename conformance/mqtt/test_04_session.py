"""Persistent sessions: offline queueing, mqueue limits, clean start, session expiry."""

import time

from mqtt_helpers import TClient, connect_props, props, uid
from paho.mqtt.packettypes import PacketTypes


def _persistent(gw, cid, proto, expiry=300, clean=False):
    c = TClient(gw, client_id=cid, proto=proto, clean=clean)
    p = connect_props(SessionExpiryInterval=expiry) if proto == 5 else None
    r = c.connect(clean=clean, properties=p)
    return c, r


def _publish_many(gw, topic, payloads, qos=1, proto=4):
    p = TClient(gw, proto=proto)
    p.connect()
    for pl in payloads:
        p.publish(topic, pl, qos=qos)
    p.disconnect()


def test_v311_offline_messages_queued(gateway):
    """[MQTT-3.1.2-4]/[MQTT-3.1.2-5] (3.1.1): with CleanSession=0 the session (subscriptions
    and QoS 1/2 messages arriving while offline) is kept and resumed; CONNACK has Session
    Present=1 ([MQTT-3.2.2-2])."""
    cid, topic = uid("p311"), uid("sess/")
    c, r = _persistent(gateway, cid, 4)
    assert r.session_present is False
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gateway, topic, [b"a", b"b", b"c"])
    c2, r2 = _persistent(gateway, cid, 4)
    assert r2.session_present is True
    msgs = c2.expect_messages(3)
    assert [m.payload for m in msgs] == [b"a", b"b", b"c"]
    c2.disconnect()


def test_v5_offline_messages_queued(gateway):
    """[MQTT-3.1.2-5]/[MQTT-3.1.2-23] (5.0): Clean Start=0 with Session Expiry > 0 keeps the
    session across the disconnect; offline QoS 1 messages are delivered on reconnect and
    CONNACK Session Present=1 ([MQTT-3.2.2-3])."""
    cid, topic = uid("p5"), uid("sess5/")
    c, r = _persistent(gateway, cid, 5, clean=True)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gateway, topic, [b"1", b"2"], proto=5)
    c2, r2 = _persistent(gateway, cid, 5)
    assert r2.session_present is True
    msgs = c2.expect_messages(2)
    assert [(m.payload, m.qos) for m in msgs] == [(b"1", 1), (b"2", 1)]
    c2.disconnect()


def test_offline_qos0_queued(gateway):
    """EMQX convention `mqtt.mqueue_store_qos0 = true` (default): QoS 0 messages for an
    offline persistent session are queued too ([MQTT-3.1.2-5] allows it)."""
    cid, topic = uid("q0"), uid("sessq0/")
    c, _ = _persistent(gateway, cid, 4)
    c.subscribe(topic, 0)
    c.disconnect()
    _publish_many(gateway, topic, [b"zero"], qos=0)
    time.sleep(0.2)
    c2, r2 = _persistent(gateway, cid, 4)
    assert r2.session_present is True
    msgs = c2.expect_messages(1)
    assert [(m.payload, m.qos) for m in msgs] == [(b"zero", 0)]
    c2.disconnect()


def test_mqueue_len_drops_oldest(make_gateway):
    """EMQX convention `mqtt.max_mqueue_len`: with max_mqueue_len=5 and 10 offline QoS 1
    messages, the reconnecting session gets exactly the newest 5, in order (drop oldest)."""
    gw = make_gateway({"mqtt": {"max_mqueue_len": 5}})
    cid, topic = uid("mq"), uid("mq/")
    c, _ = _persistent(gw, cid, 4)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gw, topic, [b"m%d" % i for i in range(10)])
    c2, r2 = _persistent(gw, cid, 4)
    assert r2.session_present is True
    msgs = c2.quiet(1.0)
    assert [m.payload for m in msgs] == [b"m%d" % i for i in range(5, 10)]
    c2.disconnect()


def test_mqueue_len_via_env(make_gateway):
    """The same limit set with the environment override GATEWAY_MQTT__MAX_MQUEUE_LEN=5."""
    gw = make_gateway(env={"GATEWAY_MQTT__MAX_MQUEUE_LEN": "5"})
    cid, topic = uid("mqe"), uid("mqe/")
    c, _ = _persistent(gw, cid, 5)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gw, topic, [b"e%d" % i for i in range(10)])
    c2, _ = _persistent(gw, cid, 5)
    msgs = c2.quiet(1.0)
    assert [m.payload for m in msgs] == [b"e%d" % i for i in range(5, 10)]
    c2.disconnect()


def test_v311_clean_session_discards(gateway):
    """[MQTT-3.1.2-6] (3.1.1): CleanSession=1 discards any previous session: Session Present=0
    ([MQTT-3.2.2-1]) and nothing queued is delivered, the old subscription is gone."""
    cid, topic = uid("cl"), uid("clean/")
    c, _ = _persistent(gateway, cid, 4)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gateway, topic, [b"lost"])
    c2, r2 = _persistent(gateway, cid, 4, clean=True)
    assert r2.session_present is False
    assert c2.quiet(0.8) == []
    _publish_many(gateway, topic, [b"after"])
    assert c2.quiet(0.5) == [], "old subscription survived a clean session"
    c2.disconnect()


def test_v5_clean_start_discards(gateway):
    """[MQTT-3.1.2-4] (5.0): Clean Start=1 discards the existing session; Session Present=0
    ([MQTT-3.2.2-2])."""
    cid, topic = uid("cs5"), uid("cs5/")
    c, _ = _persistent(gateway, cid, 5)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gateway, topic, [b"lost"], proto=5)
    c2, r2 = _persistent(gateway, cid, 5, clean=True)
    assert r2.session_present is False
    assert c2.quiet(0.8) == []
    c2.disconnect()


def test_v5_session_expiry_zero(gateway):
    """[MQTT-3.1.2-23] (5.0): Session Expiry Interval absent/0 → the session ends when the
    network connection closes: a Clean Start=0 reconnect gets Session Present=0."""
    cid, topic = uid("se0"), uid("se0/")
    c, _ = _persistent(gateway, cid, 5, expiry=0)
    c.subscribe(topic, 1)
    c.disconnect()
    _publish_many(gateway, topic, [b"x"], proto=5)
    c2, r2 = _persistent(gateway, cid, 5, expiry=0)
    assert r2.session_present is False
    assert c2.quiet(0.5) == []
    c2.disconnect()


def test_v5_session_expiry_elapses(gateway):
    """[MQTT-3.1.2-23] / 4.1 (5.0): a session with Session Expiry Interval 2 s is kept for 2 s
    after the disconnect and discarded after that."""
    cid, topic = uid("se2"), uid("se2/")
    # still there after 0.5 s
    c, _ = _persistent(gateway, cid, 5, expiry=2)
    c.subscribe(topic, 1)
    c.disconnect()
    time.sleep(0.5)
    c2, r2 = _persistent(gateway, cid, 5, expiry=2)
    assert r2.session_present is True
    c2.disconnect()
    time.sleep(3.0)
    c3, r3 = _persistent(gateway, cid, 5, expiry=2)
    assert r3.session_present is False
    c3.disconnect()


def test_v5_session_expiry_set_on_disconnect(gateway):
    """3.14.2.2.2 (5.0): a DISCONNECT carrying Session Expiry Interval 0 ends a session that
    was opened with expiry 60: the next Clean Start=0 connect has Session Present=0."""
    cid = uid("sed")
    c, _ = _persistent(gateway, cid, 5, expiry=60)
    c.subscribe(uid("sed/"), 1)
    c.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
    time.sleep(0.3)
    c2, r2 = _persistent(gateway, cid, 5, expiry=60)
    assert r2.session_present is False
    c2.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
