"""Malformed input: the offending connection is closed (5.0: after DISCONNECT 0x81), other
clients are not affected and the gateway survives."""

import struct

import pytest

from mqtt_helpers import Raw, TClient, connect_packet, uid, utf8

# PUBLISH with both QoS bits set (QoS 3), topic "a", packet id 1, (v5: empty properties)
PUBLISH_QOS3_V5 = b"\x36" + bytes([2 + 1 + 2 + 1]) + utf8("a") + struct.pack("!H", 1) + b"\x00" + b""
PUBLISH_QOS3_V4 = b"\x36" + bytes([2 + 1 + 2]) + utf8("a") + struct.pack("!H", 1)
# Remaining Length longer than 4 bytes
BAD_REMAINING_LENGTH = b"\x30\xff\xff\xff\xff\x7f"
# SUBSCRIBE with reserved flags 0000 instead of 0010
SUBSCRIBE_BAD_FLAGS = b"\x80\x06\x00\x01" + utf8("a")[:2] + b"a"


@pytest.fixture
def bystander(gateway):
    """A healthy client that must keep working while others send garbage."""
    topic = uid("by/")
    c = TClient(gateway, proto=5)
    c.connect()
    c.subscribe(topic, 1)
    yield c, topic
    n = len(c.messages)
    assert c.publish(topic, b"still-alive", qos=1) == 0
    msgs = c.expect_messages(n + 1)
    assert msgs[-1].payload == b"still-alive"
    assert c.disconnect_info is None
    c.disconnect()
    assert gateway.alive()


def _connected(gateway, level):
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=uid("bad"), level=level))
    ptype, _, body = raw.read_packet()
    assert ptype == 2 and body[-1 if level == 4 else 1] == 0
    return raw


@pytest.mark.parametrize("garbage", [PUBLISH_QOS3_V5, BAD_REMAINING_LENGTH], ids=["qos3", "remaining-length"])
def test_v5_malformed_gets_disconnect_0x81(gateway, bystander, garbage):
    """[MQTT-3.3.1-4] (QoS 3) / 1.5.5 (Variable Byte Integer of at most 4 bytes) → Malformed
    Packet; 4.13 (5.0): the server sends DISCONNECT reason 0x81 (Malformed Packet) and closes
    the network connection ([MQTT-4.13.1-1])."""
    raw = _connected(gateway, 5)
    raw.send(garbage)
    pkts, closed = raw.read_until_close(3)
    assert closed is not None, "connection not closed"
    assert len(pkts) == 1 and pkts[0][0] == 14, f"expected one DISCONNECT, got {pkts}"
    assert pkts[0][2][0] == 0x81, f"reason 0x{pkts[0][2][0]:02x}"
    raw.close()


@pytest.mark.parametrize("garbage", [PUBLISH_QOS3_V4, BAD_REMAINING_LENGTH, SUBSCRIBE_BAD_FLAGS],
                         ids=["qos3", "remaining-length", "subscribe-flags"])
def test_v311_malformed_closes(gateway, bystander, garbage):
    """[MQTT-3.3.1-4] / [MQTT-2.2.2-2] / [MQTT-3.8.1-1] (3.1.1): a malformed packet makes the
    server close the network connection ([MQTT-4.8.0-1]); 3.1.1 has no server DISCONNECT."""
    raw = _connected(gateway, 4)
    raw.send(garbage)
    pkts, closed = raw.read_until_close(3)
    assert closed is not None, "connection not closed"
    assert pkts == []
    raw.close()


@pytest.mark.parametrize("junk", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x02\x03\xff" * 20,
                                  b"\x10\xff\xff\xff\xff\x7f", b"\x30\x03\x00\x01a"],
                         ids=["http", "binary", "bad-length", "publish-first"])
