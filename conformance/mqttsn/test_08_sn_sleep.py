"""Sleeping clients (MQTT-SN 1.2 §6.14, §5.4.21; EMQX §4.5, EMQX #4434: PINGRESP after the
buffered messages)."""

import time

from mqttsn_helpers import (DISCONNECT, PINGRESP, PUBLISH, REGISTER, Sn, disconnect, mqtt_sub, pingreq, puback,
                            regack, uid, wait_sn_ready)


def _drain_until_pingresp(sn, timeout=4.0):
    """Messages the gateway sends after a wake-up PINGREQ, up to and including PINGRESP."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        m = sn.recv(max(0.0, deadline - time.monotonic()))
        assert m is not None, f"no PINGRESP, got {seen}"
        seen.append(m)
        if m.type == REGISTER:
            sn.send(regack(m.topic_id, m.msg_id))
        elif m.type == PUBLISH and m.qos == 1:
            sn.send(puback(m.topic_id, m.msg_id))
        elif m.type == PINGRESP:
            return seen


def test_sleep_buffer_and_wake(gateway):
    """§6.14: DISCONNECT(Duration) → DISCONNECT back, client asleep; publishes for it are
    buffered (nothing sent while asleep); PINGREQ(ClientId) → buffered PUBLISHes, then PINGRESP
    (strictly last); then asleep again (a new publish is held until the next PINGREQ)."""
    wait_sn_ready(gateway)
    cid, topic = uid("sleepy"), f"sn/sleep/{uid()}"
    mq = mqtt_sub(gateway, f"unused/{uid()}")
    sn = Sn(gateway)
    sn.connect(cid, duration=10)
    tid = sn.subscribe(topic, qos=1).topic_id
    sn.send(disconnect(20))
    d = sn.expect(DISCONNECT)
    assert d.raw == bytes([2, DISCONNECT])
    for i in range(3):
        mq.publish(topic, f"m{i}".encode(), qos=1)
    assert sn.quiet(1.0) == [], "nothing may be sent to an asleep client"
    sn.send(pingreq(cid))
    seen = _drain_until_pingresp(sn)
    pubs = [m for m in seen if m.type == PUBLISH]
    assert [p.data for p in pubs] == [b"m0", b"m1", b"m2"]
    assert all(p.topic_id == tid for p in pubs)
    assert seen[-1].type == PINGRESP and sum(m.type == PINGRESP for m in seen) == 1
    # asleep again
    mq.publish(topic, b"later", qos=1)
    assert sn.quiet(1.0) == []
    sn.send(pingreq(cid))
    seen = _drain_until_pingresp(sn)
    assert [m.data for m in seen if m.type == PUBLISH] == [b"later"]
    sn.close()
    mq.close()


def test_wake_with_nothing_buffered(gateway):
    """§6.14: PINGREQ(ClientId) with no buffered messages → PINGRESP immediately."""
    cid = uid("sleepy")
    sn = Sn(gateway)
    sn.connect(cid, duration=10)
    sn.send(disconnect(20))
    sn.expect(DISCONNECT)
    sn.send(pingreq(cid))
    sn.expect(PINGRESP)
    sn.close()


def test_sleep_expiry_ends_session(gateway):
    """§6.14: the client does not wake up before its sleep Duration expires → lost: will
    published, and a later PINGREQ(ClientId) gets no PINGRESP."""
    cid, topic = uid("sleepy"), f"sn/sleepwill/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    sn.connect(cid, duration=10, will=(topic, b"overslept", 0, False))
    sn.send(disconnect(1))
    sn.expect(DISCONNECT)
    assert sub.expect_messages(1, timeout=5)[0].payload == b"overslept"
    sn.send(pingreq(cid))
    assert [m for m in sn.quiet(0.6) if m.type == PINGRESP] == []
    sn.close()
    sub.close()
