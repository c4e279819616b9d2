"""Configured limits (EMQX `mqtt.*` keys) and the reason codes they produce."""

import subprocess
import time

import pytest

from mqtt_helpers import Raw, TClient, connect_packet, mosq_pub, publish_props, uid
from paho.mqtt.subscribeoptions import SubscribeOptions


def test_max_packet_size(make_gateway):
    """EMQX `mqtt.max_packet_size = "1KB"`; 3.2.2.3.6 (5.0): CONNACK Maximum Packet Size 1024;
    [MQTT-3.2.2-15]/4.13 (5.0): a 2 KB PUBLISH → DISCONNECT 0x95 (Packet too large) and the
    connection is closed; a 3.1.1 client is just closed; the gateway keeps serving."""
    gw = make_gateway({"mqtt": {"max_packet_size": "1KB"}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("MaximumPacketSize") == 1024
    c.publish(uid("big/"), b"x" * 2048, qos=1, wait=False)
    d = c.wait_disconnect()
    assert d is not None and d.from_server and d.reason_code == 0x95, d
    c.close()
    c3 = TClient(gw, proto=4)
    c3.connect()
    c3.publish(uid("big/"), b"x" * 2048, qos=1, wait=False)
    d = c3.wait_disconnect()
    assert d is not None and not d.from_server
    c3.close()
    ok = TClient(gw, proto=5)
    ok.connect()
    assert ok.publish(uid("small/"), b"x" * 500, qos=1) in (0, 0x10)
    ok.disconnect()


def test_max_clientid_len_v5(make_gateway):
    """EMQX `mqtt.max_clientid_len = 30`; 3.2.2.2 (5.0): a 31-character id → CONNACK 0x85
    (Client Identifier not valid); 30 characters is fine."""
    gw = make_gateway({"mqtt": {"max_clientid_len": 30}})
    c = TClient(gw, client_id="x" * 31, proto=5)
    r = c.connect(expect_ok=False)
    assert r is not None and r.reason_code == 0x85, r
    c.close()
    c = TClient(gw, client_id="y" * 30, proto=5)
    assert c.connect().reason_code == 0
    c.disconnect()


def test_max_clientid_len_v311(make_gateway):
    """EMQX `mqtt.max_clientid_len = 30`; [MQTT-3.1.3-9] (3.1.1): a 31-character id → CONNACK
    0x02 (Identifier rejected) — checked with mosquitto_pub, which reports the 3.1.1 return code
    in words (paho maps it to a 5.0 reason code) — and on the wire; 30 characters is fine."""
    gw = make_gateway({"mqtt": {"max_clientid_len": 30}})
    r = subprocess.run(["mosquitto_pub", "-h", gw.host, "-p", str(gw.port), "-V", "mqttv311", "-i", "x" * 31,
                        "-t", "t", "-m", "m"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "identifier rejected" in (r.stderr + r.stdout).lower(), r.stderr
    raw = Raw(gw)
    raw.send(connect_packet(client_id="x" * 31, level=4))
    ptype, _, body = raw.read_packet()
    assert (ptype, body[1]) == (2, 0x02)
    raw.close()
    mosq_pub(gw, "t", "m", extra=("-i", "y" * 30))


def test_max_qos_allowed(make_gateway):
    """EMQX `mqtt.max_qos_allowed = 1`; 3.2.2.3.4 (5.0): CONNACK Maximum QoS = 1;
    [MQTT-3.2.2-11]: a QoS 2 PUBLISH → DISCONNECT 0x9B (QoS not supported)."""
    gw = make_gateway({"mqtt": {"max_qos_allowed": 1}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("MaximumQoS") == 1
    c.publish(uid("q2/"), b"x", qos=2, wait=False)
    d = c.wait_disconnect()
    assert d is not None and d.from_server and d.reason_code == 0x9B, d
    c.close()


def test_retain_not_available(make_gateway):
    """EMQX `mqtt.retain_available = false`; 3.2.2.3.5 (5.0): CONNACK Retain Available = 0;
    [MQTT-3.2.2-14]: a retained PUBLISH → DISCONNECT 0x9A (Retain not supported)."""
    gw = make_gateway({"mqtt": {"retain_available": False}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("RetainAvailable") == 0
    c.publish(uid("r/"), b"x", qos=1, retain=True, wait=False)
    d = c.wait_disconnect()
    assert d is not None and d.from_server and d.reason_code == 0x9A, d
    c.close()


def test_wildcard_subscription_disabled(make_gateway):
    """EMQX `mqtt.wildcard_subscription = false`; 3.2.2.3.11 (5.0): CONNACK Wildcard
    Subscription Available = 0 and SUBACK 0xA2 (Wildcard Subscriptions not supported) for
    `a/#`; a plain filter is still granted."""
    gw = make_gateway({"mqtt": {"wildcard_subscription": False}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("WildcardSubscriptionAvailable") == 0
    assert c.subscribe("a/#", 1) == [0xA2]
    assert c.subscribe("a/+/c", 1) == [0xA2]
    assert c.subscribe("a/b", 1) == [1]
    c.disconnect()


def test_shared_subscription_disabled(make_gateway):
    """EMQX `mqtt.shared_subscription = false`; 3.2.2.3.13 (5.0): CONNACK Shared Subscription
    Available = 0 and SUBACK 0x9E (Shared Subscriptions not supported)."""
    gw = make_gateway({"mqtt": {"shared_subscription": False}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("SharedSubscriptionAvailable") == 0
    assert c.subscribe("$share/g/a", 1) == [0x9E]
    c.disconnect()


def test_max_topic_alias(make_gateway):
    """EMQX `mqtt.max_topic_alias = 2`; 3.2.2.3.8 (5.0): CONNACK Topic Alias Maximum = 2;
    alias 2 accepted, alias 3 → DISCONNECT 0x94 (Topic Alias invalid) [MQTT-3.3.2-9]."""
    gw = make_gateway({"mqtt": {"max_topic_alias": 2}})
    c = TClient(gw, proto=5)
    r = c.connect()
    assert r.prop("TopicAliasMaximum") == 2
    assert c.publish(uid("ta/"), b"ok", qos=1, properties=publish_props(TopicAlias=2)) in (0, 0x10)
    c.publish(uid("ta/"), b"bad", qos=1, properties=publish_props(TopicAlias=3), wait=False)
    d = c.wait_disconnect()
    assert d is not None and d.from_server and d.reason_code == 0x94, d
    c.close()


def test_max_topic_levels(make_gateway):
    """EMQX `mqtt.max_topic_levels = 3`: PUBLISH to a/b/c/d (4 levels) → PUBACK 0x90 (Topic
    Name invalid) for QoS 1 and the message is not delivered; SUBSCRIBE a/b/c/d → SUBACK 0x8F
    (Topic Filter invalid); 3 levels are fine."""
    gw = make_gateway({"mqtt": {"max_topic_levels": 3}})
    c = TClient(gw, proto=5)
    c.connect()
    assert c.subscribe("a/b/c/d", 1) == [0x8F]
    assert c.subscribe("a/#", 1) == [1]
    assert c.publish("a/b/c/d", b"deep", qos=1) == 0x90
    assert c.publish("a/b/c", b"ok", qos=1) == 0
    msgs = c.quiet(0.5)
    assert [m.payload for m in msgs] == [b"ok"]
    c.disconnect()


def test_idle_timeout(make_gateway):
    """EMQX `mqtt.idle_timeout = "1s"`: a TCP connection that sends no CONNECT is closed after
    about 1 s ([MQTT-3.1.4-1] lets the server close it)."""
    gw = make_gateway({"mqtt": {"idle_timeout": "1s"}})
    raw = Raw(gw)
    pkts, closed = raw.read_until_close(5)
    assert closed is not None, "idle connection not closed within 5 s"
    assert 0.7 <= closed <= 3.0, closed
    assert pkts == []
    raw.close()
    # a connection that does CONNECT in time is not affected by idle_timeout afterwards
    raw = Raw(gw)
    raw.send(connect_packet(client_id=uid("idle"), level=4, keepalive=0))
    assert raw.read_packet()[0] == 2
    _, closed = raw.read_until_close(2)
    assert closed is None, "connected client closed by idle_timeout"
    raw.close()
