"""QoS -1 publish without a connection (MQTT-SN 1.2 §6.8; EMQX §4.3 `enable_qos3`)."""

from mqttsn_helpers import (PREDEF_1, PUBACK, RC_NOT_SUPPORTED, T_PREDEF, T_SHORT, Sn, lib_client, lib_close,
                            mqtt_sub, publish, short_id, wait_sn_ready)


def test_qos_minus1_predefined_and_short(make_gateway):
    """§6.8: PUBLISH QoS -1 (flags 0b11) with a predefined id or short name from a socket that never
    CONNECTed is delivered (as QoS 0) to MQTT subscribers; no reply is sent."""
    gw = make_gateway()
    wait_sn_ready(gw)
    sub1, sub2 = mqtt_sub(gw, PREDEF_1), mqtt_sub(gw, "mq")
    c = lib_client(gw, connect_now=False)  # mqtt-sn-12, no CONNECT
    c.send_publish_predefined(1, b"minus-one", -1)
    m = sub1.expect_messages(1)[0]
    assert (m.topic, m.payload, m.qos) == (PREDEF_1, b"minus-one", 0)
    sn = Sn(gw)
    sn.send(publish(short_id("mq"), b"short-m1", qos=-1, id_type=T_SHORT))
    m = sub2.expect_messages(1)[0]
    assert (m.topic, m.payload) == ("mq", b"short-m1")
    assert sn.quiet(0.5) == []
    lib_close(c)
    sn.close()


def test_qos_minus1_disabled(make_gateway):
    """EMQX §4.3: enable_qos3 = false → QoS -1 PUBLISH is refused with PUBACK rc 0x03 and not
    delivered."""
    gw = make_gateway({"gateway": {"mqttsn": {"enable_qos3": False}}})
    wait_sn_ready(gw)
    sub = mqtt_sub(gw, PREDEF_1)
    sn = Sn(gw)
    sn.send(publish(1, b"nope", qos=-1, id_type=T_PREDEF))
    a = sn.expect(PUBACK)
    assert (a.topic_id, a.rc) == (1, RC_NOT_SUPPORTED)
    assert sub.quiet(0.8) == []
    sn.close()
    sub.close()
