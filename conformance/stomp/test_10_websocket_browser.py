"""STOMP over WebSocket (listener gateway.stomp.listeners.ws.default, path /stomp, subprotocols
v12.stomp / v11.stomp / v10.stomp — the STOMP-over-WebSocket convention used by @stomp/stompjs
and EMQX) and a real browser client: headless Chromium running @stomp/stompjs."""

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from stomp_helpers import StompPy, TClient, WsStomp, uid

BROWSER_DIR = Path(__file__).resolve().parent.parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_ws_raw_v12_subprotocol(gateway):
    """STOMP over WebSocket: the handshake offering v12.stomp selects it; CONNECT → CONNECTED
    1.2; MQTT publish → MESSAGE; SEND → MQTT subscriber."""
    topic = uid("ws/")
    w = WsStomp(gateway, subprotocols=("v12.stomp",))
    assert w.subprotocol == "v12.stomp"
    assert w.connect()["version"] == "1.2"
    w.subscribe(topic + "/in", "w")
    m = TClient(gateway)
    m.connect()
    m.subscribe(topic + "/out")
    m.publish(topic + "/in", b"mqtt->ws", qos=1)
    f = w.messages(1)[0]
    assert f.body == b"mqtt->ws" and f["destination"] == topic + "/in"
    w.publish(topic + "/out", b"ws->mqtt", {"content-type": "text/x-test"}, receipt="r")
    msg = m.expect_messages(1)[0]
    assert msg.payload == b"ws->mqtt" and msg.prop("ContentType") == "text/x-test"
    m.disconnect()
    w.close()


def test_ws_subprotocol_preference(gateway):
    """STOMP over WebSocket (RFC 6455 §4.2.2 subprotocol selection): offering only v11.stomp
    selects v11.stomp, and a STOMP 1.1 session works over it."""
    w = WsStomp(gateway, subprotocols=("v11.stomp",))
    assert w.subprotocol == "v11.stomp"
    assert w.connect(version="1.1")["version"] == "1.1"
    w.close()


def test_ws_without_subprotocol_allowed(gateway):
    """gateway.stomp.listeners.ws.default.websocket.fail_if_no_subprotocol = false (default): a
    plain WebSocket client without a subprotocol may still speak STOMP."""
    w = WsStomp(gateway, subprotocols=None)
    assert w.connect()["version"] == "1.2"
    w.close()


def test_ws_wrong_path_refused(gateway):
    """The STOMP WebSocket listener only upgrades on its configured path (/stomp)."""
    import websocket

    with pytest.raises(websocket.WebSocketException):
        WsStomp(gateway, path="/nope")


def test_ws_stomp_py(gateway):
    """Interoperability: stomp.py's WebSocket connection (WSStompConnection over websocket-client,
    offering v12.stomp) ↔ a TCP STOMP client."""
    topic = uid("wspy/")
    c = StompPy(gateway, ws=True).connect()
    c.subscribe(topic, "1")
    c.c.send(topic, "py-over-ws", headers={"receipt": "pr"})
    c.wait_receipt("pr")
    m = c.expect_messages(1)[0]
    assert m.body == "py-over-ws" and m.headers["destination"] == topic
    c.disconnect()


# ---- the browser test ----------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def page_server():
    """python http.server on a free port serving conformance/browser/."""
    handler = functools.partial(_QuietHandler, directory=str(BROWSER_DIR))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _browser_prereqs():
    missing = []
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not shutil.which("node"):
        missing.append("node")
    for mod in ("@stomp/stompjs/bundles/stomp.umd.min.js", "playwright-core/package.json"):
        if not (BROWSER_DIR / "node_modules" / mod).exists():
            missing.append(f"conformance/browser/node_modules/{mod} (npm install)")
    return missing


def test_browser_stompjs(gateway, page_server):
    """Headless Chromium loads a page that uses @stomp/stompjs over ws://…/stomp: the page
    subscribes to a topic and SENDs a message. An MQTT publisher repeats a message on the topic
    every 200 ms until the page shows it (DOM/title read via playwright-core); the page's own SEND
    must reach an MQTT subscriber with its content-type and user header."""
    missing = _browser_prereqs()
    if missing:
        pytest.skip("browser test needs " + ", ".join(missing) + " — run conformance/setup-browser.sh")
    topic_in, topic_out = uid("browser/in/"), uid("browser/out/")
    watcher = TClient(gateway)
    watcher.connect()
    watcher.subscribe(topic_out)
    url = f"http://127.0.0.1:{page_server}/index.html?" + urllib.parse.urlencode(
        {"url": f"ws://127.0.0.1:{gateway.stomp_ws_port}/stomp", "sub": topic_in, "send": topic_out})
    proc = subprocess.Popen(["node", str(BROWSER_DIR / "driver.js"), url, "25000"], cwd=str(BROWSER_DIR),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    pub = TClient(gateway)
    pub.connect()
    deadline = time.monotonic() + 40
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            pub.publish(topic_in, b"hello browser", qos=1)
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        reader.join(timeout=5)
        pub.disconnect()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "raw", "text": line.rstrip()})
    done = [e for e in events if e.get("event") == "done"]
    assert done, f"browser driver did not finish: {events}"
    assert done[0]["title"] == "GOT:hello browser", events
    received = json.loads(done[0]["received"])
    assert received["body"] == "hello browser"
    assert received["headers"]["destination"] == topic_in
    assert received["headers"]["subscription"] == "page-sub-1"
    assert done[0]["version"] == "1.2", events
    msgs = watcher.expect_messages(1)
    assert msgs[0].payload == b"hello from the browser"
    assert msgs[0].prop("ContentType") == "text/plain"
    assert ("x-from", "stompjs") in (msgs[0].prop("UserProperty") or [])
    watcher.disconnect()
