"""ack modes auto / client / client-individual and the inflight window (STOMP 1.2 "SUBSCRIBE
ack Header", "ACK", "MESSAGE"; EMQX convention: un-ACKed MESSAGEs count against the session's
inflight window `mqtt.max_inflight`)."""

import pytest

from stomp_helpers import Stomp, TClient, uid


@pytest.fixture
def gw2(make_gateway):
    return make_gateway({"mqtt": {"max_inflight": 2}})


def _pair(gw, topic, ack):
    sub = Stomp(gw)
    sub.connect()
    sub.subscribe(topic, "s", ack=ack)
    pub = Stomp(gw)
    pub.connect()
    return sub, pub


def test_client_individual_window(gw2):
    """STOMP 1.2 "SUBSCRIBE ack Header" (client-individual) + EMQX inflight: with
    max_inflight=2 and no ACK only 2 MESSAGEs arrive; each ACK releases exactly one more,
    in order; every MESSAGE carries an `ack` header (1.2)."""
    topic = uid("ci/")
    sub, pub = _pair(gw2, topic, "client-individual")
    for i in range(5):
        pub.publish(topic, f"m{i}".encode())
    first = sub.messages(2)
    assert [m.body for m in first] == [b"m0", b"m1"]
    assert all(m.get("ack") for m in first) and first[0]["ack"] != first[1]["ack"]
    assert sub.quiet(0.8) == [], "more than max_inflight un-ACKed MESSAGEs delivered"
    sub.ack(first[1])  # individual: frees one slot (not m0's)
    third = sub.messages(1)
    assert third[0].body == b"m2"
    assert sub.quiet(0.5) == []
    sub.ack(first[0])
    sub.ack(third[0])
    rest = sub.messages(2)
    assert [m.body for m in rest] == [b"m3", b"m4"]


def test_client_mode_cumulative_ack(gw2):
    """STOMP 1.2 "SUBSCRIBE ack Header" (client): an ACK is cumulative — it acknowledges the
    message and all earlier ones of the subscription, freeing both inflight slots."""
    topic = uid("cl/")
    sub, pub = _pair(gw2, topic, "client")
    for i in range(5):
        pub.publish(topic, f"m{i}".encode())
    first = sub.messages(2)
    assert [m.body for m in first] == [b"m0", b"m1"]
    assert all(m.get("ack") for m in first)
    assert sub.quiet(0.8) == []
    sub.ack(first[1])  # acknowledges m0 too
    nxt = sub.messages(2)
    assert [m.body for m in nxt] == [b"m2", b"m3"]
    assert sub.quiet(0.4) == []
    sub.ack(nxt[1])
    assert sub.messages(1)[0].body == b"m4"


def test_client_mode_ack_of_first_frees_only_first(gw2):
    """STOMP 1.2 "SUBSCRIBE ack Header" (client): ACK of the OLDEST message acknowledges only it
    (cumulative means 'this and earlier', not 'later')."""
    topic = uid("cl1/")
    sub, pub = _pair(gw2, topic, "client")
    for i in range(4):
        pub.publish(topic, f"m{i}".encode())
    first = sub.messages(2)
    sub.ack(first[0])
    assert [m.body for m in sub.messages(1)] == [b"m2"]
    assert sub.quiet(0.6) == []


def test_auto_mode_never_blocks(gw2):
    """STOMP 1.2 "SUBSCRIBE ack Header" (auto, the default): the client need not ACK; the
    window never fills (QoS 0 delivery), all 10 messages arrive, without an `ack` header."""
    topic = uid("au/")
    sub, pub = _pair(gw2, topic, "auto")
    for i in range(10):
        pub.publish(topic, f"m{i}".encode())
    msgs = sub.messages(10)
    assert [m.body for m in msgs] == [f"m{i}".encode() for i in range(10)]


def test_client_individual_from_mqtt_publisher(gw2):
    """The inflight window also applies to messages coming from MQTT publishers (QoS 1)."""
    topic = uid("cim/")
    sub = Stomp(gw2)
    sub.connect()
    sub.subscribe(topic, "s", ack="client-individual")
    m = TClient(gw2)
    m.connect()
    for i in range(3):
        m.publish(topic, f"q{i}".encode(), qos=1)
    got = sub.messages(2)
    assert sub.quiet(0.6) == []
    sub.ack(got[0])
    assert sub.messages(1)[0].body == b"q2"
    m.disconnect()
