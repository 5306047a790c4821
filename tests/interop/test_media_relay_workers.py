"""Bridged pairs lent to a relay worker process and taken back, against UDP peers on 127.0.0.1.

Each test starts one worker (a real child process) and the engine, bridges
two legs whose far ends are plain Python UDP sockets, and sends a few dozen
packets; each finishes in a few seconds. The worker is stopped by closing the
engine, or killed by its PID, which the test got from the engine.
"""

import asyncio
import itertools
import os
import signal

import pytest

from hotline.event_loop import loop_name
from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.relay import RelayWorkers
from hotline.media.rtp import RtpPacket
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.relay_worker import command
from tests.interop.test_media_engine_loopback import HOST, Peer, peer, wait_for
from tests.ports import PortAllocator

pytestmark = pytest.mark.both_loops

LEND_AFTER = 0.2
FIRST_LEND = 10.0
"""Seconds until the first pair is lent: the worker's start (its imports) comes first."""


@pytest.fixture
async def engine(free_ports: PortAllocator):
    low = free_ports.block(100)
    eng = MediaEngine(bind_host=HOST, port_min=low, port_max=low + 99, quiet_period=0.5,
                      relay=RelayWorkers(1, command(loop_name(asyncio.get_running_loop())),
                                         reply_timeout=2.0),
                      lend_after=LEND_AFTER)
    await eng.start()
    yield eng
    await eng.close()
    relay = eng.relay
    assert isinstance(relay, RelayWorkers)
    assert relay.workers == [], "close() waits for every worker"


def workers(engine: MediaEngine) -> RelayWorkers:
    assert isinstance(engine.relay, RelayWorkers)
    return engine.relay


async def bridged_pair(engine: MediaEngine, **options) -> tuple[Peer, Peer, RtpStream, RtpStream]:
    caller, callee = await peer(), await peer()
    a = await engine.open_stream(StreamConfig(PCMU, caller.address, rtcp=False, **options))
    b = await engine.open_stream(StreamConfig(PCMU, callee.address, rtcp=False, **options))
    engine.bridge(a, b)
    return caller, callee, a, b


async def send_audio(src: Peer, port: int, count: int, *, ssrc: int = 0x1234, first: int = 1) -> None:
    for i in range(first, first + count):
        src.transport.sendto(RtpPacket(0, i, 160 * i, ssrc, b"\x55" * 160).serialize(), (HOST, port))
        await asyncio.sleep(0.002)


def relayed_from(p: Peer, ssrc_seen_by_callee: int) -> list[RtpPacket]:
    """Packets the callee got whose payload is the caller's (not our silence, 0xff in PCMU)."""
    return [pkt for _, pkt in p.rtp() if pkt.payload == b"\x55" * 160 and pkt.ssrc == ssrc_seen_by_callee]


async def test_a_bridged_pair_is_relayed_by_the_worker_and_comes_back_with_its_counters(
        engine: MediaEngine) -> None:
    caller, callee, a, b = await bridged_pair(engine)
    await wait_for(lambda: a.lent and b.lent, timeout=FIRST_LEND)
    relay = workers(engine)
    assert relay.lent_pairs == 1
    [worker] = relay.workers
    assert worker.proc.poll() is None and worker.proc.pid != os.getpid()
    assert not a.on_clock and not b.on_clock  # the server no longer ticks them

    await send_audio(caller, a.port, 40)
    await wait_for(lambda: len(relayed_from(callee, b.session.sender.ssrc)) >= 40, timeout=3.0)
    # The server's copy of the sessions is out of date until the pair comes back: no packet
    # was relayed here.
    assert b.session.bridge[0].stats("a").relayed == 0

    bridged_by = a.bridge()  # reading the counters takes the pair back
    assert not a.lent and not b.lent and relay.lent_pairs == 0
    assert bridged_by is not None and bridged_by[1] == "a"
    assert bridged_by[0].stats("a").relayed == 40
    assert b.session.bridge is not None and b.session.bridge[0] is bridged_by[0]
    assert a.stats()["packets"] == 40

    # Back in the server: relaying goes on here, numbered on from where the worker left off.
    seq_before = b.session.sender.next_seq
    await send_audio(caller, a.port, 10, first=41)
    await wait_for(lambda: bridged_by[0].stats("a").relayed == 50, timeout=3.0)
    got = relayed_from(callee, b.session.sender.ssrc)
    assert len(got) == 50
    steps = {(q.sequence - p.sequence) & 0xFFFF for p, q in itertools.pairwise(got)}
    assert steps == {1}, "one numbering across the hand-overs"
    assert got[40].sequence == seq_before
    for p in (caller, callee):
        p.close()


