"""Error handling (RFC 7252 §4.2, §4.3, §5.4.1, §5.8, §5.9.2; EMQX CoAP gateway §2.2/§2.3):
unknown paths, wrong methods, critical options, bad observe requests, malformed datagrams; the
gateway survives and other clients keep working."""

import pytest

from coap_helpers import (ACK, CON, DELETE, GET, NON, OBSERVE, POST, PUT, RST, Msg, RawCoap, TClient, aio,  # noqa: F401
                          coap_client, coap_gw, coap_uri, encode, mqtt_sub, next_mid, path_opts, raw, uid, uint_opt)


def test_unknown_path_404(coap_gw, raw):
    """RFC 7252 §5.9.2.5: a path that is neither /ps/… nor /mqtt/connection → 4.04 Not Found
    (deliberate deviation: EMQX answers 4.00, see protocols/coap/DESIGN.md)."""
    for method in (GET, POST, PUT):
        r = raw.request(method, "nope/x")
        assert r is not None and r.code_s == "4.04", r
    r = coap_client(coap_gw, "get", "foo")
    assert r.code == "4.04", r.out + r.err


@pytest.mark.parametrize("path", ["ps/x", "mqtt/connection"])
def test_wrong_method_405(coap_gw, raw, path):
    """EMQX §2.3 / RFC 7252 §5.9.2.6: DELETE on /ps (and GET on /mqtt/connection) → 4.05."""
    method = DELETE if path.startswith("ps") else GET
    r = raw.request(method, path, clientid=uid("e"))
    assert r is not None and r.code_s == "4.05", r


def test_unrecognized_critical_option_402(coap_gw, raw):
    """RFC 7252 §5.4.1: an unrecognized critical (odd-numbered, here 9) option in a CON request →
    4.02 Bad Option, and the request is not processed (nothing published)."""
    topic = uid("err/opt")
    sub = mqtt_sub(coap_gw, topic)
    r = raw.request(POST, f"ps/{topic}", options=[(9, b"x")], payload=b"bad")
    assert r is not None and (r.type, r.code_s) == (ACK, "4.02"), r
    assert sub.quiet(0.5) == []
    sub.close()


def test_unrecognized_elective_option_ignored(coap_gw, raw):
    """RFC 7252 §5.4.1: an unrecognized elective (even-numbered, here 2012) option is silently
    ignored: the publish succeeds."""
    topic = uid("err/elec")
    sub = mqtt_sub(coap_gw, topic)
    r = raw.request(POST, f"ps/{topic}", options=[(2012, b"x")], payload=b"ok")
    assert r is not None and r.code_s == "2.04", r
    assert sub.expect_messages(1)[0].payload == b"ok"
    sub.close()


def test_critical_option_in_non_dropped(coap_gw, raw):
    """RFC 7252 §5.4.1: a NON request with an unrecognized critical option MUST be rejected
    (no response required) and not processed."""
    topic = uid("err/optn")
    sub = mqtt_sub(coap_gw, topic)
    r = raw.request(POST, f"ps/{topic}", mtype=NON, options=[(9, b"x")], payload=b"bad", timeout=0.6)
    assert r is None or r.code_s.startswith("4."), r
    assert sub.quiet(0.3) == []
    sub.close()


def test_observe_without_token_400(raw):
    """EMQX §2.3: GET Observe=0 with an empty token → 4.00 "observe without token"
    (RFC 7641 §3.1: the token identifies the observation)."""
    r = raw.request(GET, f"ps/{uid('err/tok')}", tkn=b"", options=[(OBSERVE, b"")])
    assert r is not None and r.code_s == "4.00", r
    assert b"observe without token" in r.payload


def test_get_without_observe_400(raw):
    """EMQX §2.3: GET /ps/… with no Observe (or another value) → 4.00 "invalid observe value"."""
    r = raw.request(GET, f"ps/{uid('err/get')}")
    assert r is not None and r.code_s == "4.00", r
    r = raw.request(GET, f"ps/{uid('err/get')}", options=[(OBSERVE, uint_opt(5))])
    assert r is not None and r.code_s == "4.00", r


def test_empty_topic_and_bad_qos_400(raw):
    """EMQX §2.2: /ps with no topic → 4.00 "invalid topic"; qos outside 0..2 → 4.00."""
    r = raw.request(POST, "ps", payload=b"x")
    assert r is not None and r.code_s == "4.00", r
    r = raw.request(POST, f"ps/{uid('err/q')}", payload=b"x", qos=3)
    assert r is not None and r.code_s == "4.00", r


def test_ping_empty_con_rst(raw):
    """RFC 7252 §4.3: an Empty CON message ("CoAP ping") is answered with RST (same MID)."""
    mid = next_mid()
    raw.send(Msg(CON, 0, mid))
    r = raw.recv_until(lambda m: m.mid == mid, 3)
    assert r is not None and (r.type, r.code, r.token) == (RST, 0, b""), r


def test_malformed_datagrams_observer_survives(coap_gw, aio):
    """RFC 7252 §3 / §4.2 / §4.3: malformed datagrams (3 bytes, version 2, TKL 9, truncated option)
    are dropped, or answered with RST when the header is a parsable CON (§4.2); a concurrent
    observer keeps receiving and the gateway process stays alive."""
    topic = uid("err/mal")
    obs = aio.observe(coap_uri(coap_gw, f"ps/{topic}"))
    pub = TClient(coap_gw)
    pub.connect()
    pub.publish(topic, b"before", qos=0)
    obs.expect(1)
    bad = RawCoap(coap_gw)
    try:
        junk = [
            b"\x40\x01\x00",                                   # 3 bytes
            b"\x80\x01\x12\x34",                               # version 2
            b"\x49\x01\x12\x35" + b"\x00" * 9,                 # TKL 9 (reserved, §3)
            b"\x40\x02\x12\x36\xbd",                           # option with missing extended delta
            b"\x40\x02\x12\x37\xff",                           # payload marker, empty payload
            b"\x60\x00\x12\x38\x01",                           # ACK with trailing garbage
            b"",                                               # empty datagram
            bytes(range(200)),
        ]
        for j in junk:
            bad.send_bytes(j)
        replies = []
        while (m := bad.recv(0.5)) is not None:
            replies.append(m)
        assert all(m.type == RST for m in replies), replies
        # message format errors in a parsable v1 CON header are rejected with RST (§3, §4.2)
        assert sorted(m.mid for m in replies) == [0x1235, 0x1236, 0x1237], replies
        r = bad.request(POST, f"ps/{topic}", payload=b"from-bad-peer")
        assert r is not None and r.code_s == "2.04", r
    finally:
        bad.close()
    pub.publish(topic, b"after", qos=0)
    notes = obs.expect(3)
    assert [n.payload for n in notes] == [b"before", b"from-bad-peer", b"after"]
    assert coap_gw.alive()
    pub.close()


def test_gateway_alive_and_mqtt_ok(coap_gw):
    """After all of the above the gateway process is alive and MQTT still works."""
    assert coap_gw.alive()
    topic = uid("err/alive")
    sub = mqtt_sub(coap_gw, topic)
    assert coap_client(coap_gw, "post", f"ps/{topic}", payload="alive").code == "2.04"
    assert sub.expect_messages(1)[0].payload == b"alive"
    sub.close()
