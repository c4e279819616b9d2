"""Frame size limits (STOMP 1.2 "Size Limits": servers MAY limit the number of headers, the
header line length and the body size; exceeding one → ERROR frame then close), per-connection
limits (`max_subscriptions`, `max_transactions`), and isolation from other clients."""

import pytest

from stomp_helpers import Stomp, TClient, uid

LIMITS = {"gateway": {"stomp": {"max_subscriptions": 2, "max_transactions": 2,
                                "frame": {"max_headers": 10, "max_headers_length": 1024,
                                          "max_body_length": 1024}}}}


@pytest.fixture(scope="module")
def lgw(tmp_path_factory):
    from conftest import Gateway

    gw = Gateway(tmp_path_factory.mktemp("lgw"), LIMITS).start()
    yield gw
    gw.stop()


def _c(gw):
    c = Stomp(gw)
    c.connect()
    return c


def _assert_error_close(c):
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR", frames
    assert frames[0].get("message"), f"ERROR without message header: {frames[0]}"


def _bystanders_ok(gw):
    """Another STOMP client and an MQTT client keep working; the process is alive."""
    assert gw.alive()
    topic = uid("by/")
    s = _c(gw)
    s.subscribe(topic, "s")
    m = TClient(gw)
    m.connect()
    m.subscribe(topic)
    s.publish(topic, b"stomp-ok")
    m.publish(topic, b"mqtt-ok", qos=1)
    assert sorted(f.body for f in s.messages(2)) == [b"mqtt-ok", b"stomp-ok"]
    assert sorted(x.payload for x in m.expect_messages(2)) == [b"mqtt-ok", b"stomp-ok"]
    m.disconnect()


def _send_headers(c, n, topic):
    """A SEND frame with exactly n headers (destination + receipt + user headers), no body."""
    h = [("destination", topic), ("receipt", "r")] + [(f"x-h{i}", "v") for i in range(n - 2)]
    c.send("SEND", h)


def test_max_headers_accepted(lgw):
    """STOMP 1.2 "Size Limits": a frame with exactly max_headers (10) headers is accepted."""
    c = _c(lgw)
    _send_headers(c, 10, uid("lim/"))
    assert c.expect("RECEIPT")["receipt-id"] == "r"


def test_too_many_headers(lgw):
    """STOMP 1.2 "Size Limits": more than max_headers (10) headers → ERROR (message) + close;
    other clients unaffected."""
    c = _c(lgw)
    _send_headers(c, 11, uid("lim/"))
    _assert_error_close(c)
    _bystanders_ok(lgw)


def test_header_line_too_long(lgw):
    """STOMP 1.2 "Size Limits": a header line longer than max_headers_length (1024) → ERROR +
    close; a 1000-byte line is accepted."""
    topic = uid("lim/")
    ok = _c(lgw)
    ok.publish(topic, b"", {"x-long": "a" * (1000 - len("x-long:"))}, receipt="ok")
    c = _c(lgw)
    c.send("SEND", {"destination": topic, "x-long": "a" * 2000})
    _assert_error_close(c)
    _bystanders_ok(lgw)


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "nul-terminated"])
def test_body_too_long(lgw, content_length):
    """STOMP 1.2 "Size Limits": a body longer than max_body_length (1024) → ERROR + close, with
    or without content-length; a 1024-byte body is accepted and delivered."""
    topic = uid("lim/")
    s = _c(lgw)
    s.subscribe(topic, "s")
    ok = _c(lgw)
    ok.send("SEND", {"destination": topic, "receipt": "ok"}, b"b" * 1024, content_length=content_length)
    assert ok.expect("RECEIPT")["receipt-id"] == "ok"
    assert len(s.messages(1)[0].body) == 1024
    c = _c(lgw)
    c.send("SEND", {"destination": topic}, b"b" * 1025, content_length=content_length)
    _assert_error_close(c)
    assert s.quiet(0.3) == [], "oversized body was published"
    _bystanders_ok(lgw)


def test_max_subscriptions(lgw):
    """gateway.stomp.max_subscriptions (2): a third SUBSCRIBE on one connection → ERROR + close."""
    c = _c(lgw)
    c.subscribe(uid("ms/"), "1")
    c.subscribe(uid("ms/"), "2")
    c.send("SUBSCRIBE", {"destination": uid("ms/"), "id": "3"})
    _assert_error_close(c)


def test_max_transactions(lgw):
    """gateway.stomp.max_transactions (2): a third concurrently open transaction → ERROR + close."""
    c = _c(lgw)
    c.send("BEGIN", {"transaction": "a"})
    c.send("BEGIN", {"transaction": "b", "receipt": "rb"})
    assert c.expect("RECEIPT")["receipt-id"] == "rb"
    c.send("BEGIN", {"transaction": "c"})
    _assert_error_close(c)


def test_max_tx_frames(make_gateway):
    """gateway.stomp.max_tx_frames (2): a transaction buffering more frames than allowed → ERROR
    + close, and none of its SENDs is published."""
    gw = make_gateway({"gateway": {"stomp": {"max_tx_frames": 2}}})
    topic = uid("mtx/")
    s = _c(gw)
    s.subscribe(topic, "s")
    c = _c(gw)
    c.send("BEGIN", {"transaction": "t"})
    for i in range(3):
        c.send("SEND", {"destination": topic, "transaction": "t"}, f"{i}".encode())
    _assert_error_close(c)
    assert s.quiet(0.4) == []


def test_idle_timeout_before_connect(make_gateway):
    """gateway.stomp.idle_timeout (EMQX convention): a connection that sends no CONNECT within
    idle_timeout (1 s) is closed; one that connects in time stays open."""
    import time

    gw = make_gateway({"gateway": {"stomp": {"idle_timeout": "1s"}}})
    ok = _c(gw)
    idle = Stomp(gw)
    t0 = time.monotonic()
    idle.wait_closed(4)
    assert 0.7 <= time.monotonic() - t0 <= 3.5
    assert ok.quiet(0.2) == []
    ok.publish(uid("idle/"), b"x", receipt="still-open")
