"""Client-side helpers for the conformance suite.

* ``TClient``: a thin, thread-safe wrapper around paho-mqtt (v2 callback API) whose every
  wait is bounded.  It never reconnects on its own.
* ``mosq_sub`` / ``mosq_pub``: run mosquitto_sub / mosquitto_pub with timeouts.
* ``Raw``: a minimal raw-socket MQTT speaker, used ONLY for malformed / silent-client cases.
"""

from __future__ import annotations

import itertools
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

WAIT = 5.0  # default bound for any single wait
_ids = itertools.count(1)


def uid(prefix: str = "c") -> str:
    return f"{prefix}{next(_ids)}_{int(time.time() * 1000) % 100000}"


PROTOCOLS = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}


def props(packet_type, **kw) -> Properties:
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def publish_props(**kw) -> Properties:
    return props(PacketTypes.PUBLISH, **kw)


def connect_props(**kw) -> Properties:
    return props(PacketTypes.CONNECT, **kw)


@dataclass
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    properties: object = None
    resolved_topic: str = ""
    dup: bool = False

    def prop(self, name, default=None):
        return getattr(self.properties, name, default) if self.properties is not None else default


@dataclass
class ConnResult:
    reason_code: int
    session_present: bool
    properties: object = None

    def prop(self, name, default=None):
        return getattr(self.properties, name, default) if self.properties is not None else default


@dataclass
class DisconnectInfo:
    reason_code: int
    from_server: bool
    properties: object = None


def _rc(reason) -> int:
    if reason is None:
        return -1
    if hasattr(reason, "value"):
        return int(reason.value)
    return int(reason)


