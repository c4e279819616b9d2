"""QoS 0/1/2 delivery, QoS downgrade, MQTT 3.1 / 3.1.1 / 5.0, paho and mosquitto clients."""

import pytest

from mqtt_helpers import MosqSub, TClient, mosq_pub, uid


@pytest.mark.parametrize("proto", [4, 5], ids=["v3.1.1", "v5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_subscribe_same_qos(gateway, proto, qos):
    """[MQTT-4.3.1]/[MQTT-4.3.2]/[MQTT-4.3.3]: a message published at QoS n to a filter
    subscribed at QoS n is delivered once, at QoS n, with the payload unchanged."""
    topic = uid(f"qos/{qos}/")
    sub = TClient(gateway, proto=proto)
    sub.connect()
    assert sub.subscribe(topic, qos) == [qos]
    pub = TClient(gateway, proto=proto)
    pub.connect()
    rc = pub.publish(topic, b"hello-%d" % qos, qos=qos)
    if proto == 5 and qos > 0:
        assert rc == 0  # Success: there is a subscriber
    msgs = sub.expect_messages(1)
    assert [(m.topic, m.payload, m.qos) for m in msgs] == [(topic, b"hello-%d" % qos, qos)]
    assert len(sub.quiet(0.3)) == 1, "duplicate delivery"
    pub.disconnect()
    sub.disconnect()


@pytest.mark.parametrize("proto", [4, 5], ids=["v3.1.1", "v5"])
@pytest.mark.parametrize("sub_qos,pub_qos", [(0, 2), (1, 2), (0, 1), (2, 1), (2, 0)])
def test_qos_downgrade(gateway, proto, sub_qos, pub_qos):
    """[MQTT-3.8.4-6] (3.1.1) / [MQTT-3.8.4-8] (5.0): the QoS of a forwarded message is the
    minimum of the published QoS and the QoS granted to the subscription."""
    topic = uid("down/")
    sub = TClient(gateway, proto=proto)
    sub.connect()
    sub.subscribe(topic, sub_qos)
    pub = TClient(gateway, proto=proto)
    pub.connect()
    pub.publish(topic, b"x", qos=pub_qos)
    msgs = sub.expect_messages(1)
    assert msgs[0].qos == min(sub_qos, pub_qos)
    pub.disconnect()
    sub.disconnect()


def test_mqtt31_pub_sub(gateway):
    """MQTT 3.1 (protocol name MQIsdp, level 3) clients connect and exchange QoS 1 messages."""
    topic = uid("v31/")
    sub = TClient(gateway, proto=3, client_id=uid("s31"))
    sub.connect()
    assert sub.subscribe(topic, 1) == [1]
    pub = TClient(gateway, proto=3, client_id=uid("p31"))
    pub.connect()
    pub.publish(topic, b"v31", qos=1)
    msgs = sub.expect_messages(1)
    assert (msgs[0].payload, msgs[0].qos) == (b"v31", 1)
    pub.disconnect()
    sub.disconnect()


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_qos2_many(gateway, version):
    """[MQTT-4.3.3] exactly-once with third-party clients: mosquitto_pub sends 5 QoS 2
    messages, mosquitto_sub (QoS 2) receives each exactly once, in order ([MQTT-4.6.0-6])."""
    topic = uid("mosq/")
    sub = MosqSub(gateway, topic, count=5, timeout=8, qos=2, version=version)
    for i in range(5):
        mosq_pub(gateway, topic, f"m{i}", qos=2, version=version)
    msgs, rc = sub.result()
    assert rc == 0, f"mosquitto_sub exit {rc}"
    assert [(m[1], m[2], m[3]) for m in msgs] == [("2", topic, f"m{i}") for i in range(5)]


def test_mosquitto_to_paho_qos1(gateway):
    """Interop: mosquitto_pub QoS 1 → paho v5 subscriber at QoS 1."""
    topic = uid("interop/")
    sub = TClient(gateway, proto=5)
    sub.connect()
    sub.subscribe(topic, 1)
    mosq_pub(gateway, topic, "from-mosquitto", qos=1)
    msgs = sub.expect_messages(1)
    assert (msgs[0].payload, msgs[0].qos) == (b"from-mosquitto", 1)
    sub.disconnect()
