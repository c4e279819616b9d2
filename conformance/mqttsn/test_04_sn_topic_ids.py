"""Short topic names and predefined topic ids (MQTT-SN 1.2 §3 (topic id types), §6.7, §5.3.11;
EMQX §4.1 `predefined`, §4.2 delivery order)."""

import pytest

from mqttsn_helpers import (PREDEF_1, PREDEF_2, PUBLISH, T_PREDEF, T_SHORT, Sn, lib_client, lib_close,
                            mqtt_sub, short_id, uid, wait_sn_ready)


@pytest.fixture(scope="module", autouse=True)
def _ready(gateway):
    wait_sn_ready(gateway)


def test_publish_short_topic(gateway):
    """§6.7: a 2-character topic name is sent in the TopicId field (TopicIdType 0b10), no REGISTER."""
    sub = mqtt_sub(gateway, "s1")
    c = lib_client(gateway)
    c.send_publish("s1", b"short", 1)
    m = sub.expect_messages(1)[0]
    assert (m.topic, m.payload) == ("s1", b"short")
    lib_close(c)
    sub.close()


@pytest.mark.parametrize("tid,name", [(1, PREDEF_1), (2, PREDEF_2)])
def test_publish_predefined(gateway, tid, name):
    """§6.7: predefined TopicId (TopicIdType 0b01) maps to the configured name (defaults 1, 2)."""
    sub = mqtt_sub(gateway, name)
    c = lib_client(gateway)
    c.send_publish_predefined(tid, f"p{tid}".encode(), 1)
    m = sub.expect_messages(1)[0]
    assert (m.topic, m.payload) == (name, f"p{tid}".encode())
    lib_close(c)
    sub.close()


def test_subscribe_short_topic(gateway):
    """§6.9/§6.10: SUBSCRIBE with a short name (TopicIdType 0b10) → SUBACK rc 0; an MQTT publish on
    that name arrives as PUBLISH with TopicIdType short and the two characters as TopicId."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    ack = sn.subscribe("xy", qos=1, id_type=T_SHORT)
    assert ack.rc == 0
    pub = mqtt_sub(gateway, "unused")
    pub.publish("xy", b"to-short", qos=1)
    p = sn.next_publish(auto_regack=False)
    assert (p.id_type, p.topic_id, p.data, p.qos) == (T_SHORT, short_id("xy"), b"to-short", 1)
    sn.ack(p)
    sn.close()
    pub.close()


def test_library_subscribe_short_and_predefined(gateway):
    """§6.9 through mqtt-sn-12 (`send_subscribe` with a 2-char filter, `send_subscribe_predefined`):
    the library raises unless SUBACK rc is 0; the deliveries are read on the library's socket."""
    c = lib_client(gateway)
    c.send_subscribe("zq", 0, None)
    c.send_subscribe_predefined(1, 0, None)
    sn = Sn.attach(c)
    pub = mqtt_sub(gateway, "unused")
    pub.publish("zq", b"a", qos=0)
    p = sn.next_publish(auto_regack=False)
    assert (p.id_type, p.topic_id, p.data) == (T_SHORT, short_id("zq"), b"a")
    pub.publish(PREDEF_1, b"b", qos=0)
    p = sn.next_publish(auto_regack=False)
    assert (p.id_type, p.topic_id, p.data) == (T_PREDEF, 1, b"b")
    lib_close(c)
    pub.close()


def test_subscribe_predefined(gateway):
    """§6.9/§5.4.16: SUBSCRIBE by predefined id → SUBACK with that TopicId; deliveries use it
    (EMQX §4.2: predefined id is preferred)."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    ack = sn.subscribe(2, qos=1, id_type=T_PREDEF)
    assert (ack.rc, ack.topic_id) == (0, 2)
    pub = mqtt_sub(gateway, "unused")
    pub.publish(PREDEF_2, b"nice", qos=1)
    p = sn.next_publish(auto_regack=False)
    assert (p.id_type, p.topic_id, p.data) == (T_PREDEF, 2, b"nice")
    sn.ack(p)
    sn.close()
    pub.close()


def test_subscribe_unknown_predefined(gateway):
    """§5.4.16: SUBSCRIBE to a predefined id that is not configured → SUBACK rc 0x02."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    assert sn.subscribe(999, id_type=T_PREDEF).rc == 2
    sn.close()


def test_configured_predefined_table(make_gateway):
    """EMQX §4.1: `predefined = [{id, topic}]` from the configuration (TOML array of tables)."""
    gw = make_gateway({"gateway": {"mqttsn": {"predefined": [{"id": 77, "topic": "cfg/seventy/seven"}]}}})
    wait_sn_ready(gw)
    sub = mqtt_sub(gw, "cfg/seventy/seven")
    c = lib_client(gw)
    c.send_publish_predefined(77, b"77", 1)
    assert sub.expect_messages(1)[0].payload == b"77"
    lib_close(c)
    sub.close()
