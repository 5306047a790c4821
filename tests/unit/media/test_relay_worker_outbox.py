"""A relay worker's records to the server wait their turn when the socket pair is full."""

import asyncio
import socket

import pytest

from hotline.media import relay_messages as wire
from hotline.media.engine import MediaEngine
from hotline.media.events import RtpTimedOut
from hotline.media.relay_worker import RelayWorker

pytestmark = pytest.mark.both_loops


async def test_a_burst_larger_than_the_socket_buffer_arrives_whole_and_in_order() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.setblocking(False)
    worker = RelayWorker(ours, MediaEngine())
    count = 5000  # a few hundred kB: more than the pair's send buffer holds
    for i in range(count):
        worker.send(wire.Event(i, 0, RtpTimedOut(30.0, float(i))))
    got: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(got) < count and loop.time() < deadline:
        try:
            received = wire.receive(theirs)
        except BlockingIOError:
            await asyncio.sleep(0.001)  # the worker's writer runs meanwhile
            continue
        assert received is not None
        message, _ = received
        assert isinstance(message, wire.Event)
        got.append(message.pair)
    assert got == list(range(count))
    assert not worker.ended.done(), "a full socket is no reason to stop"
    worker.stop_writing()
    ours.close()
    theirs.close()
