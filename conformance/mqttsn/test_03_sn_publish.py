"""Topic registration and client publish (MQTT-SN 1.2 §5.4.10-§5.4.14, §6.5, §6.6; EMQX §4.2)."""

import pytest

from mqttsn_helpers import (PUBACK, PUBCOMP, PUBREC, REGACK, RC_INVALID_TOPIC, RC_NOT_SUPPORTED, Sn,
                            lib_client, lib_close, mqtt_sub, publish, pubrel, register, uid, wait_sn_ready)


@pytest.fixture(scope="module", autouse=True)
def _ready(gateway):
    wait_sn_ready(gateway)


def test_register_regack_dynamic_id(gateway):
    """§6.5/§5.4.11: REGISTER → REGACK with the same MsgId, rc 0 and a topic id; EMQX §4.2:
    dynamic ids start at 1025 (above the predefined range). Two topics → two different ids."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    sn.send(register("sn/reg/a", msg_id=0x1234))
    a = sn.expect(REGACK)
    assert (a.msg_id, a.rc) == (0x1234, 0) and a.topic_id >= 1025
    b_id = sn.register("sn/reg/b")
    assert b_id >= 1025 and b_id != a.topic_id
    sn.close()


def test_register_wildcard_refused(gateway):
    """EMQX §4.2: REGISTER of a wildcard topic → REGACK rc 0x03 (not supported), id 0."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    a = sn.request(register("sn/+/x", msg_id=5), REGACK)
    assert (a.msg_id, a.rc, a.topic_id) == (5, RC_NOT_SUPPORTED, 0)
    sn.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_library_publish_reaches_mqtt(gateway, qos):
    """§6.6 via mqtt-sn-12 `send_publish` (REGISTER, PUBLISH, PUBACK or PUBREC/PUBREL/PUBCOMP; the
    library raises on a missing or non-zero ack): the MQTT subscriber gets topic, payload, QoS."""
    topic = f"sn/pub/{uid()}"
    sub = mqtt_sub(gateway, topic, qos=2)
    c = lib_client(gateway)
    tid = c.send_publish(topic, f"hello-{qos}".encode(), qos)
    assert tid >= 1025
    m = sub.expect_messages(1)[0]
    assert (m.topic, m.payload, m.qos) == (topic, f"hello-{qos}".encode(), qos)
    assert sub.quiet(0.3) == [m]
    c.send_disconnect()
    lib_close(c)
    sub.close()


def test_qos1_puback_bytes(gateway):
    """§5.4.13: PUBACK echoes TopicId and MsgId, ReturnCode 0."""
    topic = f"sn/pub/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    tid = sn.register(topic)
    sn.send(publish(tid, b"q1", qos=1, msg_id=77))
    a = sn.expect(PUBACK)
    assert (a.topic_id, a.msg_id, a.rc) == (tid, 77, 0)
    assert sub.expect_messages(1)[0].payload == b"q1"
    sn.close()
    sub.close()


def test_qos2_flow_bytes(gateway):
    """§5.4.14/§6.6: QoS 2 → PUBREC(MsgId); PUBREL → PUBCOMP(MsgId); delivered exactly once."""
    topic = f"sn/pub/{uid()}"
    sub = mqtt_sub(gateway, topic, qos=2)
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    tid = sn.register(topic)
    sn.send(publish(tid, b"q2", qos=2, msg_id=300))
    assert sn.expect(PUBREC).msg_id == 300
    sn.send(pubrel(300))
    assert sn.expect(PUBCOMP).msg_id == 300
    msgs = sub.expect_messages(1)
    assert sub.quiet(0.5) == msgs and msgs[0].payload == b"q2" and msgs[0].qos == 2
    sn.close()
    sub.close()


def test_publish_unknown_topic_id(gateway):
    """§6.6/§5.4.13: PUBLISH with an unknown TopicId → PUBACK ReturnCode 0x02 (invalid topic id),
    with the TopicId and MsgId of the PUBLISH; nothing is published."""
    sub = mqtt_sub(gateway, "#")
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    sn.send(publish(4321, b"x", qos=1, msg_id=9))
    a = sn.expect(PUBACK)
    assert (a.topic_id, a.msg_id, a.rc) == (4321, 9, RC_INVALID_TOPIC)
    assert [m for m in sub.quiet(0.5) if m.payload == b"x"] == []
    sn.close()
    sub.close()
