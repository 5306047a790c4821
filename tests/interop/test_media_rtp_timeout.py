"""A leg whose RTP stops is reported after the configured time, and the call is ended.

* A hand-written caller sends RTP from a Python socket for 2 s, then stops
  (the phone lost its network): with ``rtp_timeout=1.5`` the stream reports
  `RtpTimedOut` about 1.5 s after the last packet -- not 1.5 s after the
  start -- and the handler hangs up with BYE.
* A forwarded call whose engineer leg (sipp, which sends no RTP at all) is
  silent: the forwarder ends both legs, baresip's and sipp's.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import pytest

from hotline.calls.forwarding import Forwarder, ForwardPlan, ForwardResult
from hotline.media.engine import MediaEngine
from hotline.media.events import RtpTimedOut
from hotline.media.stream import RtpStream
from hotline.sip.call import IncomingCall
from hotline.sip.message import Request, Response
from tests.interop.endpoint_helpers import RawPeer, offer, sip_settings
from tests.interop.media_helpers import MediaDesk, wait_until
from tests.interop.peers import Baresip, PortAllocator, Sipp

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

TIMEOUT = 1.5


def engine_for(free_ports: PortAllocator) -> MediaEngine:
    base = free_ports.block(10)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 9, quiet_period=0.5)
    engine.rtp_timeout = TIMEOUT
    return engine


async def test_caller_whose_rtp_stops_is_hung_up(free_ports: PortAllocator) -> None:
    engine = engine_for(free_ports)
    timeouts: list[RtpTimedOut] = []

    async def hang_up_on_timeout(call: IncomingCall, stream: RtpStream) -> None:
        timeouts.append(await stream.wait_timed_out())
        await call.hangup()

    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    raw = RawPeer()
    desk = MediaDesk(sip_settings(0), engine, hang_up_on_timeout)
    loop = asyncio.get_running_loop()
    try:
        async with desk:
            _, host, port = desk.endpoint.local_addresses[0]
            to = (host, port)
            body = offer(rtp.getsockname()[1])
            raw.send(raw.request("INVITE", to, call_id="rtp-stop@127.0.0.1", body=body,
                                 extra="Content-Type: application/sdp\r\n"), to)
            ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200)
            assert isinstance(ok, Response)
            tag = ok.headers.get("To").split("tag=")[1]
            ours = int(ok.body.split(b"m=audio ")[1].split()[0])
            raw.send(raw.request("ACK", to, call_id="rtp-stop@127.0.0.1", to_tag=tag), to)
            start = loop.time()
            for i in range(100):  # 2 s of PCMU silence on absolute deadlines
                rtp.sendto(struct.pack("!BBHII", 0x80, 0, i, 160 * i, 0xCA11) + b"\xff" * 160,
                           ("127.0.0.1", ours))
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
            last = loop.time()
            bye = await raw.recv_until(lambda m: isinstance(m, Request) and m.method == "BYE", 5)
            silent = loop.time() - last
            assert isinstance(bye, Request)
            raw.send(
                f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
                f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
                "Content-Length: 0\r\n\r\n", to)
            await asyncio.wait_for(desk.handled.wait(), 5)
        assert not desk.errors, desk.errors
    finally:
        raw.close()
        rtp.close()
    (timeout,) = timeouts
    assert TIMEOUT <= timeout.silent_for <= TIMEOUT + 0.25
    assert TIMEOUT - 0.05 <= silent <= TIMEOUT + 0.4, silent
    assert desk.streams[0].stats()["packets"] == 100


async def test_forwarded_call_ends_when_the_engineer_leg_sends_no_rtp(
    tmp_path: Path, free_ports: PortAllocator, sipp: Sipp, baresip_caller: Baresip
) -> None:
    engine = engine_for(free_ports)
    oncall = sipp.start("uas_answer.xml", service="oncall", timeout_s=20)
    target = f"sip:oncall@127.0.0.1:{oncall.port}"
    results: list[ForwardResult] = []
    took: list[float] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={target}.__contains__,
                              media_address="127.0.0.1")
        task = asyncio.ensure_future(forwarder.forward(
            call, stream, ForwardPlan(target, caller_id="+4930111000099", ring_timeout=5)))
        await wait_until(lambda: stream.peer is not None or task.done(), 5, "bridge")
        bridged = engine.now()
        results.append(await task)
        took.append(engine.now() - bridged)

    desk = MediaDesk(sip_settings(0), engine, forward)
    async with desk:
        await asyncio.to_thread(baresip_caller.dial, desk.uri)
        await baresip_caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.wait_for(desk.handled.wait(), 10)
        await baresip_caller.ctrl.wait_event_async("CALL_CLOSED", 5)
    assert not desk.errors, desk.errors
    sipp_result = await oncall.wait_async(10)
    assert sipp_result.ok, sipp_result.describe()
    assert sipp_result.lines("BYE"), sipp_result.describe()
    (result,) = results
    assert result.answered and result.ended_by == "callee-rtp-timeout", result
    assert result.relay["from_caller"]["relayed"] > 30  # baresip kept talking into the bridge
    assert result.relay["from_callee"]["relayed"] == 0
    # Not before the timeout; after it, within what a busy 2-core machine can be late by.
    assert TIMEOUT - 0.05 <= took[0] <= TIMEOUT + 2.0, took
