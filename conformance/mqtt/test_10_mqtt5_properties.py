"""MQTT 5.0 properties and subscription options."""

import time

from mqtt_helpers import TClient, connect_props, props, publish_props, uid
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions


def _sub(gw, filt, qos=1, connect_properties=None, **opts):
    c = TClient(gw, proto=5)
    c.connect(properties=connect_properties)
    c.subscribe(filt, options=SubscribeOptions(qos=qos, **opts))
    return c


def _retain(gw, topic, payload):
    p = TClient(gw, proto=5)
    p.connect()
    p.publish(topic, payload, qos=1, retain=True)
    p.disconnect()


def test_topic_alias_client_to_server(gateway):
    """3.3.2.3.4 (5.0) [MQTT-3.3.2-12]: the client sets Topic Alias 1 with a topic, then sends
    a PUBLISH with an empty topic and alias 1; the server maps it back. Re-mapping alias 1 to
    another topic then applies to later PUBLISHes."""
    t1, t2 = uid("alias/a/"), uid("alias/b/")
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(t1, 1)
    sub.subscribe(t2, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    assert pub.publish(t1, b"1", qos=1, properties=publish_props(TopicAlias=1)) == 0
    assert pub.publish("", b"2", qos=1, properties=publish_props(TopicAlias=1)) == 0
    assert pub.publish(t2, b"3", qos=1, properties=publish_props(TopicAlias=1)) == 0
    assert pub.publish("", b"4", qos=1, properties=publish_props(TopicAlias=1)) == 0
    msgs = sub.expect_messages(4)
    assert [(m.resolved_topic, m.payload) for m in msgs] == [(t1, b"1"), (t1, b"2"), (t2, b"3"), (t2, b"4")]
    pub.disconnect()
    sub.disconnect()


def test_topic_alias_server_to_client(gateway):
    """3.1.2.11.5 / 3.3.2.3.4 (5.0) [MQTT-3.1.2-26]: a client with Topic Alias Maximum 4 may be
    sent aliases no greater than 4; every message resolves (alias → topic, as the spec defines
    it; paho does not resolve inbound aliases, the suite does) to the right topic."""
    topic = uid("salias/")
    sub = TClient(gateway, proto=5)
    sub.connect(properties=connect_props(TopicAliasMaximum=4))
    sub.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    for i in range(4):
        pub.publish(topic, b"%d" % i, qos=1)
    msgs = sub.expect_messages(4)
    assert [(m.resolved_topic, m.payload) for m in msgs] == [(topic, b"%d" % i) for i in range(4)]
    aliases = [m.prop("TopicAlias") for m in msgs if m.prop("TopicAlias") is not None]
    assert aliases, "gateway sent no Topic Alias to a client that allows 4"
    assert all(1 <= a <= 4 for a in aliases)
    assert msgs[0].topic == topic, "first use of an alias must carry the topic name"
    pub.disconnect()
    sub.disconnect()


def test_no_topic_alias_when_client_allows_none(gateway):
    """[MQTT-3.1.2-27] (5.0): Topic Alias Maximum absent → the server sends no Topic Alias."""
    topic = uid("noalias/")
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    for i in range(3):
        pub.publish(topic, b"%d" % i, qos=1)
    msgs = sub.expect_messages(3)
    assert all(m.prop("TopicAlias") is None and m.topic == topic for m in msgs)
    pub.disconnect()
    sub.disconnect()


def test_message_expiry_offline(gateway):
    """[MQTT-3.3.2-5]/[MQTT-3.3.2-6] (5.0): a message whose Message Expiry Interval (1 s)
    passed while queued for an offline session is not delivered; one with expiry 60 s is
    delivered with the interval reduced by the time it waited (≤ 60)."""
    cid, topic = uid("mexp"), uid("mexp/")
    c = TClient(gateway, client_id=cid, proto=5)
    c.connect(properties=connect_props(SessionExpiryInterval=60))
    c.subscribe(topic, 1)
    c.disconnect()
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(topic, b"short", qos=1, properties=publish_props(MessageExpiryInterval=1))
    pub.publish(topic, b"long", qos=1, properties=publish_props(MessageExpiryInterval=60))
    pub.disconnect()
    time.sleep(2.2)
    c2 = TClient(gateway, client_id=cid, proto=5)
    assert c2.connect(clean=False, properties=connect_props(SessionExpiryInterval=60)).session_present
    msgs = c2.quiet(1.0)
    assert [m.payload for m in msgs] == [b"long"]
    expiry = msgs[0].prop("MessageExpiryInterval")
    assert expiry is not None and 55 <= expiry <= 58, expiry
    c2.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))


