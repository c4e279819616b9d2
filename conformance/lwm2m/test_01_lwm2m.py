"""LwM2M gateway (emqx-conventions §3) from the outside: an aiocoap LwM2M client
(``lwm2m_client.py``: objects 3, 5, 3303 in TLV or SenML JSON) registers to the gateway's
LwM2M UDP listener; a paho-mqtt application drives it with EMQX's JSON commands on
``lwm2m/{ep}/dn/#`` and reads ``lwm2m/{ep}/up/resp`` / ``up/notify``."""

import time

import pytest

from lwm2m_app import App, device  # noqa: F401 (the fixture)
from lwm2m_client import SENML_JSON, TLV, Lwm2mClient, uid

def test_register_update_deregister(gateway):
    """§3.3: Register → 2.01 Location-Path rd/{ep} and the register JSON on up/resp (lt an
    integer, objectList, alternatePath); Update → 2.04 and the update JSON; De-register → 2.02."""
    ep = uid("ep")
    app = App(gateway, ep)
    dev = Lwm2mClient(gateway.lwm2m_port, ep)
    try:
        r = dev.register(extra=["sms=123"])
        assert str(r.code).startswith("2.01"), r
        assert dev.location == ["rd", ep]
        topic, reg = app.next()
        assert topic == f"lwm2m/{ep}/up/resp"
        assert reg["msgType"] == "register" and "reqID" not in reg
        d = reg["data"]
        assert d["ep"] == ep and d["lt"] == 300 and d["lwm2m"] == "1.0" and d["b"] == "U" and d["sms"] == "123"
        assert d["objectList"] == ["/1/0", "/3/0", "/5/0", "/3303/0"]
        assert d["alternatePath"] == "/"
        r = dev.update(["lt=600"])
        assert str(r.code).startswith("2.04"), r
        _, up = app.next()
        assert up["msgType"] == "update" and up["data"]["lt"] == 600
        r = dev.deregister()
        assert str(r.code).startswith("2.02"), r
        r = dev.update()
        assert str(r.code).startswith("4.04"), "a de-registered location is gone"
    finally:
        dev.close()


def test_register_without_lt_refused(gateway):
    """§3.3: Register needs ep and lt: 4.00 otherwise."""
    import aiocoap
    dev = Lwm2mClient(gateway.lwm2m_port, uid("ep"))
    try:
        r = dev._send(aiocoap.POST, "rd", [f"ep={dev.ep}"], b"</3/0>", 40)
        assert str(r.code).startswith("4.00"), r
    finally:
        dev.close()


@pytest.mark.parametrize("fmt", [TLV, SENML_JSON], ids=["tlv", "senml"])
def test_read(device, fmt):
    """§3.4/§3.5: read of a resource, an instance and an object; the device answers TLV or
    SenML JSON and the gateway decodes typed values (XML definitions)."""
    app, dev = device(fmt=fmt)
    resp = app.call("read", {"path": "/3/0/0"})
    assert resp["data"]["code"] == "2.05" and resp["data"]["codeMsg"] == "content"
    assert resp["data"]["reqPath"] == "/3/0/0"
    assert resp["data"]["content"] == [{"path": "/3/0/0", "value": "Open Mobile Alliance"}]
    resp = app.call("read", {"path": "/3/0"})
    content = {c["path"]: c["value"] for c in resp["data"]["content"]}
    assert content["/3/0/1"] == "Lightweight M2M Client"
    assert content["/3/0/9"] == 100
    assert content["/3/0/13"] == 1367491215
    resp = app.call("read", {"path": "/3303"})
    content = {c["path"]: c["value"] for c in resp["data"]["content"]}
    assert content["/3303/0/5700"] == 21.5 and content["/3303/0/5701"] == "Cel"
    resp = app.call("read", {"path": "/3/0/99"})
    assert resp["data"]["code"] == "4.04"


def test_write_and_batch_write(device):
    """write (PUT TLV) of one resource, then a batch write on the instance (POST)."""
    app, dev = device()
    resp = app.call("write", {"path": "/3/0/14", "type": "String", "value": "+05:00"})
    assert resp["data"]["code"] == "2.04"
    assert dev.objects[(3, 0)][14] == "+05:00"
    resp = app.call("write", {"basePath": "/5/0/", "content": [{"path": "1", "type": "String",
                                                                  "value": "coap://fw/1"}]})
    assert resp["data"]["code"] == "2.04"
    assert dev.objects[(5, 0)][1] == "coap://fw/1"
    assert app.call("read", {"path": "/3/0/14"})["data"]["content"][0]["value"] == "+05:00"


def test_execute(device):
    """execute: POST with text/plain args."""
    app, dev = device()
    resp = app.call("execute", {"path": "/5/0/2", "args": "now"})
    assert resp["data"]["code"] == "2.04"
    assert dev.executed == [("5/0/2", b"now")]
    resp = app.call("execute", {"path": "/3/0/0", "args": ""})
    assert resp["data"]["code"] == "4.05"


