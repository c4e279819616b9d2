"""Transactions BEGIN / COMMIT / ABORT (STOMP 1.2 "BEGIN", "COMMIT", "ABORT", "SEND" and "ACK"
with a `transaction` header)."""

from stomp_helpers import Stomp, TClient, uid


def _c(gw):
    c = Stomp(gw)
    c.connect()
    return c


def test_send_in_tx_delivered_only_on_commit(gateway):
    """STOMP 1.2 "BEGIN"/"COMMIT": SENDs in a transaction are not delivered before COMMIT; at
    COMMIT all of them are delivered, in order (to STOMP and MQTT subscribers)."""
    topic = uid("tx/")
    sub, tx = _c(gateway), _c(gateway)
    sub.subscribe(topic, "s")
    m = TClient(gateway)
    m.connect()
    m.subscribe(topic)
    tx.send("BEGIN", {"transaction": "t1", "receipt": "b"})
    assert tx.expect("RECEIPT")["receipt-id"] == "b"
    for i in range(3):
        tx.publish(topic, f"t{i}".encode(), {"transaction": "t1"}, receipt=f"s{i}")
    assert sub.quiet(0.6) == [] and m.quiet(0.1) == []
    tx.send("COMMIT", {"transaction": "t1", "receipt": "c"})
    assert tx.expect("RECEIPT")["receipt-id"] == "c"
    assert [f.body for f in sub.messages(3)] == [b"t0", b"t1", b"t2"]
    assert [x.payload for x in m.expect_messages(3)] == [b"t0", b"t1", b"t2"]
    m.disconnect()


def test_abort_discards(gateway):
    """STOMP 1.2 "ABORT": the SENDs of an aborted transaction are never delivered; a SEND
    outside the transaction is delivered immediately."""
    topic = uid("tx/")
    sub, tx = _c(gateway), _c(gateway)
    sub.subscribe(topic, "s")
    tx.send("BEGIN", {"transaction": "t2"})
    tx.publish(topic, b"in-tx", {"transaction": "t2"})
    tx.publish(topic, b"no-tx", receipt="n")
    assert [f.body for f in sub.messages(1)] == [b"no-tx"]
    tx.send("ABORT", {"transaction": "t2", "receipt": "a"})
    assert tx.expect("RECEIPT")["receipt-id"] == "a"
    assert sub.quiet(0.7) == []


def test_disconnect_aborts_open_tx(gateway):
    """STOMP 1.2 "BEGIN": transactions not committed are implicitly aborted when the client
    sends DISCONNECT or the connection fails."""
    topic = uid("tx/")
    sub = _c(gateway)
    sub.subscribe(topic, "s")
    for how in ("disconnect", "abort"):
        tx = _c(gateway)
        tx.send("BEGIN", {"transaction": "t"})
        tx.publish(topic, how.encode(), {"transaction": "t"}, receipt="r")
        if how == "disconnect":
            tx.send("DISCONNECT", {"receipt": "bye"})
            tx.wait_closed()
        else:
            tx.abort()
    assert sub.quiet(0.7) == []


def test_ack_in_tx_takes_effect_on_commit(make_gateway):
    """STOMP 1.2 "ACK" (transaction header: the ACK is part of the named transaction): with
    max_inflight=2 and client-individual, an ACK inside a transaction does not free the inflight
    slot until COMMIT."""
    gw = make_gateway({"mqtt": {"max_inflight": 2}})
    topic = uid("txack/")
    sub, pub = _c(gw), _c(gw)
    sub.subscribe(topic, "s", ack="client-individual")
    for i in range(3):
        pub.publish(topic, f"m{i}".encode())
    first = sub.messages(2)
    sub.send("BEGIN", {"transaction": "ta"})
    sub.ack(first[0], transaction="ta")
    assert sub.quiet(0.8) == [], "ACK in an uncommitted transaction freed the inflight slot"
    sub.send("COMMIT", {"transaction": "ta"})
    assert sub.messages(1)[0].body == b"m2"


def test_aborted_ack_does_not_release(make_gateway):
    """STOMP 1.2 "ABORT": an ACK in an aborted transaction is dropped — the slot stays taken;
    a later ACK outside a transaction releases it."""
    gw = make_gateway({"mqtt": {"max_inflight": 2}})
    topic = uid("txab/")
    sub, pub = _c(gw), _c(gw)
    sub.subscribe(topic, "s", ack="client-individual")
    for i in range(3):
        pub.publish(topic, f"m{i}".encode())
    first = sub.messages(2)
    sub.send("BEGIN", {"transaction": "tb"})
    sub.ack(first[0], transaction="tb")
    sub.send("ABORT", {"transaction": "tb"})
    assert sub.quiet(0.8) == []
    sub.ack(first[0])
    assert sub.messages(1)[0].body == b"m2"


def test_nack_in_tx_redelivers_on_commit(gateway):
    """STOMP 1.2 "NACK" with a transaction header + EMQX shared redelivery: a NACK in a
    transaction hands the message to the other `$queue` member only at COMMIT."""
    topic = uid("txq")
    a, b = _c(gateway), _c(gateway)
    a.subscribe(f"$queue/{topic}", "s", ack="client-individual")
    b.subscribe(f"$queue/{topic}", "s", ack="client-individual")
    pub = _c(gateway)
    pub.publish(topic, b"job", receipt="p")
    fa, fb = a.quiet(0.6), b.quiet(0.0001)
    receiver, other = (a, b) if fa else (b, a)
    f = (fa or fb)[0]
    receiver.send("BEGIN", {"transaction": "tn"})
    receiver.nack(f, transaction="tn")
    assert other.quiet(0.7) == []
    receiver.send("COMMIT", {"transaction": "tn"})
    assert other.messages(1)[0].body == b"job"


def test_commit_unknown_transaction_is_error(gateway):
    """STOMP 1.2 "COMMIT"/"BEGIN": COMMIT names a transaction begun on this connection; an
    unknown transaction is a protocol error → ERROR (message header) + close (EMQX convention)."""
    c = _c(gateway)
    c.send("COMMIT", {"transaction": "nope"})
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR" and "message" in frames[0].headers, frames


def test_begin_same_transaction_twice_is_error(gateway):
    """STOMP 1.2 "BEGIN": within one connection different transactions MUST use different
    identifiers; a second BEGIN of an open transaction → ERROR + close."""
    c = _c(gateway)
    c.send("BEGIN", {"transaction": "dup"})
    c.send("BEGIN", {"transaction": "dup"})
    frames = c.wait_closed()
    assert frames and frames[0].command == "ERROR", frames
