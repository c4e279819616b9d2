#!/usr/bin/env python3
"""PINGREQ round trip to sleeping and to awake MQTT connections of a running gateway.

    python3 perf/wake-latency.py [PORT]      # default 1883, the gateway at its defaults

Ten MQTT 3.1.1 connections over raw sockets; 30 rounds of: wait 250 ms (past
`hibernate_after` even once a connection's idle wait has doubled up to it), one PINGREQ on
each connection (it was asleep), then one more (it is awake). Prints the medians and 90th
percentiles of both, in microseconds.
"""
import socket
import struct
import sys
import time

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 1883
CONNECTIONS = 10
ROUNDS = 30


def connect(client_id: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", PORT))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cid = client_id.encode()
    # Protocol name, level 4 (3.1.1), clean session, keep-alive 600 s, client id.
    variable = b"\x00\x04MQTT\x04\x02\x02\x58" + struct.pack(">H", len(cid)) + cid
    sock.sendall(bytes([0x10, len(variable)]) + variable)
    connack = sock.recv(4)
    assert connack == b"\x20\x02\x00\x00", connack
    return sock


def ping_us(sock: socket.socket) -> float:
    start = time.perf_counter()
    sock.sendall(b"\xc0\x00")
    pingresp = sock.recv(2)
    assert pingresp == b"\xd0\x00", pingresp
    return (time.perf_counter() - start) * 1e6


def percentile(values: list, p: int) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) * p // 100]


def main() -> None:
    conns = [connect(f"wake-latency-{i}") for i in range(CONNECTIONS)]
    asleep, awake = [], []
    for _ in range(ROUNDS):
        time.sleep(0.25)
        asleep += [ping_us(s) for s in conns]
        awake += [ping_us(s) for s in conns]
    print(
        f"asleep p50 {percentile(asleep, 50):.0f} us p90 {percentile(asleep, 90):.0f} us | "
        f"awake p50 {percentile(awake, 50):.0f} us p90 {percentile(awake, 90):.0f} us (n={len(asleep)})"
    )


if __name__ == "__main__":
    main()
