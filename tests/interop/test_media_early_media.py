"""Early media: the engineer's side sends 183 Session Progress with SDP and audio before answering.

The far end is a second hotline endpoint acting as the engineer's network:
183 with SDP, a 900 Hz announcement as early media for 1.5 s, then 200 OK
and a 1300 Hz tone. The baresip caller must hear the early media (not our
ringback) and then the answered leg.
"""

from __future__ import annotations

import asyncio

import pytest

from hotline.calls.forwarding import Forwarder, ForwardPlan, ForwardResult
from hotline.media.engine import MediaEngine
from hotline.media.player import ToneItem
from hotline.media.stream import RtpStream
from hotline.media.tones import ToneSpec
from hotline.sip.call import CallEnded, IncomingCall
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import negotiate_answer
from tests.interop.endpoint_helpers import sip_settings
from tests.interop.media_helpers import MediaDesk, read_wav, tone_runs
from tests.interop.peers import Baresip, PortAllocator

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

EARLY, ANSWERED = ToneSpec("early", (900.0,)), ToneSpec("answered", (1300.0,))


async def test_early_media_reaches_the_caller_then_the_answer(
    free_ports: PortAllocator, baresip_caller: Baresip
) -> None:
    base = free_ports.block(10)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 9, quiet_period=0.5)
    engineer_streams: list[RtpStream] = []

    async def engineer(call: IncomingCall) -> None:
        assert call.remote_sdp is not None
        probe = negotiate_answer(call.remote_sdp, local_address="127.0.0.1", local_port=9)
        stream = await engine.open_stream(engine.stream_config(probe.media))
        engineer_streams.append(stream)
        try:
            answer = call.make_answer("127.0.0.1", stream.port)
            await call.ringing(early_sdp=answer.body)
            stream.play([ToneItem(EARLY)])
            await asyncio.sleep(1.5)
            await call.answer(answer)
            stream.play([ToneItem(ANSWERED)])
            await call.wait_ended()
        except CallEnded:
            pass
        finally:
            await stream.close()

    far = SipEndpoint(sip_settings(0), on_call=engineer)
    results: list[ForwardResult] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        _, host, port = far.local_addresses[0]
        target = f"sip:oncall@{host}:{port}"
        forwarder = Forwarder(desk.endpoint, engine, allowed={target}.__contains__,
                              media_address="127.0.0.1")
        results.append(await forwarder.forward(
            call, stream, ForwardPlan(target, caller_id="+4930111000099", ring_timeout=5)))

    desk = MediaDesk(sip_settings(0), engine, forward)
    async with desk:
        await far.start()
        try:
            await asyncio.to_thread(baresip_caller.dial, desk.uri)
            await baresip_caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await asyncio.sleep(3.0)
            await asyncio.to_thread(baresip_caller.hangup)
            await asyncio.wait_for(desk.handled.wait(), 10)
        finally:
            await far.stop()
    assert not desk.errors, desk.errors
    (result,) = results
    assert result.answered and result.ended_by == "caller", result
    pcm, rate = read_wav(next(p for p in baresip_caller.recordings() if "dec" in p.name))
    early = tone_runs(pcm, 900.0, rate=rate)
    answered = tone_runs(pcm, 1300.0, rate=rate)
    ringback = tone_runs(pcm, 450.0, rate=rate)
    assert early and answered, (early, answered)
    assert 1.2 <= sum(b - a for a, b in early) <= 1.7 and early[-1][1] <= answered[0][0] + 0.1
    assert sum(b - a for a, b in answered) >= 1.0
    assert sum(b - a for a, b in ringback) <= 0.2, ringback  # our ringback gave way to theirs
