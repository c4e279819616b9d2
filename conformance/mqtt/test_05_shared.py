"""Shared subscriptions ($share/<group>/<filter> and EMQX's $queue/<filter>)."""

import collections
import time

import pytest

from mqtt_helpers import TClient, uid


def _members(gw, filt, n=2, proto=5, qos=1):
    members = []
    for _ in range(n):
        c = TClient(gw, proto=proto)
        c.connect()
        assert c.subscribe(filt, qos)[0] == qos
        members.append(c)
    return members


def _publish(gw, topic, n, qos=1):
    p = TClient(gw, proto=5)
    p.connect()
    for i in range(n):
        p.publish(topic, b"%d" % i, qos=qos)
    p.disconnect()


@pytest.mark.parametrize("prefix", ["$share/g1/", "$queue/"])
def test_each_message_to_exactly_one_member(gateway, prefix):
    """4.8.2 (5.0) shared subscriptions / EMQX $queue: each message goes to exactly one
    member of the group; together the members get all N messages once."""
    topic = uid("sh/")
    members = _members(gateway, prefix + topic)
    n = 20
    _publish(gateway, topic, n)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(len(m.messages) for m in members) < n:
        time.sleep(0.05)
    time.sleep(0.3)
    got = [msg.payload for m in members for msg in m.messages]
    assert sorted(got) == sorted(b"%d" % i for i in range(n)), "lost or duplicated"
    assert all(msg.topic == topic for m in members for msg in m.messages)
    for m in members:
        m.disconnect()


def test_round_robin_even(gateway):
    """EMQX `shared_subscription_strategy = round_robin` (default): 2 members and 10 messages
    → 5 each."""
    topic = uid("rr/")
    members = _members(gateway, "$share/rr/" + topic)
    _publish(gateway, topic, 10)
    for m in members:
        m.expect_messages(5)
    time.sleep(0.3)
    assert [len(m.messages) for m in members] == [5, 5]
    for m in members:
        m.disconnect()


def test_member_leaves_messages_keep_flowing(gateway):
    """4.8.2 (5.0): when a member disconnects (clean session, so its subscription ends), the
    remaining member gets every later message."""
    topic = uid("leave/")
    a, b = _members(gateway, "$share/gl/" + topic)
    a.disconnect()
    time.sleep(0.2)
    _publish(gateway, topic, 6)
    msgs = b.expect_messages(6)
    assert sorted(m.payload for m in msgs) == sorted(b"%d" % i for i in range(6))
    b.disconnect()


def test_plain_subscriber_gets_everything(gateway):
    """4.8.2 (5.0): a non-shared subscription on the same topic is independent of the group
    and receives every message."""
    topic = uid("mix/")
    members = _members(gateway, "$share/gm/" + topic)
    plain = TClient(gateway, proto=4)
    plain.connect()
    plain.subscribe(topic, 1)
    _publish(gateway, topic, 8)
    msgs = plain.expect_messages(8)
    assert [m.payload for m in msgs] == [b"%d" % i for i in range(8)]
    time.sleep(0.3)
    assert sum(len(m.messages) for m in members) == 8
    for m in members + [plain]:
        m.disconnect()


def test_two_groups_each_get_all(gateway):
    """4.8.2 (5.0): each shared group receives every message once (one member per group)."""
    topic = uid("groups/")
    g1 = _members(gateway, "$share/x/" + topic)
    g2 = _members(gateway, "$share/y/" + topic)
    _publish(gateway, topic, 6)
    time.sleep(1.0)
    for group in (g1, g2):
        got = collections.Counter(msg.payload for m in group for msg in m.messages)
        assert got == collections.Counter(b"%d" % i for i in range(6))
    for m in g1 + g2:
        m.disconnect()


def test_shared_v311(gateway):
    """EMQX convention: MQTT 3.1.1 clients may use $share/ too."""
    topic = uid("sh311/")
    members = _members(gateway, "$share/g311/" + topic, proto=4)
    _publish(gateway, topic, 4)
    time.sleep(0.8)
    assert sorted(msg.payload for m in members for msg in m.messages) == [b"0", b"1", b"2", b"3"]
    for m in members:
        m.disconnect()


@pytest.mark.parametrize("strategy", ["sticky", "hash_clientid", "hash_topic", "random"])
def test_strategies(make_gateway, strategy):
    """EMQX `mqtt.shared_subscription_strategy`: with one publisher and one topic, `sticky`,
    `hash_clientid` and `hash_topic` send every message to the same member; `random` still
    delivers each message to exactly one member."""
    gw = make_gateway({"mqtt": {"shared_subscription_strategy": strategy}})
    topic = uid("strat/")
    members = _members(gw, "$share/s/" + topic, n=3)
    n = 12
    _publish(gw, topic, n)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(len(m.messages) for m in members) < n:
        time.sleep(0.05)
    time.sleep(0.3)
    counts = sorted(len(m.messages) for m in members)
    assert sum(counts) == n
    assert sorted(msg.payload for m in members for msg in m.messages) == sorted(b"%d" % i for i in range(n))
    if strategy != "random":
        assert counts == [0, 0, n], counts
    for m in members:
        m.disconnect()
