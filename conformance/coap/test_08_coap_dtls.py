"""CoAP over DTLS 1.2 with pre-shared keys (RFC 7252 §9.1.3.1 PreSharedKey mode), driven by
libcoap's ``coap-client-openssl -u IDENTITY -k KEY coaps://...``: publish and observe work
as over plain UDP, a wrong identity never reaches the CoAP layer, and plain CoAP keeps
working next to it."""

import socket
import subprocess
import time

import pytest

from coap_helpers import COAP_CLIENT, coap_client, mqtt_sub, start_gateway, uid


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dtls_gw(tmp_path_factory):
    port = free_udp_port()
    gw = start_gateway(
        tmp_path_factory,
        {
            "listeners": {
                "dtls": {
                    "default": {
                        "enable": True,
                        "bind": f"127.0.0.1:{port}",
                        "dtls_options": {"psk": [{"identity": "sensor-1", "key": "s3cret"}]},
                    }
                }
            }
        },
    )
    gw.dtls_port = port
    yield gw
    gw.stop()


def coaps(gw, path: str) -> str:
    return f"coaps://127.0.0.1:{gw.dtls_port}/{path.lstrip('/')}"


def test_dtls_psk_publish_reaches_mqtt(dtls_gw):
    """RFC 7252 §9.1: after a PSK handshake, POST /ps/{topic} → 2.04 and the message reaches an
    MQTT subscriber unchanged."""
    topic = f"dtls/{uid('t')}"
    sub = mqtt_sub(dtls_gw, topic)
    r = coap_client(dtls_gw, "post", "", "-u", "sensor-1", "-k", "s3cret", payload="over-dtls",
                    uri=coaps(dtls_gw, f"ps/{topic}?clientid={uid('d')}"))
    assert r.code == "2.04", (r.out, r.err)
    msgs = sub.expect_messages(1)
    assert msgs[0].topic == topic and msgs[0].payload == b"over-dtls"
    sub.close()


def test_dtls_psk_observe_gets_notifications(dtls_gw):
    """RFC 7641 over DTLS: GET Observe=0 on /ps/{filter}, then MQTT publishes arrive as
    notifications on the secured session."""
    topic = f"dtlsobs/{uid('t')}"
    cmd = [COAP_CLIENT, "-v", "6", "-m", "get", "-s", "4", "-u", "sensor-1", "-k", "s3cret",
           coaps(dtls_gw, f"ps/{topic}?clientid={uid('o')}")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pub = mqtt_sub(dtls_gw, f"unused/{uid('x')}")
    deadline = time.time() + 6
    sent = 0
    while time.time() < deadline and sent < 3:
        time.sleep(1.0)
        pub.publish(topic, f"n{sent}".encode(), qos=0)
        sent += 1
    out, _ = p.communicate(timeout=15)
    text = out.decode(errors="replace")
    assert "n1" in text and "n2" in text, text
    pub.close()


def test_dtls_unknown_identity_is_refused_and_plain_coap_unaffected(dtls_gw):
    """A PSK identity the gateway does not know fails the handshake (no CoAP response at all);
    the plain CoAP listener keeps serving."""
    r = subprocess.run([COAP_CLIENT, "-m", "post", "-e", "x", "-B", "3", "-u", "nobody", "-k", "s3cret",
                        coaps(dtls_gw, "ps/dtls/refused")], capture_output=True, timeout=20)
    assert b"2.04" not in r.stdout + r.stderr
    ok = coap_client(dtls_gw, "post", f"ps/plain/{uid('t')}", payload="still-fine")
    assert ok.code == "2.04", (ok.out, ok.err)