class TClient:
    """A paho client whose waits are all bounded."""

    def __init__(self, gw, client_id: str | None = None, proto: int = 5, transport: str = "tcp",
                 clean: bool = True, manual_ack: bool = False, ws_path: str = "/mqtt"):
        self.gw = gw
        self.proto = proto
        self.client_id = uid() if client_id is None else client_id
        self.transport = transport
        kwargs = dict(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=PROTOCOLS[proto],
            transport=transport,
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        if proto != 5:
            kwargs["clean_session"] = clean
        self.clean = clean
        self.c = mqtt.Client(**kwargs)
        if transport == "websockets":
            self.c.ws_set_options(path=ws_path)
        self.c.max_inflight_messages_set(0)  # no client-side throttling: we test the server
        self.cond = threading.Condition()
        self.messages: list[Msg] = []
        self.connack: ConnResult | None = None
        self.disconnect_info: DisconnectInfo | None = None
        self.subacks: dict[int, list[int]] = {}
        self.unsubacks: dict[int, list[int]] = {}
        self.pubacks: dict[int, int] = {}
        self.aliases: dict[int, str] = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish
        self.c.on_disconnect = self._on_disconnect

    # ---- callbacks -----------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.connack = ConnResult(_rc(reason_code), bool(flags.session_present), properties)
            self.cond.notify_all()

    def _on_message(self, client, userdata, m):
        p = getattr(m, "properties", None)
        topic = m.topic
        resolved = topic
        alias = getattr(p, "TopicAlias", None) if p is not None else None
        if alias is not None:
            if topic:
                self.aliases[alias] = topic
            else:
                resolved = self.aliases.get(alias, "<unknown alias>")
        with self.cond:
            self.messages.append(Msg(topic, bytes(m.payload), m.qos, bool(m.retain), m.mid, p, resolved, bool(m.dup)))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.subacks[mid] = [_rc(r) for r in reason_codes]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.unsubacks[mid] = [_rc(r) for r in (reason_codes or [])]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.cond:
            self.pubacks[mid] = _rc(reason_code)
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.disconnect_info = DisconnectInfo(_rc(reason_code), bool(flags.is_disconnect_packet_from_server), properties)
            self.cond.notify_all()

    # ---- helpers -----------------------------------------------------------------------
    def _wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(pred, timeout=timeout)

    def will(self, topic, payload=b"will", qos=0, retain=False, properties=None) -> "TClient":
        self.c.will_set(topic, payload, qos, retain, properties)
        return self

    def connect(self, clean: bool | None = None, keepalive: int = 60, properties=None,
                timeout: float = WAIT, expect_ok: bool = True) -> ConnResult:
        port = self.gw.ws_port if self.transport == "websockets" else self.gw.port
        kw = dict(keepalive=keepalive)
        if self.proto == 5:
            kw["clean_start"] = self.clean if clean is None else clean
            kw["properties"] = properties
        self.c.connect(self.gw.host, port, **kw)
        self.c.loop_start()
        ok = self._wait(lambda: self.connack is not None or self.disconnect_info is not None, timeout)
        assert ok, f"no CONNACK for {self.client_id} within {timeout}s"
        if expect_ok:
            assert self.connack is not None and self.connack.reason_code == 0, f"connect refused: {self.connack} {self.disconnect_info}"
        return self.connack

    def subscribe(self, topic, qos=0, options: SubscribeOptions | None = None, properties=None,
                  timeout: float = WAIT) -> list[int]:
        if self.proto == 5:
            opts = options or SubscribeOptions(qos=qos)
            rc, mid = self.c.subscribe(topic, options=opts, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe send failed: {rc}"
        assert self._wait(lambda: mid in self.subacks, timeout), f"no SUBACK for {topic}"
        return self.subacks[mid]

    def unsubscribe(self, topic, timeout: float = WAIT):
        rc, mid = self.c.unsubscribe(topic)
        assert self._wait(lambda: mid in self.unsubacks, timeout), f"no UNSUBACK for {topic}"
        return self.unsubacks[mid]

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, wait=True,
                timeout: float = WAIT):
        info = self.c.publish(topic, payload, qos, retain, properties)
        if wait:
            assert self._wait(lambda: info.mid in self.pubacks, timeout), f"publish to {topic} qos{qos} not completed"
            return self.pubacks[info.mid]
        return info

    def wait_messages(self, n: int, timeout: float = WAIT) -> list[Msg]:
        self._wait(lambda: len(self.messages) >= n, timeout)
        with self.cond:
            return list(self.messages)

    def expect_messages(self, n: int, timeout: float = WAIT) -> list[Msg]:
        msgs = self.wait_messages(n, timeout)
        assert len(msgs) >= n, f"{self.client_id}: expected {n} messages, got {len(msgs)}: {[(m.topic, m.payload) for m in msgs]}"
        return msgs

    def quiet(self, duration: float = 0.7) -> list[Msg]:
        """Wait `duration` and return whatever arrived (used to assert nothing more came)."""
        time.sleep(duration)
        with self.cond:
            return list(self.messages)

    def clear(self):
        with self.cond:
            self.messages.clear()

    def wait_disconnect(self, timeout: float = WAIT) -> DisconnectInfo | None:
        self._wait(lambda: self.disconnect_info is not None, timeout)
        return self.disconnect_info

    def disconnect(self, reasoncode=None, properties=None):
        try:
            self.c.disconnect(reasoncode=reasoncode, properties=properties)
        except Exception:
            pass
        self._wait(lambda: self.disconnect_info is not None, 2.0)
        self.c.loop_stop()

    def kill(self):
        """Close the TCP connection without DISCONNECT (abnormal close)."""
        sock = self.c.socket()
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._wait(lambda: self.disconnect_info is not None, 2.0)
        self.c.loop_stop()
        try:
            if sock is not None:
                sock.close()
        except OSError:
            pass

    def pause(self):
        """Stop reading/writing (no PINGREQ, no acks) but keep the socket open."""
        self.c.loop_stop()

    def close(self):
        try:
            self.c.loop_stop()
            sock = self.c.socket()
            if sock is not None:
                sock.close()
        except Exception:
            pass


# ---- mosquitto clients -----------------------------------------------------------------

class MosqSub:
    """mosquitto_sub in debug mode; waits (bounded) for its SUBACK before returning.

    Each received message is a line ``MSG|retain|qos|topic|payload``.
    """

    def __init__(self, gw, topic, count, timeout=5, qos=0, extra=(), version="mqttv311"):
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-d", "-h", gw.host, "-p", str(gw.port), "-t", topic, "-q", str(qos),
               "-C", str(count), "-W", str(timeout), "-V", version, "-F", "MSG|%r|%q|%t|%p", *extra]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.suback = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        assert self.suback.wait(WAIT), f"mosquitto_sub got no SUBACK: {self.lines}"

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if "SUBACK" in line:
                self.suback.set()

    def result(self, timeout=15):
        """Waits for exit; returns (messages as [retain, qos, topic, payload] lists, returncode)."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)
        self.t.join(timeout=5)
        msgs = [line.split("|", 4)[1:] for line in self.lines if line.startswith("MSG|")]
        return msgs, self.p.returncode


def mosq_pub(gw, topic, message, qos=0, retain=False, version="mqttv311", extra=(), timeout=10):
    cmd = ["mosquitto_pub", "-h", gw.host, "-p", str(gw.port), "-t", topic, "-m", message,
           "-q", str(qos), "-V", version, *extra]
    if retain:
        cmd.append("-r")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"mosquitto_pub failed: {r.returncode} {r.stderr}"
    return r


# ---- raw socket MQTT (malformed / silent cases only) -------------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def utf8(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id="raw", level=4, keepalive=60, clean=True, props_bytes=b"", will=None) -> bytes:
    flags = 0x02 if clean else 0
    payload = utf8(client_id)
    if will is not None:
        wtopic, wpayload, wqos = will
        flags |= 0x04 | (wqos << 3)
        if level == 5:
            payload += b"\x00"  # will properties
        payload += utf8(wtopic) + utf8(wpayload)
    name = b"MQIsdp" if level == 3 else b"MQTT"
    vh = utf8(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        vh += varint(len(props_bytes)) + props_bytes
    body = vh + payload
    return b"\x10" + varint(len(body)) + body


class Raw:
    def __init__(self, gw, port=None, timeout=5.0):
        self.s = socket.create_connection((gw.host, port or gw.port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.s.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.s.settimeout(remaining)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                raise TimeoutError
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_packet(self, timeout=WAIT):
        """Returns (type, flags, body); raises EOFError on close, TimeoutError."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        i, mult, length = 1, 1, 0
        while True:
            self._fill(i + 1, deadline)
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        self._fill(i + length, deadline)
        first = self.buf[0]
        body = self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return first >> 4, first & 0x0F, body

    def read_until_close(self, timeout=WAIT):
        """Reads packets until the server closes; returns (packets, closed_after_seconds)."""
        start = time.monotonic()
        pkts = []
        while True:
            remaining = timeout - (time.monotonic() - start)
            if remaining <= 0:
                return pkts, None
            try:
                pkts.append(self.read_packet(remaining))
            except EOFError:
                return pkts, time.monotonic() - start
            except TimeoutError:
                return pkts, None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
