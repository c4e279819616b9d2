"""A small LwM2M 1.0 client built on aiocoap (third-party CoAP library), for the conformance
suite: it serves Device (3), Firmware Update (5) and Temperature (3303) in TLV (11542) or
SenML JSON (110), registers to the gateway's ``/rd`` and records what the server asked.

Runs aiocoap on a private asyncio loop in a background thread; every call is bounded.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))
from mqtt_helpers import TClient, uid  # noqa: E402,F401

TLV = 11542
SENML_JSON = 110
LINK_FORMAT = 40
TEXT = 0

# resource types (the subset the client serves)
TYPES = {
    (3, 0): "String", (3, 1): "String", (3, 2): "String", (3, 3): "String", (3, 9): "Integer",
    (3, 13): "Time", (3, 14): "String", (3, 16): "String",
    (5, 1): "String", (5, 3): "Integer", (5, 5): "Integer",
    (3303, 5700): "Float", (3303, 5701): "String",
}
EXECUTABLE = {(3, 4), (5, 2)}


def initial_objects():
    return {
        (3, 0): {0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123", 3: "1.0", 9: 100,
                 13: 1367491215, 14: "+02:00", 16: "U"},
        (5, 0): {1: "", 3: 0, 5: 0},
        (3303, 0): {5700: 21.5, 5701: "Cel"},
    }


# ---- TLV (OMA LwM2M TS 1.0 §6.4.3) ----------------------------------------------------------
def _tlv(kind: int, ident: int, value: bytes) -> bytes:
    t = kind << 6
    head = b""
    if ident > 255:
        t |= 0x20
        head += struct.pack(">H", ident)
    else:
        head += bytes([ident])
    n = len(value)
    if n < 8:
        t |= n
        ln = b""
    elif n < 256:
        t |= 0x08
        ln = bytes([n])
    elif n < 65536:
        t |= 0x10
        ln = struct.pack(">H", n)
    else:
        t |= 0x18
        ln = n.to_bytes(3, "big")
    return bytes([t]) + head + ln + value


def encode_value(typ: str, v) -> bytes:
    if typ in ("Integer", "Time"):
        for size, fmt in ((1, ">b"), (2, ">h"), (4, ">i"), (8, ">q")):
            try:
                return struct.pack(fmt, int(v))
            except struct.error:
                continue
    if typ == "Float":
        return struct.pack(">d", float(v))
    if typ == "Boolean":
        return b"\x01" if v else b"\x00"
    if typ == "Opaque":
        return bytes(v)
    return str(v).encode()


def decode_value(typ: str, b: bytes):
    if typ in ("Integer", "Time"):
        return int.from_bytes(b, "big", signed=True)
    if typ == "Float":
        return struct.unpack(">f" if len(b) == 4 else ">d", b)[0]
    if typ == "Boolean":
        return b != b"\x00"
    if typ == "Opaque":
        return b
    return b.decode()


def tlv_decode(buf: bytes) -> list[tuple[int, int, bytes]]:
    """[(kind, id, value)] at one level."""
    out, i = [], 0
    while i < len(buf):
        t = buf[i]
        i += 1
        kind = t >> 6
        if t & 0x20:
            ident = struct.unpack(">H", buf[i:i + 2])[0]
            i += 2
        else:
            ident = buf[i]
            i += 1
        lt = (t >> 3) & 3
        if lt == 0:
            n = t & 7
        else:
            n = int.from_bytes(buf[i:i + lt], "big")
            i += lt
        out.append((kind, ident, buf[i:i + n]))
        i += n
    return out


def encode_instance_resources(obj: int, res: dict) -> bytes:
    return b"".join(_tlv(3, rid, encode_value(TYPES.get((obj, rid), "String"), v)) for rid, v in sorted(res.items()))


def senml(base: str, items: list[tuple[str, str, object]]) -> bytes:
    recs = []
    for i, (name, typ, v) in enumerate(items):
        r = {"n": name}
        if i == 0:
            r["bn"] = base
        if typ in ("Integer", "Time", "Float"):
            r["v"] = v
        elif typ == "Boolean":
            r["vb"] = v
        else:
            r["vs"] = v
        recs.append(r)
    return json.dumps(recs).encode()


class Lwm2mClient:
    """One device. ``fmt`` is TLV or SENML_JSON (what reads answer with, unless Accept says)."""

    def __init__(self, gw_port: int, ep: str, fmt: int = TLV, binding: str = "U", lifetime: int = 300):
        import aiocoap  # noqa: F401
        self.gw_port, self.ep, self.fmt, self.binding, self.lifetime = gw_port, ep, fmt, binding, lifetime
        self.objects = initial_objects()
        self.requests: list[tuple[str, str, bytes, list]] = []  # (method, path, payload, queries)
        self.executed: list[tuple[str, bytes]] = []
        self.attributes: dict[str, dict[str, str]] = {}
        self.observers: dict[str, object] = {}
        self.location: list[str] = []
        self.closed = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ctx = self.run(self._create())

    # ---- plumbing --------------------------------------------------------------------------
    def run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _create(self):
        import aiocoap
        return await aiocoap.Context.create_server_context(_Root(self), bind=("127.0.0.1", 0))

    def close(self):
        """Stops serving (idempotent: a test may close a device its fixture closes again)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.run(self.ctx.shutdown(), 5)
        except Exception:  # noqa: BLE001
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _send(self, code, path: str, query: list[str], payload: bytes = b"", cf: int | None = None):
        import aiocoap

        async def go():
            uri = f"coap://127.0.0.1:{self.gw_port}/{path}"
            if query:
                uri += "?" + "&".join(query)
            msg = aiocoap.Message(code=code, uri=uri, payload=payload)
            if cf is not None:
                msg.opt.content_format = cf
            return await asyncio.wait_for(self.ctx.request(msg).response, 10)
        return self.run(go(), 12)

    # ---- registration interface ------------------------------------------------------------
    def link_payload(self) -> bytes:
        links = [f'</>;rt="oma.lwm2m";ct={self.fmt}', "</1/0>"]
        links += [f"</{o}/{i}>" for (o, i) in sorted(self.objects)]
        return ",".join(links).encode()

    def register(self, extra: list[str] | None = None):
        import aiocoap
        q = [f"ep={self.ep}", f"lt={self.lifetime}", "lwm2m=1.0", f"b={self.binding}"] + (extra or [])
        r = self._send(aiocoap.POST, "rd", q, self.link_payload(), LINK_FORMAT)
        self.location = list(r.opt.location_path)
        return r

    def update(self, query: list[str] | None = None, with_objects: bool = False):
        import aiocoap
        payload = self.link_payload() if with_objects else b""
        return self._send(aiocoap.POST, "/".join(self.location), query or [], payload,
                          LINK_FORMAT if with_objects else None)

    def deregister(self):
        import aiocoap
        return self._send(aiocoap.DELETE, "/".join(self.location), [])

    # ---- data ------------------------------------------------------------------------------
    def set_value(self, obj: int, inst: int, res: int, value):
        """Changes a value and notifies observers of it, its instance and its object."""
        self.objects[(obj, inst)][res] = value
        for p in (f"{obj}/{inst}/{res}", f"{obj}/{inst}", f"{obj}"):
            so = self.observers.get(p)
            if so is not None:
                self.loop.call_soon_threadsafe(so.trigger)

    def render(self, parts: list[int], accept: int | None):
        """(content format, payload) for a read of ``parts``."""
        fmt = accept if accept in (TLV, SENML_JSON, TEXT) else self.fmt
        obj = parts[0]
        insts = sorted(i for (o, i) in self.objects if o == obj)
        if len(parts) == 1:
            if fmt == SENML_JSON:
                items = [(f"{i}/{r}", TYPES.get((obj, r), "String"), v)
                         for i in insts for r, v in sorted(self.objects[(obj, i)].items())]
                return fmt, senml(f"/{obj}/", items)
            return TLV, b"".join(_tlv(0, i, encode_instance_resources(obj, self.objects[(obj, i)])) for i in insts)
        res = self.objects[(obj, parts[1])]
        if len(parts) == 2:
            if fmt == SENML_JSON:
                items = [(str(r), TYPES.get((obj, r), "String"), v) for r, v in sorted(res.items())]
                return fmt, senml(f"/{obj}/{parts[1]}/", items)
            return TLV, encode_instance_resources(obj, res)
        rid = parts[2]
        typ = TYPES.get((obj, rid), "String")
        if fmt == SENML_JSON:
            return fmt, senml(f"/{obj}/{parts[1]}/{rid}", [("", typ, res[rid])])
        if fmt == TEXT:
            return TEXT, str(res[rid]).encode()
        return TLV, _tlv(3, rid, encode_value(typ, res[rid]))

    def discover(self, parts: list[int]) -> bytes:
        obj = parts[0]
        links = []
        for (o, i), res in sorted(self.objects.items()):
            if o != obj or (len(parts) > 1 and i != parts[1]):
                continue
            links.append(f"</{o}/{i}>")
            links += [f"</{o}/{i}/{r}>" for r in sorted(res)]
        return ",".join(links).encode()

    def write_tlv(self, obj: int, inst: int, payload: bytes):
        store = self.objects.setdefault((obj, inst), {})
        for kind, ident, value in tlv_decode(payload):
            if kind == 0:
                self.write_tlv(obj, ident, value)
            elif kind == 3:
                store[ident] = decode_value(TYPES.get((obj, ident), "String"), value)


