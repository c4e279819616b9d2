"""The MQTT side of the LwM2M suite: an application (paho-mqtt) that sends EMQX's JSON
commands to ``lwm2m/{ep}/dn/...`` and reads what comes back on ``lwm2m/{ep}/up/#``; and the
``device`` fixture pairing one with a registered client. Test modules import both (a
``conftest.py`` here would shadow ``conformance/conftest.py``, which other suites import)."""

import json
import time

import pytest

from lwm2m_client import TLV, Lwm2mClient, TClient, uid

WAIT = 5.0


class App:
    """The MQTT application: one paho client subscribed to ``lwm2m/{ep}/up/#``."""

    def __init__(self, gw, ep):
        self.ep = ep
        self.c = TClient(gw)
        self.c.connect()
        self.c.subscribe(f"lwm2m/{ep}/up/#", 0)
        self.seen = 0
        self.req = 0

    def next(self, msg_type=None, timeout=WAIT):
        """The next JSON message (of ``msg_type``), as (topic, dict)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.c.cond:
                while self.seen < len(self.c.messages):
                    m = self.c.messages[self.seen]
                    self.seen += 1
                    doc = json.loads(m.payload)
                    if msg_type is None or doc.get("msgType") == msg_type:
                        return m.topic, doc
                left = deadline - time.monotonic()
                assert left > 0, f"no {msg_type or 'message'} within {timeout}s"
                self.c.cond.wait(left)

    def none(self, duration=0.5):
        time.sleep(duration)
        with self.c.cond:
            rest = [json.loads(m.payload) for m in self.c.messages[self.seen:]]
        assert rest == [], rest

    def command(self, msg_type, data, **extra):
        self.req += 1
        doc = {"reqID": self.req, "msgType": msg_type, "data": data, **extra}
        self.c.publish(f"lwm2m/{self.ep}/dn/cmd", json.dumps(doc).encode(), qos=0)
        return self.req

    def call(self, msg_type, data, **extra):
        """Sends a command and returns its response."""
        req = self.command(msg_type, data, **extra)
        while True:
            topic, doc = self.next()
            if doc.get("reqID") == req and doc.get("msgType") == msg_type:
                assert topic == f"lwm2m/{self.ep}/up/resp"
                return doc


@pytest.fixture
def device(gateway):
    """Factory: ``device(fmt, binding, register, gw)`` → (App, Lwm2mClient) for a fresh
    endpoint on ``gw`` (default: the module's gateway), registered unless asked not to."""
    made = []

    def make(fmt=TLV, binding="U", register=True, gw=None):
        gw = gw or gateway
        ep = uid("ep")
        app = App(gw, ep)
        dev = Lwm2mClient(gw.lwm2m_port, ep, fmt=fmt, binding=binding)
        made.append(dev)
        if register:
            r = dev.register()
            assert str(r.code).startswith("2.01"), r
            _, reg = app.next("register")
            assert reg["data"]["ep"] == ep
        return app, dev
    yield make
    for d in made:
        d.close()
