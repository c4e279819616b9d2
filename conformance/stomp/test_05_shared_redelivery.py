"""Shared subscriptions over STOMP and redelivery of NACKed / un-ACKed messages (EMQX
convention for `$queue/…` and `$share/<g>/…`; STOMP 1.2 "NACK": the message was not consumed)."""

import pytest

from stomp_helpers import Stomp, TClient, uid


def _sub(gw, dest, sid="s", ack="client-individual"):
    c = Stomp(gw)
    c.connect()
    c.subscribe(dest, sid, ack=ack)
    return c


def _deliver_one(a, b, pub, topic, body):
    """Publish one message; return (receiver, other, frame)."""
    pub.publish(topic, body, receipt=uid("p"))
    got = {}
    for c in (a, b):
        fr = c.quiet(0.6)
        if fr:
            got[id(c)] = (c, fr)
    assert len(got) == 1, f"shared message delivered to {len(got)} members"
    (c, fr), = got.values()
    assert len(fr) == 1 and fr[0].command == "MESSAGE" and fr[0].body == body, fr
    return c, (b if c is a else a), fr[0]


@pytest.mark.parametrize("kind", ["$queue", "$share"])
def test_nack_redelivered_to_other_member(gateway, kind):
    """EMQX convention: a NACKed message of a shared subscription is redelivered to another
    member of the group (exactly once), with its original body and destination."""
    topic = uid("jobs")
    dest = f"$queue/{topic}" if kind == "$queue" else f"$share/g1/{topic}"
    a, b = _sub(gateway, dest), _sub(gateway, dest)
    pub = Stomp(gateway)
    pub.connect()
    receiver, other, f = _deliver_one(a, b, pub, topic, b"job-1")
    receiver.nack(f)
    r = other.messages(1)[0]
    assert r.body == b"job-1" and r["destination"] == topic
    assert receiver.quiet(0.4) == []


@pytest.mark.parametrize("how", ["disconnect", "abort", "unsubscribe"])
def test_unacked_redelivered_when_member_leaves(gateway, how):
    """EMQX convention: messages left un-ACKed when a member DISCONNECTs, drops its TCP
    connection, or UNSUBSCRIBEs are redelivered to another member of the shared group."""
    topic = uid("jobs")
    dest = f"$queue/{topic}"
    a, b = _sub(gateway, dest), _sub(gateway, dest)
    pub = Stomp(gateway)
    pub.connect()
    receiver, other, f = _deliver_one(a, b, pub, topic, b"job-x")
    if how == "disconnect":
        receiver.send("DISCONNECT", {"receipt": "bye"})
        receiver.wait_closed()
    elif how == "abort":
        receiver.abort()
    else:
        receiver.unsubscribe("s")
    r = other.messages(1)[0]
    assert r.body == b"job-x"
    other.ack(r)
    assert other.quiet(0.4) == []


def test_acked_message_not_redelivered(gateway):
    """EMQX convention: an ACKed shared message is consumed; the member leaving afterwards does
    not cause a redelivery."""
    topic = uid("jobs")
    a, b = _sub(gateway, f"$queue/{topic}"), _sub(gateway, f"$queue/{topic}")
    pub = Stomp(gateway)
    pub.connect()
    receiver, other, f = _deliver_one(a, b, pub, topic, b"done")
    receiver.ack(f)
    receiver.send("DISCONNECT", {"receipt": "bye"})
    receiver.wait_closed()
    assert other.quiet(0.8) == []


def test_plain_topic_nack_not_redelivered(gateway):
    """EMQX convention: on a plain (non-shared) subscription a NACKed message is dropped — not
    redelivered to the NACKing client nor to other subscribers (each already had its copy)."""
    topic = uid("plain/")
    a, b = _sub(gateway, topic), _sub(gateway, topic)
    pub = Stomp(gateway)
    pub.connect()
    pub.publish(topic, b"once", receipt="p")
    fa, fb = a.messages(1)[0], b.messages(1)[0]
    assert fa.body == fb.body == b"once"
    a.nack(fa)
    assert a.quiet(0.8) == [] and b.quiet(0.1) == []


def test_shared_group_mixed_with_mqtt_member(gateway):
    """EMQX convention: a shared group may mix protocols; a STOMP member's NACK is redelivered
    to an MQTT member of the same `$share` group."""
    topic = uid("mix")
    s = _sub(gateway, f"$share/mix/{topic}")
    m = TClient(gateway)
    m.connect()
    m.subscribe(f"$share/mix/{topic}", 1)
    pub = TClient(gateway)
    pub.connect()
    # publish until the STOMP member gets one (round-robin / random strategies)
    for i in range(10):
        pub.publish(topic, f"n{i}".encode(), qos=1)
        fr = s.quiet(0.3)
        if fr:
            break
    assert fr and fr[0].command == "MESSAGE", "STOMP member never received a shared message"
    before = len(m.messages)
    s.nack(fr[0])
    msgs = m.expect_messages(before + 1)
    assert msgs[-1].payload == fr[0].body
    m.disconnect()
    pub.disconnect()