def _path_ints(path) -> list[int] | None:
    try:
        return [int(p) for p in path]
    except ValueError:
        return None


import aiocoap.interfaces  # noqa: E402
import aiocoap.resource  # noqa: E402


class _Root(aiocoap.interfaces.ObservableResource):
    """Serves every LwM2M path of one client."""

    def __init__(self, client: Lwm2mClient):
        super().__init__()
        self.c = client

    async def needs_blockwise_assembly(self, request):
        return True

    async def add_observation(self, request, serverobservation):
        key = "/".join(request.opt.uri_path)
        self.c.observers[key] = serverobservation
        serverobservation.accept(lambda: self.c.observers.pop(key, None))

    async def render_to_pipe(self, pipe):
        await self._render_to_pipe(pipe)

    async def render(self, request):
        import aiocoap
        c = self.c
        path = list(request.opt.uri_path)
        queries = list(request.opt.uri_query)
        c.requests.append((str(request.code), "/".join(path), bytes(request.payload), queries))
        parts = _path_ints(path)
        if not parts:
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        obj = parts[0]
        known = any(o == obj for (o, _) in c.objects)
        code = request.code
        if code == aiocoap.GET:
            if not known or (len(parts) > 1 and (obj, parts[1]) not in c.objects) or \
                    (len(parts) > 2 and parts[2] not in c.objects[(obj, parts[1])]):
                return aiocoap.Message(code=aiocoap.NOT_FOUND)
            if request.opt.accept == LINK_FORMAT:
                return aiocoap.Message(code=aiocoap.CONTENT, payload=c.discover(parts), content_format=LINK_FORMAT)
            fmt, payload = c.render(parts, request.opt.accept)
            return aiocoap.Message(code=aiocoap.CONTENT, payload=payload, content_format=fmt)
        if code == aiocoap.PUT:
            if not request.payload:  # write-attributes
                c.attributes["/".join(path)] = dict(q.split("=", 1) for q in queries if "=" in q)
                return aiocoap.Message(code=aiocoap.CHANGED)
            if len(parts) < 2 or (obj, parts[1]) not in c.objects:
                return aiocoap.Message(code=aiocoap.NOT_FOUND)
            c.write_tlv(obj, parts[1], request.payload)
            return aiocoap.Message(code=aiocoap.CHANGED)
        if code == aiocoap.POST:
            if len(parts) == 3:
                if (obj, parts[2]) not in EXECUTABLE:
                    return aiocoap.Message(code=aiocoap.METHOD_NOT_ALLOWED)
                c.executed.append(("/".join(path), bytes(request.payload)))
                return aiocoap.Message(code=aiocoap.CHANGED)
            if len(parts) == 2:
                if (obj, parts[1]) in c.objects:  # partial update
                    c.write_tlv(obj, parts[1], request.payload)
                    return aiocoap.Message(code=aiocoap.CHANGED)
                c.objects[(obj, parts[1])] = {}
                c.write_tlv(obj, parts[1], request.payload)
                return aiocoap.Message(code=aiocoap.CREATED)
            tlvs = tlv_decode(request.payload)
            if tlvs and tlvs[0][0] == 0:
                new = tlvs[0][1]
                if (obj, new) in c.objects:
                    return aiocoap.Message(code=aiocoap.BAD_REQUEST)
                c.write_tlv(obj, new, tlvs[0][2])
            else:
                new = max([i for (o, i) in c.objects if o == obj], default=-1) + 1
                c.objects[(obj, new)] = {}
                c.write_tlv(obj, new, request.payload)
            return aiocoap.Message(code=aiocoap.CREATED, location_path=[str(obj), str(new)])
        if code == aiocoap.DELETE:
            if len(parts) == 2 and (obj, parts[1]) in c.objects:
                del c.objects[(obj, parts[1])]
                return aiocoap.Message(code=aiocoap.DELETED)
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        return aiocoap.Message(code=aiocoap.METHOD_NOT_ALLOWED)
