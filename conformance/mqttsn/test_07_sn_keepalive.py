"""Keep alive and PING (MQTT-SN 1.2 §6.11, §5.4.19, §5.4.20; EMQX §4.4)."""

import time

from mqttsn_helpers import PINGRESP, Sn, mqtt_sub, pingreq, uid, wait_sn_ready


def test_pingreq_pingresp(gateway):
    """§5.4.19/§5.4.20: PINGREQ (no ClientId) from a connected client → PINGRESP (02 17)."""
    wait_sn_ready(gateway)
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    sn.send(pingreq())
    assert sn.expect(PINGRESP).raw == bytes([2, PINGRESP])
    sn.close()


def test_traffic_keeps_client_alive(gateway):
    """§6.11: a client that pings within its keep-alive period (1 s) is not considered lost."""
    topic = f"sn/ka/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    sn.connect(uid("sn"), duration=1, will=(topic, b"lost", 0, False))
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        sn.send(pingreq())
        sn.expect(PINGRESP)
        time.sleep(0.5)
    assert sub.quiet(0.1) == []
    sn.close()
    sub.close()


def test_silence_drops_client_and_publishes_will(gateway):
    """§6.11: no message for longer than the keep-alive duration (× 1.5, EMQX) → lost: will
    published, and the client no longer gets PINGRESP without a new CONNECT."""
    topic = f"sn/ka/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    t0 = time.monotonic()
    sn.connect(uid("sn"), duration=1, will=(topic, b"lost", 0, False))
    msgs = sub.expect_messages(1, timeout=5)
    elapsed = time.monotonic() - t0
    assert msgs[0].payload == b"lost"
    assert 1.0 <= elapsed <= 4.0, f"will after {elapsed:.2f}s"
    sn.send(pingreq())
    assert [m for m in sn.quiet(0.6) if m.type == PINGRESP] == []
    sn.close()
    sub.close()