def test_properties_passed_through(gateway):
    """[MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-15] Response Topic,
    [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17]/[MQTT-3.3.2-18] User Properties (order
    kept, duplicates kept), [MQTT-3.3.2-20] Content Type: forwarded unaltered."""
    topic = uid("props/")
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    user = [("k", "v1"), ("other", "x"), ("k", "v2")]
    pp = publish_props(UserProperty=user, ContentType="application/json", ResponseTopic="resp/x",
                       CorrelationData=b"\x00\x01corr\xff", PayloadFormatIndicator=1)
    pub.publish(topic, b'{"a":1}', qos=1, properties=pp)
    m = sub.expect_messages(1)[0]
    assert m.prop("UserProperty") == user
    assert m.prop("ContentType") == "application/json"
    assert m.prop("ResponseTopic") == "resp/x"
    assert m.prop("CorrelationData") == b"\x00\x01corr\xff"
    assert m.prop("PayloadFormatIndicator") == 1
    pub.disconnect()
    sub.disconnect()


def test_subscription_identifier_delivered(gateway):
    """[MQTT-3.3.4-3] (5.0): a message matching a subscription made with a Subscription
    Identifier carries that identifier."""
    topic = uid("subid/")
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=42))
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(topic, b"x", qos=1)
    m = sub.expect_messages(1)[0]
    assert m.prop("SubscriptionIdentifier") == [42]
    pub.disconnect()
    sub.disconnect()


def test_overlapping_subscriptions_single_delivery(gateway):
    """[MQTT-3.3.4-2]/[MQTT-3.3.4-3]/[MQTT-3.3.4-5] (5.0), EMQX convention (one copy per
    session): `base/+` QoS 0 id 1 and `base/#` QoS 1 id 2 → ONE delivery at QoS 1 carrying
    both Subscription Identifiers."""
    base = uid("ovl")
    c = TClient(gateway, proto=5)
    c.connect()
    c.subscribe(f"{base}/+", options=SubscribeOptions(qos=0),
                properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=1))
    c.subscribe(f"{base}/#", options=SubscribeOptions(qos=1),
                properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=2))
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(f"{base}/x", b"once", qos=1)
    c.expect_messages(1)
    msgs = c.quiet(0.7)
    assert len(msgs) == 1, f"{len(msgs)} deliveries"
    assert msgs[0].qos == 1
    assert sorted(msgs[0].prop("SubscriptionIdentifier") or []) == [1, 2]
    pub.disconnect()
    c.disconnect()


def test_no_local(gateway):
    """[MQTT-3.8.3-3] (5.0): with No Local=1 the server does not forward a client's own
    publications to it; other clients' publications still arrive."""
    topic = uid("nolocal/")
    c = _sub(gateway, topic, noLocal=True)
    c.publish(topic, b"mine", qos=1)
    other = TClient(gateway, proto=5)
    other.connect()
    other.publish(topic, b"theirs", qos=1)
    time.sleep(0.5)
    assert [m.payload for m in c.messages] == [b"theirs"]
    # control: without No Local the own message comes back
    t2 = uid("local/")
    c.subscribe(t2, 1)
    c.publish(t2, b"echo", qos=1)
    assert any(m.payload == b"echo" for m in c.expect_messages(2))
    other.disconnect()
    c.disconnect()


def test_retain_as_published(gateway):
    """[MQTT-3.3.1-12]/[MQTT-3.3.1-13] (5.0): Retain As Published=1 keeps RETAIN=1 on a
    forwarded retained PUBLISH; Retain As Published=0 clears it."""
    topic = uid("rap/")
    rap = _sub(gateway, topic, retainAsPublished=True)
    plain = _sub(gateway, topic, retainAsPublished=False)
    _retain(gateway, topic, b"r")
    assert [(m.payload, m.retain) for m in rap.expect_messages(1)] == [(b"r", True)]
    assert [(m.payload, m.retain) for m in plain.expect_messages(1)] == [(b"r", False)]
    _retain(gateway, topic, b"")  # clean up
    rap.disconnect()
    plain.disconnect()


