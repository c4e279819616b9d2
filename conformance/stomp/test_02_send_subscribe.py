"""SEND → SUBSCRIBE delivery, MESSAGE headers, wildcards, UNSUBSCRIBE, subscription ids
(STOMP 1.2 "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "MESSAGE", "Value Encoding"; MQTT topic filters
as destinations per EMQX convention)."""

import pytest

from stomp_helpers import Stomp, StompPy, TClient, uid


def _client(gw):
    c = Stomp(gw)
    c.connect()
    return c


def test_send_reaches_subscriber(gateway):
    """STOMP 1.2 "MESSAGE": a SEND to a destination is delivered to its subscribers as MESSAGE
    with `destination`, `message-id` (unique) and `subscription` (= the SUBSCRIBE id) headers,
    body intact, in order."""
    topic = uid("s/")
    sub, pub = _client(gateway), _client(gateway)
    sub.subscribe(topic, "sub-A")
    for i in range(10):
        pub.publish(topic, f"m{i}".encode())
    msgs = sub.messages(10)
    assert [m.body for m in msgs] == [f"m{i}".encode() for i in range(10)]
    assert all(m["subscription"] == "sub-A" and m["destination"] == topic for m in msgs)
    assert len({m["message-id"] for m in msgs}) == 10


def test_stomp_py_pub_sub(gateway):
    """Interoperability: stomp.py publisher → stomp.py subscriber, user header carried."""
    topic = uid("py/")
    sub, pub = StompPy(gateway).connect(), StompPy(gateway).connect()
    sub.subscribe(topic, "42")
    pub.c.send(topic, "payload", headers={"x-app": "demo"})
    m = sub.expect_messages(1)[0]
    assert m.body == "payload" and m.headers["x-app"] == "demo" and m.headers["subscription"] == "42"
    sub.disconnect()
    pub.disconnect()


def test_wildcard_single_level(gateway):
    """EMQX convention: a destination with MQTT '+' matches exactly one level."""
    base = uid("w")
    sub, pub = _client(gateway), _client(gateway)
    sub.subscribe(f"{base}/+", "plus")
    for t in (f"{base}/a", f"{base}/a/b", f"{base}", f"{base}/c"):
        pub.publish(t, t.encode())
    msgs = sub.messages(2)
    assert sorted(m["destination"] for m in msgs) == [f"{base}/a", f"{base}/c"]
    assert all(m["subscription"] == "plus" for m in msgs)
    assert sub.quiet(0.4) == []


def test_wildcard_multi_level(gateway):
    """EMQX convention: a destination with MQTT '#' matches the parent and all descendants."""
    base = uid("w")
    sub, pub = _client(gateway), _client(gateway)
    sub.subscribe(f"{base}/#", "hash")
    for t in (f"{base}/a", f"{base}/a/b/c", f"{base}", f"other{base}/a"):
        pub.publish(t, b"x")
    msgs = sub.messages(3)
    assert sorted(m["destination"] for m in msgs) == sorted([f"{base}/a", f"{base}/a/b/c", f"{base}"])
    assert sub.quiet(0.4) == []


def test_two_subscriptions_one_connection(gateway):
    """STOMP 1.2 "SUBSCRIBE id Header": one connection may hold several subscriptions; each
    MESSAGE names the subscription it matched."""
    base = uid("two")
    c = _client(gateway)
    c.subscribe(f"{base}/a", "A")
    c.subscribe(f"{base}/b", "B")
    c.publish(f"{base}/b", b"to-b")
    c.publish(f"{base}/a", b"to-a")
    got = {m.body: m["subscription"] for m in c.messages(2)}
    assert got == {b"to-b": "B", b"to-a": "A"}


def test_unsubscribe_stops_delivery(gateway):
    """STOMP 1.2 "UNSUBSCRIBE": after UNSUBSCRIBE (by id) the client no longer receives messages
    from that subscription."""
    topic = uid("u/")
    sub, pub = _client(gateway), _client(gateway)
    sub.subscribe(topic, "9")
    pub.publish(topic, b"before")
    assert sub.messages(1)[0].body == b"before"
    sub.unsubscribe("9")
    pub.publish(topic, b"after", receipt="p")
    assert sub.quiet(0.6) == []


def test_duplicate_subscription_id_is_error(gateway):
    """STOMP 1.2 "SUBSCRIBE id Header": the id MUST be unique within the connection; reusing it
    is answered with ERROR (message header) and the connection is closed ("ERROR")."""
    base = uid("dup")
    c = _client(gateway)
    c.subscribe(f"{base}/1", "same")
    c.send("SUBSCRIBE", {"destination": f"{base}/2", "id": "same"})
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR" and "message" in frames[0].headers, frames


def test_duplicate_destination_is_error(gateway):
    """EMQX convention: a second subscription to the same destination on one connection →
    ERROR + close."""
    topic = uid("dupd/")
    c = _client(gateway)
    c.subscribe(topic, "a")
    c.send("SUBSCRIBE", {"destination": topic, "id": "b"})
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR", frames


def test_subscribe_without_id_is_error(gateway):
    """STOMP 1.2 "SUBSCRIBE id Header": an id header MUST be included (1.1+) → ERROR + close."""
    c = _client(gateway)
    c.send("SUBSCRIBE", {"destination": uid("noid/")})
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR", frames


def test_send_without_destination_is_error(gateway):
    """STOMP 1.2 "SEND": REQUIRED header destination; missing → ERROR + close."""
    c = _client(gateway)
    c.send("SEND", {}, b"nowhere")
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR", frames


def test_header_value_escaping(gateway):
    """STOMP 1.2 "Value Encoding": \\c, \\n, \\\\ in header values are decoded on input and
    re-encoded on output, so a user header with ':' and newline round-trips (seen decoded by an
    MQTT 5 subscriber as a User Property)."""
    topic = uid("esc/")
    m5 = TClient(gateway)
    m5.connect()
    m5.subscribe(topic)
    sub, pub = _client(gateway), _client(gateway)
    sub.subscribe(topic, "e")
    pub.send("SEND", [("destination", topic), ("x-esc", r"a\cb\nc\\d")], b"e")
    m = sub.messages(1)[0]
    assert m["x-esc"] == "a:b\nc\\d"
    msg = m5.expect_messages(1)[0]
    assert ("x-esc", "a:b\nc\\d") in (msg.prop("UserProperty") or [])
    m5.disconnect()
