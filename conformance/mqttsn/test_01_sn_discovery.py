"""Gateway advertisement and discovery (MQTT-SN 1.2 §6.1, §5.4.1-§5.4.3; EMQX §4.1, §4.4)."""

import socket
import time

import pytest

from conftest import free_udp_port
from mqttsn_helpers import ADVERTISE, GWINFO, Sn, decode, searchgw, wait_sn_ready


def test_searchgw_answered_with_gwinfo(gateway):
    """§5.4.2/§5.4.3: SEARCHGW is answered with GWINFO carrying the gateway's GwId (default 1)."""
    wait_sn_ready(gateway)
    sn = Sn(gateway)
    sn.send(searchgw(radius=1))
    m = sn.expect(GWINFO)
    assert m.gw_id == 1
    assert m.raw[:3] == bytes([len(m.raw), GWINFO, 1])
    sn.close()


def test_gwinfo_uses_configured_gateway_id(make_gateway):
    """§5.4.3 GwId = the configured `gateway.mqttsn.gateway_id` (EMQX §4.1)."""
    gw = make_gateway({"gateway": {"mqttsn": {"gateway_id": 42}}})
    wait_sn_ready(gw)
    sn = Sn(gw)
    m = sn.request(searchgw(), GWINFO)
    assert m.gw_id == 42
    sn.close()


def _listen():
    port = free_udp_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    return s, port


def _collect(sock, duration):
    out, deadline = [], time.monotonic() + duration
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except socket.timeout:
            break
        out.append((time.monotonic(), decode(data)))
    return out


def test_advertise_sent_periodically(make_gateway):
    """§6.1/§5.4.1: with broadcast on, ADVERTISE(GwId, Duration) is sent every advertise_interval
    to broadcast_address (here a loopback port we listen on)."""
    sock, port = _listen()
    try:
        make_gateway({"gateway": {"mqttsn": {"broadcast": True, "gateway_id": 9,
                                             "broadcast_address": f"127.0.0.1:{port}",
                                             "advertise_interval": "1s"}}})
        got = [m for _, m in _collect(sock, 3.6)]
        adv = [m for m in got if m.type == ADVERTISE]
        assert len(adv) >= 2, f"expected periodic ADVERTISE, got {got}"
        assert all(m.gw_id == 9 for m in adv)
    finally:
        sock.close()


def test_advertise_duration_is_interval_in_seconds(make_gateway):
    """§5.4.1: ADVERTISE Duration = time until the next ADVERTISE, in seconds (1 for "1s")."""
    sock, port = _listen()
    try:
        make_gateway({"gateway": {"mqttsn": {"broadcast": True, "broadcast_address": f"127.0.0.1:{port}",
                                             "advertise_interval": "1s"}}})
        adv = [m for _, m in _collect(sock, 2.5) if m.type == ADVERTISE]
        assert adv, "no ADVERTISE"
        assert adv[0].duration == 1
        assert adv[0].raw == bytes([5, ADVERTISE, 1, 0, 1])
    finally:
        sock.close()


def test_no_advertise_when_broadcast_disabled(make_gateway):
    """EMQX §4.1: broadcast = false (the default) → no ADVERTISE at all."""
    sock, port = _listen()
    try:
        make_gateway({"gateway": {"mqttsn": {"broadcast": False, "broadcast_address": f"127.0.0.1:{port}",
                                             "advertise_interval": "1s"}}})
        assert _collect(sock, 2.2) == []
    finally:
        sock.close()
