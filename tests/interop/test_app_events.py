"""The live call events, from the application itself: ``init_app`` served on loopback in this process.

A subscriber of the app's event bus (what the console's live panel will be) sees one call's
story in order while a baresip caller presses 2 and a baresip desk phone answers; a subscriber
that never reads loses its oldest events, counted, and delays nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from aiohttp import web

from hotline.app import BUS, CALLS, init_app
from hotline.clock import WallClock, parse_clock_start
from hotline.config import load_config
from hotline.events import CallEvent
from tests.interop.conftest import need
from tests.interop.media_helpers import stop_quietly, tone_wav
from tests.interop.peers import PortAllocator, start_baresip
from tests.interop.serve_helpers import HotlineServer, ServerOptions

BUSINESS_HOURS = "2026-12-02T10:00+08:00"


async def test_a_call_publishes_its_story_in_order(tmp_path: Path, free_ports: PortAllocator) -> None:
    need("baresip")
    desk = start_baresip(tmp_path / "desk", free_ports, user="desk",
                         audio_source=tone_wav(tmp_path / "desk.wav", 1100.0, 60))
    caller = start_baresip(tmp_path / "caller", free_ports, user="+8613412345678", auto_answer=False,
                           audio_source=tone_wav(tmp_path / "caller.wav", 700.0, 60))
    setup = HotlineServer(tmp_path / "hotline", free_ports,
                          ServerOptions(clock=BUSINESS_HOURS, desk=(desk.uri,)))
    setup.init_db()
    config = load_config(setup.config_path)
    app = init_app(config, clock=WallClock.starting_at(parse_clock_start(BUSINESS_HOURS)))
    runner = web.AppRunner(app)
    await runner.setup()
    seen: list[CallEvent] = []
    try:
        bus = app[BUS]
        live = bus.subscribe(maxsize=100)
        stuck = bus.subscribe(maxsize=2)  # never read: must not hold anything up

        async def read() -> None:
            async for event in live:
                seen.append(event)
                if event.kind == "call_ended":
                    return

        reader = asyncio.ensure_future(read())
        await asyncio.to_thread(caller.dial, setup.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.send_dtmf, "2")
        await desk.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.hangup)
        await asyncio.wait_for(reader, 15)
        assert app[CALLS].active == 0
    finally:
        await runner.cleanup()
        stop_quietly(caller, desk)
    kinds = [e.kind for e in seen]
    assert kinds == ["call_arrived", "ivr_choice", "routed", "ringing", "answered", "accepted",
                     "call_ended"], kinds
    arrived, choice, routed, ringing, _, accepted, ended = seen
    assert len({e.call for e in seen}) == 1
    assert arrived.as_dict()["issue_number"].startswith("HL-2026-")
    assert arrived.as_dict()["caller"] == "134 1234 5678"
    assert (choice.as_dict()["digits"], choice.as_dict()["choice"]) == ("2", "network")
    assert routed.as_dict()["route"] == "desk"
    assert ringing.as_dict()["target"] == desk.uri and accepted.as_dict()["target"] == desk.uri
    assert ended.as_dict()["disposition"] == "answered"
    assert all(a.at <= b.at for a, b in itertools.pairwise(seen))
    # The subscriber that never read kept the last two and counted the rest as lost.
    assert stuck.dropped == len(seen) - 2
    assert [stuck.get_nowait(), stuck.get_nowait()] == seen[-2:]
