"""Block-wise transfers (RFC 7959; EMQX CoAP gateway §2.1 `gateway.coap.blockwise.*`):
Block1 publishes, Size1 / 4.13 limits, Block2 notifications reassembled by aiocoap."""

import os

import pytest

from coap_helpers import (BLOCK1, BLOCK2, CON, GET, NON, OBSERVE, POST, SIZE1, RawCoap, TClient, aio,  # noqa: F401
                          coap_client, coap_gw, coap_uri, mqtt_sub, opt_uint, raw, start_gateway, uid, uint_opt)


def _block(num, more, szx):
    return uint_opt((num << 4) | (8 if more else 0) | szx)


def _parse_block(v):
    x = opt_uint(v)
    return x >> 4, bool(x & 8), x & 7


def test_block1_publish_coap_client(coap_gw, tmp_path):
    """RFC 7959 §2.5: coap-client sends a 5000-byte body in 64-byte Block1 blocks (2.31 Continue per
    block, 2.04 at the end); the MQTT subscriber gets one message with all 5000 bytes."""
    topic = uid("bw/b1")
    body = os.urandom(2500).hex().encode()  # 5000 printable bytes
    f = tmp_path / "body.bin"
    f.write_bytes(body)
    sub = mqtt_sub(coap_gw, topic)
    r = coap_client(coap_gw, "post", f"ps/{topic}?clientid={uid('b')}", "-b", "64", "-f", str(f), timeout=30,
                    verbose=7)
    assert r.code == "2.04", r.out[-2000:]
    assert r.codes.count("2.31") >= 70, r.codes  # 79 blocks of 64 → 78 × 2.31
    msgs = sub.expect_messages(1)
    assert len(msgs[0].payload) == 5000 and msgs[0].payload == body
    assert len(sub.quiet(0.4)) == 1
    sub.close()


def test_block1_raw_out_of_order_408(coap_gw, raw):
    """RFC 7959 §2.9.2: a Block1 block that is not the next expected one → 4.08 Request Entity
    Incomplete; nothing is published."""
    topic = uid("bw/b408")
    sub = mqtt_sub(coap_gw, topic)
    r = raw.request(POST, f"ps/{topic}", options=[(BLOCK1, _block(0, True, 2))], payload=b"a" * 64)
    assert r is not None and r.code_s == "2.31", r
    r = raw.request(POST, f"ps/{topic}", options=[(BLOCK1, _block(2, False, 2))], payload=b"c" * 10)
    assert r is not None and r.code_s == "4.08", r
    assert sub.quiet(0.5) == []
    sub.close()


def test_block1_szx_lowered_to_max_block_size(tmp_path_factory):
    """RFC 7959 §2.3/§2.5: the server may ask for smaller blocks by answering 2.31 with a smaller SZX;
    with `max_block_size = 64` a 1024-byte first block is acknowledged with SZX 2 (64)."""
    gw = start_gateway(tmp_path_factory, {"blockwise": {"max_block_size": 64}})
    r = RawCoap(gw)
    try:
        resp = r.request(POST, f"ps/{uid('bw/szx')}", options=[(BLOCK1, _block(0, True, 6))], payload=b"z" * 1024)
        assert resp is not None and resp.code_s == "2.31", resp
        num, more, szx = _parse_block(resp.opt(BLOCK1))
        assert szx == 2, (num, more, szx)
    finally:
        r.close()
        gw.stop()


@pytest.fixture(scope="module")
def small_gw(tmp_path_factory):
    gw = start_gateway(tmp_path_factory, {"blockwise": {"max_body_size": "1KB"}})
    yield gw
    gw.stop()


def test_body_over_max_body_size_413_raw(small_gw):
    """RFC 7959 §2.9.3 / RFC 7252 §5.9.2.9: a 2000-byte body over `max_body_size = 1KB` → 4.13
    Request Entity Too Large with Size1 = the limit (RFC 7959 §4); nothing is published."""
    topic = uid("bw/413")
    sub = mqtt_sub(small_gw, topic)
    r = RawCoap(small_gw)
    try:
        resp = r.request(POST, f"ps/{topic}", payload=b"x" * 2000)
        assert resp is not None and resp.code_s == "4.13", resp
        assert resp.opt(SIZE1) is not None and opt_uint(resp.opt(SIZE1)) == 1024, resp
        ok = r.request(POST, f"ps/{topic}", payload=b"y" * 1000)
        assert ok is not None and ok.code_s == "2.04", ok
        assert [m.payload for m in sub.expect_messages(1)] == [b"y" * 1000]
        assert len(sub.quiet(0.4)) == 1
    finally:
        r.close()
        sub.close()


