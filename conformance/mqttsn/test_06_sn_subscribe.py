"""Subscribe / unsubscribe and the gateway's publish procedure (MQTT-SN 1.2 §5.4.15-§5.4.18, §6.9,
§6.10; EMQX §4.2)."""

import pytest

from mqttsn_helpers import (PUBLISH, REGISTER, T_NORMAL, Sn, lib_client, lib_close, mqtt_sub, regack, uid,
                            wait_sn_ready)


@pytest.fixture(scope="module", autouse=True)
def _ready(gateway):
    wait_sn_ready(gateway)


@pytest.fixture
def mq(gateway):
    c = mqtt_sub(gateway, f"unused/{uid()}")
    yield c
    c.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_subscribe_by_name(gateway, mq, qos):
    """§6.9: SUBSCRIBE by name → SUBACK rc 0, granted QoS, a TopicId (≥ 1025 as EMQX); an MQTT
    publish arrives as PUBLISH with that TopicId (§6.10) and is acknowledged per QoS."""
    topic = f"sn/sub/{uid()}"
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    ack = sn.subscribe(topic, qos=qos)
    assert ack.rc == 0 and ack.qos == qos and ack.topic_id >= 1025
    mq.publish(topic, b"down", qos=qos)
    p = sn.next_publish(auto_regack=False)
    assert (p.id_type, p.topic_id, p.data, p.qos) == (T_NORMAL, ack.topic_id, b"down", qos)
    sn.ack(p)
    assert sn.quiet(0.3) == []
    sn.close()


def test_library_subscribe_by_name(gateway, mq):
    """§6.9 through mqtt-sn-12 `send_subscribe` (raises unless SUBACK rc 0)."""
    topic = f"sn/sub/{uid()}"
    c = lib_client(gateway)
    c.send_subscribe(topic, 0, None)
    tid = c.search_topic_id(topic)
    assert tid is not None and tid >= 1025
    mq.publish(topic, b"lib", qos=0)
    p = Sn.attach(c).next_publish(auto_regack=False)
    assert (p.topic_id, p.data) == (tid, b"lib")
    lib_close(c)


def test_wildcard_subscribe_registers_first(gateway, mq):
    """§6.10/§5.4.16: wildcard SUBSCRIBE → SUBACK TopicId 0x0000; before the first PUBLISH on a
    concrete topic the gateway sends REGISTER(TopicId, name); after REGACK the PUBLISH uses that id.
    A second message on the same topic is not registered again."""
    base = f"sn/wc/{uid()}"
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    ack = sn.subscribe(f"{base}/+", qos=1)
    assert (ack.rc, ack.topic_id) == (0, 0)
    mq.publish(f"{base}/a", b"one", qos=1)
    reg = sn.expect(REGISTER)
    assert reg.topic == f"{base}/a" and reg.topic_id != 0
    sn.send(regack(reg.topic_id, reg.msg_id))
    p = sn.expect(PUBLISH)
    assert (p.topic_id, p.id_type, p.data) == (reg.topic_id, T_NORMAL, b"one")
    sn.ack(p)
    mq.publish(f"{base}/a", b"two", qos=1)
    p = sn.expect(PUBLISH)
    assert (p.topic_id, p.data) == (reg.topic_id, b"two")
    sn.ack(p)
    sn.close()


def test_unsubscribe_stops_delivery(gateway, mq):
    """§6.9/§5.4.18: UNSUBSCRIBE → UNSUBACK with the MsgId; later publishes are not delivered."""
    topic = f"sn/unsub/{uid()}"
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    sn.subscribe(topic, qos=0)
    mq.publish(topic, b"before", qos=0)
    assert sn.next_publish().data == b"before"
    sn.unsubscribe(topic)
    mq.publish(topic, b"after", qos=1)
    assert sn.quiet(0.8) == []
    sn.close()


def test_sn_to_sn(gateway):
    """§6.6/§6.10: a publish from one MQTT-SN client reaches another MQTT-SN subscriber."""
    topic = f"sn/sn2sn/{uid()}"
    a, b = Sn(gateway), Sn(gateway)
    a.connect(uid("sna"))
    b.connect(uid("snb"))
    ack = b.subscribe(topic, qos=1)
    c = lib_client(gateway)
    c.send_publish(topic, b"peer", 1)
    p = b.next_publish()
    assert (p.topic_id, p.data) == (ack.topic_id, b"peer")
    for x in (a, b):
        x.close()
    lib_close(c)
