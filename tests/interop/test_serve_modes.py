"""``[routing] mode`` "redirect" and "refer" through ``hotline serve``: the PBX takes the call over.

Both hand the caller to the first target and lose what bridging gives (no whisper, no press 1,
no escalation, no record of who answered); the call record says how it was handed over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.interop.conftest import need
from tests.interop.media_helpers import stop_quietly
from tests.interop.peers import PortAllocator, Sipp, start_baresip
from tests.interop.serve_helpers import HotlineServer, ServerOptions

# A flow that routes at once, before anything is played: what a redirect needs.
STRAIGHT_TO_DESK = """\
[flow]
name = "default"
start = "desk"
languages = ["zh"]

[nodes.desk]
kind = "route"
to = "desk"
next = "bye"

[nodes.bye]
kind = "hangup"
"""


def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "default.toml").write_text(STRAIGHT_TO_DESK, encoding="utf-8")
    return folder


async def test_redirect_mode_answers_302_to_the_desk(
    tmp_path: Path, free_ports: PortAllocator, sipp: Sipp,
) -> None:
    server = HotlineServer(tmp_path / "hotline", free_ports, ServerOptions(
        desk=("8001",), mode="redirect", flows_dir=flows(tmp_path)))
    server.init_db()
    server.start()
    try:
        result = await sipp.start("uac_call_302.xml", server.address, service="8000", calls=1,
                                  timeout_s=15).wait_async(25)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
    assert result.ok, result.describe()
    line = result.lines("REDIRECTED")[0]
    assert "code=302" in line and "sip:8001@" in line and "diversion=" in line, line
    assert call["disposition"] == "redirected" and call["route"] == "desk"
    assert [(a["target"], a["outcome"]) for a in call["attempts"]] == [("8001", "redirected")]
    assert call["answered_at"] is None and call["answered_by"] is None


async def test_refer_mode_transfers_the_answered_caller(tmp_path: Path, free_ports: PortAllocator) -> None:
    need("baresip")
    desk = start_baresip(tmp_path / "desk", free_ports, user="desk")
    caller = start_baresip(tmp_path / "caller", free_ports, user="+8613412345678", auto_answer=False)
    server = HotlineServer(tmp_path / "hotline", free_ports, ServerOptions(
        desk=(desk.uri,), mode="refer", flows_dir=flows(tmp_path)))
    server.init_db()
    server.start()
    try:
        await asyncio.to_thread(caller.dial, server.uri)
        # baresip follows the REFER and calls the desk itself: hotline is out of the media path.
        await desk.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        (call,) = server.ended_calls(1)
        await asyncio.to_thread(caller.hangup)
    finally:
        server.stop()
        stop_quietly(caller, desk)
    assert call["disposition"] == "transferred" and call["route"] == "desk"
    assert [(a["target"], a["outcome"]) for a in call["attempts"]] == [(desk.uri, "transferred")]
    assert call["answered_by"] is None  # a transfer tells us nothing of who answered
