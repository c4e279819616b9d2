"""Will messages."""

import time

from mqtt_helpers import TClient, connect_props, props, uid
from paho.mqtt.packettypes import PacketTypes


def _watcher(gw, topic, qos=1):
    w = TClient(gw, proto=5)
    w.connect()
    w.subscribe(topic, qos)
    return w


def test_v311_will_on_abnormal_close(gateway):
    """[MQTT-3.1.2-8] (3.1.1): the Will Message is published when the network connection is
    closed without a DISCONNECT."""
    topic = uid("will/")
    w = _watcher(gateway, topic)
    c = TClient(gateway, proto=4).will(topic, b"gone", qos=1)
    c.connect()
    c.kill()
    msgs = w.expect_messages(1)
    assert (msgs[0].topic, msgs[0].payload) == (topic, b"gone")
    w.disconnect()


def test_v5_will_on_abnormal_close(gateway):
    """[MQTT-3.1.2-8] (5.0): abnormal close → Will published."""
    topic = uid("will5/")
    w = _watcher(gateway, topic)
    c = TClient(gateway, proto=5).will(topic, b"gone5", qos=1)
    c.connect()
    c.kill()
    msgs = w.expect_messages(1)
    assert (msgs[0].topic, msgs[0].payload) == (topic, b"gone5")
    w.disconnect()


def test_no_will_on_normal_disconnect(gateway):
    """[MQTT-3.1.2-10] (3.1.1) / [MQTT-3.1.2-10] (5.0, reason 0x00): the Will is removed on a
    normal DISCONNECT and never published."""
    topic = uid("nowill/")
    w = _watcher(gateway, topic)
    for proto in (4, 5):
        c = TClient(gateway, proto=proto).will(topic, b"should-not", qos=1)
        c.connect()
        c.disconnect()
    assert w.quiet(1.0) == []
    w.disconnect()


def test_v5_disconnect_with_will_message(gateway):
    """3.14.2.1 (5.0): DISCONNECT reason 0x04 'Disconnect with Will Message' publishes the Will."""
    topic = uid("will04/")
    w = _watcher(gateway, topic)
    c = TClient(gateway, proto=5).will(topic, b"asked", qos=1)
    c.connect()
    c.disconnect(reasoncode=mqtt_reason(0x04))
    msgs = w.expect_messages(1)
    assert msgs[0].payload == b"asked"
    w.disconnect()


def mqtt_reason(code):
    from paho.mqtt.reasoncodes import ReasonCode
    return ReasonCode(PacketTypes.DISCONNECT, identifier=code)


def test_v5_will_delay(gateway):
    """[MQTT-3.1.3-9] / 3.1.3.2.2 (5.0): with Will Delay Interval 2 s the Will is published
    after the delay, not at once."""
    topic = uid("wdelay/")
    w = _watcher(gateway, topic)
    c = TClient(gateway, proto=5).will(topic, b"late", qos=1,
                                       properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=2))
    c.connect(properties=connect_props(SessionExpiryInterval=30))
    t0 = time.monotonic()
    c.kill()
    assert w.quiet(1.2) == [], "will published before its delay"
    msgs = w.expect_messages(1, timeout=4)
    elapsed = time.monotonic() - t0
    assert msgs[0].payload == b"late"
    assert 1.5 <= elapsed <= 4.5, elapsed
    w.disconnect()


def test_v5_will_delay_cancelled_by_reconnect(gateway):
    """[MQTT-3.1.3-9] (5.0): if the client reconnects to the session (Clean Start=0, Session
    Expiry > delay) before the Will Delay Interval passes, the Will is NOT sent."""
    topic, cid = uid("wcancel/"), uid("wc")
    w = _watcher(gateway, topic)
    c = TClient(gateway, client_id=cid, proto=5).will(
        topic, b"never", qos=1, properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=2))
    c.connect(properties=connect_props(SessionExpiryInterval=30))
    c.kill()
    time.sleep(0.5)
    c2 = TClient(gateway, client_id=cid, proto=5)
    r = c2.connect(clean=False, properties=connect_props(SessionExpiryInterval=30))
    assert r.session_present is True
    assert w.quiet(3.0) == [], "will published although the client came back"
    c2.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
    w.disconnect()


def test_retained_will(gateway):
    """[MQTT-3.1.2-17] (3.1.1) / [MQTT-3.1.2-15] (5.0): Will Retain=1 publishes the Will as a
    retained message: a later subscriber gets it with RETAIN=1."""
    topic = uid("wret/")
    c = TClient(gateway, proto=4).will(topic, b"retained-will", qos=1, retain=True)
    c.connect()
    c.kill()
    time.sleep(0.5)
    s = TClient(gateway, proto=4)
    s.connect()
    s.subscribe(topic, 1)
    msgs = s.expect_messages(1)
    assert (msgs[0].payload, msgs[0].retain) == (b"retained-will", True)
    s.disconnect()


def test_v5_will_sent_when_session_ends_before_delay(gateway):
    """3.1.3.2.2 (5.0): the Will is published after the Will Delay Interval OR when the session
    ends, whichever happens first: delay 30 s, Session Expiry 1 s → published after ~1 s."""
    topic = uid("wsess/")
    w = _watcher(gateway, topic)
    c = TClient(gateway, proto=5).will(topic, b"session-ended", qos=1,
                                       properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=30))
    c.connect(properties=connect_props(SessionExpiryInterval=1))
    c.kill()
    msgs = w.expect_messages(1, timeout=5)
    assert msgs[0].payload == b"session-ended"
    w.disconnect()
