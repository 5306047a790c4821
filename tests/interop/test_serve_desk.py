"""Call control through ``hotline serve`` in business hours: the IVR menu, the duty desk, overflow.

Every test runs the real server process (``init-db --demo``, ``serve --clock``) with the
repository's default flow, and real phones on 127.0.0.1: a baresip caller that plays a 700 Hz
tone and presses keys, a baresip desk phone that plays 1100 Hz, sipp as a busy desk, kamailio
as the outbound proxy to the on-call engineer's mobile. What each side heard is checked by
ear (Goertzel), and the call record is read back from the server's database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import need
from tests.interop.media_helpers import read_wav, stop_quietly, tone_runs, tone_wav
from tests.interop.peers import Baresip, Kamailio, PortAllocator, Sipp, start_baresip
from tests.interop.serve_helpers import ENGINEERS, HotlineServer, ServerOptions, register_at_kamailio

# Wednesday 2 December 2026, 10:00 in Beijing: an ordinary working day, in business hours.
BUSINESS_HOURS = "2026-12-02T10:00+08:00"
CALLER_HZ, DESK_HZ, ENGINEER_HZ = 700.0, 1100.0, 1300.0


def heard(ua: Baresip) -> tuple[bytes, int]:
    files = [p for p in ua.recordings() if "dec" in p.name]
    assert files, f"no decoder recording in {ua.recordings()}"
    return read_wav(files[0])


def seconds_of(ua: Baresip, hz: float) -> float:
    pcm, rate = heard(ua)
    return sum(b - a for a, b in tone_runs(pcm, hz, rate=rate))


@pytest.fixture
def caller(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Baresip]:
    need("baresip")
    ua = start_baresip(tmp_path / "caller", free_ports, user="+8613412345678", display="Test Caller",
                       auto_answer=False, audio_source=tone_wav(tmp_path / "caller.wav", CALLER_HZ, 60))
    try:
        yield ua
    finally:
        stop_quietly(ua)


def serve(tmp_path: Path, free_ports: PortAllocator, options: ServerOptions) -> HotlineServer:
    server = HotlineServer(tmp_path / "hotline", free_ports, options)
    server.init_db()
    return server


async def test_business_hours_menu_2_goes_to_the_desk_with_audio_both_ways(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip,
) -> None:
    desk = start_baresip(tmp_path / "desk", free_ports, user="desk", display="Duty Desk",
                         audio_source=tone_wav(tmp_path / "desk.wav", DESK_HZ, 60))
    server = serve(tmp_path, free_ports, ServerOptions(clock=BUSINESS_HOURS, desk=(desk.uri,)))
    try:
        server.start()
        await asyncio.to_thread(caller.dial, server.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.sleep(1.5)  # the greeting plays; a key cuts it short
        await asyncio.to_thread(caller.send_dtmf, "2")
        await desk.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await asyncio.sleep(3.0)  # bridged: each hears the other
        await asyncio.to_thread(caller.hangup)
        await desk.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(desk)
    issue = server.issue_of(call["id"])
    assert issue["category"] == "network", issue
    assert call["menu"][0] == {"node": "menu", "digit": "2", "choice": "network"}
    assert (call["disposition"], call["route"], call["answered_by"]) == ("answered", "desk", desk.uri)
    assert [(a["route"], a["target"], a["outcome"]) for a in call["attempts"]] == [
        ("desk", desk.uri, "answered")]
    assert call["talk_seconds"] >= 2.5 and call["flow"] == "default" and call["language"] == "zh"
    # Audio both ways, and never one's own tone back.
    assert seconds_of(caller, DESK_HZ) > 2.0
    assert seconds_of(desk, CALLER_HZ) > 2.0
    assert seconds_of(caller, CALLER_HZ) == 0.0 and seconds_of(desk, DESK_HZ) == 0.0
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("desk_kind", ["busy", "no-answer"])
async def test_busy_or_unanswered_desk_overflows_to_the_on_call_engineer(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, sipp: Sipp, kamailio: Kamailio,
    desk_kind: str,
) -> None:
    # The desk phone is extension 8001 of the PBX (kamailio), dialled through it.
    if desk_kind == "busy":
        busy = sipp.start("uas_busy.xml", service="8001", timeout_s=60)
        await register_at_kamailio(sipp, kamailio, "8001", busy.port, tmp_path / "register")
        silent_desk = None
    else:
        silent_desk = start_baresip(tmp_path / "desk", free_ports, user="8001", auto_answer=False,
                                    registrar=(kamailio.open_port, "x"))
    desk_uri = "8001"
    engineer = start_baresip(tmp_path / "engineer", free_ports, user="+8613900000001",
                             registrar=(kamailio.open_port, "x"),
                             audio_source=tone_wav(tmp_path / "engineer.wav", ENGINEER_HZ, 60))
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=BUSINESS_HOURS, desk=(desk_uri,), desk_ring_seconds=3,
        proxy=f"sip:127.0.0.1:{kamailio.open_port}"))
    server.set_mobile(ENGINEERS[0], "+8613900000001")
    try:
        server.start()
        await asyncio.to_thread(caller.dial, server.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.send_dtmf, "3")
        await engineer.ctrl.wait_event_async("CALL_ESTABLISHED", 30)
        await asyncio.sleep(2.0)  # the whisper: who calls, about what, press 1
        await asyncio.to_thread(engineer.send_dtmf, "1")
        await asyncio.sleep(3.0)
        await asyncio.to_thread(engineer.hangup)
        await caller.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(engineer, *([silent_desk] if silent_desk else []))
    outcomes = [(a["route"], a["outcome"]) for a in call["attempts"]]
    expected_desk = "busy" if desk_kind == "busy" else "no-answer"
    assert outcomes == [("desk", expected_desk), ("oncall", "answered")], call["attempts"]
    assert call["attempts"][1]["person"] == ENGINEERS[0]
    assert (call["disposition"], call["route"], call["answered_by"]) == (
        "answered", f"oncall:{ENGINEERS[0]}", ENGINEERS[0])
    assert server.issue_of(call["id"])["category"] == "erp"
    assert seconds_of(caller, ENGINEER_HZ) > 1.5 and seconds_of(engineer, CALLER_HZ) > 1.5


async def test_desk_phones_rung_together_first_answer_wins(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip,
) -> None:
    slow = start_baresip(tmp_path / "desk1", free_ports, user="desk1", auto_answer=False)
    quick = start_baresip(tmp_path / "desk2", free_ports, user="desk2",
                          audio_source=tone_wav(tmp_path / "desk.wav", DESK_HZ, 60))
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=BUSINESS_HOURS, desk=(slow.uri, quick.uri), desk_strategy="together"))
    try:
        server.start()
        await asyncio.to_thread(caller.dial, server.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.send_dtmf, "0")  # the operator
        await slow.ctrl.wait_event_async("CALL_INCOMING", 20)  # both ring at once…
        await quick.ctrl.wait_event_async("CALL_ESTABLISHED", 20)  # …the quick one answers
        await slow.ctrl.wait_event_async("CALL_CLOSED", 10)  # and the other stops ringing
        await asyncio.sleep(1.5)
        await asyncio.to_thread(caller.hangup)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(slow, quick)
    assert sorted((a["target"], a["outcome"]) for a in call["attempts"]) == sorted(
        [(quick.uri, "answered"), (slow.uri, "cancelled")])
    assert (call["disposition"], call["answered_by"]) == ("answered", quick.uri)
    assert call["menu"][0]["choice"] == "office_hours"  # 0: no category, straight on
    assert server.issue_of(call["id"])["category"] is None
    assert seconds_of(caller, DESK_HZ) > 0.8
