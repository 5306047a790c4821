"""Call control through ``hotline serve`` outside business hours: the on-call chain, voicemail.

Every test runs the real server process (``init-db --demo``, ``serve --clock``) with the
repository's default flow and its 2026 calendar (``config/calendar/cn-2026.toml``): a baresip
caller that plays a 700 Hz tone and presses a menu key, the engineers' mobiles as baresips
registered at kamailio (hotline dials them through kamailio, its outbound proxy), each playing
a tone of its own. What each side heard is checked by ear (Goertzel), the call record, the
issue and the desk's outbox are read back from the server's database.

The rota (``serve_helpers``) makes zhangwei primary, liuyang secondary and wangjun (the
manager) last in the chain on the ``--clock`` day.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import need
from tests.interop.media_helpers import read_wav, rms, stop_quietly, tone_runs, tone_share, tone_wav
from tests.interop.peers import Baresip, Kamailio, PortAllocator, Sipp, SippRun, start_baresip
from tests.interop.serve_helpers import CALLER, ENGINEERS, MANAGER, HotlineServer, ServerOptions

# From config/calendar/cn-2026.toml: National Day is 2026-10-01..07 ([[holiday]] 国庆节;
# 10-01 is a Thursday) and Saturday 2026-10-10 is a make-up working day ([[workday]]).
HOLIDAY_NIGHT = "2026-10-01T23:00+08:00"
HOLIDAY_THURSDAY_MORNING = "2026-10-01T10:00+08:00"
MAKE_UP_SATURDAY_MORNING = "2026-10-10T10:00+08:00"

CALLER_HZ, ZHANGWEI_HZ, LIUYANG_HZ = 700.0, 1300.0, 1700.0
OTHER_TONES = (450.0, 1000.0)
"""Ringback (450 Hz) and the voicemail beep (1 kHz): not speech either."""
MOBILES = {ENGINEERS[0]: "+8613900000001", ENGINEERS[1]: "+8613900000002", MANAGER: "+8613900000003"}
"""The mobiles the chain is given; a number no phone registers at kamailio gets its 404."""
CHAIN = (ENGINEERS[0], ENGINEERS[1], MANAGER)
PROMPTS = Path(__file__).resolve().parents[2] / "hotline" / "media" / "prompts" / "generated"


# -- helpers ---------------------------------------------------------------------------------


def heard(ua: Baresip) -> tuple[bytes, int]:
    """What a baresip received on its (only) call: its sndfile decoder-side recording."""
    files = [p for p in ua.recordings() if "dec" in p.name]
    assert len(files) == 1, f"expected one decoder recording, got {ua.recordings()}"
    return read_wav(files[0])


def seconds_of(pcm: bytes, rate: int, hz: float) -> float:
    return sum(b - a for a, b in tone_runs(pcm, hz, rate=rate))


def heard_seconds(ua: Baresip, hz: float) -> float:
    return seconds_of(*heard(ua), hz)


def speech_before(pcm: bytes, rate: int, until: float, *, window_ms: int = 50) -> list[float]:
    """RMS of the 50 ms windows before ``until`` s that are loud and not one of the test's tones."""
    step = rate * window_ms // 1000 * 2
    levels: list[float] = []
    for i in range(0, min(len(pcm), int(until * rate) * 2) - step + 1, step):
        chunk = pcm[i : i + step]
        level = rms(chunk)
        if level < 300:
            continue
        tones = (CALLER_HZ, ZHANGWEI_HZ, LIUYANG_HZ, *OTHER_TONES)
        if max(tone_share(chunk, hz, rate) for hz in tones) < 0.5:
            levels.append(level)
    return levels


def assert_whispered(ua: Baresip, *, bridged: bool) -> None:
    """The engineer heard speech (the whisper) first, and the caller's tone only once bridged."""
    pcm, rate = heard(ua)
    runs = tone_runs(pcm, CALLER_HZ, rate=rate)
    if bridged:
        assert runs, "the engineer never heard the caller"
        until = runs[0][0]
    else:
        assert not runs, f"the engineer heard the caller's tone at {runs} without accepting"
        until = len(pcm) / 2 / rate
    levels = speech_before(pcm, rate, until)
    # Speech: at least a second of loud audio that is no pure tone, whose level varies
    # (syllables and pauses; a tone or a hiss would be flat).
    assert len(levels) * 0.05 >= 1.0, f"{len(levels) * 0.05:.2f} s of speech before {until:.2f} s"
    assert statistics.pstdev(levels) / statistics.fmean(levels) > 0.2, levels


