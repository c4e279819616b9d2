"""MQTT 5.0 CONNACK capabilities, flow control, packet size, assigned id, reason codes."""

import time

from mqtt_helpers import TClient, connect_props, uid


def test_connack_capabilities_default(gateway):
    """3.2.2.3 (5.0): CONNACK advertises the server's Receive Maximum (1..65535), Topic Alias
    Maximum (EMQX default 65535), Maximum Packet Size (EMQX default 1MB); Maximum QoS absent
    (=2, [MQTT-3.2.2-9]); Retain/Wildcard/Shared availability absent or 1."""
    c = TClient(gateway, proto=5)
    r = c.connect()
    rm = r.prop("ReceiveMaximum")
    assert rm is not None and 1 <= rm <= 65535, f"no Receive Maximum in CONNACK ({rm})"
    assert r.prop("TopicAliasMaximum") == 65535
    assert r.prop("MaximumPacketSize") == 1024 * 1024
    assert r.prop("MaximumQoS") is None
    for name in ("RetainAvailable", "WildcardSubscriptionAvailable", "SharedSubscriptionAvailable"):
        assert r.prop(name) in (None, 1), name
    assert r.prop("ServerKeepAlive") is None, "server_keepalive is disabled by default"
    c.disconnect()


def test_receive_maximum_respected(gateway):
    """[MQTT-3.3.4-9] / 4.9 (5.0): the server never has more than the client's Receive
    Maximum (2) QoS 1 PUBLISHes unacknowledged; each PUBACK lets one more through."""
    topic = uid("rm/")
    c = TClient(gateway, proto=5, manual_ack=True)
    c.connect(properties=connect_props(ReceiveMaximum=2))
    c.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    for i in range(6):
        pub.publish(topic, b"%d" % i, qos=1)
    msgs = c.quiet(1.0)
    assert len(msgs) == 2, f"{len(msgs)} unacked in flight, Receive Maximum is 2"
    c.c.ack(msgs[0].mid, 1)
    msgs = c.quiet(0.7)
    assert len(msgs) == 3
    for _ in range(10):
        with c.cond:
            pending = list(c.messages)
        for m in pending[-2:]:
            c.c.ack(m.mid, 1)
        time.sleep(0.2)
        if len(c.messages) >= 6:
            break
    assert [m.payload for m in c.messages] == [b"%d" % i for i in range(6)]
    pub.disconnect()
    c.disconnect()


def test_client_maximum_packet_size_respected(gateway):
    """[MQTT-3.1.2-24]/[MQTT-3.1.2-25] (5.0): the server does not send a packet larger than
    the client's Maximum Packet Size (256): the big message is discarded for that client, a
    small one is delivered."""
    topic = uid("mps/")
    c = TClient(gateway, proto=5)
    c.connect(properties=connect_props(MaximumPacketSize=256))
    c.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(topic, b"B" * 1000, qos=1)
    pub.publish(topic, b"small", qos=1)
    c.expect_messages(1)
    msgs = c.quiet(0.5)
    assert [m.payload for m in msgs] == [b"small"]
    assert c.disconnect_info is None, "client was disconnected"
    pub.disconnect()
    c.disconnect()


def test_assigned_client_identifier(gateway):
    """[MQTT-3.1.3-7]/[MQTT-3.2.2-16] (5.0): a zero-length ClientId is accepted and the
    CONNACK carries an Assigned Client Identifier, unique per connection."""
    ids = []
    for _ in range(2):
        c = TClient(gateway, client_id="", proto=5)
        r = c.connect()
        ids.append(r.prop("AssignedClientIdentifier"))
        c.disconnect()
    assert all(ids) and ids[0] != ids[1], ids


def test_server_keepalive(make_gateway):
    """3.2.2.3.14 (5.0) [MQTT-3.2.2-21], EMQX `mqtt.server_keepalive = "5s"`: CONNACK carries
    Server Keep Alive 5, whatever the client asked for."""
    gw = make_gateway({"mqtt": {"server_keepalive": "5s"}})
    c = TClient(gw, proto=5)
    r = c.connect(keepalive=60)
    assert r.prop("ServerKeepAlive") == 5
    c.disconnect()


def test_puback_no_matching_subscribers(gateway):
    """3.4.2.1 (5.0): PUBACK reason 0x10 (No matching subscribers) for a QoS 1 message that
    nobody subscribes to; 0x00 once somebody does."""
    topic = uid("nomatch/")
    pub = TClient(gateway, proto=5)
    pub.connect()
    assert pub.publish(topic, b"x", qos=1) == 0x10
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 0)
    assert pub.publish(topic, b"x", qos=1) == 0x00
    sub.disconnect()
    pub.disconnect()


def test_unsubscribe_stops_delivery(gateway):
    """[MQTT-3.10.4-1]/[MQTT-3.10.4-4]: after UNSUBSCRIBE/UNSUBACK (0x00) no new messages are
    delivered for that filter; 3.11.2.1 (5.0): UNSUBACK 0x11 for a filter with no subscription."""
    topic = uid("unsub/")
    c = TClient(gateway, proto=5)
    c.connect()
    c.subscribe(topic, 1)
    assert c.unsubscribe(topic) == [0x00]
    assert c.unsubscribe(topic) == [0x11]
    pub = TClient(gateway, proto=5)
    pub.connect()
    assert pub.publish(topic, b"x", qos=1) == 0x10
    assert c.quiet(0.5) == []
    pub.disconnect()
    c.disconnect()


def test_resubscribe_replaces(gateway):
    """[MQTT-3.8.4-3]: a SUBSCRIBE with a filter identical to an existing one replaces it
    (new QoS applies, still one copy per message)."""
    topic = uid("resub/")
    c = TClient(gateway, proto=5)
    c.connect()
    assert c.subscribe(topic, 0) == [0]
    assert c.subscribe(topic, 2) == [2]
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(topic, b"x", qos=2)
    c.expect_messages(1)
    msgs = c.quiet(0.5)
    assert [(m.payload, m.qos) for m in msgs] == [(b"x", 2)]
    pub.disconnect()
    c.disconnect()

