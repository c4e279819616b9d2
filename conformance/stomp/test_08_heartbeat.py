"""Heart-beating (STOMP 1.2 "Heart-beating"): the server sends every max(sx, cy) ms and, if the
client promised cx > 0, expects traffic every max(cx, sy) ms; silence longer than
heartbeat_timeout_factor (2.0) × that interval closes the connection. Server: sx = sy = 1000."""

import time

from stomp_helpers import Stomp, uid


def test_server_sends_heartbeats(gateway):
    """STOMP 1.2 "Heart-beating": client heart-beat 0,500 → the server sends an EOL at least
    every max(sx=1000, cy=500) = 1000 ms (observed on the raw socket): 1000 ms apart, not 500."""
    c = Stomp(gateway)
    f = c.connect(heart_beat="0,500")
    assert f["heart-beat"] == "1000,1000"
    t0 = time.monotonic()
    assert c.quiet(3.6) == [], "unexpected frame"
    beats = [t - t0 for t in c.heartbeats]
    assert len(beats) >= 3, f"only {len(beats)} heart-beats in 3.6 s: {beats}"
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert beats[0] <= 1.6, beats
    assert all(0.6 <= g <= 1.6 for g in gaps), f"heart-beat gaps {gaps} (expected about 1.0 s)"


def test_no_heartbeats_when_client_does_not_want_them(gateway):
    """STOMP 1.2 "Heart-beating": cy = 0 → the server sends no heart-beats; cx = 0 → the server
    does not time the client out on silence."""
    c = Stomp(gateway)
    c.connect(heart_beat="0,0")
    assert c.quiet(2.5) == []
    assert c.heartbeats == []
    topic = uid("hb/")
    c.subscribe(topic, "s")
    c.publish(topic, b"still-alive")
    assert c.expect("MESSAGE").body == b"still-alive"


def test_silent_client_is_closed(gateway):
    """STOMP 1.2 "Heart-beating": the client promised heart-beats every 500 ms (cx) and the
    server wants one every sy=1000 ms → expected every max(500, 1000) = 1000 ms; after
    2.0 × 1000 ms of silence the server closes the connection (not before ~1.5 s, by ~4 s)."""
    c = Stomp(gateway)
    c.connect(heart_beat="500,0")
    t0 = time.monotonic()
    c.wait_closed(6)
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 4.0, f"closed after {elapsed:.2f} s (expected about 2 s)"


def test_client_heartbeats_keep_connection_alive(gateway):
    """STOMP 1.2 "Heart-beating": a client that keeps its promise (an EOL every 400 ms, cx=500)
    is not disconnected, well past 2 × the negotiated interval."""
    c = Stomp(gateway)
    c.connect(heart_beat="500,0")
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        c.send_raw(b"\n")
        assert [f for f in c.quiet(0.4) if f.command == "<EOF>"] == [], "closed despite heart-beats"
    topic = uid("hb/")
    c.subscribe(topic, "s")
    c.publish(topic, b"ok")
    assert c.expect("MESSAGE").body == b"ok"
