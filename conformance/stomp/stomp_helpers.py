"""Client-side helpers for the STOMP part of the conformance suite.

* ``Stomp``   -- a minimal raw STOMP 1.0/1.1/1.2 speaker over TCP (full control of the bytes:
                 malformed input, heart-beats, exact headers).  Every wait is bounded.
* ``WsStomp`` -- the same over WebSocket (websocket-client), one STOMP frame per WS message.
* ``StompPy`` -- a thin wrapper around the third-party stomp.py client (listener that collects
                 frames, bounded waits), used to show interoperability with a real client.
* MQTT helpers (``TClient``, ``uid``, ``publish_props``) are re-exported from ../mqtt.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from mqtt_helpers import TClient, publish_props, uid  # noqa: E402,F401

WAIT = 5.0


@dataclass
class Frame:
    command: str
    headers: dict = field(default_factory=dict)  # first occurrence wins (STOMP 1.2 "Repeated Header Entries")
    body: bytes = b""
    header_list: list = field(default_factory=list)

    def __getitem__(self, k):
        return self.headers[k]

    def get(self, k, default=None):
        return self.headers.get(k, default)

    def __repr__(self):
        return f"Frame({self.command}, {self.headers}, {self.body[:80]!r})"


def _unescape(v: str) -> str:
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            n = v[i + 1]
            out.append({"r": "\r", "n": "\n", "c": ":", "\\": "\\"}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def encode_frame(command: str, headers=None, body: bytes | str = b"", content_length: bool = True) -> bytes:
    if isinstance(body, str):
        body = body.encode()
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if content_length and body and not any(k == "content-length" for k, _ in items):
        items.append(("content-length", str(len(body))))
    head = command + "\n" + "".join(f"{k}:{v}\n" for k, v in items) + "\n"
    return head.encode() + body + b"\x00"


class _Base:
    """Frame parser over an abstract byte transport (``_recv_chunk`` / ``_send_bytes``)."""

    def __init__(self):
        self.buf = b""
        self.heartbeats: list[float] = []  # monotonic times of EOLs seen between frames
        self.closed = False
        self.version = None

    # transport ----------------------------------------------------------------------
    def _recv_chunk(self, timeout: float) -> bytes:  # b"" on EOF, raises TimeoutError
        raise NotImplementedError

    def _send_bytes(self, data: bytes):
        raise NotImplementedError

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        chunk = self._recv_chunk(remaining)
        if not chunk:
            self.closed = True
            raise EOFError
        self.buf += chunk

    # API --------------------------------------------------------------------------------
    def send_raw(self, data: bytes):
        self._send_bytes(data)

    def send(self, command, headers=None, body=b"", content_length=True):
        self._send_bytes(encode_frame(command, headers, body, content_length))

    def read(self, timeout: float = WAIT) -> Frame:
        """Next frame (heart-beat EOLs are recorded and skipped). Raises TimeoutError / EOFError."""
        deadline = time.monotonic() + timeout
        while True:
            while self.buf[:1] in (b"\n", b"\r"):
                if self.buf[:1] == b"\n":
                    self.heartbeats.append(time.monotonic())
                self.buf = self.buf[1:]
            if not self.buf:
                self._fill(deadline)
                continue
            sep = self.buf.find(b"\n\n")
            sep_crlf = self.buf.find(b"\r\n\r\n")
            if sep < 0 and sep_crlf < 0:
                self._fill(deadline)
                continue
            if sep_crlf >= 0 and (sep < 0 or sep_crlf < sep):
                head, start = self.buf[:sep_crlf], sep_crlf + 4
            else:
                head, start = self.buf[:sep], sep + 2
            lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
            cmd = lines[0]
            header_list = []
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if self.version in ("1.1", "1.2") and cmd != "CONNECTED":
                    k, v = _unescape(k), _unescape(v)
                header_list.append((k, v))
            headers = {}
            for k, v in header_list:
                headers.setdefault(k, v)
            if "content-length" in headers:
                n = int(headers["content-length"])
                while len(self.buf) < start + n + 1:
                    self._fill(deadline)
                body = self.buf[start:start + n]
                assert self.buf[start + n:start + n + 1] == b"\x00", "frame not NUL-terminated after content-length"
                self.buf = self.buf[start + n + 1:]
            else:
                while (end := self.buf.find(b"\x00", start)) < 0:
                    self._fill(deadline)
                body = self.buf[start:end]
                self.buf = self.buf[end + 1:]
            return Frame(cmd, headers, body, header_list)

    def expect(self, command: str, timeout: float = WAIT) -> Frame:
        try:
            f = self.read(timeout)
        except TimeoutError:
            raise AssertionError(f"expected {command} frame within {timeout}s, got nothing")
        except EOFError:
            raise AssertionError(f"expected {command} frame, connection closed")
        assert f.command == command, f"expected {command}, got {f}"
        return f

    def frames(self, n: int, timeout: float = WAIT) -> list[Frame]:
        """Up to n frames within timeout (fewer on timeout / close)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.read(max(0.0, deadline - time.monotonic()) or 0.001))
            except (TimeoutError, EOFError):
                break
        return out

    def messages(self, n: int, timeout: float = WAIT) -> list[Frame]:
        fs = self.frames(n, timeout)
        assert len(fs) == n and all(f.command == "MESSAGE" for f in fs), f"expected {n} MESSAGE frames, got {fs}"
        return fs

    def quiet(self, duration: float = 0.7) -> list[Frame]:
        """Frames that arrive within `duration` (used to assert that nothing more came)."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                out.append(self.read(remaining))
            except TimeoutError:
                return out
            except EOFError:
                out.append(Frame("<EOF>"))
                return out

    def wait_closed(self, timeout: float = WAIT) -> list[Frame]:
        """Read until the peer closes; returns the frames read. Fails if still open at timeout."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                out.append(self.read(max(0.001, deadline - time.monotonic())))
            except EOFError:
                return out
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s; frames: {out}")

    def connect(self, version: str | None = "1.2", heart_beat: str | None = "0,0", command="CONNECT",
                host="/", login=None, passcode=None, extra=None, expect=True) -> Frame:
        h = []
        if version is not None:
            h.append(("accept-version", version))
        if host is not None:
            h.append(("host", host))
        if heart_beat is not None:
            h.append(("heart-beat", heart_beat))
        if login is not None:
            h.append(("login", login))
        if passcode is not None:
            h.append(("passcode", passcode))
        h.extend((extra or {}).items())
        self.send(command, h)
        f = self.read(WAIT)
        if expect:
            assert f.command == "CONNECTED", f"CONNECT refused: {f}"
            self.version = f.get("version", "1.0")
        return f

    def subscribe(self, destination: str, sid: str = "0", ack: str = "auto", receipt: bool = True, extra=None):
        h = {"destination": destination, "id": sid, "ack": ack, **(extra or {})}
        if receipt:
            h["receipt"] = f"sub-{sid}"
        self.send("SUBSCRIBE", h)
        if receipt:
            r = self.expect("RECEIPT")
            assert r.get("receipt-id") == f"sub-{sid}", r

    def unsubscribe(self, sid: str = "0", receipt: bool = True):
        h = {"id": sid}
        if receipt:
            h["receipt"] = f"unsub-{sid}"
        self.send("UNSUBSCRIBE", h)
        if receipt:
            r = self.expect("RECEIPT")
            assert r.get("receipt-id") == f"unsub-{sid}", r

    def publish(self, destination: str, body=b"", headers=None, receipt: str | None = None):
        h = {"destination": destination, **(headers or {})}
        if receipt:
            h["receipt"] = receipt
        self.send("SEND", h, body)
        if receipt:
            r = self.expect("RECEIPT")
            assert r.get("receipt-id") == receipt, r

    def ack(self, msg: Frame, command: str = "ACK", transaction: str | None = None):
        h = {"id": msg.get("ack") or msg.get("message-id")}
        if self.version != "1.2":
            h = {"message-id": msg.get("message-id"), "subscription": msg.get("subscription")}
        if transaction:
            h["transaction"] = transaction
        self.send(command, h)

    def nack(self, msg: Frame, transaction: str | None = None):
        self.ack(msg, "NACK", transaction)

    def sync(self, tag: str = "sync"):
        """Round trip: a RECEIPT proves every earlier frame of this connection was processed."""
        self.send("SEND", {"destination": "conformance/sync/ignore", "receipt": tag})
        while True:
            f = self.read(WAIT)
            if f.command == "RECEIPT" and f.get("receipt-id") == tag:
                return
            self.pending.append(f)


