"""RECEIPT frames (STOMP 1.2 "Header receipt", "RECEIPT", "DISCONNECT")."""

import pytest

from stomp_helpers import Stomp, StompPy, uid


def _c(gw):
    c = Stomp(gw)
    c.connect()
    return c


@pytest.mark.parametrize("command,headers", [
    ("SEND", {"destination": "rcpt/send"}),
    ("SUBSCRIBE", {"destination": "rcpt/sub", "id": "1"}),
    ("BEGIN", {"transaction": "t"}),
])
def test_receipt_for_frame(gateway, command, headers):
    """STOMP 1.2 "Header receipt": any client frame other than CONNECT may carry `receipt`; the
    server acknowledges it with RECEIPT whose receipt-id equals the receipt header."""
    c = _c(gateway)
    rid = uid("rid-")
    c.send(command, {**headers, "receipt": rid})
    assert c.expect("RECEIPT")["receipt-id"] == rid


def test_receipts_for_every_step(gateway):
    """STOMP 1.2 "Header receipt": SUBSCRIBE, SEND, ACK, UNSUBSCRIBE, BEGIN, COMMIT each get
    their own RECEIPT, in the order sent (the server processes a connection's frames in order)."""
    c = _c(gateway)
    topic = uid("rc/")
    c.send("SUBSCRIBE", {"destination": topic, "id": "a", "ack": "client-individual", "receipt": "r-sub"})
    assert c.expect("RECEIPT")["receipt-id"] == "r-sub"
    c.send("SEND", {"destination": topic, "receipt": "r-send"}, b"x")
    frames = c.frames(2)
    assert sorted(f.command for f in frames) == ["MESSAGE", "RECEIPT"], frames
    msg = next(f for f in frames if f.command == "MESSAGE")
    assert next(f for f in frames if f.command == "RECEIPT")["receipt-id"] == "r-send"
    c.send("ACK", {"id": msg["ack"], "receipt": "r-ack"})
    c.send("BEGIN", {"transaction": "t", "receipt": "r-begin"})
    c.send("COMMIT", {"transaction": "t", "receipt": "r-commit"})
    c.send("UNSUBSCRIBE", {"id": "a", "receipt": "r-unsub"})
    ids = [c.expect("RECEIPT")["receipt-id"] for _ in range(4)]
    assert ids == ["r-ack", "r-begin", "r-commit", "r-unsub"]


def test_disconnect_with_receipt(gateway):
    """STOMP 1.2 "DISCONNECT": DISCONNECT with a receipt → RECEIPT with that receipt-id, then the
    server closes the connection."""
    c = _c(gateway)
    c.send("DISCONNECT", {"receipt": "77"})
    frames = c.wait_closed(3)
    assert [f.command for f in frames] == ["RECEIPT"] and frames[0]["receipt-id"] == "77", frames


def test_receipt_after_prior_sends_visible(gateway):
    """STOMP 1.2 "RECEIPT": a RECEIPT acknowledges that the server has processed the frame — a
    message SENT with a receipt is already routed when the RECEIPT arrives."""
    topic = uid("rv/")
    sub, pub = _c(gateway), _c(gateway)
    sub.subscribe(topic, "s")
    for i in range(5):
        pub.publish(topic, f"{i}".encode(), receipt=f"r{i}")
    assert len(sub.messages(5)) == 5


def test_stomp_py_receipt(gateway):
    """Interoperability: stomp.py receives the RECEIPT of a SEND."""
    c = StompPy(gateway).connect()
    c.c.send(uid("rp/"), "b", headers={"receipt": "py-r"})
    c.wait_receipt("py-r")
    c.disconnect()
