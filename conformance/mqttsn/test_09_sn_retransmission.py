"""Retransmission and duplicates (MQTT-SN 1.2 §6.13, §5.3.4 DUP; EMQX retry_interval)."""

import time

from mqttsn_helpers import PUBCOMP, PUBLISH, PUBREC, Sn, mqtt_sub, publish, pubrel, uid, wait_sn_ready


def test_unacked_qos1_publish_resent_with_dup(make_gateway):
    """§6.13: an unacknowledged QoS 1 PUBLISH is re-sent with DUP=1 (same MsgId, TopicId, data)
    every Tretry (retry_interval 1 s), Nretry (max_retries 3) times, then no more."""
    gw = make_gateway({"gateway": {"mqttsn": {"retry_interval": "1s", "max_retries": 3}}})
    wait_sn_ready(gw)
    topic = f"sn/retry/{uid()}"
    mq = mqtt_sub(gw, f"unused/{uid()}")
    sn = Sn(gw)
    sn.connect(uid("sn"), duration=60)
    tid = sn.subscribe(topic, qos=1).topic_id
    mq.publish(topic, b"again", qos=1)
    first = sn.expect(PUBLISH)
    assert not first.dup and first.qos == 1
    t0 = time.monotonic()
    later = []
    while (left := t0 + 5.0 - time.monotonic()) > 0:
        m = sn.recv(left)
        if m is not None:
            later.append((round(time.monotonic() - t0, 2), m))
    pubs = [(t, m) for t, m in later if m.type == PUBLISH]
    assert len(pubs) == 3, f"expected 3 retransmissions, got {later}"
    for t, m in pubs:
        assert m.dup and (m.msg_id, m.topic_id, m.data, m.qos) == (first.msg_id, tid, b"again", 1)
    assert 0.7 <= pubs[0][0] <= 1.8, f"first resend after {pubs[0][0]}s (Tretry 1 s)"
    assert pubs[2][0] <= 3.8, f"resends at {[t for t, _ in pubs]}"
    sn.close()
    mq.close()


def test_qos2_duplicate_delivered_once(gateway):
    """§6.13/§5.3.4: a client QoS 2 PUBLISH retransmitted (DUP=1, same MsgId) before PUBREL is
    acknowledged again (PUBREC) but delivered only once to subscribers."""
    wait_sn_ready(gateway)
    topic = f"sn/dup/{uid()}"
    sub = mqtt_sub(gateway, topic, qos=2)
    sn = Sn(gateway)
    sn.connect(uid("sn"))
    tid = sn.register(topic)
    sn.send(publish(tid, b"once", qos=2, msg_id=42))
    assert sn.expect(PUBREC).msg_id == 42
    sn.send(publish(tid, b"once", qos=2, msg_id=42, dup=True))
    assert sn.expect(PUBREC).msg_id == 42
    sn.send(pubrel(42))
    assert sn.expect(PUBCOMP).msg_id == 42
    msgs = sub.expect_messages(1)
    assert [m.payload for m in sub.quiet(1.0)] == [b"once"], msgs
    sn.close()
    sub.close()
