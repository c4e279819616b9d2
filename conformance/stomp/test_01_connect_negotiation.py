"""CONNECT / STOMP frames, protocol version negotiation, CONNECTED headers (STOMP 1.2
"Connecting", "Protocol Negotiation", "CONNECTED Frame", "ERROR")."""

import re

import pytest

from stomp_helpers import Stomp, StompPy, TClient, uid


@pytest.mark.parametrize("command", ["CONNECT", "STOMP"])
@pytest.mark.parametrize(
    "accept,expected",
    [("1.0,1.1,1.2", "1.2"), ("1.2", "1.2"), ("1.1", "1.1"), ("1.0", "1.0"), ("1.0,1.1", "1.1"),
     ("1.1,1.0", "1.1"), ("1.0,1.2,9.9", "1.2")],
)
def test_version_negotiation(gateway, command, accept, expected):
    """STOMP 1.2 "Protocol Negotiation": the server responds with the highest protocol version
    that both sides support (from accept-version). "Connecting": a 1.2 server accepts the
    STOMP command as well as CONNECT."""
    c = Stomp(gateway)
    f = c.connect(version=accept, command=command)
    assert f["version"] == expected
    c.close()


def test_no_accept_version_means_1_0(gateway):
    """STOMP 1.2 "Protocol Negotiation": if the accept-version header is missing, the client
    only supports version 1.0 (CONNECTED carries version 1.0, or none at all as in 1.0)."""
    c = Stomp(gateway)
    f = c.connect(version=None, heart_beat=None, host=None)
    assert f.get("version", "1.0") == "1.0"
    # a 1.0 session is usable: SEND/SUBSCRIBE without an id header (id is optional in 1.0)
    topic = uid("v10/")
    c.send("SUBSCRIBE", {"destination": topic, "receipt": "r1"})
    assert c.expect("RECEIPT")["receipt-id"] == "r1"
    c.publish(topic, b"one-oh")
    m = c.expect("MESSAGE")
    assert m.body == b"one-oh" and m["destination"] == topic


def test_connected_headers(gateway):
    """STOMP 1.2 "CONNECTED Frame": REQUIRED version; OPTIONAL heart-beat (sx,sy of the server,
    here the configured 1000,1000), session (unique per connection) and server
    ("name/version" form)."""
    a, b = Stomp(gateway), Stomp(gateway)
    fa = a.connect(version="1.2", heart_beat="0,0")
    fb = b.connect(version="1.2", heart_beat="0,0")
    assert fa["version"] == "1.2"
    assert fa["heart-beat"] == "1000,1000"
    assert re.fullmatch(r"[^/\s]+/\S+", fa["server"]), fa
    assert fa["session"] and fb["session"] and fa["session"] != fb["session"]


def test_no_common_version_error(gateway):
    """STOMP 1.2 "Protocol Negotiation": no common version → ERROR frame whose `version` header
    lists the versions the server supports; "ERROR": the server then closes the connection."""
    c = Stomp(gateway)
    f = c.connect(version="2.0,3.1", expect=False)
    assert f.command == "ERROR", f
    assert set(f["version"].split(",")) == {"1.0", "1.1", "1.2"}
    assert "message" in f.headers
    c.wait_closed()


@pytest.mark.parametrize("command,headers", [
    ("SEND", {"destination": "early/send"}),
    ("SUBSCRIBE", {"destination": "early/sub", "id": "0"}),
    ("DISCONNECT", {"receipt": "x"}),
])
def test_frame_before_connect_is_error(gateway, command, headers):
    """STOMP 1.2 "Connecting": a client initiates the session with CONNECT/STOMP; any other frame
    first is a protocol error → ERROR (with a `message` header) and close ("ERROR": the server
    MUST close the connection just after sending ERROR). Nothing is published."""
    watcher = TClient(gateway)
    watcher.connect()
    watcher.subscribe("early/#")
    c = Stomp(gateway)
    c.send(command, headers)
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR" and "message" in frames[0].headers, frames
    assert watcher.quiet(0.3) == []
    watcher.disconnect()


def test_login_passcode_accepted(gateway):
    """STOMP 1.2 "CONNECT or STOMP Frame": login/passcode headers are passed to authentication;
    the default (allow-all) authentication accepts them, and the session works."""
    c = Stomp(gateway)
    c.connect(login="alice", passcode="secret")
    topic = uid("login/")
    c.subscribe(topic, "s")
    c.publish(topic, b"hi")
    assert c.expect("MESSAGE").body == b"hi"


def test_stomp_py_connects(gateway):
    """Interoperability: the stomp.py 1.2 client connects (with login/passcode), subscribes with
    a receipt and receives its own SEND."""
    c = StompPy(gateway).connect(username="bob", passcode="pw")
    topic = uid("py/")
    c.subscribe(topic, "7")
    c.c.send(topic, "from stomp.py")
    m = c.expect_messages(1)[0]
    assert m.body == "from stomp.py"
    assert m.headers["subscription"] == "7" and m.headers["destination"] == topic
    c.disconnect()
