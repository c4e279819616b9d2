"""Persistent sessions (MQTT-SN 1.2 §6.3 clean session, §5.4.4 CleanSession flag; EMQX §4.4)."""

from mqttsn_helpers import DISCONNECT, Sn, disconnect, mqtt_sub, uid, wait_sn_ready


def _away(gateway, cid, topic):
    sn = Sn(gateway)
    sn.connect(cid, clean=False)
    tid = sn.subscribe(topic, qos=1).topic_id
    sn.send(disconnect())
    sn.expect(DISCONNECT)
    sn.close()
    return tid


def test_persistent_session_queues_while_away(gateway):
    """§6.3: CleanSession=0 keeps subscriptions; QoS 1 messages published while the client is
    disconnected are delivered after it reconnects with CleanSession=0 (REGISTER first if the
    topic id is not known on the new connection)."""
    wait_sn_ready(gateway)
    cid, topic = uid("persist"), f"sn/persist/{uid()}"
    old_tid = _away(gateway, cid, topic)
    mq = mqtt_sub(gateway, f"unused/{uid()}")
    for i in range(2):
        mq.publish(topic, f"q{i}".encode(), qos=1)
    sn = Sn(gateway)  # a new UDP source port: the session follows the ClientId
    sn.connect(cid, clean=False)
    registry = {}
    got = []
    for _ in range(2):
        p = sn.next_publish(registry=registry)
        got.append(p)
        sn.ack(p)
    assert [p.data for p in got] == [b"q0", b"q1"]
    for p in got:
        # either REGISTERed on this connection, or the id kept from the SUBACK of the session
        assert registry.get(p.topic_id) == topic or (p.topic_id == old_tid and p.topic_id not in registry), \
            (p, registry, old_tid)
    sn.close()
    mq.close()


def test_clean_session_discards(gateway):
    """§6.3: reconnecting with CleanSession=1 discards the old session: nothing queued arrives."""
    cid, topic = uid("persist"), f"sn/persist/{uid()}"
    _away(gateway, cid, topic)
    mq = mqtt_sub(gateway, f"unused/{uid()}")
    mq.publish(topic, b"lost", qos=1)
    sn = Sn(gateway)
    sn.connect(cid, clean=True)
    assert sn.quiet(1.0) == []
    sn.close()
    mq.close()
