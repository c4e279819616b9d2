"""CoAP publish (EMQX CoAP gateway §2.2/§2.5: POST/PUT /ps/{topic} → MQTT PUBLISH on the bus),
driven by libcoap's coap-client, aiocoap and raw datagrams; received by paho-mqtt / mosquitto_sub."""

import pytest

from coap_helpers import (CON, NON, POST, Aio, MosqSub, RawCoap, TClient, aio, coap_client,  # noqa: F401
                          coap_gw, coap_uri, mqtt_sub, raw, start_gateway, uid)


def test_post_coap_client_reaches_mqtt(coap_gw):
    """EMQX §2.2: POST /ps/coap/test?clientid=c1 → 2.04 Changed (RFC 7252 §5.9.1.4), and the
    payload is published on topic `coap/test` (URI-Path segments after `ps` joined by '/')."""
    topic = uid("coap/test")
    sub = mqtt_sub(coap_gw, topic)
    r = coap_client(coap_gw, "post", f"ps/{topic}?clientid={uid('c')}", payload="hello coap")
    assert r.code == "2.04", r.out + r.err
    assert r.types[-1] == "ACK"  # CON request → piggy-backed response (RFC 7252 §5.2.1)
    m = sub.expect_messages(1)[0]
    assert (m.topic, m.payload) == (topic, b"hello coap")
    sub.close()


def test_put_publishes_too(coap_gw):
    """EMQX §2.2 / DESIGN: PUT /ps/{topic} publishes like POST → 2.04 Changed."""
    topic = uid("coap/put")
    sub = mqtt_sub(coap_gw, topic)
    r = coap_client(coap_gw, "put", f"ps/{topic}?clientid={uid('c')}", payload="via put")
    assert r.code == "2.04", r.out + r.err
    m = sub.expect_messages(1)[0]
    assert (m.topic, m.payload) == (topic, b"via put")
    sub.close()


def test_default_qos_follows_message_type(coap_gw):
    """EMQX §2.5 `publish_qos = coap` (default): a CON request publishes at QoS 1, a NON request
    at QoS 0 (seen by a QoS 1 MQTT subscriber); a NON request is answered with NON (RFC 7252 §5.2.2)."""
    topic = uid("coap/qos")
    sub = mqtt_sub(coap_gw, topic, qos=1)
    r = coap_client(coap_gw, "post", f"ps/{topic}", payload="con")
    assert r.code == "2.04"
    r = coap_client(coap_gw, "post", f"ps/{topic}", "-N", payload="non")
    assert r.code == "2.04" and r.types[-1] == "NON", r.out
    msgs = sub.expect_messages(2)
    assert {m.payload: m.qos for m in msgs} == {b"con": 1, b"non": 0}
    sub.close()


@pytest.mark.parametrize("q", [0, 1, 2])
def test_qos_query_overrides(coap_gw, q):
    """EMQX §2.2: the `qos` query sets the MQTT QoS regardless of the CoAP message type
    (here a NON request); a QoS 2 MQTT subscriber sees exactly that QoS."""
    topic = uid("coap/q")
    sub = mqtt_sub(coap_gw, topic, qos=2)
    r = coap_client(coap_gw, "post", f"ps/{topic}?clientid={uid('c')}&qos={q}", "-N", payload=f"q{q}")
    assert r.code == "2.04", r.out
    m = sub.expect_messages(1)[0]
    assert (m.payload, m.qos) == (f"q{q}".encode(), q)
    sub.close()


def test_retain_true_is_stored(coap_gw):
    """EMQX §2.2: `retain=true` publishes with RETAIN=1, so a later MQTT subscriber gets it
    (MQTT 5.0 §3.3.1.3); `retain=false` and other values are not retained."""
    topic = uid("coap/ret")
    assert coap_client(coap_gw, "post", f"ps/{topic}?clientid={uid('c')}&retain=true", payload="kept").code == "2.04"
    other = uid("coap/noret")
    assert coap_client(coap_gw, "post", f"ps/{other}?retain=1", payload="not kept").code == "2.04"
    sub = TClient(coap_gw)
    sub.connect()
    sub.subscribe(topic, 1)
    sub.subscribe(other, 1)
    msgs = sub.expect_messages(1)
    assert (msgs[0].topic, msgs[0].payload, msgs[0].retain) == (topic, b"kept", True)
    assert len(sub.quiet(0.5)) == 1, "`retain=1` is not the literal `true` and must not retain"
    sub.close()


