"""The Python cost of one relayed RTP packet, without the system calls.

N bridged calls through a `MediaEngine` whose legs' sending sockets are swapped for counters, fed
round robin with pre-built datagrams through the same entry point the event loop calls
(`datagram_received` of the legs' datagram protocol): each packet is parsed, counted, renumbered
and handed to the other leg exactly as in a call, only the `sendto` is not made. The floor in the
same run: a relay that only looks up the other leg and hands it the datagram, through the same
number of objects per leg as a bare asyncio relay. With N in the hundreds each leg's objects have
left the CPU's caches by its next packet, as in a real run; `--calls 1` shows the hot-cache cost.

    .venv/bin/python bench/relay_packet.py [--calls 1,500] [--rounds 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from typing import Any

from hotline.event_loop import new_event_loop
from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.session import StreamConfig
from hotline.media.udp import UdpSocket

HOST = "127.0.0.1"
_HEADER = struct.Struct("!BBHII")


class CountingTransport:
    """Stands in for a leg's datagram transport: counts what would have been sent."""

    sent = 0

    def sendto(self, data: bytes, addr: Any = None) -> None:
        CountingTransport.sent += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass


def packets(legs: int, rounds: int) -> list[list[bytes]]:
    payload = b"\xff" * 160
    return [[_HEADER.pack(0x80, 0, k, k * 160, 0x1000 + i) + payload for i in range(legs)]
            for k in range(rounds)]


async def engine_path(calls: int, rounds: int, port_min: int) -> float:
    engine = MediaEngine(bind_host=HOST, port_min=port_min, port_max=port_min + 4 * calls + 99,
                         tick_ms=2, udp_transport=True)
    await engine.start()
    legs = [await engine.open_stream(StreamConfig(PCMU, (HOST, 9 + 2 * i), rtcp=False))
            for i in range(2 * calls)]
    for i in range(calls):
        engine.bridge(legs[2 * i], legs[2 * i + 1])
    entries = []
    for leg in legs:
        sock: UdpSocket = leg._rtp  # the bench reaches in: the socket is the part left out
        transport = sock._transport
        assert transport is not None
        protocol: Any = transport.get_protocol()  # type: ignore[attr-defined]
        transport.abort()
        sock._transport = CountingTransport()
        entries.append((protocol.datagram_received, leg.session.remote))
    data = packets(len(legs), rounds)
    CountingTransport.sent = 0
    start = time.perf_counter()
    for row in data:
        for (receive, addr), datagram in zip(entries, row, strict=True):
            receive(datagram, addr)
    elapsed = time.perf_counter() - start
    assert CountingTransport.sent == len(legs) * rounds, CountingTransport.sent
    for leg in legs:
        await leg.close()
    await engine.close()
    return elapsed / (len(legs) * rounds)


class _Leg:
    __slots__ = ("other", "remote", "transport")
    other: _Leg
    remote: tuple[str, int]
    transport: CountingTransport


class _BareProtocol:
    __slots__ = ("leg",)

    def __init__(self, leg: _Leg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: Any) -> None:
        other = self.leg.other
        other.transport.sendto(data, other.remote)


def bare_path(calls: int, rounds: int) -> float:
    legs = [_Leg() for _ in range(2 * calls)]
    for i, leg in enumerate(legs):
        leg.other = legs[i ^ 1]
        leg.transport = CountingTransport()
        leg.remote = (HOST, 9 + i)
    receivers = [_BareProtocol(leg).datagram_received for leg in legs]
    data = packets(len(legs), rounds)
    addr = (HOST, 9)
    start = time.perf_counter()
    for row in data:
        for receive, datagram in zip(receivers, row, strict=True):
            receive(datagram, addr)
    return (time.perf_counter() - start) / (len(legs) * rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="1,500")
    ap.add_argument("--rounds", type=int, default=100, help="packets per leg")
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the best is printed")
    ap.add_argument("--port-min", type=int, default=41000)
    args = ap.parse_args()
    print("| bridged calls | engine µs/packet (best of runs) | bare µs/packet | ratio |")
    print("|---|---|---|---|")
    for calls in (int(c) for c in args.calls.split(",") if c):
        runner = asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop"))
        with runner:
            engine = min(runner.run(engine_path(calls, args.rounds, args.port_min))
                         for _ in range(args.repeat))
        bare = min(bare_path(calls, args.rounds) for _ in range(args.repeat))
        print(f"| {calls} | {engine * 1e6:.2f} | {bare * 1e6:.2f} | {engine / bare:.0f}× |", flush=True)


if __name__ == "__main__":
    main()