async def test_the_workers_rtp_timeout_reaches_the_call_layer(engine: MediaEngine) -> None:
    caller, callee, a, b = await bridged_pair(engine, rtp_timeout=1.0)
    await send_audio(caller, a.port, 5)
    await send_audio(callee, b.port, 5)
    await wait_for(lambda: a.lent, timeout=FIRST_LEND)
    event = await asyncio.wait_for(a.wait_timed_out(), 5.0)
    assert event.silent_for >= 1.0
    assert a.lent, "an event does not take the pair back; the call layer decides"
    await a.close("timed out")
    assert not b.lent and b.peer is None
    assert workers(engine).lent_pairs == 0
    await b.close()
    for p in (caller, callee):
        p.close()


async def test_key_presses_on_a_lent_leg_take_the_pair_back_until_they_are_sent(
        engine: MediaEngine) -> None:
    caller, callee, a, b = await bridged_pair(engine)
    await wait_for(lambda: a.lent, timeout=FIRST_LEND)
    b.send_digits("5", duration_ms=300)
    assert not a.lent and not b.lent
    await asyncio.sleep(LEND_AFTER * 1.3)
    assert not b.lent, "not lent while the key press is being sent"
    await wait_for(lambda: any(pkt.payload_type == 101 for _, pkt in callee.rtp()), timeout=3.0)
    await wait_for(lambda: a.lent and b.lent, timeout=3.0)  # then lent again
    assert workers(engine).lent_total == 2
    events = [pkt for _, pkt in callee.rtp() if pkt.payload_type == 101]
    assert events[-1].payload[1] & 0x80, "the key press was sent whole, its end included"
    for p in (caller, callee):
        p.close()


async def test_a_recorded_pair_is_not_lent(engine: MediaEngine, tmp_path) -> None:
    caller, callee, a, b = await bridged_pair(engine)
    rec = engine.record(tmp_path / "call.wav", [a, b], stereo=True)
    await asyncio.sleep(LEND_AFTER * 3)
    assert not a.lent and workers(engine).lent_total == 0
    rec.finish()
    for p in (caller, callee):
        p.close()


async def test_a_killed_worker_leaves_its_calls_relayed_by_the_server(engine: MediaEngine) -> None:
    caller, callee, a, b = await bridged_pair(engine)
    await wait_for(lambda: a.lent, timeout=FIRST_LEND)
    relay = workers(engine)
    [worker] = relay.workers
    ssrc_lent = b.session.sender.ssrc
    await send_audio(caller, a.port, 10)
    await wait_for(lambda: len(relayed_from(callee, ssrc_lent)) >= 10, timeout=3.0)

    os.kill(worker.proc.pid, signal.SIGKILL)
    await wait_for(lambda: not a.lent and not b.lent, timeout=3.0)
    assert relay.lost == 1 and relay.lent_pairs == 0
    assert b.session.sender.ssrc != ssrc_lent, "a fresh SSRC: the worker used the old numbers"
    await send_audio(caller, a.port, 10, first=11)
    await wait_for(lambda: len(relayed_from(callee, b.session.sender.ssrc)) >= 10, timeout=3.0)
    for p in (caller, callee):
        p.close()


async def test_a_worker_that_stops_answering_is_killed_and_its_pair_carries_on(
        engine: MediaEngine) -> None:
    caller, callee, a, b = await bridged_pair(engine)
    await wait_for(lambda: a.lent, timeout=FIRST_LEND)
    relay = workers(engine)
    [worker] = relay.workers
    os.kill(worker.proc.pid, signal.SIGSTOP)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert a.bridge() is not None  # asks for the pair back and waits at most reply_timeout
    assert 1.5 <= loop.time() - began < 5.0
    assert not a.lent and not b.lent and relay.lost == 1
    assert worker.proc.wait(timeout=5.0) == -signal.SIGKILL
    await send_audio(caller, a.port, 10)
    await wait_for(lambda: len(relayed_from(callee, b.session.sender.ssrc)) >= 10, timeout=3.0)
    for p in (caller, callee):
        p.close()


async def test_no_packet_is_lost_or_repeated_across_three_hand_overs(engine: MediaEngine) -> None:
    relay = workers(engine)
    await wait_for(lambda: all(w.ready for w in relay.workers), timeout=FIRST_LEND)
    caller, callee, a, b = await bridged_pair(engine)
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    taken_back = False
    # Lent at LEND_AFTER, taken back at twice that, lent again LEND_AFTER later.
    while loop.time() - began < LEND_AFTER * 5:
        await send_audio(caller, a.port, 5, first=sent + 1)
        sent += 5
        if a.lent and not taken_back and loop.time() - began >= LEND_AFTER * 2:
            a.bridge()
            taken_back = True
    assert taken_back and relay.lent_total == 2 and a.lent
    await wait_for(lambda: len(relayed_from(callee, b.session.sender.ssrc)) >= sent, timeout=3.0)
    got = relayed_from(callee, b.session.sender.ssrc)
    assert len(got) == sent
    assert {(q.sequence - p.sequence) & 0xFFFF for p, q in itertools.pairwise(got)} == {1}
    for p in (caller, callee):
        p.close()

