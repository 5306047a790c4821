"""The media engine's UDP sockets (hotline.media.udp) on real sockets: backlogs, full buffers, bugs.

Bounded: a few hundred datagrams on 127.0.0.1, well under a second. Each test runs on both
loops, so on the path the engine takes on each: uvloop's datagram transport, the standard loop's
`add_reader`.
"""

import asyncio
import socket
from pathlib import Path
from typing import cast

import pytest

from hotline.media.session import Address
from hotline.media.udp import UdpSocket, reads_in_c
from tests.ports import PORTS

HOST = "127.0.0.1"

pytestmark = pytest.mark.both_loops


async def test_the_engine_s_sockets_use_the_transport_where_the_loop_reads_in_c() -> None:
    loop = asyncio.get_running_loop()
    udp = await UdpSocket.open(loop, HOST, PORTS.one())
    try:
        assert udp.on_transport == reads_in_c(loop)
        assert udp.on_transport == (type(loop).__module__.split(".")[0] == "uvloop")
    finally:
        udp.close()


async def test_a_backlog_drains_in_batches_not_one_datagram_per_wakeup() -> None:
    # The process was descheduled while packets arrived: they are all queued at once.
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    udp = await UdpSocket.open(loop, HOST, PORTS.one())
    udp.on_datagram = lambda data, addr: got.append(data)
    assert udp.sock is not None
    target = udp.sock.getsockname()
    backlog = 160
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n in range(backlog):
            sender.sendto(n.to_bytes(2, "big"), target)
        try:
            # One datagram per loop iteration would leave most of the backlog queued after
            # ten iterations; reading a batch (32) per wake-up empties it.
            for _ in range(10):
                await asyncio.sleep(0)
            assert [int.from_bytes(d, "big") for d in got] == list(range(backlog))
        finally:
            udp.close()
    assert udp.sock is None and udp.failures == 0


async def test_a_bug_in_the_handler_loses_one_datagram_not_the_socket() -> None:
    loop = asyncio.get_running_loop()
    got: list[tuple[bytes, Address]] = []

    def handler(data: bytes, addr: Address) -> None:
        if data == b"bad":
            raise ValueError("a bug of ours")
        got.append((data, addr))

    udp = await UdpSocket.open(loop, HOST, PORTS.one())
    udp.on_datagram = handler
    assert udp.sock is not None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind((HOST, 0))
            for data in (b"one", b"bad", b"two"):
                sender.sendto(data, udp.sock.getsockname())
            for _ in range(5):
                await asyncio.sleep(0)
            assert got == [(b"one", sender.getsockname()), (b"two", sender.getsockname())]
        assert udp.failures == 1
    finally:
        udp.close()


async def test_a_full_send_buffer_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    # Loopback UDP never fills a send buffer (the packet leaves the sender's account at once),
    # but a Unix datagram socket whose receiver does not read does: the same non-blocking
    # sendto then fails with EAGAIN, the condition a congested RTP socket meets.
    loop = asyncio.get_running_loop()
    path = str(tmp_path / "receiver")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        udp = await UdpSocket.adopt(loop, sock)
        try:
            sent = 2000
            for _ in range(sent):
                udp.send(b"x" * 160, cast(Address, path))
            assert udp.dropped > 0
            assert udp.errors == 0
            # A transport holds at most the one packet that found the buffer full; then drops.
            held = 1 if udp.on_transport else 0
            receiver.setblocking(False)
            queued = 0
            try:
                while receiver.recv(2048):
                    queued += 1
            except BlockingIOError:
                pass
            assert queued + udp.dropped + held == sent
        finally:
            udp.close()
        # A closed socket sends nothing and counts nothing.
        udp.send(b"late", cast(Address, path))
        assert udp.dropped == sent - queued - held