def prompt_seconds(name: str) -> float:
    with wave.open(str(PROMPTS / f"{name}.zh.wav"), "rb") as w:
        return w.getnframes() / w.getframerate()


def outbox(server: HotlineServer, issue_id: int) -> list[dict[str, Any]]:
    return server.query("SELECT event, recipient, channel, payload FROM desk_outbox WHERE issue_id = ?"
                        " ORDER BY id", (issue_id,))


def operators(server: HotlineServer) -> set[str]:
    rows = server.query("SELECT id FROM people WHERE active = 1 AND (',' || roles || ',') LIKE '%,operator,%'")
    found = {r["id"] for r in rows}
    assert found, "the demo data has no operators"
    return found


def attempts_of(call: dict[str, Any]) -> list[tuple[str, str | None, str, str]]:
    return [(a["route"], a["person"], a["role"], a["outcome"]) for a in call["attempts"]]


async def attempts_recorded(server: HotlineServer, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The first call's attempts once ``count`` of them are on record (polled off the loop)."""
    def enough() -> list[dict[str, Any]] | None:
        calls = server.calls()
        return calls[0]["attempts"] if calls and len(calls[0]["attempts"]) >= count else None

    return await asyncio.to_thread(server.wait_for, f"{count} attempt(s)", enough, timeout)


async def sipp_logged(run: SippRun, prefix: str, timeout: float) -> None:
    """Wait until a running sipp's scenario has logged a line starting with ``prefix``."""
    log = run.workdir / "calls.log"
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (log.exists() and any(line.startswith(prefix) for line in log.read_text().splitlines())):
        assert loop.time() < end, f"sipp logged no {prefix!r} within {timeout} s"
        await asyncio.sleep(0.1)


def serve(tmp_path: Path, free_ports: PortAllocator, options: ServerOptions) -> HotlineServer:
    server = HotlineServer(tmp_path / "hotline", free_ports, options)
    server.init_db()
    return server


def engineer(tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, person: str, hz: float,
             *, auto_answer: bool = True) -> Baresip:
    """``person``'s mobile: a baresip registered at kamailio under their number."""
    return start_baresip(tmp_path / person, free_ports, user=MOBILES[person], display=person,
                         registrar=(kamailio.open_port, "x"), auto_answer=auto_answer,
                         audio_source=tone_wav(tmp_path / f"{person}.wav", hz, 60))


def start_caller(tmp_path: Path, free_ports: PortAllocator, *, silent: bool = False) -> Baresip:
    need("baresip")
    source = tone_wav(tmp_path / "caller.wav", CALLER_HZ, 60, amplitude=0 if silent else 8000)
    return start_baresip(tmp_path / "caller", free_ports, user=CALLER, display="Test Caller",
                         auto_answer=False, audio_source=source)


@pytest.fixture
def caller(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Baresip]:
    ua = start_caller(tmp_path, free_ports)
    try:
        yield ua
    finally:
        stop_quietly(ua)


async def dial_and_press(caller: Baresip, server: HotlineServer, key: str) -> None:
    """Call the hotline and press ``key`` in the category menu (it cuts the greeting short)."""
    await asyncio.to_thread(caller.dial, server.uri)
    await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(caller.send_dtmf, key)


# -- 1. the primary engineer takes the call ---------------------------------------------------


async def test_holiday_night_primary_engineer_hears_the_whisper_and_accepts(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, kamailio: Kamailio,
) -> None:
    zhangwei = engineer(tmp_path, free_ports, kamailio, ENGINEERS[0], ZHANGWEI_HZ)
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=HOLIDAY_NIGHT, proxy=f"sip:127.0.0.1:{kamailio.open_port}", accept_seconds=10))
    server.set_mobile(ENGINEERS[0], MOBILES[ENGINEERS[0]])
    try:
        server.start()
        await dial_and_press(caller, server, "2")
        await zhangwei.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await asyncio.sleep(3.0)  # the whisper: who calls, about what, press 1
        await asyncio.to_thread(zhangwei.send_dtmf, "1")
        await asyncio.sleep(3.0)  # bridged
        await asyncio.to_thread(zhangwei.hangup)
        await caller.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(zhangwei)
    assert (call["disposition"], call["route"], call["answered_by"]) == (
        "answered", f"oncall:{ENGINEERS[0]}", ENGINEERS[0]), call
    assert attempts_of(call) == [("oncall", ENGINEERS[0], "primary", "answered")], call["attempts"]
    assert call["attempts"][0]["target"] == MOBILES[ENGINEERS[0]]
    assert server.issue_of(call["id"])["category"] == "network"
    assert call["talk_seconds"] >= 2.0
    assert_whispered(zhangwei, bridged=True)
    # Once bridged, each hears the other, and never their own tone back.
    assert heard_seconds(caller, ZHANGWEI_HZ) > 2.0
    assert heard_seconds(zhangwei, CALLER_HZ) > 2.0
    assert heard_seconds(caller, CALLER_HZ) == 0.0 and heard_seconds(zhangwei, ZHANGWEI_HZ) == 0.0
    assert "Traceback" not in server.log()