def test_expiry_maps_to_message_expiry_interval(coap_gw):
    """EMQX §2.2: `expiry` (seconds) becomes the MQTT 5 Message Expiry Interval
    (MQTT 5.0 §3.3.2.3.3; a subscriber sees the remaining lifetime, ≤ the value sent)."""
    topic = uid("coap/exp")
    sub = mqtt_sub(coap_gw, topic)
    assert coap_client(coap_gw, "post", f"ps/{topic}?expiry=60", payload="e").code == "2.04"
    m = sub.expect_messages(1)[0]
    mei = m.prop("MessageExpiryInterval")
    assert mei is not None and 55 <= mei <= 60, mei
    sub.close()


def test_retained_message_expires(coap_gw):
    """EMQX §2.2 `expiry` + MQTT 5.0 §3.3.2.3.3: a retained message with expiry=1 is no longer
    delivered to a subscriber that arrives after it expired."""
    import time
    topic = uid("coap/rexp")
    assert coap_client(coap_gw, "post", f"ps/{topic}?retain=true&expiry=1", payload="gone").code == "2.04"
    time.sleep(2.1)
    sub = mqtt_sub(coap_gw, topic)
    assert sub.quiet(0.5) == []
    sub.close()


def test_short_query_names(coap_gw):
    """EMQX §2.2 short names (emqx_coap.hrl): c=clientid, q=qos, r=retain."""
    topic = uid("coap/short")
    assert coap_client(coap_gw, "post", f"ps/{topic}?c={uid('c')}&q=2&r=true", "-N", payload="s").code == "2.04"
    sub = mqtt_sub(coap_gw, topic, qos=2)
    m = sub.expect_messages(1)[0]
    assert (m.payload, m.qos, m.retain) == (b"s", 2, True)
    sub.close()


def test_aiocoap_con_and_non(coap_gw, aio):
    """aiocoap interop: CON POST → ACK 2.04 (RFC 7252 §5.2.1), NON POST → NON 2.04 (§5.2.2);
    both reach an MQTT subscriber with QoS 1 / 0 (EMQX `publish_qos = coap`)."""
    import aiocoap
    topic = uid("coap/aio")
    sub = mqtt_sub(coap_gw, topic, qos=1)
    r1 = aio.request("POST", coap_uri(coap_gw, f"ps/{topic}?clientid={uid('a')}"), b"aio-con", "CON")
    r2 = aio.request("POST", coap_uri(coap_gw, f"ps/{topic}"), b"aio-non", "NON")
    assert r1.code == aiocoap.CHANGED and r2.code == aiocoap.CHANGED
    assert r1.mtype == aiocoap.ACK and r2.mtype == aiocoap.NON
    msgs = sub.expect_messages(2)
    assert {m.payload: m.qos for m in msgs} == {b"aio-con": 1, b"aio-non": 0}
    sub.close()


def test_percent_encoded_topic_and_binary_payload(coap_gw, raw):
    """RFC 7252 §6.4: Uri-Path segments are percent-decoded; the topic is the decoded segments
    joined by '/'. EMQX §2.5: the payload is passed through unchanged (binary, NULs)."""
    base = uid("coap/enc")
    sub = mqtt_sub(coap_gw, f"{base}/#")
    r = coap_client(coap_gw, "post", f"ps/{base}/a%20b/%C3%A9", payload="x")
    assert r.code == "2.04", r.out
    payload = bytes(range(256))
    resp = raw.request(POST, f"ps/{base}/bin", payload=payload)
    assert resp is not None and resp.code_s == "2.04", resp
    msgs = sub.expect_messages(2)
    assert {m.topic: m.payload for m in msgs} == {f"{base}/a b/é": b"x", f"{base}/bin": payload}
    sub.close()


def test_publish_qos_config(tmp_path_factory):
    """EMQX §2.1 `publish_qos = qos2`: without a `qos` query every CoAP publish (CON or NON) is
    published at QoS 2."""
    gw = start_gateway(tmp_path_factory, {"publish_qos": "qos2"})
    try:
        topic = uid("coap/cfg")
        sub = mqtt_sub(gw, topic, qos=2)
        assert coap_client(gw, "post", f"ps/{topic}", "-N", payload="n").code == "2.04"
        assert coap_client(gw, "post", f"ps/{topic}", payload="c").code == "2.04"
        msgs = sub.expect_messages(2)
        assert sorted(m.qos for m in msgs) == [2, 2]
        sub.close()
    finally:
        gw.stop()
