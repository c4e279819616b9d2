"""Connection mode (`gateway.coap.connection_required = true`; EMQX CoAP gateway §2.2–§2.4):
POST/PUT/DELETE /mqtt/connection, token-checked /ps requests, heartbeat timeout."""

import time

import pytest

from coap_helpers import (DELETE, GET, OBSERVE, POST, PUT, RawCoap, TClient, mqtt_sub, start_gateway, uid)


@pytest.fixture(scope="module")
def conn_gw(tmp_path_factory):
    gw = start_gateway(tmp_path_factory, {"connection_required": True})
    yield gw
    gw.stop()


@pytest.fixture
def peer(conn_gw):
    r = RawCoap(conn_gw)
    yield r
    r.close()


def _connect(peer, cid, **extra):
    r = peer.request(POST, "mqtt/connection", clientid=cid, **extra)
    assert r is not None and r.code_s == "2.01", r
    assert r.payload.isdigit() and 1 <= int(r.payload) <= 0xFFFFFFFF, r.payload
    return r.payload.decode()


def test_connect_returns_token(peer):
    """EMQX §2.3: POST /mqtt/connection?clientid&username&password → 2.01 Created with the token
    (decimal string) as payload."""
    _connect(peer, uid("cm"), username="u", password="p")


def test_connect_without_clientid(peer):
    """EMQX §2.3: POST /mqtt/connection without clientid → 4.00 "Login Failed: clientid is required"."""
    r = peer.request(POST, "mqtt/connection", username="u")
    assert r is not None and r.code_s == "4.00", r
    assert b"clientid is required" in r.payload


def test_publish_with_token(conn_gw, peer):
    """EMQX §2.2/§2.4: in connection mode POST /ps/{topic}?clientid&token → 2.04 and published."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    topic = uid("cm/pub")
    sub = mqtt_sub(conn_gw, topic)
    r = peer.request(POST, f"ps/{topic}", payload=b"conn-mode", clientid=cid, token=tok)
    assert r is not None and r.code_s == "2.04", r
    assert sub.expect_messages(1)[0].payload == b"conn-mode"
    sub.close()


def test_short_names_c_t(conn_gw, peer):
    """EMQX §2.2 short names: c=clientid, t=token also authenticate a publish."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    r = peer.request(POST, f"ps/{uid('cm/s')}", payload=b"s", c=cid, t=tok)
    assert r is not None and r.code_s == "2.04", r


def test_publish_without_token(conn_gw, peer):
    """EMQX §2.3: any request in connection mode without token → 4.00
    "Missing token or clientid in connection mode"; nothing is published."""
    cid = uid("cm")
    _connect(peer, cid)
    topic = uid("cm/notok")
    sub = mqtt_sub(conn_gw, topic)
    r = peer.request(POST, f"ps/{topic}", payload=b"x", clientid=cid)
    assert r is not None and r.code_s == "4.00", r
    assert r.payload == b"Missing token or clientid in connection mode"
    assert sub.quiet(0.5) == []
    sub.close()


def test_publish_wrong_token(conn_gw, peer):
    """EMQX §2.3: same clientid with a wrong token → 4.01 Unauthorized; nothing is published."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    topic = uid("cm/bad")
    sub = mqtt_sub(conn_gw, topic)
    wrong = str((int(tok) % 4294967295) + 1)
    r = peer.request(POST, f"ps/{topic}", payload=b"x", clientid=cid, token=wrong)
    assert r is not None and r.code_s == "4.01", r
    assert sub.quiet(0.5) == []
    sub.close()


def test_publish_before_connect(conn_gw, peer):
    """EMQX §2.4: connection mode requires POST /mqtt/connection first; a /ps request with an
    invented clientid/token from an unconnected peer is refused (4.xx) and not published."""
    topic = uid("cm/none")
    sub = mqtt_sub(conn_gw, topic)
    r = peer.request(POST, f"ps/{topic}", payload=b"x", clientid=uid("ghost"), token="12345")
    assert r is not None and r.code_s in ("4.00", "4.01"), r
    assert sub.quiet(0.5) == []
    sub.close()


def test_observe_in_connection_mode(conn_gw, peer):
    """EMQX §2.2: observe in connection mode needs clientid+token; then notifications flow."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    topic = uid("cm/obs")
    r = peer.request(GET, f"ps/{topic}", tkn=b"\x50", options=[(OBSERVE, b"")], clientid=cid)
    assert r is not None and r.code_s == "4.00", r
    r = peer.request(GET, f"ps/{topic}", tkn=b"\x51", options=[(OBSERVE, b"")], clientid=cid, token=tok)
    assert r is not None and r.code_s == "2.05", r
    pub = TClient(conn_gw)
    pub.connect()
    pub.publish(topic, b"n", qos=0)
    n = peer.recv_until(lambda m: m.token == b"\x51" and m.payload == b"n", 3)
    assert n is not None
    pub.close()


