"""Message deduplication (RFC 7252 §4.5): a duplicate CON request is processed once and gets the
same ACK again; a duplicate NON request is processed once."""

import time

from coap_helpers import ACK, CON, NON, POST, Msg, coap_gw, encode, mqtt_sub, path_opts, query_opts, raw, uid  # noqa: F401


def test_duplicate_con_publish_once_same_ack(coap_gw, raw):
    """RFC 7252 §4.5: the recipient SHOULD process a duplicated Confirmable message only once and
    acknowledge each copy; both copies get the same piggy-backed 2.04 ACK."""
    topic = uid("dup/con")
    sub = mqtt_sub(coap_gw, topic)
    m = Msg(CON, POST, 4242, b"\xd0\x01", path_opts(f"ps/{topic}") + query_opts(clientid=uid("d")), b"once")
    raw.send(m)
    a1 = raw.recv_until(lambda r: r.mid == 4242, 3)
    raw.send(m)
    a2 = raw.recv_until(lambda r: r.mid == 4242, 3)
    assert a1 is not None and a2 is not None
    assert (a1.type, a1.code_s, a1.token) == (ACK, "2.04", b"\xd0\x01")
    assert encode(a1) == encode(a2)
    msgs = sub.expect_messages(1)
    assert len(sub.quiet(0.6)) == 1, msgs
    sub.close()


def test_duplicate_con_after_delay(coap_gw, raw):
    """RFC 7252 §4.5: the dedup window is EXCHANGE_LIFETIME; a copy 1 s later is still a duplicate."""
    topic = uid("dup/late")
    sub = mqtt_sub(coap_gw, topic)
    m = Msg(CON, POST, 777, b"\x07", path_opts(f"ps/{topic}"), b"x")
    raw.send(m)
    assert raw.recv_until(lambda r: r.mid == 777, 3).code_s == "2.04"
    time.sleep(1.0)
    raw.send(m)
    assert raw.recv_until(lambda r: r.mid == 777, 3).code_s == "2.04"
    sub.expect_messages(1)
    assert len(sub.quiet(0.6)) == 1
    sub.close()


def test_same_mid_other_peer_not_duplicate(coap_gw):
    """RFC 7252 §4.5: deduplication is per source endpoint; the same MID from another peer is new."""
    from coap_helpers import RawCoap
    topic = uid("dup/peer")
    sub = mqtt_sub(coap_gw, topic)
    r1, r2 = RawCoap(coap_gw), RawCoap(coap_gw)
    try:
        for r, p in ((r1, b"p1"), (r2, b"p2")):
            r.send(Msg(CON, POST, 999, b"\x09", path_opts(f"ps/{topic}"), p))
            assert r.recv_until(lambda x: x.mid == 999, 3).code_s == "2.04"
        assert sorted(m.payload for m in sub.expect_messages(2)) == [b"p1", b"p2"]
    finally:
        r1.close()
        r2.close()
        sub.close()


def test_duplicate_non_publish_once(coap_gw, raw):
    """RFC 7252 §4.5: a recipient SHOULD silently ignore a duplicated Non-confirmable message and
    process its request only once."""
    topic = uid("dup/non")
    sub = mqtt_sub(coap_gw, topic)
    m = Msg(NON, POST, 4343, b"\xd0\x02", path_opts(f"ps/{topic}"), b"non-once")
    raw.send(m)
    raw.send(m)
    sub.expect_messages(1)
    assert len(sub.quiet(0.6)) == 1
    sub.close()