def test_junk_before_connect(gateway, bystander, junk):
    """[MQTT-3.1.0-1]: the first packet must be CONNECT; anything else (or an undecodable
    CONNECT) makes the server close the connection without crashing."""
    raw = Raw(gateway)
    raw.send(junk)
    pkts, closed = raw.read_until_close(3)
    assert closed is not None, "connection not closed"
    assert all(p[0] != 2 or p[2][-1] != 0 for p in pkts), "accepted junk as a connection"
    raw.close()


def test_bad_connect_protocol_name(gateway, bystander):
    """[MQTT-3.1.2-1]: a CONNECT with a wrong protocol name is refused: the server may send
    CONNACK 0x01 / 0x84 and must close the connection."""
    raw = Raw(gateway)
    body = utf8("MQTX") + bytes([4, 0x02]) + struct.pack("!H", 60) + utf8(uid("pn"))
    raw.send(b"\x10" + bytes([len(body)]) + body)
    pkts, closed = raw.read_until_close(3)
    assert closed is not None
    assert all(p[0] == 2 and p[2][-1] != 0 for p in pkts), pkts
    raw.close()


def test_gateway_survives_everything(gateway):
    """After all the above the gateway process is still running and accepting."""
    assert gateway.alive()
    c = TClient(gateway, proto=4)
    assert c.connect().reason_code == 0
    c.disconnect()


def _v5_publish(topic: bytes, props: bytes = b"\x00", qos=0) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", 1) if qos else b"") + props
    return bytes([0x30 | (qos << 1), len(body)]) + body


@pytest.mark.parametrize("packet,reason", [
    (_v5_publish(b"a/+"), 0x90),               # wildcard in a Topic Name
    (_v5_publish(b"", b"\x03\x23\x00\x05"), 0x82),  # empty topic, alias 5 never mapped
], ids=["wildcard-topic", "unmapped-alias"])
def test_v5_invalid_publish_topic(gateway, bystander, packet, reason):
    """[MQTT-3.3.2-2] (wildcards in a Topic Name → 0x90 Topic Name invalid) and 3.3.2.3.4
    (an empty Topic Name with an unknown Topic Alias → 0x82 Protocol Error): the server sends
    DISCONNECT with that reason and closes (4.13, 5.0)."""
    raw = _connected(gateway, 5)
    raw.send(packet)
    pkts, closed = raw.read_until_close(3)
    assert closed is not None
    assert len(pkts) == 1 and pkts[0][0] == 14 and pkts[0][2][0] == reason, pkts
    raw.close()


def _subscribe(filt: bytes, level: int) -> bytes:
    body = struct.pack("!H", 7) + (b"\x00" if level == 5 else b"") + struct.pack("!H", len(filt)) + filt + b"\x01"
    return bytes([0x82, len(body)]) + body


@pytest.mark.parametrize("level,code", [(5, 0x8F), (4, 0x80)], ids=["v5", "v3.1.1"])
def test_invalid_topic_filter(gateway, bystander, level, code):
    """[MQTT-4.7.1-1]/[MQTT-4.7.1-2]: `#` must be last and alone in its level, `+` alone in its
    level; such a filter is refused with SUBACK 0x8F (Topic Filter invalid, 5.0) / 0x80
    (Failure, 3.1.1, [MQTT-3.9.3-2]) — or by closing the connection (4.8 / 4.13). paho and
    mosquitto refuse to send such filters, hence a raw SUBSCRIBE."""
    for filt in (b"a/#/b", b"a/b+"):
        raw = _connected(gateway, level)
        raw.send(_subscribe(filt, level))
        pkts, closed = raw.read_until_close(1.5)
        if pkts:
            ptype, _, body = pkts[0]
            if ptype == 9:
                assert struct.unpack("!H", body[:2])[0] == 7
                assert body[-1] == code, f"{filt}: SUBACK 0x{body[-1]:02x}"
            else:
                assert level == 5 and ptype == 14 and body[0] in (0x81, 0x82, 0x8F), pkts
                assert closed is not None
        else:
            assert closed is not None, f"{filt}: neither SUBACK nor close"
        raw.close()