# -- 2. escalation to the secondary -----------------------------------------------------------


@pytest.mark.parametrize("first", ["declined", "not-accepted"])
async def test_escalation_to_the_secondary_when_the_primary_does_not_accept(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, kamailio: Kamailio, first: str,
) -> None:
    zhangwei = engineer(tmp_path, free_ports, kamailio, ENGINEERS[0], ZHANGWEI_HZ)
    liuyang = engineer(tmp_path, free_ports, kamailio, ENGINEERS[1], LIUYANG_HZ)
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=HOLIDAY_NIGHT, proxy=f"sip:127.0.0.1:{kamailio.open_port}", accept_seconds=2))
    for person in ENGINEERS:
        server.set_mobile(person, MOBILES[person])
    try:
        server.start()
        await dial_and_press(caller, server, "3")
        await zhangwei.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        if first == "declined":
            await asyncio.sleep(2.5)  # part of the whisper, then 2
            await asyncio.to_thread(zhangwei.send_dtmf, "2")
        # else: zhangwei listens to the whole whisper, then accept_seconds of silence
        await zhangwei.ctrl.wait_event_async("CALL_CLOSED", 30)  # hotline hangs up on him
        await liuyang.ctrl.wait_event_async("CALL_ESTABLISHED", 15)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(liuyang.send_dtmf, "1")
        await asyncio.sleep(3.0)
        await asyncio.to_thread(caller.hangup)
        await liuyang.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(zhangwei, liuyang)
    assert attempts_of(call) == [
        ("oncall", ENGINEERS[0], "primary", first),
        ("oncall", ENGINEERS[1], "secondary", "answered"),
    ], call["attempts"]
    assert [a["target"] for a in call["attempts"]] == [MOBILES[ENGINEERS[0]], MOBILES[ENGINEERS[1]]]
    assert (call["disposition"], call["route"], call["answered_by"]) == (
        "answered", f"oncall:{ENGINEERS[1]}", ENGINEERS[1]), call
    assert server.issue_of(call["id"])["category"] == "erp"
    # zhangwei heard a whisper but never the caller; the caller never heard him.
    assert_whispered(zhangwei, bridged=False)
    assert heard_seconds(caller, ZHANGWEI_HZ) == 0.0
    assert_whispered(liuyang, bridged=True)
    assert heard_seconds(caller, LIUYANG_HZ) > 2.0 and heard_seconds(liuyang, CALLER_HZ) > 2.0
    assert "Traceback" not in server.log()


# -- 3. nobody answers: voicemail ------------------------------------------------------------


