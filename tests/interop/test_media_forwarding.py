"""A forwarded call between two baresips through hotline, audio checked in both directions.

baresip A (the caller) plays a 700 Hz tone, baresip B (the on-call engineer,
auto-answer) an 1100 Hz tone; both record what they hear with ``sndfile``.
hotline answers A, dials B with ``place_call`` and ``Forwarder`` bridges the
legs. Each side must hear the other's tone -- and, in the whisper test, B the
whisper first while A hears ringback.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from hotline.calls.forwarding import Forwarder, ForwardPlan, ForwardResult
from hotline.media.codecs import PCMU, audioop
from hotline.media.engine import MediaEngine
from hotline.media.prompt import Prompt
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
    wait_until,
)
from tests.interop.peers import Baresip, PortAllocator

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

CALLER_HZ, ONCALL_HZ, ANNOUNCE_HZ = 700.0, 1100.0, 1400.0


@pytest.fixture
def tones(tmp_path: Path) -> tuple[Path, Path]:
    return (tone_wav(tmp_path / "caller.wav", CALLER_HZ, 30.0),
            tone_wav(tmp_path / "oncall.wav", ONCALL_HZ, 30.0))


def pair(tmp_path: Path, free_ports: PortAllocator, tones: tuple[Path, Path], *,
         caller_codecs: str, oncall_codecs: str) -> tuple[Baresip, Baresip]:
    need("baresip")
    caller = start_baresip_with_codecs(tmp_path / "caller", free_ports, user="+4930111000099",
                                       codecs=caller_codecs, auto_answer=False,
                                       audio_source=tones[0])
    try:
        oncall = start_baresip_with_codecs(tmp_path / "oncall", free_ports, user="oncall",
                                           codecs=oncall_codecs, audio_source=tones[1])
    except BaseException:
        caller.stop()
        raise
    return caller, oncall


@pytest.fixture
def engine(free_ports: PortAllocator) -> MediaEngine:
    base = free_ports.block(40)
    return MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 39, quiet_period=0.5)


def heard(ua: Baresip) -> tuple[bytes, int]:
    """What a baresip received (its sndfile decoder-side recording)."""
    files = [p for p in ua.recordings() if "dec" in p.name]
    assert files, f"no decoder recording in {ua.recordings()}"
    return read_wav(files[0])


def hears(ua: Baresip, hz: float) -> list[tuple[float, float]]:
    pcm, rate = heard(ua)
    return tone_runs(pcm, hz, rate=rate)


def total(runs: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in runs)


@pytest.mark.parametrize(
    ("caller_codecs", "oncall_codecs", "transcoded"),
    [("PCMU", "PCMU", False), ("PCMA", "PCMU", True)],
    ids=["pcmu-pass-through", "pcma-to-pcmu"],
)
async def test_forwarded_call_carries_audio_and_digits_both_ways_and_is_recorded(
    tmp_path: Path, free_ports: PortAllocator, tones: tuple[Path, Path], engine: MediaEngine,
    caller_codecs: str, oncall_codecs: str, transcoded: bool,
) -> None:
    caller, oncall = pair(tmp_path, free_ports, tones, caller_codecs=caller_codecs,
                          oncall_codecs=oncall_codecs)
    announcement = tone_wav(tmp_path / "recorded.wav", ANNOUNCE_HZ, 0.6)
    recording = tmp_path / "recordings" / "call-1.wav"
    recording.parent.mkdir()
    results: list[ForwardResult] = []
    codecs: list[tuple[str, str]] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={oncall.uri}.__contains__,
                              media_address="127.0.0.1")
        plan = ForwardPlan(oncall.uri, caller_id="+4930111000099", ring_timeout=5,
                           announcement=announcement, record_to=recording)
        task = asyncio.ensure_future(forwarder.forward(call, stream, plan))
        await wait_until(lambda: stream.peer is not None or task.done(), 8, "bridge")
        if stream.peer is not None:
            codecs.append((stream.session.codec.name, stream.peer.session.codec.name))
        results.append(await task)

    desk = MediaDesk(sip_settings(0), engine, forward)
    try:
        async with desk:
            await asyncio.to_thread(caller.dial, desk.uri)
            await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await oncall.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await wait_until(lambda: bool(codecs), 8, "bridge")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(caller.send_dtmf, "1#")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(caller.hangup)
            await asyncio.wait_for(desk.handled.wait(), 10)
            await oncall.ctrl.wait_event_async("CALL_CLOSED", 5)
        assert not desk.errors, desk.errors
        digits = [e.get("param") for e in oncall.ctrl.events if e.get("type") == "CALL_DTMF_START"]
    finally:
        stop_quietly(caller, oncall)
    assert codecs == [(caller_codecs, oncall_codecs)]
    (result,) = results
    assert result.answered and result.ended_by == "caller", result
    assert result.bridged_seconds > 1.5 and result.recording == recording
    # RFC 4733 relayed (payload type mapped), each key once.
    assert digits == ["1", "#"]
    assert result.relay["from_caller"]["events"] >= 2
    moved = result.relay["from_caller"]["transcoded"] + result.relay["from_callee"]["transcoded"]
    assert (moved > 80) is transcoded and result.relay["from_callee"]["relayed"] > 80
    # Each side heard the other's tone for most of the bridge, and never its own.
    assert total(hears(caller, ONCALL_HZ)) > 1.5
    assert total(hears(oncall, CALLER_HZ)) > 1.5
    assert hears(caller, CALLER_HZ) == [] and hears(oncall, ONCALL_HZ) == []
    # Both heard the announcement, before the other party.
    for ua, other_hz in ((caller, ONCALL_HZ), (oncall, CALLER_HZ)):
        announced = hears(ua, ANNOUNCE_HZ)
        assert 0.4 <= total(announced) <= 0.8, announced
        assert announced[0][0] < hears(ua, other_hz)[0][0]
    # The recording: caller on the left, engineer on the right, bridge only.
    with wave.open(str(recording), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = w.readframes(w.getnframes())
    left, right = (audioop.tomono(frames, 2, 1, 0), audioop.tomono(frames, 2, 0, 1))
    assert abs(len(left) / 16000 - result.bridged_seconds) < 0.5
    assert total(tone_runs(left, CALLER_HZ)) > 1.5 and total(tone_runs(right, ONCALL_HZ)) > 1.5
    assert tone_runs(left, ONCALL_HZ) == [] and tone_runs(right, CALLER_HZ) == []


def whisper_wav(path: Path, seconds: float) -> Path:
    """The first `seconds` of the shipped greeting, as the whisper ("a caller for you...")."""
    source = Path(__file__).resolve().parents[2] / "hotline" / "media" / "prompts" / "greeting.wav"
    pcm, rate = read_wav(source)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm[: int(seconds * rate) * 2])
    return path


async def test_whisper_to_the_engineer_while_the_caller_hears_ringback(
    tmp_path: Path, free_ports: PortAllocator, tones: tuple[Path, Path], engine: MediaEngine,
) -> None:
    caller, oncall = pair(tmp_path, free_ports, tones, caller_codecs="PCMU,PCMA",
                          oncall_codecs="PCMU,PCMA")
    whisper = whisper_wav(tmp_path / "whisper.wav", 6.4)
    results: list[ForwardResult] = []

    async def forward(call: IncomingCall, stream: RtpStream) -> None:
        forwarder = Forwarder(desk.endpoint, engine, allowed={oncall.uri}.__contains__,
                              media_address="127.0.0.1")
        results.append(await forwarder.forward(
            call, stream, ForwardPlan(oncall.uri, caller_id="+4930111000099", whisper=whisper)))

    desk = MediaDesk(sip_settings(0), engine, forward)
    try:
        async with desk:
            await asyncio.to_thread(caller.dial, desk.uri)
            await oncall.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            await wait_until(lambda: any(s.peer is not None for s in engine.streams), 12, "bridge")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(oncall.hangup)  # this time the engineer hangs up
            await asyncio.wait_for(desk.handled.wait(), 10)
            await caller.ctrl.wait_event_async("CALL_CLOSED", 5)
        assert not desk.errors, desk.errors
    finally:
        stop_quietly(caller, oncall)
    (result,) = results
    assert result.answered and result.ended_by == "callee", result
    # The engineer heard the whisper, then the caller. Byte for byte: baresip's decoder
    # rounds some µ-law levels differently from ours, but re-encoding what it decoded
    # gives back exactly the payloads we sent.
    prompt = Prompt.load(whisper, PCMU)
    expected = b"".join(prompt.frames)
    got = PCMU.encode(heard(oncall)[0])
    # Frame by frame, in order, 0.5-4.5 s in: a jitter buffer may drop or repeat a frame
    # when the machine is busy, so 95 % of them must be there, each byte-exact.
    frames = [expected[i : i + 160] for i in range(4000, 36000, 160)]
    found, pos = [], 0
    for frame in frames:
        at = got.find(frame, pos)
        if at >= 0:
            found.append(at)
            pos = at + 160
    assert len(found) >= 0.95 * len(frames), f"{len(found)}/{len(frames)} whisper frames heard"
    whisper_at = found[0] / 8000 - 0.5
    middle = b"".join(frames[:5])
    tone = hears(oncall, CALLER_HZ)
    assert tone and tone[0][0] >= whisper_at + 6.0, (whisper_at, tone)
    # The caller heard ringback meanwhile -- 1 s of 450 Hz, 4 s off, again -- then the engineer,
    # and nothing of the whisper.
    pcm, _ = heard(caller)
    ring = tone_runs(pcm, 450.0)
    engineer = hears(caller, ONCALL_HZ)
    assert engineer and ring, (ring, engineer)
    before = [r for r in ring if r[1] <= engineer[0][0] + 0.05]
    assert len(before) == 2, ring
    (on1, off1), (on2, _) = before
    assert 0.85 <= off1 - on1 <= 1.15 and 3.85 <= on2 - off1 <= 4.15, ring
    assert middle not in PCMU.encode(pcm)
    loud = tone_runs(pcm[: int(engineer[0][0] * 16000)], 450.0, share=0.0)
    assert total(loud) <= total(before) + 0.2  # nothing else was audible before the bridge
