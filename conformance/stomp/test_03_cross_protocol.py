"""STOMP ⇄ MQTT on the same bus (EMQX STOMP gateway conventions): SEND → MQTT 5 PUBLISH
(content-type ⇄ Content Type, reply-to ⇄ Response Topic, correlation-id ⇄ Correlation Data,
user headers ⇄ User Properties), MQTT → MESSAGE, retained messages, binary bodies, mountpoint."""

from stomp_helpers import Stomp, TClient, publish_props, uid

from mqtt_helpers import MosqSub


def _stomp(gw):
    c = Stomp(gw)
    c.connect()
    return c


def test_stomp_send_to_mqtt5_with_properties(gateway):
    """EMQX convention: STOMP SEND is published on topic = destination; content-type becomes the
    MQTT 5 Content Type, reply-to the Response Topic, correlation-id the Correlation Data and
    other user headers User Properties (MQTT 5.0 §3.3.2.3); the payload is the body."""
    topic = uid("x/")
    m = TClient(gateway)
    m.connect()
    m.subscribe(topic, 1)
    s = _stomp(gateway)
    s.publish(topic, b'{"t":21.5}', {"content-type": "application/json", "x-site": "lab-1",
                                    "reply-to": "replies/1", "correlation-id": "corr-7"}, receipt="r")
    msg = m.expect_messages(1)[0]
    assert msg.topic == topic and msg.payload == b'{"t":21.5}'
    assert msg.qos == 0
    assert msg.prop("ContentType") == "application/json"
    assert ("x-site", "lab-1") in (msg.prop("UserProperty") or [])
    assert msg.prop("ResponseTopic") == "replies/1"
    assert msg.prop("CorrelationData") == b"corr-7"
    # STOMP protocol headers are not leaked as user properties
    names = {k for k, _ in (msg.prop("UserProperty") or [])}
    assert not names & {"destination", "receipt", "content-length", "content-type", "reply-to", "correlation-id"}, names
    m.disconnect()


def test_stomp_send_to_mqtt311(gateway):
    """EMQX convention: an MQTT 3.1.1 subscriber (mosquitto_sub) receives STOMP SENDs (payload
    only)."""
    topic = uid("x311/")
    ms = MosqSub(gateway, topic, count=1, timeout=5)
    s = _stomp(gateway)
    s.publish(topic, b"to-311", receipt="r")
    msgs, rc = ms.result()
    assert rc == 0 and msgs == [["0", "0", topic, "to-311"]], (msgs, ms.lines)


def test_mqtt5_publish_to_stomp_with_headers(gateway):
    """EMQX convention: an MQTT 5 PUBLISH with Content Type, Response Topic, Correlation Data
    and a User Property reaches a STOMP subscriber as content-type, reply-to, correlation-id and
    a user header; STOMP 1.2 "MESSAGE": destination = topic, subscription = id."""
    topic = uid("m/")
    s = _stomp(gateway)
    s.subscribe(topic, "sx")
    m = TClient(gateway)
    m.connect()
    m.publish(topic, b"<r/>", qos=1, properties=publish_props(
        ContentType="application/xml", UserProperty=[("x-origin", "mqtt")],
        ResponseTopic="resp/t", CorrelationData=b"cd-1"))
    f = s.messages(1)[0]
    assert f.body == b"<r/>" and f["destination"] == topic and f["subscription"] == "sx"
    assert f["content-type"] == "application/xml"
    assert f["x-origin"] == "mqtt"
    assert f["reply-to"] == "resp/t"
    assert f["correlation-id"] == "cd-1"
    m.disconnect()


def test_mqtt_without_content_type_is_text_plain(gateway):
    """EMQX convention: a MESSAGE always carries content-type; without an MQTT Content Type it
    is "text/plain"."""
    topic = uid("m/")
    s = _stomp(gateway)
    s.subscribe(topic, "p")
    m = TClient(gateway, proto=4)
    m.connect()
    m.publish(topic, b"plain", qos=1)
    f = s.messages(1)[0]
    assert f.body == b"plain" and f["content-type"] == "text/plain"
    m.disconnect()


def test_retained_mqtt_message_to_new_stomp_subscriber(gateway):
    """EMQX convention (MQTT 5.0 §3.3.1.3 retained messages on the shared bus): a message
    published retained over MQTT is delivered to a STOMP client that subscribes later, also via
    a wildcard destination."""
    base = uid("ret")
    m = TClient(gateway)
    m.connect()
    m.publish(f"{base}/state", b"on", qos=1, retain=True)
    m.disconnect()
    s = _stomp(gateway)
    s.subscribe(f"{base}/state", "r1")
    f = s.messages(1)[0]
    assert f.body == b"on" and f["destination"] == f"{base}/state" and f["subscription"] == "r1"
    s2 = _stomp(gateway)
    s2.subscribe(f"{base}/+", "r2")
    assert s2.messages(1)[0].body == b"on"
    # an established subscription gets the live publish, not the retained one again
    assert s.quiet(0.3) == []


BINARY = bytes(range(256)) + b"\x00\x00tail\x00"


def test_binary_body_stomp_to_mqtt(gateway):
    """STOMP 1.2 "Header content-length": with content-length the body may contain NUL octets;
    it reaches MQTT subscribers byte-for-byte."""
    topic = uid("bin/")
    m = TClient(gateway)
    m.connect()
    m.subscribe(topic)
    s = _stomp(gateway)
    s.publish(topic, BINARY, {"content-type": "application/octet-stream"}, receipt="b")
    msg = m.expect_messages(1)[0]
    assert msg.payload == BINARY
    m.disconnect()


def test_binary_body_mqtt_to_stomp(gateway):
    """STOMP 1.2 "Header content-length": a MESSAGE whose body contains NUL octets carries a
    content-length equal to the body size, so the body arrives intact."""
    topic = uid("bin/")
    s = _stomp(gateway)
    s.subscribe(topic, "b")
    m = TClient(gateway)
    m.connect()
    m.publish(topic, BINARY, qos=1)
    f = s.messages(1)[0]
    assert f.get("content-length") == str(len(BINARY))
    assert f.body == BINARY
    m.disconnect()


def test_mountpoint(make_gateway):
    """EMQX convention (gateway.stomp.mountpoint): SEND publishes on mountpoint + destination;
    a STOMP subscription covers mountpoint + destination and the MESSAGE destination is shown
    without the mountpoint."""
    gw = make_gateway({"gateway": {"stomp": {"mountpoint": "stomp/"}}})
    m = TClient(gw)
    m.connect()
    m.subscribe("stomp/#")
    s = _stomp(gw)
    s.subscribe("dev/1", "mp")
    s.publish("dev/1", b"via-stomp", receipt="r")
    msg = m.expect_messages(1)[0]
    assert msg.topic == "stomp/dev/1" and msg.payload == b"via-stomp"
    f = s.messages(1)[0]
    assert f["destination"] == "dev/1"
    m.publish("stomp/dev/1", b"via-mqtt", qos=1)
    f2 = s.messages(1)[0]
    assert f2.body == b"via-mqtt" and f2["destination"] == "dev/1"
    m.publish("dev/1", b"unmounted", qos=1)
    assert s.quiet(0.4) == []
    m.disconnect()
