"""Streams opened in one burst spread over the media clock's phases (loopback sockets only)."""

from collections import Counter

import pytest

from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.session import StreamConfig
from tests.ports import PortAllocator


@pytest.mark.both_loops  # on uvloop the sockets are opened through datagram transports
async def test_a_burst_of_streams_is_spread_over_every_phase(free_ports: PortAllocator) -> None:
    low = free_ports.block(200)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=low, port_max=low + 199)
    await engine.start()
    try:
        # Opening a stream does not yield to the loop: all of these open within one tick.
        streams = [await engine.open_stream(StreamConfig(PCMU, ("127.0.0.1", 9), ptime_ms=20))
                   for _ in range(40)]
        streams += [await engine.open_stream(StreamConfig(PCMU, ("127.0.0.1", 9), ptime_ms=30))
                    for _ in range(30)]
        by_phase = Counter((s.every, s.phase) for s in streams)
        assert {every for every, _ in by_phase} == {10, 15}
        assert sorted(n for (every, _), n in by_phase.items() if every == 10) == [4] * 10
        assert sorted(n for (every, _), n in by_phase.items() if every == 15) == [2] * 15
        # A stream moved to another packet time joins the quietest phase of its new interval.
        streams[0].reconfigure(StreamConfig(PCMU, ("127.0.0.1", 9), ptime_ms=30))
        assert streams[0].every == 15
        assert Counter(s.phase for s in streams if s.every == 15)[streams[0].phase] == 3
    finally:
        await engine.close()
