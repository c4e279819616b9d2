"""More of the LwM2M gateway from the outside (emqx-conventions §3): large responses
(RFC 7959), auto_observe as a list, CON retransmission ending in ``coap_timeout``, a device
moving to a new address, and registration over DTLS with a pre-shared key."""

import socket
import subprocess

from lwm2m_app import App, device  # noqa: F401 (the fixture)
from lwm2m_client import Lwm2mClient, uid

COAP_CLIENT = "coap-client-openssl"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_blockwise_read(device):
    """RFC 7959 §2.4: aiocoap answers a read bigger than one block block-wise (Block2); the
    gateway fetches every block and the application gets one response with the whole value."""
    app, dev = device()
    big = "S" * 3000
    dev.objects[(3, 0)][2] = big
    resp = app.call("read", {"path": "/3/0/2"})
    assert resp["data"]["code"] == "2.05", resp
    assert resp["data"]["content"] == [{"path": "/3/0/2", "value": big}]


def test_auto_observe_list(device, make_gateway):
    """§3.1 ``auto_observe`` as a comma-separated list: on register the gateway observes
    exactly the listed paths (observe responses with ``is_auto_observe`` and no reqID), and
    changes arrive as notifications without a reqID."""
    gw = make_gateway({"gateway": {"lwm2m": {"auto_observe": "/3303/0/5700, /3/0/13"}}})
    app, dev = device(gw=gw)
    for path in ("/3303/0/5700", "/3/0/13"):
        _, resp = app.next("observe")
        assert resp["is_auto_observe"] is True and "reqID" not in resp, resp
        assert resp["data"]["reqPath"] == path and resp["data"]["code"] == "2.05"
    observed = sorted(p for (code, p, _, _) in dev.requests if code.startswith("GET"))
    assert observed == ["3/0/13", "3303/0/5700"], dev.requests
    dev.set_value(3303, 0, 5700, 30.5)
    topic, n = app.next("notify")
    assert topic == f"lwm2m/{app.ep}/up/notify" and "reqID" not in n
    assert n["data"]["content"] == [{"path": "/3303/0/5700", "value": 30.5}]


def test_unanswered_command_times_out(device, make_gateway):
    """RFC 7252 §4.2 with ``transmission.ack_timeout = 200ms``, ``max_retransmit = 1``: a device
    that has gone away never ACKs; after the retransmission the application gets EMQX's
    ``coap_timeout`` for the command."""
    gw = make_gateway({"gateway": {"lwm2m": {"transmission": {"ack_timeout": "200ms", "max_retransmit": 1}}}})
    app, dev = device(gw=gw)
    dev.close()
    req = app.command("read", {"path": "/3/0/0"})
    _, resp = app.next("coap_timeout")
    assert resp == {"reqID": req, "msgType": "coap_timeout", "data": {"reqPath": "/3/0/0"}}


def test_new_address_takes_over(device):
    """A device registering again with the same endpoint name from another address (NAT
    rebinding): commands go to the new address, and the old address's registration is gone
    (its Update gets 4.04 at once, not after its lifetime)."""
    app, old = device()
    new = Lwm2mClient(old.gw_port, app.ep)
    try:
        assert str(new.register().code).startswith("2.01")
        app.next("register")
        resp = app.call("read", {"path": "/3/0/0"})
        assert resp["data"]["code"] == "2.05"
        assert any(p == "3/0/0" for (_, p, _, _) in new.requests)
        assert not any(p == "3/0/0" for (_, p, _, _) in old.requests)
        assert str(old.update().code).startswith("4.04")
    finally:
        new.close()


def test_dtls_psk_register(make_gateway):
    """LwM2M over DTLS 1.2 with a pre-shared key (``gateway.lwm2m.listeners.dtls``): libcoap's
    ``coap-client-openssl -u IDENTITY -k KEY`` registers, and the register event reaches MQTT."""
    port = free_udp_port()
    psk = [{"identity": "lwm2m-dev", "key": "s3cret"}]
    dtls = {"default": {"enable": True, "bind": f"127.0.0.1:{port}", "dtls_options": {"psk": psk}}}
    gw = make_gateway({"gateway": {"lwm2m": {"listeners": {"dtls": dtls}}}})
    ep = uid("dtls")
    app = App(gw, ep)
    uri = f"coaps://127.0.0.1:{port}/rd?ep={ep}&lt=60&lwm2m=1.0&b=U"
    r = subprocess.run([COAP_CLIENT, "-m", "post", "-B", "5", "-u", "lwm2m-dev", "-k", "s3cret", "-t", "40",
                        "-e", "</3/0>", uri], capture_output=True, timeout=20)
    topic, reg = app.next("register")
    assert topic == f"lwm2m/{ep}/up/resp", (r.stdout, r.stderr)
    assert reg["data"]["ep"] == ep and reg["data"]["objectList"] == ["/3/0"]


def test_firmware_update_notifications_on_dm_topic(device):
    """As in EMQX, notifications of object 5 (Firmware Update) are published to the mountpoint +
    ``/v1/up/dm`` (``lwm2m/{ep}//v1/up/dm``) instead of ``up/notify``."""
    app, dev = device()
    app.c.subscribe(f"lwm2m/{app.ep}//v1/up/dm", 0)
    resp = app.call("observe", {"path": "/5/0/3"})
    assert resp["data"]["code"] == "2.05", resp
    dev.set_value(5, 0, 3, 1)
    topic, n = app.next("notify")
    assert topic == f"lwm2m/{app.ep}//v1/up/dm"
    assert n["reqID"] == resp["reqID"] and n["data"]["content"] == [{"path": "/5/0/3", "value": 1}]
    app.none(0.3)
