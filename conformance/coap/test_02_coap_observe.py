"""CoAP observe-subscribe (RFC 7641; EMQX CoAP gateway §2.2/§2.5: GET /ps/{filter} Observe=0 →
MQTT subscription, bus messages → 2.05 notifications) with aiocoap, coap-client -s and raw datagrams."""

import time

import pytest

from coap_helpers import (ACK, CON, GET, NON, OBSERVE, CoapClientProc, TClient, aio, coap_gw,  # noqa: F401
                          coap_uri, mosq_pub, raw, start_gateway, uid, uint_opt)


def _mqtt(gw):
    c = TClient(gw)
    c.connect()
    return c


def _observe_raw(raw, filt, mtype=CON, **query):
    tok = b"\x0b\x5e" + uid("").encode()[-4:]
    r = raw.request(GET, f"ps/{filt}", mtype=mtype, tkn=tok, options=[(OBSERVE, b"")], **query)
    assert r is not None and r.code_s == "2.05", r
    assert r.observe is not None, "RFC 7641 §4.2: the 2.05 registering an observer carries Observe"
    return tok, r


def _next_notification(raw, tok, timeout=5.0):
    return raw.recv_until(lambda m: m.token == tok and m.type in (CON, NON), timeout)


def test_observe_notifications_increasing(coap_gw, aio):
    """RFC 7641 §3.1/§4.2: GET Observe=0 → 2.05 with an Observe option; each MQTT publish on the
    topic arrives as a 2.05 notification with the same token, payload = MQTT payload (EMQX §2.5), and
    Observe values strictly increasing (§4.4)."""
    import aiocoap
    topic = uid("obs/t")
    obs = aio.observe(coap_uri(coap_gw, f"ps/{topic}?clientid={uid('o')}"))
    assert obs.first.code == aiocoap.CONTENT and obs.first.opt.observe is not None
    pub = _mqtt(coap_gw)
    for i in range(4):
        pub.publish(topic, f"n{i}".encode(), qos=0)
    notes = obs.expect(4)
    assert [n.payload for n in notes] == [b"n0", b"n1", b"n2", b"n3"]
    assert all(n.code == aiocoap.CONTENT for n in notes)
    seq = [obs.first.opt.observe] + [n.opt.observe for n in notes]
    assert all(b > a for a, b in zip(seq, seq[1:])), seq
    pub.close()


@pytest.mark.parametrize("enc,filt,topic", [
    ("%2B/temp", "+/temp", "room1/temp"),
    ("%23", "#", "deep/er/x"),
])
def test_wildcard_filters_percent_encoded(coap_gw, aio, enc, filt, topic):
    """EMQX §2.2: the filter is the decoded Uri-Path after `ps` (RFC 7252 §6.4 percent-decoding), so
    `%2B` and `%23` become the MQTT wildcards `+` / `#` (MQTT 5.0 §4.7); non-matching topics are
    not notified."""
    base = uid("wild")
    obs = aio.observe(coap_uri(coap_gw, f"ps/{base}/{enc}"))
    assert obs.first.opt.observe is not None
    pub = _mqtt(coap_gw)
    pub.publish(f"{base}/{topic}", b"match", qos=0)
    pub.publish(f"{base}x/{topic}", b"other-prefix", qos=0)
    if filt == "+/temp":
        pub.publish(f"{base}/room1/hum", b"no-match", qos=0)
    notes = obs.expect(1)
    time.sleep(0.5)
    assert [n.payload for n in obs.wait(1, 0)] == [b"match"]
    pub.close()


def test_qos0_non_qos1_con(coap_gw, raw):
    """EMQX §2.5 `notify_type = qos` (default): a QoS 0 message is notified with NON, a QoS 1
    message with CON (RFC 7641 §4.5), which we ACK. The observe was a CON request, so the
    subscription is QoS 1 (`subscribe_qos = coap`)."""
    topic = uid("obs/type")
    tok, _ = _observe_raw(raw, topic)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"q0", qos=0)
    n0 = _next_notification(raw, tok)
    assert n0 is not None and (n0.type, n0.code_s, n0.payload) == (NON, "2.05", b"q0"), n0
    pub.publish(topic, b"q1", qos=1)
    n1 = _next_notification(raw, tok)
    assert n1 is not None and (n1.type, n1.code_s, n1.payload) == (CON, "2.05", b"q1"), n1
    raw.ack(n1)
    assert n1.observe > n0.observe
    pub.close()