def test_block1_over_max_body_size_413(small_gw, tmp_path):
    """RFC 7959 §2.9.3: a Block1 transfer whose running total exceeds `max_body_size = 1KB` is
    refused with 4.13 (coap-client -b 64 with 2000 bytes); nothing is published."""
    topic = uid("bw/413b")
    sub = mqtt_sub(small_gw, topic)
    f = tmp_path / "big.txt"
    f.write_bytes(b"q" * 2000)
    r = coap_client(small_gw, "post", f"ps/{topic}", "-b", "64", "-f", str(f), timeout=30, verbose=7)
    assert "4.13" in r.codes, r.codes
    assert "2.04" not in r.codes
    assert sub.quiet(0.5) == []
    sub.close()


def test_block2_notification_aiocoap(coap_gw, aio):
    """RFC 7959 §2.4 / §3.4 (Block2 with Observe): a 3000-byte MQTT message to an observer is sent
    block-wise (first block in the notification, rest by GET Block2); aiocoap reassembles all bytes."""
    topic = uid("bw/b2")
    obs = aio.observe(coap_uri(coap_gw, f"ps/{topic}"))
    body = os.urandom(1500).hex().encode()
    pub = TClient(coap_gw)
    pub.connect()
    pub.publish(topic, body, qos=0)
    notes = obs.expect(1, timeout=8)
    assert len(notes[0].payload) == 3000 and notes[0].payload == body
    pub.close()


def test_block2_notification_raw(coap_gw, raw):
    """RFC 7959 §2.2/§2.4: the notification carries Block2 NUM=0, M=1, SZX 6 (1024 = default
    `max_block_size`) and 1024 bytes; GET with Block2 NUM=1/2 returns the following blocks, the last
    one with M=0, which together are the MQTT payload."""
    topic = uid("bw/b2r")
    tok = b"\xb2"
    first = raw.request(GET, f"ps/{topic}", tkn=tok, options=[(OBSERVE, b"")])
    assert first is not None and first.code_s == "2.05"
    body = bytes(i % 251 for i in range(3000))
    pub = TClient(coap_gw)
    pub.connect()
    pub.publish(topic, body, qos=0)
    n = raw.recv_until(lambda m: m.token == tok and m.type in (CON, NON), 3)
    assert n is not None and n.opt(BLOCK2) is not None, n
    assert _parse_block(n.opt(BLOCK2)) == (0, True, 6) and len(n.payload) == 1024, n
    got = n.payload
    for num in (1, 2):
        r = raw.request(GET, f"ps/{topic}", options=[(BLOCK2, _block(num, False, 6))])
        assert r is not None and r.code_s == "2.05", r
        bnum, more, szx = _parse_block(r.opt(BLOCK2))
        assert (bnum, more) == (num, num == 1), (bnum, more)
        got += r.payload
    assert got == body
    pub.close()


def test_block2_early_negotiation_smaller_size(coap_gw, raw):
    """RFC 7959 §2.4: a Block2 option in the request (early negotiation, SZX 2 = 64 bytes) caps the
    block size of the responses: a 200-byte notification is sent in 64-byte blocks."""
    topic = uid("bw/neg")
    tok = b"\xb3"
    first = raw.request(GET, f"ps/{topic}", tkn=tok, options=[(OBSERVE, b""), (BLOCK2, _block(0, False, 2))])
    assert first is not None and first.code_s == "2.05"
    pub = TClient(coap_gw)
    pub.connect()
    pub.publish(topic, b"k" * 200, qos=0)
    n = raw.recv_until(lambda m: m.token == tok and m.type in (CON, NON), 3)
    assert n is not None and n.opt(BLOCK2) is not None, n
    assert _parse_block(n.opt(BLOCK2)) == (0, True, 2) and len(n.payload) == 64, n
    pub.close()
