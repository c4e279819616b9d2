"""MQTT over WebSocket (listener `listeners.ws.default`, path /mqtt)."""

import socket

import pytest

from mqtt_helpers import TClient, uid


@pytest.mark.parametrize("proto", [4, 5], ids=["v3.1.1", "v5"])
def test_ws_pub_sub(gateway, proto):
    """MQTT 3.1.1 §6 / MQTT 5.0 §6: MQTT over WebSocket binary frames with subprotocol 'mqtt'
    on the configured mqtt_path: publish/subscribe works, and interoperates with TCP clients."""
    topic = uid("ws/")
    sub = TClient(gateway, proto=proto, transport="websockets")
    sub.connect()
    assert sub.subscribe(topic, 1) == [1]
    pub = TClient(gateway, proto=proto, transport="websockets")
    pub.connect()
    pub.publish(topic, b"over-ws", qos=1)
    tcp = TClient(gateway, proto=proto)
    tcp.connect()
    tcp.publish(topic, b"over-tcp", qos=2)
    msgs = sub.expect_messages(2)
    assert sorted(m.payload for m in msgs) == [b"over-tcp", b"over-ws"]
    for c in (sub, pub, tcp):
        c.disconnect()


def test_ws_wrong_path_refused(gateway):
    """EMQX convention `websocket.mqtt_path`: an upgrade on another path is refused."""
    c = TClient(gateway, proto=4, transport="websockets", ws_path="/not-mqtt")
    with pytest.raises(Exception):
        c.connect(timeout=3)
    c.close()


def _upgrade(gw, path, protocol_header):
    s = socket.create_connection((gw.host, gw.ws_port), timeout=5)
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           f"{protocol_header}\r\n")
    s.sendall(req.encode())
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data.split(b"\r\n", 1)[0], data


def test_ws_handshake_status(gateway):
    """RFC 6455 §4.2.2 + MQTT 5.0 §6 ([MQTT-6.0.0-3]/[MQTT-6.0.0-4]): a good upgrade on /mqtt
    with subprotocol 'mqtt' gets 101 and selects 'mqtt'; the wrong path does not get 101; with
    `fail_if_no_subprotocol = true` an upgrade without a subprotocol does not get 101."""
    status, data = _upgrade(gateway, "/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n")
    assert b" 101 " in status, data
    assert b"sec-websocket-protocol: mqtt" in data.lower()
    status, _ = _upgrade(gateway, "/wrong", "Sec-WebSocket-Protocol: mqtt\r\n")
    assert b" 101 " not in status
    status, _ = _upgrade(gateway, "/mqtt", "")
    assert b" 101 " not in status
    assert gateway.alive()
