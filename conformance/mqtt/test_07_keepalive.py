"""Keep alive enforcement (server side)."""

import time

from mqtt_helpers import Raw, TClient, connect_packet, uid


def test_silent_client_disconnected_after_1_5x_keepalive(gateway):
    """[MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0): if no control packet arrives within
    1.5 x Keep Alive the server closes the connection. Keep Alive 2 s → closed after about 3 s,
    not before 2 s; and the Will is published ([MQTT-3.1.2-8])."""
    topic = uid("ka/")
    w = TClient(gateway, proto=5)
    w.connect()
    w.subscribe(topic, 1)
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=uid("ka"), level=4, keepalive=2, will=(topic, b"ka-will", 1)))
    assert raw.read_packet()[0] == 2
    t0 = time.monotonic()
    pkts, closed = raw.read_until_close(6)
    assert closed is not None, "silent client not disconnected within 6 s"
    assert 2.0 <= closed <= 4.5, f"closed after {closed:.2f}s, expected ~3 s"
    msgs = w.expect_messages(1)
    assert msgs[0].payload == b"ka-will"
    raw.close()
    w.disconnect()


def test_pingreq_keeps_connection(gateway):
    """[MQTT-3.12.4-1]: the server answers PINGREQ with PINGRESP, and a client that pings
    within its keep alive stays connected past 1.5 x Keep Alive."""
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=uid("ping"), level=5, keepalive=1))
    assert raw.read_packet()[0] == 2
    for _ in range(4):
        time.sleep(0.6)
        raw.send(b"\xc0\x00")
        ptype, _, _ = raw.read_packet(2)
        assert ptype == 13, "no PINGRESP"
    raw.close()


def test_paho_paused_client_dropped(gateway):
    """[MQTT-3.1.2-22] (5.0) with a real client: a paho v5 client (keepalive 2) whose network
    loop stops is disconnected by the server and its will published."""
    topic = uid("kap/")
    w = TClient(gateway, proto=5)
    w.connect()
    w.subscribe(topic, 1)
    c = TClient(gateway, proto=5).will(topic, b"paused", qos=1)
    c.connect(keepalive=2)
    c.pause()
    t0 = time.monotonic()
    msgs = w.expect_messages(1, timeout=6)
    assert msgs[0].payload == b"paused"
    assert time.monotonic() - t0 <= 4.5
    c.close()
    w.disconnect()