def test_discover(device):
    """discover: GET Accept 40 → content = the link strings."""
    app, dev = device()
    resp = app.call("discover", {"path": "/3303/0"})
    assert resp["data"]["code"] == "2.05"
    assert "</3303/0/5700>" in resp["data"]["content"]


def test_create_delete(device):
    """create (POST TLV on the object, instance named in the content paths) → 2.01; delete → 2.02."""
    app, dev = device()
    resp = app.call("create", {"basePath": "/3303", "content": [{"path": "1/5700", "type": "Float", "value": 3.5},
                                                                 {"path": "1/5701", "type": "String", "value": "K"}]})
    assert resp["data"]["code"] == "2.01", resp
    new = [i for (o, i) in dev.objects if o == 3303 and i != 0]
    assert len(new) == 1 and dev.objects[(3303, new[0])][5700] == 3.5
    resp = app.call("delete", {"path": f"/3303/{new[0]}"})
    assert resp["data"]["code"] == "2.02"
    assert (3303, new[0]) not in dev.objects


def test_write_attributes(device):
    """write-attr: PUT with pmin/pmax/... as Uri-Query."""
    app, dev = device()
    resp = app.call("write-attr", {"path": "/3303/0/5700", "pmin": "5", "pmax": "60", "gt": "30"})
    assert resp["data"]["code"] == "2.04"
    assert dev.attributes["3303/0/5700"] == {"pmin": "5", "pmax": "60", "gt": "30"}


@pytest.mark.parametrize("fmt", [TLV, SENML_JSON], ids=["tlv", "senml"])
def test_observe_notify_cancel(device, fmt):
    """observe → the observe response (msgType observe, seqNum) on up/resp; each change → notify
    on up/notify with the observe's reqID and seqNum = the Observe value; cancel-observe → no more."""
    app, dev = device(fmt=fmt)
    resp = app.call("observe", {"path": "/3303/0/5700"})
    req = resp["reqID"]
    assert resp["data"]["code"] == "2.05" and "seqNum" in resp
    assert resp["data"]["content"] == [{"path": "/3303/0/5700", "value": 21.5}]
    seqs = []
    for v in (22.5, 23.5):
        dev.set_value(3303, 0, 5700, v)
        topic, n = app.next("notify")
        assert topic == f"lwm2m/{app.ep}/up/notify"
        assert n["reqID"] == req and n["data"]["reqPath"] == "/3303/0/5700"
        assert n["data"]["content"] == [{"path": "/3303/0/5700", "value": v}]
        seqs.append(n["seqNum"])
    assert seqs[0] < seqs[1]
    resp = app.call("cancel-observe", {"path": "/3303/0/5700"})
    assert resp["data"]["code"] == "2.05"
    time.sleep(0.3)
    dev.set_value(3303, 0, 5700, 30.0)
    app.none(0.7)


def test_commands_are_serialized(device):
    """§3.4: several commands at once → one outstanding request at a time, every one answered
    in order."""
    app, dev = device()
    reqs = [app.command("read", {"path": f"/3/0/{r}"}) for r in (0, 1, 2)]
    got = [app.next("read")[1] for _ in reqs]
    assert [g["reqID"] for g in got] == reqs
    assert [g["data"]["content"][0]["path"] for g in got] == ["/3/0/0", "/3/0/1", "/3/0/2"]


def test_malformed_command_answered(device):
    """A command with an unknown msgType or bad data gets a 4.00 response on up/resp (never silence)."""
    app, dev = device()
    resp = app.call("bogus", {"path": "/3/0/0"})
    assert resp["data"]["code"] == "4.00"
    resp = app.call("write", {"path": "/3/0/14"})  # no type/value
    assert resp["data"]["code"] == "4.00"
    # the device still works
    assert app.call("read", {"path": "/3/0/0"})["data"]["code"] == "2.05"


def test_queue_mode(make_gateway):
    """§3.7: b=UQ; once qmode_time_window has passed since the last uplink, a command waits and is
    delivered right after the device's next Update."""
    gw = make_gateway({"gateway": {"lwm2m": {"qmode_time_window": "1s"}}})
    ep = uid("ep")
    app = App(gw, ep)
    dev = Lwm2mClient(gw.lwm2m_port, ep, binding="UQ")
    try:
        assert str(dev.register().code).startswith("2.01")
        app.next("register")
        time.sleep(1.5)
        req = app.command("read", {"path": "/3/0/0"})
        time.sleep(0.7)
        assert not any(r[1] == "3/0/0" for r in dev.requests), "sent to a sleeping device"
        app.none(0.1)
        assert str(dev.update().code).startswith("2.04")
        _, resp = app.next("read")
        assert resp["reqID"] == req and resp["data"]["content"][0]["value"] == "Open Mobile Alliance"
    finally:
        dev.close()
