"""The first call handler behind a real endpoint, called by another endpoint over loopback.

The store is a real SQLite file under ``tmp_path``; the media engine (when
used) binds real RTP ports on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.calls.first_handler import FirstCallHandler, disposition_for
from hotline.config import Config
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.sip.call_events import Ended
from hotline.sip.endpoint import SipEndpoint
from hotline.store import Store
from tests.interop.endpoint_helpers import desk_config, offer, sip_settings, wait_for_end
from tests.ports import PORTS

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

ALLOW_ALL = lambda target: True  # noqa: E731


class Desk:
    def __init__(self, store: Store, config: Config, media: MediaEngine | None = None) -> None:
        self.store = store
        self.config = config
        self.handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone), media=media)
        self.endpoint = SipEndpoint(config.sip, on_call=self.handler)

    @property
    def proxy(self) -> str:
        _, host, port = self.endpoint.local_addresses[0]
        return f"sip:{host}:{port}"


@pytest.fixture
async def caller() -> AsyncIterator[SipEndpoint]:
    ep = SipEndpoint(sip_settings(0, caller_id="from"))
    await ep.start()
    try:
        yield ep
    finally:
        await ep.stop()


async def dial(caller: SipEndpoint, desk: Desk, number: str = "12345"):  # type: ignore[no-untyped-def]
    # The caller endpoint dials through the desk as its "proxy".
    caller.config = dataclasses.replace(
        caller.config, outbound=dataclasses.replace(caller.config.outbound, proxy=desk.proxy)
    )
    return await caller.place_call(
        number, allowed=ALLOW_ALL, caller_id="13812345678", display_name="王工", sdp_offer=offer()
    )


async def test_answered_call_leaves_call_issue_and_digits(store: Store, caller: SipEndpoint) -> None:
    desk = Desk(store, desk_config(ring_seconds=0.2))
    await desk.endpoint.start()
    try:
        call = await dial(caller, desk)
        await asyncio.wait_for(call.answered(), 5)
        for _ in range(40):  # answered_at is written right after the ACK
            records = await store.calls.by_sip_call_id(call.call_id)
            if records[0].answered_at is not None:
                break
            await asyncio.sleep(0.05)
        assert len(records) == 1 and records[0].answered_at is not None
        for digit in "12#":
            assert (await call.send_dtmf_info(digit)).status == 200
        await call.hangup()
        await wait_for_end(store, call.call_id)
        record = (await store.calls.by_sip_call_id(call.call_id))[0]
        assert record.disposition == "answered"
        assert record.digits == "12#"
        assert record.caller_key == "+8613812345678"
        assert record.started_at <= record.answered_at <= record.ended_at  # type: ignore[operator]
        assert await store.issues.count() == 1
    finally:
        await desk.endpoint.stop()


async def test_cancel_while_ringing_is_recorded_as_cancelled(store: Store, caller: SipEndpoint) -> None:
    desk = Desk(store, desk_config(ring_seconds=5.0))
    await desk.endpoint.start()
    try:
        call = await dial(caller, desk)
        await asyncio.sleep(0.3)
        records = await store.calls.by_sip_call_id(call.call_id)
        assert len(records) == 1  # committed before ringing
        await call.hangup()
        assert (await asyncio.wait_for(call.wait_ended(), 3)) == Ended("cancelled", 487)
        await wait_for_end(store, call.call_id)
        record = (await store.calls.by_sip_call_id(call.call_id))[0]
        assert record.disposition == "cancelled" and record.answered_at is None
        assert await store.issues.count() == 1
    finally:
        await desk.endpoint.stop()


async def test_max_call_seconds_hangs_up(store: Store, caller: SipEndpoint) -> None:
    desk = Desk(store, desk_config(ring_seconds=0.0, max_call_seconds=1))
    await desk.endpoint.start()
    try:
        call = await dial(caller, desk)
        await asyncio.wait_for(call.answered(), 5)
        assert (await asyncio.wait_for(call.wait_ended(), 5)).reason == "remote-bye"
        await wait_for_end(store, call.call_id)
        record = (await store.calls.by_sip_call_id(call.call_id))[0]
        assert record.disposition == "answered"
    finally:
        await desk.endpoint.stop()


async def test_with_media_the_greeting_is_played(store: Store, caller: SipEndpoint, tmp_path: Path) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    low = PORTS.block(1000)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=low, port_max=low + 999)
    await engine.start()
    desk = Desk(store, desk_config(ring_seconds=0.0), media=engine)
    await desk.endpoint.start()
    try:
        caller.config = dataclasses.replace(
            caller.config, outbound=dataclasses.replace(caller.config.outbound, proxy=desk.proxy)
        )
        call = await caller.place_call(
            "12345", allowed=ALLOW_ALL, caller_id="13812345678",
            sdp_offer=offer(int(rtp.getsockname()[1])),
        )
        answered = await asyncio.wait_for(call.answered(), 5)
        assert answered.media is not None and low <= answered.media.remote_port <= low + 999
        loop = asyncio.get_running_loop()
        packet = await asyncio.wait_for(loop.sock_recv(rtp, 2048), 3)
        assert packet[0] >> 6 == 2 and packet[1] & 0x7F == 0  # RTP version 2, PCMU
        assert (await call.send_dtmf_info("7")).status == 200
        await call.hangup()  # at once: the digit's store write races the end of the call
        await wait_for_end(store, call.call_id)
        record = (await store.calls.by_sip_call_id(call.call_id))[0]
        assert record.disposition == "answered" and record.digits == "7"
        assert record.media_stats
    finally:
        await desk.endpoint.stop()
        await engine.close()
        rtp.close()


def test_disposition_rules() -> None:
    assert disposition_for(Ended("remote-bye"), True) == "answered"
    assert disposition_for(Ended("cancelled", 487), False) == "cancelled"
    assert disposition_for(Ended("remote-bye"), False) == "abandoned"
    assert disposition_for(Ended("no-ack"), False) == "failed"
    assert disposition_for(None, False) == "failed"
