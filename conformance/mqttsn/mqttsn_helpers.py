"""Client-side helpers for the MQTT-SN 1.2 part of the conformance suite.

* ``lib_client``: the third-party PyPI client **mqtt-sn-12** (``mqttsn12.client.MqttSnClient``),
  used for the client → gateway flows it implements correctly: CONNECT (with the will
  prompting flow), REGISTER, PUBLISH QoS -1/0/1/2 (normal, short and predefined ids),
  SUBSCRIBE / UNSUBSCRIBE (name, short name, predefined id), WILLTOPICUPD / WILLMSGUPD,
  DISCONNECT (with and without a sleep duration), SEARCHGW.
* ``Sn``: a minimal raw UDP MQTT-SN speaker (encoder + decoder for every 1.2 message), used for
  what the library cannot express or gets wrong: reading what the gateway sends (the library
  never PUBACKs a received QoS 1 PUBLISH: it compares the 2-bit QoS with the shifted flag
  constant), exact byte checks, duplicates, silence, sleeping / waking, malformed datagrams.
  ``Sn.attach(lib)`` reads from the library client's own socket, so both can be mixed on one
  MQTT-SN connection.

Every wait is bounded.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from mqtt_helpers import MosqSub, TClient, mosq_pub, uid  # noqa: E402,F401

from mqttsn12.client.MqttSnClient import MqttSnClient  # noqa: E402

logging.getLogger("mqttsn12").setLevel(logging.ERROR)

WAIT = 3.0

# ---- message types (MQTT-SN 1.2 §5.2.2) --------------------------------------------------
ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
CONNECT, CONNACK = 0x04, 0x05
WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG = 0x06, 0x07, 0x08, 0x09
REGISTER, REGACK = 0x0A, 0x0B
PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL = 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x12, 0x13, 0x14, 0x15
PINGREQ, PINGRESP, DISCONNECT = 0x16, 0x17, 0x18
WILLTOPICUPD, WILLTOPICRESP, WILLMSGUPD, WILLMSGRESP = 0x1A, 0x1B, 0x1C, 0x1D

NAMES = {v: k for k, v in dict(globals()).items() if k.isupper() and isinstance(v, int) and k not in ("WAIT",)}

# ---- flags (§5.3.4) -------------------------------------------------------------------------
DUP = 0x80
RETAIN = 0x10
WILL = 0x08
CLEAN = 0x04
T_NORMAL, T_PREDEF, T_SHORT = 0, 1, 2
RC_ACCEPTED, RC_CONGESTION, RC_INVALID_TOPIC, RC_NOT_SUPPORTED = 0, 1, 2, 3

PREDEF_1 = "/predefined/topic/name/hello"
PREDEF_2 = "/predefined/topic/name/nice"


def qos_bits(qos: int) -> int:
    return {0: 0x00, 1: 0x20, 2: 0x40, -1: 0x60, 3: 0x60}[qos]


def flags_qos(flags: int) -> int:
    q = (flags >> 5) & 3
    return -1 if q == 3 else q


def short_id(name: str) -> int:
    b = name.encode()
    assert len(b) == 2
    return (b[0] << 8) | b[1]


# ---- encoder --------------------------------------------------------------------------------
def pkt(msg_type: int, body: bytes = b"") -> bytes:
    n = len(body) + 2
    if n <= 255:
        return bytes([n, msg_type]) + body
    return b"\x01" + struct.pack(">H", n + 2) + bytes([msg_type]) + body


def s(x) -> bytes:
    return x if isinstance(x, bytes) else x.encode()


def searchgw(radius=0): return pkt(SEARCHGW, bytes([radius]))
def connect(client_id, duration=60, clean=True, will=False):
    return pkt(CONNECT, bytes([(CLEAN if clean else 0) | (WILL if will else 0), 0x01]) + struct.pack(">H", duration) + s(client_id))
def willtopic(topic, qos=0, retain=False):
    return pkt(WILLTOPIC, bytes([qos_bits(qos) | (RETAIN if retain else 0)]) + s(topic))
def willmsg(msg): return pkt(WILLMSG, s(msg))
def willtopicupd(topic, qos=0, retain=False):
    return pkt(WILLTOPICUPD, bytes([qos_bits(qos) | (RETAIN if retain else 0)]) + s(topic))
def willmsgupd(msg): return pkt(WILLMSGUPD, s(msg))
def register(topic, msg_id=1, topic_id=0): return pkt(REGISTER, struct.pack(">HH", topic_id, msg_id) + s(topic))
def regack(topic_id, msg_id, rc=0): return pkt(REGACK, struct.pack(">HHB", topic_id, msg_id, rc))
def publish(topic_id, data=b"", qos=0, msg_id=0, id_type=T_NORMAL, dup=False, retain=False):
    flags = (DUP if dup else 0) | qos_bits(qos) | (RETAIN if retain else 0) | id_type
    return pkt(PUBLISH, bytes([flags]) + struct.pack(">HH", topic_id, msg_id) + s(data))
def puback(topic_id, msg_id, rc=0): return pkt(PUBACK, struct.pack(">HHB", topic_id, msg_id, rc))
def pubrec(msg_id): return pkt(PUBREC, struct.pack(">H", msg_id))
def pubrel(msg_id): return pkt(PUBREL, struct.pack(">H", msg_id))
def pubcomp(msg_id): return pkt(PUBCOMP, struct.pack(">H", msg_id))
def subscribe(topic, qos=0, msg_id=1, id_type=T_NORMAL, dup=False):
    """``topic``: a name (normal / short) or an int id (predefined)."""
    flags = (DUP if dup else 0) | qos_bits(qos) | id_type
    body = struct.pack(">H", topic) if isinstance(topic, int) else s(topic)
    return pkt(SUBSCRIBE, bytes([flags]) + struct.pack(">H", msg_id) + body)
def unsubscribe(topic, msg_id=1, id_type=T_NORMAL):
    body = struct.pack(">H", topic) if isinstance(topic, int) else s(topic)
    return pkt(UNSUBSCRIBE, bytes([id_type]) + struct.pack(">H", msg_id) + body)
def pingreq(client_id=None): return pkt(PINGREQ, s(client_id) if client_id else b"")
def disconnect(duration=None): return pkt(DISCONNECT, b"" if duration is None else struct.pack(">H", duration))


# ---- decoder --------------------------------------------------------------------------------
@dataclass
class SnMsg:
    type: int
    body: bytes
    raw: bytes
    f: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES.get(self.type, hex(self.type))

    def __getattr__(self, k):
        try:
            return self.__dict__["f"][k]
        except KeyError:
            raise AttributeError(k) from None

    def __repr__(self):
        return f"<{self.name} {self.f} raw={self.raw.hex()}>"


def decode(raw: bytes) -> SnMsg:
    if raw[0] == 1:
        length, t, body = struct.unpack(">H", raw[1:3])[0], raw[3], raw[4:]
    else:
        length, t, body = raw[0], raw[1], raw[2:]
    assert length == len(raw), f"length field {length} != datagram size {len(raw)}: {raw.hex()}"
    m = SnMsg(t, body, raw)
    f = m.f
    h = lambda i: struct.unpack(">H", body[i:i + 2])[0]  # noqa: E731
    if t == ADVERTISE:
        f.update(gw_id=body[0], duration=h(1))
    elif t == GWINFO:
        f.update(gw_id=body[0], addr=body[1:])
    elif t in (CONNACK, WILLTOPICRESP, WILLMSGRESP):
        f.update(rc=body[0])
    elif t == REGISTER:
        f.update(topic_id=h(0), msg_id=h(2), topic=body[4:].decode())
    elif t == REGACK:
        f.update(topic_id=h(0), msg_id=h(2), rc=body[4])
    elif t == PUBLISH:
        fl = body[0]
        f.update(flags=fl, dup=bool(fl & DUP), qos=flags_qos(fl), retain=bool(fl & RETAIN), id_type=fl & 3,
                 topic_id=h(1), msg_id=h(3), data=body[5:])
    elif t == PUBACK:
        f.update(topic_id=h(0), msg_id=h(2), rc=body[4])
    elif t in (PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        f.update(msg_id=h(0))
    elif t == SUBACK:
        f.update(flags=body[0], qos=flags_qos(body[0]), topic_id=h(1), msg_id=h(3), rc=body[5])
    elif t == DISCONNECT:
        f.update(duration=h(0) if len(body) >= 2 else None)
    return m


# ---- raw UDP client -------------------------------------------------------------------------
class Sn:
    """One MQTT-SN peer (one UDP socket = one client address)."""

    def __init__(self, gw, sock: socket.socket | None = None):
        self.gw = gw
        self.addr = ("127.0.0.1", gw.mqttsn_port)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.pending: list[SnMsg] = []
        self.next_id = 1

    @classmethod
    def attach(cls, lib: MqttSnClient) -> "Sn":
        sn = cls.__new__(cls)
        sn.gw = None
        sn.addr = (lib.address, lib.port)
        sn.sock = lib.datagram_socket
        sn.sock.setblocking(True)
        sn.pending = []
        sn.next_id = 1000
        return sn

    def mid(self) -> int:
        self.next_id += 1
        return self.next_id

    def send(self, data: bytes):
        self.sock.sendto(data, self.addr)

    def _recv_raw(self, timeout: float) -> SnMsg | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except (socket.timeout, BlockingIOError):
            return None
        return decode(data)

    def recv(self, timeout: float = WAIT) -> SnMsg | None:
        if self.pending:
            return self.pending.pop(0)
        return self._recv_raw(timeout)

    def expect(self, msg_type: int, timeout: float = WAIT, skip=()) -> SnMsg:
        """The next message must be ``msg_type`` (types in ``skip`` are set aside)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            assert m is not None, f"no {NAMES[msg_type]} within {timeout}s"
            if m.type in skip:
                continue
            assert m.type == msg_type, f"expected {NAMES[msg_type]}, got {m!r}"
            return m

    def quiet(self, duration: float = 0.7) -> list[SnMsg]:
        """Everything received within ``duration``."""
        out, deadline = list(self.pending), time.monotonic() + duration
        self.pending = []
        while (left := deadline - time.monotonic()) > 0:
            m = self._recv_raw(left)
            if m is not None:
                out.append(m)
        return out

    def request(self, data: bytes, reply: int, timeout: float = WAIT) -> SnMsg:
        self.send(data)
        return self.expect(reply, timeout)

    # ---- flows ------------------------------------------------------------------------------
    def connect(self, client_id: str, duration=60, clean=True, will: tuple | None = None) -> SnMsg:
        """CONNECT (+ will flow when ``will=(topic, msg, qos, retain)``) → CONNACK."""
        self.send(connect(client_id, duration, clean, will is not None))
        if will is not None:
            self.expect(WILLTOPICREQ)
            topic, msg, qos, retain = (list(will) + [0, False])[:4]
            self.send(willtopic(topic, qos, retain))
            self.expect(WILLMSGREQ)
            self.send(willmsg(msg))
        ack = self.expect(CONNACK)
        assert ack.rc == 0, f"CONNACK {ack!r}"
        return ack

    def register(self, topic: str) -> int:
        m = self.mid()
        ack = self.request(register(topic, m), REGACK)
        assert ack.msg_id == m and ack.rc == 0, ack
        return ack.topic_id

    def subscribe(self, topic, qos=0, id_type=T_NORMAL) -> SnMsg:
        m = self.mid()
        ack = self.request(subscribe(topic, qos, m, id_type), SUBACK)
        assert ack.msg_id == m, ack
        return ack

    def unsubscribe(self, topic, id_type=T_NORMAL):
        m = self.mid()
        ack = self.request(unsubscribe(topic, m, id_type), UNSUBACK)
        assert ack.msg_id == m, ack

    def next_publish(self, timeout: float = WAIT, auto_regack=True, registry: dict | None = None) -> SnMsg:
        """The next PUBLISH; REGISTERs before it are REGACKed (accepted) and recorded."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            assert m is not None, f"no PUBLISH within {timeout}s"
            if m.type == REGISTER and auto_regack:
                if registry is not None:
                    registry[m.topic_id] = m.topic
                self.send(regack(m.topic_id, m.msg_id))
                continue
            assert m.type == PUBLISH, f"expected PUBLISH, got {m!r}"
            return m

    def ack(self, p: SnMsg):
        """Acknowledge a PUBLISH from the gateway according to its QoS."""
        if p.qos == 1:
            self.send(puback(p.topic_id, p.msg_id))
        elif p.qos == 2:
            self.send(pubrec(p.msg_id))
            self.expect(PUBREL)
            self.send(pubcomp(p.msg_id))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_sn_ready(gw, timeout: float = 5.0):
    """The UDP listener answers SEARCHGW (the TCP ports being up does not prove it)."""
    sn = Sn(gw)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sn.send(searchgw())
            m = sn.recv(0.2)
            if m is not None and m.type == GWINFO:
                return
        raise AssertionError("MQTT-SN listener does not answer SEARCHGW")
    finally:
        sn.close()


def lib_client(gw, client_id: str | None = None, keep_alive=60, clean=True, will=None,
               connect_now=True, timeout=3) -> MqttSnClient:
    """A connected mqtt-sn-12 client (``will=(topic, message, qos, retain)``)."""
    c = MqttSnClient()
    c.set_client_id(client_id or uid("sn"))
    c.set_keep_alive(keep_alive)
    c.set_timeout(timeout)
    c.set_clean_session(clean)
    if will is not None:
        c.set_will(*will)
    c.open("127.0.0.1", gw.mqttsn_port)
    if connect_now:
        c.send_connect()
    return c


def lib_close(c: MqttSnClient):
    try:
        if c.datagram_socket is not None:
            c.datagram_socket.close()
        c.datagram_socket = None
        if c.executor is not None:
            c.executor.shutdown(wait=False)
    except Exception:
        pass


def mqtt_sub(gw, topic, qos=1, proto=4) -> TClient:
    c = TClient(gw, proto=proto)
    c.connect()
    c.subscribe(topic, qos)
    return c
