"""Client-side helpers for the CoAP part of the conformance suite.

* ``coap_client``: run libcoap's ``coap-client-openssl`` (``-v 6`` so the response header is
  printed) and return the response code(s), payload and raw output.  Bounded by a timeout.
* ``Aio``: aiocoap on a private asyncio loop in a background thread, with synchronous,
  bounded ``request`` / ``observe`` wrappers (``Observation`` collects notifications thread-safely).
* ``RawCoap``: a minimal RFC 7252 §3 encoder/decoder over a plain UDP socket, used for what a real
  client will not send (duplicate MIDs, RST, unknown critical options, malformed datagrams) and to
  see message types / message ids / retransmissions of notifications exactly.

The MQTT side reuses ``mqtt/mqtt_helpers.py`` (paho-mqtt ``TClient``, mosquitto ``MosqSub``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))
from mqtt_helpers import MosqSub, TClient, mosq_pub, uid  # noqa: E402,F401

WAIT = 5.0
COAP_CLIENT = shutil.which("coap-client-openssl") or shutil.which("coap-client") or "coap-client-openssl"

# message types (RFC 7252 §3)
CON, NON, ACK, RST = 0, 1, 2, 3
TYPE_NAMES = {CON: "CON", NON: "NON", ACK: "ACK", RST: "RST"}

# option numbers (RFC 7252 §5.10, RFC 7641 §2, RFC 7959 §2.1)
OBSERVE = 6
URI_PATH = 11
CONTENT_FORMAT = 12
URI_QUERY = 15
BLOCK2 = 23
BLOCK1 = 27
SIZE2 = 28
SIZE1 = 60

GET, POST, PUT, DELETE = 0x01, 0x02, 0x03, 0x04


def code(c: str) -> int:
    """'2.04' → 0x44."""
    cls, detail = c.split(".")
    return (int(cls) << 5) | int(detail)


def code_str(c: int) -> str:
    return f"{c >> 5}.{c & 0x1F:02d}"


def uint_opt(v: int) -> bytes:
    """RFC 7252 §3.2 uint option value (minimal length)."""
    if v == 0:
        return b""
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


def opt_uint(b: bytes) -> int:
    return int.from_bytes(b, "big") if b else 0


# ---- raw codec ----------------------------------------------------------------------------
@dataclass
class Msg:
    type: int
    code: int
    mid: int
    token: bytes = b""
    options: list = field(default_factory=list)  # [(number, bytes)] in order
    payload: bytes = b""

    def opt(self, number):
        for n, v in self.options:
            if n == number:
                return v
        return None

    def opts(self, number):
        return [v for n, v in self.options if n == number]

    @property
    def code_s(self) -> str:
        return code_str(self.code)

    @property
    def observe(self):
        v = self.opt(OBSERVE)
        return None if v is None else opt_uint(v)

    def __repr__(self):
        return (f"Msg({TYPE_NAMES.get(self.type)}, {self.code_s}, mid={self.mid}, tok={self.token.hex()}, "
                f"opts={[(n, v.hex()) for n, v in self.options]}, payload={self.payload[:40]!r}"
                f"{'…' if len(self.payload) > 40 else ''} len={len(self.payload)})")


def _ext(n: int):
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes([n - 13])
    return 14, struct.pack("!H", n - 269)


def encode(m: Msg) -> bytes:
    assert len(m.token) <= 8
    out = bytearray([0x40 | (m.type << 4) | len(m.token), m.code]) + struct.pack("!H", m.mid) + m.token
    last = 0
    for number, value in sorted(m.options, key=lambda o: o[0]):  # stable: keeps repeated order
        dn, dext = _ext(number - last)
        ln, lext = _ext(len(value))
        out += bytes([(dn << 4) | ln]) + dext + lext + value
        last = number
    if m.payload:
        out += b"\xff" + m.payload
    return bytes(out)


def decode(data: bytes) -> Msg:
    if len(data) < 4:
        raise ValueError("short datagram")
    b0, c, mid = data[0], data[1], struct.unpack("!H", data[2:4])[0]
    if b0 >> 6 != 1:
        raise ValueError("version")
    tkl = b0 & 0x0F
    token = data[4:4 + tkl]
    i = 4 + tkl
    options, number = [], 0
    while i < len(data):
        if data[i] == 0xFF:
            i += 1
            break
        d, ln = data[i] >> 4, data[i] & 0x0F
        i += 1
        vals = []
        for nib in (d, ln):
            if nib == 13:
                vals.append(data[i] + 13)
                i += 1
            elif nib == 14:
                vals.append(struct.unpack("!H", data[i:i + 2])[0] + 269)
                i += 2
            else:
                vals.append(nib)
        number += vals[0]
        options.append((number, data[i:i + vals[1]]))
        i += vals[1]
    return Msg((b0 >> 4) & 3, c, mid, token, options, data[i:])


def path_opts(path: str) -> list:
    return [(URI_PATH, seg.encode()) for seg in path.strip("/").split("/")]


def query_opts(**q) -> list:
    return [(URI_QUERY, f"{k}={v}".encode()) for k, v in q.items()]


_mids = itertools.count(random.randint(1, 20000))


def next_mid() -> int:
    return next(_mids) & 0xFFFF


def new_token(n: int = 4) -> bytes:
    return random.getrandbits(8 * n).to_bytes(n, "big")


class RawCoap:
    """One UDP socket ("one CoAP peer") speaking raw CoAP to the gateway."""

    def __init__(self, gw, port=None):
        self.addr = (gw.host, port or gw.coap_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.received: list[tuple[float, Msg]] = []  # everything read, with arrival time

    def send_bytes(self, data: bytes):
        self.sock.sendto(data, self.addr)

    def send(self, m: Msg) -> Msg:
        self.send_bytes(encode(m))
        return m

    def recv(self, timeout: float = WAIT) -> Msg | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                return None
            try:
                m = decode(data)
            except ValueError:
                continue
            self.received.append((time.monotonic(), m))
            return m

    def recv_until(self, pred, timeout: float = WAIT) -> Msg | None:
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if m is None or pred(m):
                return m

    def request(self, method: int, path: str, mtype: int = CON, tkn: bytes | None = None,
                options: list = (), payload: bytes = b"", mid: int | None = None,
                timeout: float = WAIT, **query) -> Msg | None:
        """Send a request (CoAP token ``tkn``, Uri-Query from ``query``) and return the matching
        response (piggy-backed ACK by MID, or a CON/NON response by token, or an RST)."""
        tok = new_token() if tkn is None else tkn
        m = Msg(mtype, method, next_mid() if mid is None else mid, tok,
                path_opts(path) + list(options) + query_opts(**query), payload)
        self.send(m)
        return self.recv_until(
            lambda r: (r.type == ACK and r.mid == m.mid and r.code != 0) or
                      (r.type in (CON, NON) and r.token == tok and r.code >= 0x40) or
                      (r.type == RST and r.mid == m.mid), timeout)

    def ack(self, m: Msg):
        self.send(Msg(ACK, 0, m.mid))

    def rst(self, m: Msg):
        self.send(Msg(RST, 0, m.mid))

    def close(self):
        self.sock.close()


def wait_coap_ready(gw, timeout: float = 5.0):
    """CoAP ping (empty CON → RST, RFC 7252 §4.3) until the UDP listener answers."""
    r = RawCoap(gw)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mid = next_mid()
            r.send(Msg(CON, 0, mid))
            m = r.recv_until(lambda x: x.mid == mid, 0.3)
            if m is not None:
                assert m.type == RST, f"CoAP ping answered with {m}"
                return
        raise AssertionError(f"CoAP listener on {gw.coap_port} did not answer a ping within {timeout}s")
    finally:
        r.close()


# ---- libcoap coap-client --------------------------------------------------------------------
@dataclass
class CoapClientResult:
    rc: int
    codes: list  # response codes seen, e.g. ['2.31', '2.31', '2.04']
    types: list  # their message types
    out: str
    err: str
    payload: bytes

    @property
    def code(self):
        return self.codes[-1] if self.codes else None


_RESP = re.compile(r"^v:1 t:(CON|NON|ACK|RST) c:(\d\.\d\d) ", re.M)


def coap_client(gw, method: str, path: str, *args, payload: str | None = None, timeout: float = 15,
                uri: str | None = None, verbose: int = 6) -> CoapClientResult:
    """``coap-client-openssl -v 6 -m METHOD [-e PAYLOAD] ARGS coap://127.0.0.1:P/PATH``.

    ``-v 6`` prints the request(s) and the final response; ``verbose=7`` also the intermediate
    responses of a block-wise transfer (2.31 Continue)."""
    cmd = [COAP_CLIENT, "-v", str(verbose), "-m", method]
    if payload is not None:
        cmd += ["-e", payload]
    cmd += list(args)
    cmd.append(uri or f"coap://{gw.host}:{gw.coap_port}/{path.lstrip('/')}")
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    hits = _RESP.findall(out + "\n" + err)
    return CoapClientResult(p.returncode, [c for _, c in hits], [t for t, _ in hits], out, err, p.stdout)


class CoapClientProc:
    """A long-running coap-client (observe with ``-s``); output collected in the background."""

    def __init__(self, gw, path: str, seconds: int, *args):
        # stdbuf: libcoap's stdout is block-buffered on a pipe; we need each notification as it comes
        stdbuf = [shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []
        cmd = [*stdbuf, COAP_CLIENT, "-v", "6", "-m", "get", "-s", str(seconds), *args,
               f"coap://{gw.host}:{gw.coap_port}/{path.lstrip('/')}"]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for chunk in iter(lambda: self.p.stdout.read1(4096), b""):
            with self.lock:
                self.buf += chunk

    def text(self) -> str:
        with self.lock:
            return self.buf.decode(errors="replace")

    def wait_for(self, pred, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.text()):
                return True
            time.sleep(0.05)
        return pred(self.text())

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(3)
        self.t.join(2)


# ---- aiocoap --------------------------------------------------------------------------------
class Observation:
    """Notifications of one aiocoap observation (first response included), thread-safe."""

    def __init__(self):
        self.cond = threading.Condition()
        self.first = None
        self.notifications: list = []  # aiocoap Message objects after the first response
        self.error = None
        self.cancel = None

    def wait(self, n: int, timeout: float = WAIT) -> list:
        with self.cond:
            self.cond.wait_for(lambda: len(self.notifications) >= n or self.error is not None, timeout)
            return list(self.notifications)

    def expect(self, n: int, timeout: float = WAIT) -> list:
        got = self.wait(n, timeout)
        assert len(got) >= n, f"expected {n} notifications, got {[(str(m.code), m.payload[:30]) for m in got]} error={self.error!r}"
        return got

    def quiet(self, duration: float = 0.8) -> list:
        time.sleep(duration)
        with self.cond:
            return list(self.notifications)


def _tuning(mtype: str):
    """CON → aiocoap.Reliable, NON → aiocoap.Unreliable (``mtype=`` is deprecated in aiocoap 0.4.x)."""
    import aiocoap
    return {"CON": aiocoap.Reliable, "NON": aiocoap.Unreliable}[mtype]


class Aio:
    """aiocoap client context on a background event loop."""

    def __init__(self):
        import aiocoap  # noqa: F401  (import error → clear failure)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ctx = self.run(self._create())

    @staticmethod
    async def _create():
        import aiocoap
        return await aiocoap.Context.create_client_context()

    def run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, method: str, uri: str, payload: bytes = b"", mtype: str = "CON", timeout: float = 15, **kw):
        import aiocoap

        async def go():
            msg = aiocoap.Message(code=getattr(aiocoap, method), uri=uri, payload=payload,
                                  transport_tuning=_tuning(mtype), **kw)
            return await asyncio.wait_for(self.ctx.request(msg).response, timeout)
        return self.run(go(), timeout + 2)

    def observe(self, uri: str, mtype: str = "CON", timeout: float = WAIT) -> Observation:
        """GET with Observe=0; returns once the first response arrived (``obs.first``)."""
        import aiocoap
        obs = Observation()

        async def go():
            msg = aiocoap.Message(code=aiocoap.GET, uri=uri, observe=0, transport_tuning=_tuning(mtype))
            req = self.ctx.request(msg)
            obs.cancel = req.observation.cancel
            obs.first = await asyncio.wait_for(req.response, timeout)

            async def pump():
                try:
                    async for n in req.observation:
                        with obs.cond:
                            obs.notifications.append(n)
                            obs.cond.notify_all()
                except Exception as e:  # noqa: BLE001 - recorded for the test to inspect
                    with obs.cond:
                        obs.error = e
                        obs.cond.notify_all()
            asyncio.ensure_future(pump())
        self.run(go(), timeout + 2)
        return obs

    def cancel(self, obs: Observation):
        if obs.cancel is not None:
            self.loop.call_soon_threadsafe(obs.cancel)

    def close(self):
        try:
            self.run(self.ctx.shutdown(), 5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(3)


def coap_uri(gw, path: str) -> str:
    return f"coap://{gw.host}:{gw.coap_port}/{path.lstrip('/')}"


def mqtt_sub(gw, topic: str, qos: int = 1) -> TClient:
    c = TClient(gw)
    c.connect()
    c.subscribe(topic, qos)
    return c


# ---- fixtures (imported by the test modules) -----------------------------------------------------
import pytest  # noqa: E402


def start_gateway(tmp_path_factory, coap: dict | None = None, extra: dict | None = None):
    """A fresh gateway with ``gateway.coap`` = ``coap`` (plus top-level ``extra``), CoAP ready."""
    from conftest import Gateway
    config = dict(extra or {})
    if coap:
        config.setdefault("gateway", {})["coap"] = coap
    gw = Gateway(tmp_path_factory.mktemp("coapgw"), config).start()
    wait_coap_ready(gw)
    return gw


@pytest.fixture(scope="module")
def coap_gw(gateway):
    """The module's default-configuration gateway, once its CoAP listener answers."""
    wait_coap_ready(gateway)
    return gateway


@pytest.fixture
def aio():
    a = Aio()
    yield a
    a.close()


@pytest.fixture
def raw(coap_gw):
    r = RawCoap(coap_gw)
    yield r
    r.close()