def test_retain_handling(gateway):
    """[MQTT-3.3.1-9]/[MQTT-3.3.1-10]/[MQTT-3.3.1-11] (5.0) Retain Handling: 0 → retained sent
    on every subscribe; 1 → only if the subscription did not exist; 2 → never."""
    topic = uid("rh/")
    _retain(gateway, topic, b"ret")
    got = {}
    for rh in (0, 1, 2):
        c = TClient(gateway, proto=5)
        c.connect()
        c.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=rh))
        first = len(c.quiet(0.6))
        c.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=rh))
        second = len(c.quiet(0.6)) - first
        got[rh] = (first, second)
        c.disconnect()
    assert got == {0: (1, 1), 1: (1, 0), 2: (0, 0)}
    _retain(gateway, topic, b"")


def test_retained_message_expiry(gateway):
    """[MQTT-3.3.2-5] (5.0): a retained message whose Message Expiry Interval (1 s) has passed
    is no longer sent to new subscribers; one with time left is sent with the remaining
    interval."""
    t_short, t_long = uid("rexp/s/"), uid("rexp/l/")
    p = TClient(gateway, proto=5)
    p.connect()
    p.publish(t_short, b"s", qos=1, retain=True, properties=publish_props(MessageExpiryInterval=1))
    p.publish(t_long, b"l", qos=1, retain=True, properties=publish_props(MessageExpiryInterval=60))
    p.disconnect()
    time.sleep(2.2)
    c = TClient(gateway, proto=5)
    c.connect()
    c.subscribe(t_short, 1)
    c.subscribe(t_long, 1)
    msgs = c.quiet(0.8)
    assert [m.payload for m in msgs] == [b"l"]
    assert 55 <= (msgs[0].prop("MessageExpiryInterval") or 0) <= 58
    c.disconnect()
    _retain(gateway, t_long, b"")


def test_will_properties_passed_through(gateway):
    """3.1.3.2 (5.0) [MQTT-3.1.3-10]: the Will's properties (User Property, Content Type,
    Response Topic, Correlation Data) are forwarded with the Will Message."""
    topic = uid("wprops/")
    w = TClient(gateway, proto=5)
    w.connect()
    w.subscribe(topic, 1)
    wp = props(PacketTypes.WILLMESSAGE, UserProperty=[("why", "crash")], ContentType="text/plain",
               ResponseTopic="r/t", CorrelationData=b"cd")
    c = TClient(gateway, proto=5).will(topic, b"bye", qos=1, properties=wp)
    c.connect()
    c.kill()
    m = w.expect_messages(1)[0]
    assert m.payload == b"bye"
    assert m.prop("UserProperty") == [("why", "crash")]
    assert (m.prop("ContentType"), m.prop("ResponseTopic"), m.prop("CorrelationData")) == ("text/plain", "r/t", b"cd")
    w.disconnect()


def test_unacked_qos1_redelivered_with_dup(gateway):
    """[MQTT-4.4.0-1]/[MQTT-3.3.1-1] (5.0): a QoS 1 message not acknowledged before the
    connection dropped is resent on session resumption (Clean Start=0) with DUP=1."""
    cid, topic = uid("dup"), uid("dup/")
    c = TClient(gateway, client_id=cid, proto=5, manual_ack=True)
    c.connect(properties=connect_props(SessionExpiryInterval=60))
    c.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    pub.publish(topic, b"unacked", qos=1)
    pub.disconnect()
    assert c.expect_messages(1)[0].payload == b"unacked"
    c.kill()
    c2 = TClient(gateway, client_id=cid, proto=5)
    r = c2.connect(clean=False, properties=connect_props(SessionExpiryInterval=60))
    assert r.session_present
    m = c2.expect_messages(1)[0]
    assert (m.payload, m.qos) == (b"unacked", 1)
    assert m.dup, "redelivered PUBLISH must have DUP=1"
    assert len(c2.quiet(0.5)) == 1
    c2.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
