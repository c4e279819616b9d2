"""Malformed datagrams (MQTT-SN 1.2 §5.2 message format: Length, MsgType; §5.3.4 TopicIdType;
the gateway drops what it cannot parse). A connected bystander keeps working, the process lives."""

import pytest

from mqttsn_helpers import PINGRESP, Sn, lib_client, lib_close, mqtt_sub, pingreq, uid, wait_sn_ready

BAD = {
    "empty": b"",
    "one_byte": b"\x05",
    "length_longer_than_datagram": b"\x10\x16",
    "length_shorter_than_datagram": b"\x02\x16\x00\x00",
    "length_zero": b"\x00\x16",
    "extended_length_truncated": b"\x01\x00",
    "extended_length_wrong": b"\x01\x00\x20\x16",
    "unknown_type": b"\x02\x99",
    "reserved_type_0x03": b"\x02\x03",
    "connect_truncated": b"\x04\x04\x04\x01",
    "publish_truncated": b"\x05\x0c\x20\x04\x01",
    "publish_topic_id_type_3": b"\x07\x0c\x03\x00\x01\x00\x00",
    "garbage": bytes(range(200, 256)) * 3,
}


@pytest.fixture(scope="module", autouse=True)
def _ready(gateway):
    wait_sn_ready(gateway)


@pytest.mark.parametrize("name", list(BAD))
def test_malformed_dropped_bystander_ok(gateway, name):
    """A malformed datagram from another peer gets no reply and does not disturb a connected
    client: PINGREQ → PINGRESP, MQTT → MQTT-SN and MQTT-SN → MQTT delivery still work."""
    topic = f"sn/mal/{uid()}"
    by = Sn(gateway)
    by.connect(uid("by"))
    tid = by.subscribe(topic, qos=0).topic_id
    bad = Sn(gateway)
    bad.send(BAD[name])
    assert bad.quiet(0.3) == [], "a malformed datagram must not be answered"
    by.send(pingreq())
    by.expect(PINGRESP)
    sub = mqtt_sub(gateway, topic)
    sub.publish(topic, b"still", qos=0)
    p = by.next_publish()
    assert (p.topic_id, p.data) == (tid, b"still")
    c = lib_client(gateway)
    c.send_publish(topic, b"up", 1)
    assert b"up" in [m.payload for m in sub.expect_messages(2)]
    assert gateway.alive()
    lib_close(c)
    for x in (by, bad):
        x.close()
    sub.close()


def test_malformed_from_connected_client_keeps_it_alive(gateway):
    """A connected client that sends junk keeps its connection: the junk is dropped, the next
    PINGREQ is answered."""
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    for raw in BAD.values():
        sn.send(raw)
    sn.quiet(0.3)
    sn.send(pingreq())
    sn.expect(PINGRESP)
    assert gateway.alive()
    sn.close()
