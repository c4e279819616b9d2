"""Fixtures that run the real gateway binary as a black box.

* ``gateway``       -- one fresh gateway per test MODULE, default configuration.
* ``make_gateway``  -- factory for a fresh gateway per TEST with a custom configuration
                       (a nested dict written as TOML to ``tmp_path``).

Every gateway listens on free loopback ports picked by binding port 0: MQTT over TCP and
WebSocket (``GATEWAY_LISTENERS__*__DEFAULT__BIND``) and STOMP over TCP and WebSocket
(``GATEWAY_GATEWAY__STOMP__LISTENERS__*__DEFAULT__BIND``; exposed as ``stomp_port`` and
``stomp_ws_port``), its MQTT-SN UDP port (``mqttsn_port``) and its LwM2M UDP port
(``lwm2m_port``, ``GATEWAY_GATEWAY__LWM2M__LISTENERS__UDP__DEFAULT__BIND``), so parallel gateways never
collide on the defaults 61613/61614/1884.
Its stderr goes to a log file which is printed when a test fails.  Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 10.0

_RUNNING: list["Gateway"] = []
_ALL: list["Gateway"] = []


def gateway_bin() -> Path:
    raw = os.environ.get("GATEWAY_BIN", "target/debug/gateway")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distinct_free_ports(kind: int, n: int) -> list[int]:
    """``n`` different ports free right now (``kind``: SOCK_STREAM or SOCK_DGRAM). The sockets
    stay bound until all are chosen: one at a time, the kernel may hand out the same port
    twice (seen in CI: MQTT and STOMP listeners on one port)."""
    socks = [socket.socket(socket.AF_INET, kind) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unsupported TOML value {v!r}")


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(config: dict, prefix: str = "") -> str:
    """Tiny TOML writer for nested dicts of str/int/float/bool.

    A list of flat dicts (e.g. ``gateway.mqttsn.predefined``) becomes an array of tables
    (``[[prefix.key]]``); an empty list becomes ``key = []``.
    """
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict) and not _is_table_array(v)}
    tables = {k: v for k, v in config.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in config.items() if _is_table_array(v)}
    out = []
    if scalars:
        if prefix:
            out.append(f"[{prefix}]")
        for k, v in scalars.items():
            if isinstance(v, list):
                out.append(f"{k} = [{', '.join(_toml_value(x) for x in v)}]")
            else:
                out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    for k, v in arrays.items():
        name = f"{prefix}.{k}" if prefix else k
        for item in v:
            out.append(f"[[{name}]]")
            out.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
            out.append("")
    for k, v in tables.items():
        out.append(to_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)


class Gateway:
    """A running gateway process."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, config: dict | None = None, env: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config or {}
        self.port, self.ws_port, self.stomp_port, self.stomp_ws_port = distinct_free_ports(socket.SOCK_STREAM, 4)
        self.mqttsn_port, self.coap_port, self.lwm2m_port = distinct_free_ports(socket.SOCK_DGRAM, 3)
        self.config_path = self.workdir / "gateway.toml"
        self.config_path.write_text(to_toml(self.config))
        self.log_path = self.workdir / "gateway.log"
        self.env = dict(os.environ)
        self.env.setdefault("NO_COLOR", "1")
        self.env.update(
            {
                "GATEWAY_LISTENERS__TCP__DEFAULT__BIND": f"127.0.0.1:{self.port}",
                "GATEWAY_LISTENERS__WS__DEFAULT__BIND": f"127.0.0.1:{self.ws_port}",
                "GATEWAY_GATEWAY__STOMP__LISTENERS__TCP__DEFAULT__BIND": f"127.0.0.1:{self.stomp_port}",
                "GATEWAY_GATEWAY__STOMP__LISTENERS__WS__DEFAULT__BIND": f"127.0.0.1:{self.stomp_ws_port}",
                "GATEWAY_GATEWAY__MQTTSN__LISTENERS__UDP__DEFAULT__BIND": f"127.0.0.1:{self.mqttsn_port}",
                "GATEWAY_GATEWAY__COAP__LISTENERS__UDP__DEFAULT__BIND": f"127.0.0.1:{self.coap_port}",
                "GATEWAY_GATEWAY__LWM2M__LISTENERS__UDP__DEFAULT__BIND": f"127.0.0.1:{self.lwm2m_port}",
            }
        )
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None
        stomp_cfg = self.config.get("gateway", {}).get("stomp", {})
        self.stomp_enabled = stomp_cfg.get("enable", True) is not False and \
            self.env.get("GATEWAY_GATEWAY__STOMP__ENABLE", "true").lower() != "false"
        self.ports = [self.port, self.ws_port] + ([self.stomp_port, self.stomp_ws_port] if self.stomp_enabled else [])

    def start(self) -> "Gateway":
        binary = gateway_bin()
        if not binary.exists():
            pytest.fail(f"gateway binary {binary} not found: run `cargo build -p gw-server` or set GATEWAY_BIN")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--config", str(self.config_path)],
            cwd=str(REPO_ROOT),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _RUNNING.append(self)
        _ALL.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"gateway exited early with {self.proc.returncode}:\n{self.log_text()}")
            if all(self._accepts(p) for p in self.ports):
                return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"gateway did not accept on 127.0.0.1:{self.ports} within {START_TIMEOUT}s:\n{self.log_text()}")

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self in _RUNNING:
            _RUNNING.remove(self)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _print_gateway_log_on_failure(request):
    """On failure, print the log of every gateway that was running during the test."""
    before = set(id(g) for g in _ALL)
    offsets = {id(g): (g.log_path.stat().st_size if g.log_path.exists() else 0) for g in _RUNNING}
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for g in _ALL:
            if id(g) in before and id(g) not in offsets:
                continue  # stopped before this test began
            text = g.log_text()
            start = offsets.get(id(g), 0)
            tail = text[start:][-20000:]
            print(f"\n===== gateway log (tcp {g.port}, ws {g.ws_port}, stomp {g.stomp_port}, stomp-ws {g.stomp_ws_port}, alive={g.alive()}) =====\n{tail}")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A fresh gateway with the default configuration for the whole test module."""
    gw = Gateway(tmp_path_factory.mktemp("gw")).start()
    yield gw
    gw.stop()


@pytest.fixture
def make_gateway(tmp_path):
    """Factory: ``make_gateway({"mqtt": {"max_mqueue_len": 5}})`` starts a fresh gateway."""
    started: list[Gateway] = []

    def _make(config: dict | None = None, env: dict | None = None) -> Gateway:
        gw = Gateway(tmp_path / f"gw{len(started)}", config, env).start()
        started.append(gw)
        return gw

    yield _make
    for gw in started:
        gw.stop()
