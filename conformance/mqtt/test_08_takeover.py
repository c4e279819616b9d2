"""Session takeover: a second connection with the same client id."""

import threading
import time

from mqtt_helpers import Raw, TClient, connect_packet, connect_props, props, uid
from paho.mqtt.packettypes import PacketTypes


def test_v5_takeover_disconnects_first_with_0x8e(gateway):
    """[MQTT-3.1.4-3] (5.0): the server sends DISCONNECT reason 0x8E (Session taken over) to
    the existing connection and closes it."""
    cid = uid("to")
    c1 = TClient(gateway, client_id=cid, proto=5)
    c1.connect()
    c2 = TClient(gateway, client_id=cid, proto=5)
    c2.connect()
    d = c1.wait_disconnect()
    assert d is not None, "first connection not closed"
    assert d.from_server and d.reason_code == 0x8E, d
    c2.disconnect()


def test_v311_takeover_closes_first(gateway):
    """[MQTT-3.1.4-2] (3.1.1): the existing client with the same ClientId is disconnected."""
    cid = uid("to311")
    raw = Raw(gateway)
    raw.send(connect_packet(client_id=cid, level=4))
    assert raw.read_packet()[0] == 2
    c2 = TClient(gateway, client_id=cid, proto=4)
    c2.connect()
    pkts, closed = raw.read_until_close(3)
    assert closed is not None, "first connection still open"
    assert pkts == []  # 3.1.1 has no server DISCONNECT
    raw.close()
    c2.disconnect()


def test_takeover_moves_session_nothing_lost(gateway):
    """[MQTT-3.1.4-3] + [MQTT-3.2.2-3] + [MQTT-4.4.0-1] (5.0): the session (subscriptions,
    queued and in-flight QoS 1 messages) moves to the new connection (Session Present=1);
    QoS 1 messages published before, during and after the takeover all arrive."""
    cid, topic = uid("tom"), uid("tomv/")
    c1 = TClient(gateway, client_id=cid, proto=5)
    c1.connect(clean=True, properties=connect_props(SessionExpiryInterval=60))
    c1.subscribe(topic, 1)
    pub = TClient(gateway, proto=5)
    pub.connect()
    n = 60
    done = threading.Event()

    def producer():
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
            time.sleep(0.01)
        done.set()

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    time.sleep(0.2)
    c2 = TClient(gateway, client_id=cid, proto=5)
    r = c2.connect(clean=False, properties=connect_props(SessionExpiryInterval=60))
    assert r.session_present is True
    assert done.wait(10)
    t.join(5)
    expected = {b"%d" % i for i in range(n)}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = {m.payload for m in c1.messages} | {m.payload for m in c2.messages}
        if got >= expected:
            break
        time.sleep(0.05)
    got = {m.payload for m in c1.messages} | {m.payload for m in c2.messages}
    assert expected - got == set(), f"lost: {sorted(expected - got)}"
    assert len(c2.messages) > 0
    d = c1.wait_disconnect()
    assert d is not None and d.reason_code == 0x8E
    pub.disconnect()
    c2.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))


def test_takeover_keeps_offline_queue(gateway):
    """[MQTT-3.1.4-3] (3.1.1 persistent session): messages queued for a session are delivered
    to the connection that takes it over; nothing is delivered twice."""
    cid, topic = uid("toq"), uid("toq/")
    c1 = TClient(gateway, client_id=cid, proto=4, clean=False)
    c1.connect()
    c1.subscribe(topic, 1)
    c1.pause()  # stops reading: the gateway keeps queueing / in-flight
    pub = TClient(gateway, proto=4)
    pub.connect()
    for i in range(5):
        pub.publish(topic, b"q%d" % i, qos=1)
    pub.disconnect()
    c2 = TClient(gateway, client_id=cid, proto=4, clean=False)
    r = c2.connect()
    assert r.session_present is True
    msgs = c2.expect_messages(5)
    assert sorted(set(m.payload for m in msgs)) == [b"q%d" % i for i in range(5)]
    c1.close()
    c2.disconnect()
