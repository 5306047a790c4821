"""RFC 4733 digits from real peers into calls that hotline answers with its media engine.

* sipp replays RTP pcaps (``play_pcap_audio``: 2 s of speech, then the keys
  ``1`` and ``#``, each 160 ms with three redundant end packets) into a call
  answered by the first call handler: the call record holds "1#", each once.
  The same pcaps into a test handler: each digit reported once on
  ``stream.digits``, with its duration.
* baresip sends ``sndcode`` keys into a call: each received once.
* A forwarded caller's SIP INFO keys reach the baresip engineer as RFC 4733.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hotline.calls.first_handler import FirstCallHandler
from hotline.calls.forwarding import Forwarder, ForwardPlan, ForwardResult
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.media.events import DigitReceived, DigitSource
from hotline.media.stream import RtpStream
from hotline.sip.call import IncomingCall
from hotline.sip.call_events import Dtmf
from hotline.sip.endpoint import SipEndpoint
from hotline.store import Store
from tests.interop.conftest import need
from tests.interop.endpoint_helpers import desk_config, offer, sip_settings, wait_for_end
from tests.interop.media_helpers import MediaDesk, start_baresip_with_codecs, stop_quietly, wait_until
from tests.interop.peers import Baresip, PortAllocator, Sipp

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""


@pytest.fixture
def engine(free_ports: PortAllocator) -> MediaEngine:
    base = free_ports.block(20)
    return MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 19, quiet_period=0.5)


def collector(digits: list[DigitReceived]):  # type: ignore[no-untyped-def]
    """A call behaviour that keeps every digit of the call until it ends."""

    async def behaviour(call: IncomingCall, stream: RtpStream) -> None:
        ended = asyncio.ensure_future(call.wait_ended())
        while not ended.done():
            got = asyncio.ensure_future(stream.digits.get())
            await asyncio.wait({got, ended}, return_when=asyncio.FIRST_COMPLETED)
            if got.done():
                digits.append(got.result())
            else:
                got.cancel()
        await asyncio.sleep(0.3)  # an end packet still on its way would show up as a duplicate
        while not stream.digits.empty():
            digits.append(stream.digits.get_nowait())

    return behaviour


async def test_sipp_rfc2833_digits_land_on_the_call_record(
    store: Store, sipp: Sipp, engine: MediaEngine
) -> None:
    config = desk_config(ring_seconds=0.1)
    handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone),
                               media=engine, local_address="127.0.0.1")
    endpoint = SipEndpoint(config.sip, on_call=handler)
    await engine.start()
    await endpoint.start()
    try:
        _, host, port = endpoint.local_addresses[0]
        run = sipp.start("uac_call.xml", (host, port), service="12345", media=True, timeout_s=20)
        result = await run.wait_async(25)
        assert result.ok, result.describe()
        (call_id,) = [line.split("call-id=")[1].split()[0] for line in result.lines("ANSWERED")]
        record = await wait_for_end(store, call_id)
    finally:
        await endpoint.stop()
        await engine.close()
    assert record.disposition == "answered"
    assert record.digits == "1#"
    stats = record.media_stats
    assert stats and stats["lost"] == 0 and stats["packets"] >= 100  # 2 s speech + 2 × 11 events


async def test_sipp_rfc2833_digits_reported_once_with_duration(sipp: Sipp, engine: MediaEngine) -> None:
    digits: list[DigitReceived] = []
    desk = MediaDesk(sip_settings(0), engine, collector(digits))
    async with desk:
        _, host, port = desk.endpoint.local_addresses[0]
        run = sipp.start("uac_call.xml", (host, port), service="12345", media=True, timeout_s=20)
        result = await run.wait_async(25)
        assert result.ok, result.describe()
        await asyncio.wait_for(desk.handled.wait(), 5)
    assert not desk.errors, desk.errors
    assert [(d.digit, d.duration_ms, d.source) for d in digits] == [
        ("1", 160, DigitSource.RFC4733), ("#", 160, DigitSource.RFC4733)]
    assert digits[1].at - digits[0].at == pytest.approx(2.6 - 2.1, abs=0.25)  # the pauses in the scenario


async def test_baresip_keys_received_once_each(baresip_caller: Baresip, engine: MediaEngine) -> None:
    digits: list[DigitReceived] = []
    desk = MediaDesk(sip_settings(0), engine, collector(digits))
    async with desk:
        await asyncio.to_thread(baresip_caller.dial, desk.uri)
        await baresip_caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.sleep(0.3)
        for keys in ("1", "2#", "*90"):
            await asyncio.to_thread(baresip_caller.send_dtmf, keys)
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(baresip_caller.hangup)
        await asyncio.wait_for(desk.handled.wait(), 5)
    assert not desk.errors, desk.errors
    assert "".join(d.digit for d in digits) == "12#*90"
    assert all(d.source is DigitSource.RFC4733 and d.duration_ms > 0 for d in digits), digits


async def test_info_digits_of_a_forwarded_caller_reach_the_engineer_as_rfc4733(
    tmp_path: Path, free_ports: PortAllocator, engine: MediaEngine
) -> None:
    """The caller (a hotline endpoint) presses keys by SIP INFO during the bridge; the call
    layer hands them to the engineer's leg, which sends them to baresip as RFC 4733."""
    need("baresip")
    oncall = start_baresip_with_codecs(tmp_path / "oncall", free_ports, user="oncall")
    results: list[ForwardResult] = []

    async def forward_and_relay_info(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={oncall.uri}.__contains__,
                              media_address="127.0.0.1")
        task = asyncio.ensure_future(forwarder.forward(
            call, stream, ForwardPlan(oncall.uri, caller_id="13812345678")))
        async for event in call.events():  # the call layer: INFO digits to the other leg
            if isinstance(event, Dtmf) and stream.peer is not None:
                stream.peer.send_digits(event.digit, max(event.duration_ms, 100))
        results.append(await task)

    desk = MediaDesk(sip_settings(0), engine, forward_and_relay_info)
    caller = SipEndpoint(sip_settings(0, caller_id="from"))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    try:
        async with desk:
            await caller.start()
            _, host, port = desk.endpoint.local_addresses[0]
            call = await caller.place_call(
                f"sip:12345@{host}:{port}", allowed=lambda target: True, caller_id="13812345678",
                sdp_offer=offer(rtp.getsockname()[1]))
            await asyncio.wait_for(call.answered(), 5)
            await oncall.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await wait_until(lambda: any(s.peer is not None for s in engine.streams), 5, "bridge")
            for digit in "7*":
                assert (await call.send_dtmf_info(digit, 160)).status == 200
                await asyncio.sleep(0.4)
            await call.hangup()
            await asyncio.wait_for(desk.handled.wait(), 10)
            await oncall.ctrl.wait_event_async("CALL_CLOSED", 5)
            await caller.stop()
        assert not desk.errors, desk.errors
        keys = [e.get("param") for e in oncall.ctrl.events if e.get("type") == "CALL_DTMF_START"]
    finally:
        stop_quietly(oncall)
        rtp.close()
    assert keys == ["7", "*"]
    (result,) = results
    assert result.ended_by == "caller" and result.relay["from_caller"]["relayed"] == 0