async def test_nobody_answers_the_caller_leaves_a_voicemail(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, kamailio: Kamailio,
) -> None:
    # zhangwei's phone rings and nobody picks it up; liuyang's and wangjun's numbers are not
    # registered at kamailio (404).
    zhangwei = engineer(tmp_path, free_ports, kamailio, ENGINEERS[0], ZHANGWEI_HZ, auto_answer=False)
    hook = f"http://127.0.0.1:{free_ports.one()}/hook"  # nothing listens: the rows stay pending
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=HOLIDAY_NIGHT, proxy=f"sip:127.0.0.1:{kamailio.open_port}", oncall_ring_seconds=3,
        notify_url=hook))
    for person in CHAIN:
        server.set_mobile(person, MOBILES[person])
    spoke = 4.0
    try:
        server.start()
        await dial_and_press(caller, server, "4")
        await zhangwei.ctrl.wait_event_async("CALL_INCOMING", 15)
        await attempts_recorded(server, 3)
        # The voicemail prompt, 200 ms of silence and the beep; then the caller's tone goes on.
        await asyncio.sleep(prompt_seconds("voicemail_intro") + 0.6 + spoke)
        await asyncio.to_thread(caller.hangup)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(zhangwei)
    assert attempts_of(call) == [
        ("oncall", ENGINEERS[0], "primary", "no-answer"),
        ("oncall", ENGINEERS[1], "secondary", "failed"),
        ("oncall", MANAGER, "manager", "failed"),
    ], call["attempts"]
    assert [a.get("status") for a in call["attempts"]] == [487, 404, 404], call["attempts"]
    assert 2.5 <= call["attempts"][0]["seconds"] <= 4.5, call["attempts"][0]
    assert "CALL_ESTABLISHED" not in zhangwei.ctrl.types()
    assert (call["disposition"], call["route"], call["answered_by"]) == ("voicemail", "voicemail", None), call
    assert server.issue_of(call["id"])["category"] == "email"
    # The message: an 8 kHz mono WAV holding the caller's tone (and not our beep).
    path = Path(call["voicemail"])
    assert path.is_file(), path
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    pcm, rate = read_wav(path)
    assert spoke - 1.5 <= seconds_of(pcm, rate, CALLER_HZ) <= spoke + 1.0, tone_runs(pcm, CALLER_HZ)
    assert seconds_of(pcm, rate, 1000.0) == 0.0
    # The on-call chain and the duty operators are told, once each, on the webhook channel.
    rows = outbox(server, server.issue_of(call["id"])["id"])
    told = [(r["recipient"], r["channel"]) for r in rows if r["event"] == "voicemail"]
    assert sorted(told) == sorted((p, "robot") for p in {*CHAIN, *operators(server)}), rows
    payload = json.loads(next(r["payload"] for r in rows if r["event"] == "voicemail"))
    assert payload["voicemail"] == str(path), payload
    assert not [r for r in rows if r["event"] == "missed_call"], rows
    assert "Traceback" not in server.log()


# -- 4. the calendar decides: desk or on-call ---------------------------------------------------


@pytest.mark.parametrize(("clock", "key", "category", "route"), [
    pytest.param(MAKE_UP_SATURDAY_MORNING, "1", "desktop", "desk", id="make-up-saturday-to-desk"),
    pytest.param(HOLIDAY_THURSDAY_MORNING, "4", "email", "oncall", id="holiday-thursday-to-oncall"),
])
async def test_the_2026_calendar_decides_between_desk_and_oncall(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, sipp: Sipp,
    clock: str, key: str, category: str, route: str,
) -> None:
    desk = sipp.start("uas_answer.xml", service="desk", timeout_s=60)
    desk_uri = f"sip:desk@127.0.0.1:{desk.port}"
    # No outbound proxy: the engineers' mobiles cannot be dialled, so they are on record as
    # skipped; the desk phone is a SIP URI and can be.
    server = serve(tmp_path, free_ports, ServerOptions(clock=clock, desk=(desk_uri,)))
    try:
        server.start()
        await dial_and_press(caller, server, key)
        if route == "desk":
            await sipp_logged(desk, "ANSWERED", 15)
            await asyncio.sleep(0.5)
        else:
            await attempts_recorded(server, 3)
        await asyncio.to_thread(caller.hangup)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
    attempts = call["attempts"]
    assert call["menu"][0] == {"node": "menu", "digit": key, "choice": category}, call["menu"]
    assert server.issue_of(call["id"])["category"] == category
    assert attempts[0]["route"] == route, attempts
    if route == "desk":
        assert [(a["route"], a["target"], a["outcome"]) for a in call["attempts"]] == [
            ("desk", desk_uri, "answered")], call["attempts"]
        assert (call["disposition"], call["answered_by"]) == ("answered", desk_uri), call
        assert len(desk.stop().lines("BYE")) == 1  # the caller hung up: hotline ended the desk leg
    else:
        assert attempts_of(call) == [
            ("oncall", ENGINEERS[0], "primary", "skipped"),
            ("oncall", ENGINEERS[1], "secondary", "skipped"),
            ("oncall", MANAGER, "manager", "skipped"),
        ], call["attempts"]
        assert all("sip.outbound.proxy" in a["note"] for a in call["attempts"]), call["attempts"]
        assert call["answered_by"] is None
    assert "Traceback" not in server.log()


