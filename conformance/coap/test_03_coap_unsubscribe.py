"""Ending an observation (RFC 7641 §3.6, §4.5; EMQX CoAP gateway §2.2 GET Observe=1 → 2.07):
explicit deregistration, RST to a notification, and CON notification retransmission (RFC 7252 §4.2)."""

import time

from coap_helpers import (CON, GET, NON, OBSERVE, TClient, coap_gw, raw, uid, uint_opt)  # noqa: F401


def _mqtt(gw):
    c = TClient(gw)
    c.connect()
    return c


def _observe(raw, topic, tok):
    r = raw.request(GET, f"ps/{topic}", tkn=tok, options=[(OBSERVE, b"")])
    assert r is not None and r.code_s == "2.05" and r.observe is not None, r


def _notification(raw, tok, timeout=3.0):
    return raw.recv_until(lambda m: m.token == tok and m.type in (CON, NON), timeout)


def test_observe_1_deregisters(coap_gw, raw):
    """EMQX §2.3: GET with Observe=1 (deregister, RFC 7641 §3.6) → 2.07 (EMQX's non-standard
    "nocontent"); afterwards MQTT messages on the topic are no longer notified."""
    topic = uid("uns/t")
    tok = b"\x01\x02\x03"
    _observe(raw, topic, tok)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"before", qos=0)
    n = _notification(raw, tok)
    assert n is not None and n.payload == b"before"
    r = raw.request(GET, f"ps/{topic}", tkn=tok, options=[(OBSERVE, uint_opt(1))])
    assert r is not None and r.code_s == "2.07", r
    pub.publish(topic, b"after", qos=0)
    pub.publish(topic, b"after1", qos=1)
    assert _notification(raw, tok, 0.8) is None
    pub.close()


def test_observe_1_unknown_filter(coap_gw, raw):
    """DESIGN / EMQX §2.3: deregistering a filter that was never observed still answers 2.07."""
    r = raw.request(GET, f"ps/{uid('uns/none')}", options=[(OBSERVE, uint_opt(1))])
    assert r is not None and r.code_s == "2.07", r


def test_deregister_one_keeps_other(coap_gw, raw):
    """RFC 7641 §3.6: deregistration affects only that resource; another observation of the same
    client keeps being notified."""
    a, b = uid("uns/a"), uid("uns/b")
    _observe(raw, a, b"\xaa")
    _observe(raw, b, b"\xbb")
    assert raw.request(GET, f"ps/{a}", tkn=b"\xaa", options=[(OBSERVE, uint_opt(1))]).code_s == "2.07"
    pub = _mqtt(coap_gw)
    pub.publish(a, b"to-a", qos=0)
    pub.publish(b, b"to-b", qos=0)
    n = raw.recv_until(lambda m: m.type in (CON, NON) and m.token in (b"\xaa", b"\xbb"), 3)
    assert n is not None and (n.token, n.payload) == (b"\xbb", b"to-b"), n
    assert raw.recv_until(lambda m: m.token == b"\xaa", 0.6) is None
    pub.close()


def test_rst_to_non_notification_cancels(coap_gw, raw):
    """RFC 7641 §3.6 / §4.5: a client that answers a notification (here NON, QoS 0) with RST is
    removed from the list of observers; later messages are not notified."""
    topic = uid("uns/rstn")
    tok = b"\x0a\x0b"
    _observe(raw, topic, tok)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"one", qos=0)
    n = _notification(raw, tok)
    assert n is not None and n.type == NON
    raw.rst(n)
    time.sleep(0.2)
    pub.publish(topic, b"two", qos=0)
    assert _notification(raw, tok, 0.8) is None
    pub.close()


def test_rst_to_con_notification_cancels(coap_gw, raw):
    """RFC 7641 §3.6 / §4.5: RST to a CON notification (QoS 1) cancels the relation (this gateway
    follows the RFC; EMQX 6.x keeps it, emqx#19127)."""
    topic = uid("uns/rstc")
    tok = b"\x0c\x0d"
    _observe(raw, topic, tok)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"one", qos=1)
    n = _notification(raw, tok)
    assert n is not None and n.type == CON
    raw.rst(n)
    time.sleep(0.2)
    pub.publish(topic, b"two", qos=1)
    pub.publish(topic, b"three", qos=0)
    m = _notification(raw, tok, 1.0)
    assert m is None or m.mid == n.mid, m  # at most a late retransmission of the RST'ed one
    pub.close()


def test_unacked_con_notification_retransmitted_with_backoff(coap_gw, raw):
    """RFC 7252 §4.2: an unacknowledged CON notification is retransmitted with the same message ID,
    first after ACK_TIMEOUT × [1, ACK_RANDOM_FACTOR) = 2–3 s, then after twice that (binary
    exponential back-off); a late ACK still completes it. (Cancellation after MAX_RETRANSMIT takes
    ~45–90 s and is not waited for.)"""
    topic = uid("uns/retx")
    tok = b"\x0e\x0f"
    _observe(raw, topic, tok)
    pub = _mqtt(coap_gw)
    pub.publish(topic, b"ack-me", qos=1)
    first = _notification(raw, tok)
    assert first is not None and first.type == CON
    t0 = time.monotonic()
    again = raw.recv_until(lambda m: m.token == tok, 4.0)
    t1 = time.monotonic()
    assert again is not None, "no retransmission within 4 s"
    assert (again.mid, again.type, again.payload) == (first.mid, CON, b"ack-me"), again
    assert 1.8 <= t1 - t0 <= 3.4, t1 - t0
    third = raw.recv_until(lambda m: m.token == tok, 7.5)
    t2 = time.monotonic()
    assert third is not None and third.mid == first.mid, third
    ratio = (t2 - t1) / (t1 - t0)
    assert 1.6 <= ratio <= 2.4, (t1 - t0, t2 - t1)
    raw.ack(third)
    # the ACK completes the exchange: the relation is kept and the next CON notification is sent
    pub.publish(topic, b"next", qos=1)
    nxt = raw.recv_until(lambda m: m.token == tok and m.payload == b"next", 2.0)
    assert nxt is not None and nxt.mid != first.mid, nxt
    raw.ack(nxt)
    pub.close()
