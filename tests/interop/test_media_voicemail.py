"""Voicemail from a baresip caller: prompt, beep, then its leg recorded to a WAV named by the call.

baresip plays a 700 Hz tone for a few seconds, then silence (its source WAV
is padded). hotline answers, opens the call and issue rows, and records with
``record_voicemail``: the recording stops on silence, at the maximum length,
or when the caller hangs up; the path goes on the call record.
"""

from __future__ import annotations

import asyncio
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.issues import IssueService
from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.prompt import Prompt
from hotline.media.stream import RtpStream
from hotline.media.voicemail import VoicemailResult, record_voicemail, recording_path
from hotline.sip.call import IncomingCall
from hotline.store import Store
from hotline.store.records import NewCall
from tests.interop.conftest import need
from tests.interop.endpoint_helpers import desk_config, sip_settings
from tests.interop.media_helpers import (
    MediaDesk,
    start_baresip_with_codecs,
    stop_quietly,
    tone_runs,
    tone_wav,
    wait_until,
)
from tests.interop.peers import PortAllocator

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

PROMPTS = Path(__file__).resolve().parents[2] / "hotline" / "media" / "prompts"
TONE_HZ = 700.0


def short_prompt() -> Prompt:
    """The first second of the shipped voicemail prompt (the test need not hear all ten)."""
    full = Prompt.load(PROMPTS / "voicemail.wav", PCMU)
    return Prompt("voicemail-1s", PCMU, 160, full.frames[:50], 50 * 160)


@pytest.mark.parametrize(
    ("tone_s", "max_s", "caller_hangs_up_after", "reason"),
    [(3.5, 10.0, None, "silence"), (12.0, 2.0, None, "max_duration"), (12.0, 10.0, 3.0, "hangup")],
    ids=["ends-on-silence", "max-duration", "caller-hangs-up"],
)
async def test_voicemail_is_recorded_and_referenced_from_the_call(
    tmp_path: Path, free_ports: PortAllocator, store: Store,
    tone_s: float, max_s: float, caller_hangs_up_after: float | None, reason: str,
) -> None:
    need("baresip")
    caller = start_baresip_with_codecs(
        tmp_path / "caller", free_ports, user="+4930111000099", auto_answer=False,
        audio_source=tone_wav(tmp_path / "tone.wav", TONE_HZ, tone_s), audio_seconds=20.0)
    base = free_ports.block(10)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 9)
    config = desk_config()
    issues = IssueService(store, config.site.timezone)
    folder = tmp_path / "recordings"
    results: list[tuple[int, VoicemailResult, float]] = []

    async def voicemail(call: IncomingCall, stream: RtpStream) -> None:
        record, _ = await issues.create_issue_for_call(
            NewCall(call.call_id, datetime.now(UTC), from_uri=call.from_uri))
        answered = engine.now()
        result = await record_voicemail(
            engine, stream, recording_path(folder, record.id), prompt=short_prompt(),
            max_seconds=max_s, silence_seconds=1.5, hangup=call.wait_ended())
        await store.calls.update(record.id, recording=str(result.path))
        results.append((record.id, result, engine.now() - answered))

    desk = MediaDesk(sip_settings(0), engine, voicemail)
    try:
        async with desk:
            await asyncio.to_thread(caller.dial, desk.uri)
            await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
            if caller_hangs_up_after is not None:
                await asyncio.sleep(caller_hangs_up_after)
                await asyncio.to_thread(caller.hangup)
            await wait_until(lambda: bool(results), 15, "voicemail result")
            await asyncio.wait_for(desk.handled.wait(), 5)
        assert not desk.errors, desk.errors
    finally:
        stop_quietly(caller)
    (call_id, result, took), = results
    assert result.reason == reason
    assert result.path == folder / f"voicemail-{call_id}.wav" and result.path.exists()
    record = await store.calls.get(call_id)
    assert record is not None and record.recording == str(result.path)
    with wave.open(str(result.path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        pcm = w.readframes(w.getnframes())
    seconds = len(pcm) / 16000
    assert seconds == pytest.approx(result.seconds, abs=0.001)
    # Recording starts after the 1 s prompt, 0.2 s pause and 0.4 s beep.
    heard = sum(b - a for a, b in tone_runs(pcm, TONE_HZ))
    if reason == "silence":
        # The tone's last ~1.9 s, then 1.5 s of silence ended it.
        assert 1.4 <= heard <= 2.3, tone_runs(pcm, TONE_HZ)
        assert seconds == pytest.approx(heard + 1.5, abs=0.35)
    elif reason == "max_duration":
        assert seconds == 2.0 and heard >= 1.7
    else:
        # Hung up 3 s after baresip saw the answer; recording began ~1.6 s after ours.
        assert 0.8 <= seconds <= 2.2 and heard >= seconds - 0.5
    assert took < seconds + 3.0  # it ended when it should have, not at some later timeout


def test_recording_path_is_safe_for_any_call_key(tmp_path: Path) -> None:
    assert recording_path(tmp_path, 42) == tmp_path / "voicemail-42.wav"
    assert recording_path(tmp_path, "a1b2@10.0.0.1", kind="call") == tmp_path / "call-a1b2_10.0.0.1.wav"
    assert recording_path(tmp_path, "../../etc/passwd").parent == tmp_path
    with pytest.raises(ValueError):
        recording_path(tmp_path, "///")
