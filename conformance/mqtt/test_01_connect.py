"""CONNECT / CONNACK basics for MQTT 3.1, 3.1.1 and 5.0."""

import pytest

from mqtt_helpers import Raw, TClient, connect_packet, uid


@pytest.mark.parametrize("proto", [3, 4, 5], ids=["v3.1", "v3.1.1", "v5"])
def test_connect_accepted(gateway, proto):
    """[MQTT-3.2.2-5]/[MQTT-3.2.2-8]: a valid CONNECT (protocol level 3, 4 or 5) is answered
    with CONNACK return/reason code 0x00; a new clean session has Session Present 0
    ([MQTT-3.2.2-1] 3.1.1, [MQTT-3.2.2-2] 5.0)."""
    c = TClient(gateway, client_id=uid("conn"), proto=proto)
    r = c.connect()
    assert r.reason_code == 0
    assert r.session_present is False
    c.disconnect()


def test_v311_empty_client_id_clean_session(gateway):
    """[MQTT-3.1.3-6]/[MQTT-3.1.3-7]: a 3.1.1 server accepts a zero-byte ClientId with
    CleanSession=1 and assigns a unique one."""
    c = TClient(gateway, client_id="", proto=4, clean=True)
    assert c.connect().reason_code == 0
    c.disconnect()


def test_v311_empty_client_id_persistent_refused(gateway):
    """[MQTT-3.1.3-8]: zero-byte ClientId with CleanSession=0 → CONNACK 0x02
    (Identifier rejected) and the connection is closed."""
    raw = Raw(gateway)
    raw.send(connect_packet(client_id="", level=4, clean=False))
    ptype, _, body = raw.read_packet()
    assert ptype == 2
    assert body[1] == 0x02
    _, closed = raw.read_until_close(3)
    assert closed is not None, "connection not closed after CONNACK 0x02"
    raw.close()


def test_unsupported_protocol_level(gateway):
    """[MQTT-3.1.2-2] (3.1.1): an unsupported Protocol Level (6) is answered with CONNACK
    return code 0x01 (unacceptable protocol version) and the connection is closed."""
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=uid("lvl"), level=6))
    ptype, _, body = raw.read_packet()
    assert ptype == 2, f"expected CONNACK, got type {ptype}"
    assert body[1] == 0x01
    _, closed = raw.read_until_close(3)
    assert closed is not None, "connection not closed after CONNACK 0x01"
    raw.close()
    assert gateway.alive()


def test_second_connect_is_protocol_violation(gateway):
    """[MQTT-3.1.0-2]: a second CONNECT on the same connection is a protocol violation;
    the server closes the connection."""
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=uid("twice"), level=4))
    assert raw.read_packet()[0] == 2
    raw.send(connect_packet(client_id=uid("twice"), level=4))
    pkts, closed = raw.read_until_close(3)
    assert closed is not None
    raw.close()
