"""Connection setup and will (MQTT-SN 1.2 §5.4.4-§5.4.9, §6.2, §6.4, §5.4.21-§5.4.25; EMQX §4.4)."""

import time

from mqttsn_helpers import (CONNACK, DISCONNECT, WILLMSGREQ, WILLMSGRESP, WILLTOPICREQ, WILLTOPICRESP,
                            Sn, connect, disconnect, lib_client, lib_close, mqtt_sub, uid, wait_sn_ready,
                            willmsg, willmsgupd, willtopic, willtopicupd)


def test_connect_connack(gateway):
    """§5.4.4/§5.4.5 via the mqtt-sn-12 library: CONNECT → CONNACK ReturnCode accepted (the library
    raises otherwise); raw check of the exact CONNACK bytes (03 05 00)."""
    wait_sn_ready(gateway)
    c = lib_client(gateway)
    lib_close(c)
    sn = Sn(gateway)
    sn.send(connect(uid("sn"), 30))
    m = sn.expect(CONNACK)
    assert m.raw == bytes([3, CONNACK, 0])
    sn.close()


def test_will_flow_order(gateway):
    """§6.2: CONNECT with Will → WILLTOPICREQ; WILLTOPIC → WILLMSGREQ; WILLMSG → CONNACK."""
    sn = Sn(gateway)
    sn.send(connect(uid("sn"), 30, will=True))
    assert sn.expect(WILLTOPICREQ).raw == bytes([2, WILLTOPICREQ])
    assert sn.quiet(0.3) == [], "nothing but WILLTOPICREQ before WILLTOPIC"
    sn.send(willtopic("sn/will/x", qos=1))
    assert sn.expect(WILLMSGREQ).raw == bytes([2, WILLMSGREQ])
    sn.send(willmsg(b"bye"))
    assert sn.expect(CONNACK).rc == 0
    sn.send(disconnect())
    sn.expect(DISCONNECT)
    sn.close()


def test_library_will_flow(gateway):
    """§6.2 through the third-party client (mqtt-sn-12 `set_will` drives the prompting flow)."""
    c = lib_client(gateway, will=("sn/will/lib", "lib-will", 0, False))
    c.send_disconnect()
    lib_close(c)


def test_will_published_after_keepalive_silence(gateway):
    """§6.11/§6.14: no message for longer than the keep-alive duration → client lost, will
    published (EMQX: keepalive × 1.5). Duration 1 s → will within a few seconds."""
    topic = f"sn/will/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    sn.connect(uid("sn"), duration=1, will=(topic, b"gone", 1, False))
    msgs = sub.expect_messages(1, timeout=5)
    assert msgs[0].topic == topic and msgs[0].payload == b"gone"
    sub.close()
    sn.close()


def test_no_will_after_disconnect(gateway):
    """§6.12: DISCONNECT → gateway DISCONNECT back; the will is discarded (not published)."""
    topic = f"sn/will/{uid()}"
    sub = mqtt_sub(gateway, topic)
    sn = Sn(gateway)
    sn.connect(uid("sn"), duration=1, will=(topic, b"gone", 0, False))
    sn.send(disconnect())
    m = sn.expect(DISCONNECT)
    assert m.duration is None
    assert sub.quiet(2.5) == []
    sub.close()
    sn.close()


def test_will_update_changes_will(gateway):
    """§6.4/§5.4.22-§5.4.25: WILLTOPICUPD → WILLTOPICRESP 0, WILLMSGUPD → WILLMSGRESP 0 (library
    raises on a non-zero code, raw checks the bytes); the updated will is the one published."""
    old, new = f"sn/will/{uid()}", f"sn/will/{uid()}"
    sub_old, sub_new = mqtt_sub(gateway, old), mqtt_sub(gateway, new)
    c = lib_client(gateway, keep_alive=1, will=(old, "old", 0, False))
    c.send_will_topic_update(new)
    c.send_will_message_update("new-will")
    sn = Sn.attach(c)
    sn.send(willtopicupd(new, qos=1))
    assert sn.expect(WILLTOPICRESP).raw == bytes([3, WILLTOPICRESP, 0])
    sn.send(willmsgupd(b"new-will"))
    assert sn.expect(WILLMSGRESP).raw == bytes([3, WILLMSGRESP, 0])
    # now silent: the will fires with the updated topic and message
    msgs = sub_new.expect_messages(1, timeout=5)
    assert msgs[0].payload == b"new-will"
    assert sub_old.quiet(0.3) == []
    for s in (sub_old, sub_new):
        s.close()
    lib_close(c)