def test_heartbeat_and_disconnect(conn_gw, peer):
    """EMQX §2.3: PUT /mqtt/connection (heartbeat) → 2.04 Changed; DELETE → 2.02 Deleted and the
    connection is closed, so the old token no longer publishes."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    r = peer.request(PUT, "mqtt/connection", clientid=cid, token=tok)
    assert r is not None and r.code_s == "2.04", r
    r = peer.request(DELETE, "mqtt/connection", clientid=cid, token=tok)
    assert r is not None and r.code_s == "2.02", r
    topic = uid("cm/after")
    sub = mqtt_sub(conn_gw, topic)
    r = peer.request(POST, f"ps/{topic}", payload=b"x", clientid=cid, token=tok)
    assert r is not None and r.code_s.startswith("4."), r
    assert sub.quiet(0.5) == []
    sub.close()


def test_heartbeat_wrong_token(peer):
    """EMQX §2.3: PUT /mqtt/connection with a wrong token → 4.01; without token → 4.00."""
    cid = uid("cm")
    tok = _connect(peer, cid)
    r = peer.request(PUT, "mqtt/connection", clientid=cid, token=str(int(tok) ^ 1 or 2))
    assert r is not None and r.code_s == "4.01", r
    r = peer.request(PUT, "mqtt/connection", clientid=cid)
    assert r is not None and r.code_s == "4.00", r


def test_connect_twice_refused(peer):
    """EMQX §2.3: POST /mqtt/connection on an already connected channel → 4.00."""
    cid = uid("cm")
    _connect(peer, cid)
    r = peer.request(POST, "mqtt/connection", clientid=cid)
    assert r is not None and r.code_s == "4.00", r


def test_heartbeat_timeout(tmp_path_factory):
    """EMQX §2.1/§2.4: with `heartbeat = 1s`, a connection without traffic for longer than the
    heartbeat (× 1.5) is removed: the next publish with the old token fails (4.xx). A connection
    that sends PUT heartbeats every 0.4 s stays usable past the same interval."""
    gw = start_gateway(tmp_path_factory, {"connection_required": True, "heartbeat": "1s"})
    idle, busy = RawCoap(gw), RawCoap(gw)
    try:
        cid_i, cid_b = uid("hbi"), uid("hbb")
        tok_i = _connect(idle, cid_i)
        tok_b = _connect(busy, cid_b)
        end = time.monotonic() + 2.6
        while time.monotonic() < end:
            r = busy.request(PUT, "mqtt/connection", clientid=cid_b, token=tok_b)
            assert r is not None and r.code_s == "2.04", r
            time.sleep(0.4)
        topic = uid("hb/t")
        sub = mqtt_sub(gw, topic)
        r = busy.request(POST, f"ps/{topic}", payload=b"alive", clientid=cid_b, token=tok_b)
        assert r is not None and r.code_s == "2.04", r
        r = idle.request(POST, f"ps/{topic}", payload=b"dead", clientid=cid_i, token=tok_i)
        assert r is not None and r.code_s.startswith("4."), r
        assert [m.payload for m in sub.quiet(0.5)] == [b"alive"]
        sub.close()
    finally:
        idle.close()
        busy.close()
        gw.stop()