def test_non_observe_subscribes_qos0(coap_gw, raw):
    """EMQX §2.5 `subscribe_qos = coap`: a NON observe request subscribes at QoS 0, so even a QoS 1
    MQTT message is delivered at QoS 0 → NON notification (notify_type qos)."""
    topic = uid("obs/nonsub")
    tok, first = _observe_raw(raw, topic, mtype=NON)
    assert first.type == NON
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"x", qos=1)
    n = _next_notification(raw, tok)
    assert n is not None and n.type == NON and n.payload == b"x", n
    pub.close()


def test_qos_query_on_subscribe(coap_gw, raw):
    """EMQX §2.2: `qos` on the observe request sets the subscription QoS: qos=0 → a QoS 1 message is
    notified as NON even though the request was CON."""
    topic = uid("obs/q")
    tok, _ = _observe_raw(raw, topic, qos=0)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"x", qos=1)
    n = _next_notification(raw, tok)
    assert n is not None and n.type == NON, n
    pub.close()


@pytest.mark.parametrize("notify_type,qos,expected", [("con", 0, CON), ("non", 1, NON)])
def test_notify_type_config(tmp_path_factory, notify_type, qos, expected):
    """EMQX §2.1 `notify_type = con | non` forces the notification message type regardless of QoS."""
    from coap_helpers import RawCoap
    gw = start_gateway(tmp_path_factory, {"notify_type": notify_type})
    r = RawCoap(gw)
    try:
        topic = uid("obs/nt")
        tok, _ = _observe_raw(r, topic)
        pub = _mqtt(gw)
        pub.publish(topic, b"x", qos=qos)
        n = _next_notification(r, tok)
        assert n is not None and n.type == expected, n
        if n.type == CON:
            r.ack(n)
        pub.close()
    finally:
        r.close()
        gw.stop()


def test_retained_delivered_on_subscribe(coap_gw, aio):
    """EMQX §2.5 (rh=1 default: send retained at subscribe) + MQTT 5.0 §3.3.1.3: a retained message
    on the topic is notified right after the observe is registered."""
    topic = uid("obs/ret")
    mosq_pub(coap_gw, topic, "retained-val", qos=1, retain=True)
    obs = aio.observe(coap_uri(coap_gw, f"ps/{topic}"))
    notes = obs.expect(1)
    assert notes[0].payload == b"retained-val"


def test_con_notifications_flow_in_order(coap_gw, aio):
    """EMQX §2.5 flow control: QoS 1 → CON notifications; with at most one unacknowledged CON in
    flight the rest queue FIFO; aiocoap ACKs each, so all 5 arrive in publish order."""
    topic = uid("obs/flow")
    obs = aio.observe(coap_uri(coap_gw, f"ps/{topic}"))
    pub = _mqtt(coap_gw)
    for i in range(5):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    notes = obs.expect(5, timeout=8)
    assert [n.payload for n in notes] == [f"m{i}".encode() for i in range(5)]
    pub.close()


def test_coap_client_observe(coap_gw):
    """libcoap interop: `coap-client -s 6` (Observe) receives MQTT publishes as notifications."""
    topic = uid("obs/cc")
    p = CoapClientProc(coap_gw, f"ps/{topic}", 6)
    try:
        assert p.wait_for(lambda t: "c:2.05" in t, 5), p.text()
        pub = _mqtt(coap_gw)
        for i in range(3):
            pub.publish(topic, f"libcoap-{i}".encode(), qos=0)
            time.sleep(0.1)
        assert p.wait_for(lambda t: all(f"libcoap-{i}" in t for i in range(3)), 5), p.text()
        pub.close()
    finally:
        p.stop()


def test_reregister_same_filter_refreshes_token(coap_gw, raw):
    """RFC 7641 §4.1: a new Observe=0 GET for the same target replaces the entry; notifications then
    carry the new token, and only one notification per message is sent."""
    topic = uid("obs/rereg")
    tok1, _ = _observe_raw(raw, topic)
    tok2 = b"\x77\x77"
    r = raw.request(GET, f"ps/{topic}", tkn=tok2, options=[(OBSERVE, uint_opt(0))])
    assert r is not None and r.code_s == "2.05"
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"after", qos=0)
    n = _next_notification(raw, tok2)
    assert n is not None and n.payload == b"after"
    extra = raw.recv_until(lambda m: m.type in (CON, NON) and m.token in (tok1, tok2), 0.6)
    assert extra is None, extra
    pub.close()