# -- 5. a missed call ---------------------------------------------------------------------------
#
# disposition_of (controller.py): nobody answered and no voicemail was left is "missed" when the
# flow ended the call itself (the caller said nothing after the beep: the recording stops at the
# silence cut-off, holds nothing and is thrown away, the goodbye plays and hotline hangs up), and
# "abandoned" when the caller hung up (here during the voicemail prompt, before the beep). Both
# flag the issue for a call back and queue a "missed_call" notice -- "abandoned" only because the
# call was routed to people first (outcome.routed) -- so both variants are kept.


@pytest.mark.parametrize("variant", ["silent-after-beep", "hangs-up-before-beep"])
async def test_a_missed_call_is_flagged_for_a_call_back(
    tmp_path: Path, free_ports: PortAllocator, variant: str,
) -> None:
    silent = variant == "silent-after-beep"
    caller = start_caller(tmp_path, free_ports, silent=silent)
    hook = f"http://127.0.0.1:{free_ports.one()}/hook"
    # No outbound proxy: nobody of the chain can be reached (skipped).
    server = serve(tmp_path, free_ports, ServerOptions(clock=HOLIDAY_NIGHT, notify_url=hook))
    try:
        server.start()
        await dial_and_press(caller, server, "2")
        await attempts_recorded(server, 3)
        if silent:
            # prompt, beep, 5 s of silence, goodbye: hotline hangs up.
            await caller.ctrl.wait_event_async("CALL_CLOSED", prompt_seconds("voicemail_intro") + 15)
        else:
            await asyncio.sleep(1.5)  # the voicemail prompt is playing
            await asyncio.to_thread(caller.hangup)
        (call,) = server.ended_calls(1)
    finally:
        server.stop()
        stop_quietly(caller)
    expected = "missed" if silent else "abandoned"
    assert [a["outcome"] for a in call["attempts"]] == ["skipped"] * 3, call["attempts"]
    assert (call["disposition"], call["answered_by"], call["voicemail"]) == (expected, None, None), call
    assert not list(server.recordings.glob("voicemail-*.wav")), list(server.recordings.iterdir())
    if silent:
        assert "voicemail empty (silence" in server.log()
    issue = server.issue_of(call["id"])
    assert issue["call_back"] == 1, issue
    rows = outbox(server, issue["id"])
    assert {r["event"] for r in rows} == {"missed_call"}, rows
    assert sorted(r["recipient"] for r in rows) == sorted({*CHAIN, *operators(server)}), rows
    assert {json.loads(r["payload"])["disposition"] for r in rows} == {expected}, rows
    assert "Traceback" not in server.log()


# -- the record while a bridged call lasts ---------------------------------------------------------


async def test_the_record_shows_who_answered_while_the_call_is_bridged(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, sipp: Sipp,
) -> None:
    desk = sipp.start("uas_answer.xml", service="desk", timeout_s=60)
    desk_uri = f"sip:desk@127.0.0.1:{desk.port}"
    server = serve(tmp_path, free_ports, ServerOptions(clock=MAKE_UP_SATURDAY_MORNING, desk=(desk_uri,)))
    try:
        server.start()
        await dial_and_press(caller, server, "1")
        await sipp_logged(desk, "ANSWERED", 15)
        await asyncio.sleep(1.5)  # bridged: the console and the record should know by now
        (during,) = await asyncio.to_thread(server.calls)
        await asyncio.to_thread(caller.hangup)
        server.ended_calls(1)
    finally:
        server.stop()
    assert (during["answered_by"], during["route"]) == (desk_uri, "desk"), during
    assert [(a["route"], a["outcome"]) for a in during["attempts"]] == [("desk", "answered")], during
