"""Forwarding that does not end in a bridge: the engineer is busy, or the caller gives up first.

* sipp as the engineer's phone answers 486 Busy Here: the forwarder reports
  "unanswered" with the status and leaves the caller's leg up (the call layer
  would try the next engineer or take a voicemail) -- the test's handler then
  plays on and hangs up itself.
* A baresip engineer that does not answer, and a baresip caller who hangs up
  after hearing ringback for a while: the outbound leg is CANCELled.
* A baresip engineer who answers and hangs up during the whisper: "declined",
  the caller's leg stays up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hotline.calls.forwarding import Forwarder, ForwardPlan, ForwardResult
from hotline.media.engine import MediaEngine
from hotline.media.stream import RtpStream
from hotline.sip.call import IncomingCall
from tests.interop.conftest import need
from tests.interop.endpoint_helpers import sip_settings
from tests.interop.media_helpers import (
    MediaDesk,
    read_wav,
    start_baresip_with_codecs,
    stop_quietly,
    tone_runs,
    tone_wav,
)
from tests.interop.peers import Baresip, PortAllocator, Sipp

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""


def engine_for(free_ports: PortAllocator) -> MediaEngine:
    base = free_ports.block(10)
    return MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 9, quiet_period=0.5)


async def test_busy_engineer_leaves_the_caller_up(
    free_ports: PortAllocator, sipp: Sipp, baresip_caller: Baresip
) -> None:
    engine = engine_for(free_ports)
    busy = sipp.start("uas_busy.xml", service="oncall", timeout_s=15)
    target = f"sip:oncall@127.0.0.1:{busy.port}"
    results: list[ForwardResult] = []
    still_up: list[bool] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={target}.__contains__,
                              media_address="127.0.0.1")
        results.append(await forwarder.forward(
            call, stream, ForwardPlan(target, caller_id="+4930111000099", ring_timeout=5)))
        await asyncio.sleep(0.5)
        still_up.append(not call.is_over and not stream.closed and len(engine.streams) == 1)
        await call.hangup()

    desk = MediaDesk(sip_settings(0), engine, forward)
    async with desk:
        await asyncio.to_thread(baresip_caller.dial, desk.uri)
        await asyncio.wait_for(desk.handled.wait(), 10)
        await baresip_caller.ctrl.wait_event_async("CALL_CLOSED", 5)
    assert not desk.errors, desk.errors
    (result,) = results
    assert (result.answered, result.ended_by, result.reason, result.status) == (
        False, "unanswered", "rejected", 486)
    assert result.caller_still_up and still_up == [True]
    assert (await busy.wait_async(10)).ok


async def test_caller_giving_up_cancels_the_ringing_leg(
    tmp_path: Path, free_ports: PortAllocator, baresip_caller: Baresip
) -> None:
    need("baresip")
    oncall = start_baresip_with_codecs(tmp_path / "oncall", free_ports, user="oncall",
                                       auto_answer=False)
    engine = engine_for(free_ports)
    results: list[ForwardResult] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={oncall.uri}.__contains__,
                              media_address="127.0.0.1")
        results.append(await forwarder.forward(
            call, stream, ForwardPlan(oncall.uri, caller_id="+4930111000099", ring_timeout=10)))

    desk = MediaDesk(sip_settings(0), engine, forward)
    try:
        async with desk:
            await asyncio.to_thread(baresip_caller.dial, desk.uri)
            await oncall.ctrl.wait_event_async("CALL_INCOMING", 10)
            await asyncio.sleep(1.6)  # the caller hears the first ringback burst
            await asyncio.to_thread(baresip_caller.hangup)
            await asyncio.wait_for(desk.handled.wait(), 10)
            await oncall.ctrl.wait_event_async("CALL_CLOSED", 5)
        assert not desk.errors, desk.errors
    finally:
        stop_quietly(oncall)
    (result,) = results
    assert (result.answered, result.ended_by, result.reason, result.status) == (
        False, "caller", "cancelled", 487)
    assert engine.streams == []
    dec = [p for p in baresip_caller.recordings() if "dec" in p.name]
    pcm, rate = read_wav(dec[0])
    ring = tone_runs(pcm, 450.0, rate=rate)
    assert ring and 0.85 <= ring[0][1] - ring[0][0] <= 1.15, ring


async def test_engineer_hanging_up_on_the_whisper_declines_and_leaves_the_caller_up(
    tmp_path: Path, free_ports: PortAllocator, baresip_caller: Baresip
) -> None:
    need("baresip")
    oncall = start_baresip_with_codecs(tmp_path / "oncall", free_ports, user="oncall")
    whisper = tone_wav(tmp_path / "whisper.wav", 1400.0, 4.0)
    engine = engine_for(free_ports)
    results: list[ForwardResult] = []
    still_up: list[bool] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={oncall.uri}.__contains__,
                              media_address="127.0.0.1")
        results.append(await forwarder.forward(call, stream, ForwardPlan(
            oncall.uri, caller_id="+4930111000099", whisper=whisper)))
        still_up.append(not call.is_over)
        await call.hangup()

    desk = MediaDesk(sip_settings(0), engine, forward)
    try:
        async with desk:
            await asyncio.to_thread(baresip_caller.dial, desk.uri)
            await oncall.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await asyncio.sleep(1.0)  # mid-whisper
            await asyncio.to_thread(oncall.hangup)
            await asyncio.wait_for(desk.handled.wait(), 10)
            await baresip_caller.ctrl.wait_event_async("CALL_CLOSED", 5)
        assert not desk.errors, desk.errors
    finally:
        stop_quietly(oncall)
    (result,) = results
    assert result.answered and result.ended_by == "declined" and result.caller_still_up, result
    assert result.reason == "remote-bye" and still_up == [True]
    assert result.relay == {}  # never bridged