class Stomp(_Base):
    """Raw STOMP over TCP."""

    def __init__(self, gw, port: int | None = None, timeout: float = WAIT):
        super().__init__()
        self.s = socket.create_connection((gw.host, port or gw.stomp_port), timeout=timeout)
        self.pending: list[Frame] = []

    def _recv_chunk(self, timeout):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65536)
        except socket.timeout:
            raise TimeoutError
        except (ConnectionResetError, BrokenPipeError):
            return b""

    def _send_bytes(self, data):
        self.s.sendall(data)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def abort(self):
        """Close the TCP connection without DISCONNECT."""
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()


class WsStomp(_Base):
    """Raw STOMP over WebSocket (websocket-client); each frame travels in one WS message."""

    def __init__(self, gw, path="/stomp", subprotocols=("v12.stomp",), timeout: float = WAIT):
        import websocket

        super().__init__()
        self.websocket = websocket
        self.ws = websocket.create_connection(f"ws://{gw.host}:{gw.stomp_ws_port}{path}",
                                              subprotocols=list(subprotocols) if subprotocols else None,
                                              timeout=timeout)
        self.pending: list[Frame] = []

    @property
    def subprotocol(self):
        return self.ws.getsubprotocol()

    def _recv_chunk(self, timeout):
        self.ws.settimeout(timeout)
        try:
            op, data = self.ws.recv_data()
        except self.websocket.WebSocketTimeoutException:
            raise TimeoutError
        except (self.websocket.WebSocketConnectionClosedException, ConnectionError):
            return b""
        if op == self.websocket.ABNF.OPCODE_CLOSE:
            return b""
        return data if isinstance(data, bytes) else data.encode()

    def _send_bytes(self, data):
        self.ws.send(data, opcode=self.websocket.ABNF.OPCODE_BINARY)

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass


# ---- stomp.py (third-party client) -------------------------------------------------------

class StompPy:
    """stomp.py 1.2 connection (TCP or WebSocket) collecting MESSAGE/RECEIPT/ERROR frames."""

    def __init__(self, gw, ws: bool = False, heartbeats=(0, 0)):
        import stomp

        self.cond = threading.Condition()
        self.messages: list = []
        self.receipts: list[str] = []
        self.errors: list = []
        self.disconnected = False
        if ws:
            from stomp.adapter.ws import WSStompConnection

            self.c = WSStompConnection([(gw.host, gw.stomp_ws_port)], ws_path="/stomp", heartbeats=heartbeats,
                                       header=["Sec-WebSocket-Protocol: v12.stomp"], reconnect_attempts_max=1,
                                       timeout=WAIT)
        else:
            self.c = stomp.Connection12([(gw.host, gw.stomp_port)], heartbeats=heartbeats, reconnect_attempts_max=1,
                                        timeout=WAIT)
        outer = self

        class L(stomp.ConnectionListener):
            def on_message(self, frame):
                with outer.cond:
                    outer.messages.append(frame)
                    outer.cond.notify_all()

            def on_receipt(self, frame):
                with outer.cond:
                    outer.receipts.append(frame.headers.get("receipt-id"))
                    outer.cond.notify_all()

            def on_error(self, frame):
                with outer.cond:
                    outer.errors.append(frame)
                    outer.cond.notify_all()

            def on_disconnected(self):
                with outer.cond:
                    outer.disconnected = True
                    outer.cond.notify_all()

        self.c.set_listener("collector", L())

    def connect(self, **kw):
        self.c.connect(wait=True, **kw)
        assert self.c.is_connected()
        return self

    def _wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(pred, timeout=timeout)

    def wait_receipt(self, rid: str, timeout: float = WAIT):
        assert self._wait(lambda: rid in self.receipts, timeout), f"no RECEIPT {rid}; errors={self.errors}"

    def subscribe(self, destination, sid="1", ack="auto", **headers):
        rid = f"sub-{sid}-{uid('r')}"
        self.c.subscribe(destination, id=sid, ack=ack, headers={"receipt": rid, **headers})
        self.wait_receipt(rid)

    def expect_messages(self, n: int, timeout: float = WAIT):
        self._wait(lambda: len(self.messages) >= n, timeout)
        with self.cond:
            got = list(self.messages)
        assert len(got) >= n, f"expected {n} messages, got {len(got)}: {got}"
        return got

    def quiet(self, duration=0.7):
        time.sleep(duration)
        with self.cond:
            return list(self.messages)

    def disconnect(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
