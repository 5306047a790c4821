"""Voicemail: a caller's message recorded to a WAV file named after the call.

The sequence is the usual one: the voicemail prompt (optional), a short
beep, then the caller's leg is recorded until one of

- ``max_seconds`` of audio (``"max_duration"``),
- ``silence_seconds`` of nothing but silence (``"silence"``; a caller who
  says nothing, or whose RTP stopped, ends up here too, since missing audio
  is recorded as silence),
- the caller hanging up or the call layer stopping it (``"hangup"``).

Files go into the configured recordings folder as ``voicemail-<call>.wav``
(``<call>`` is the call record's id, or any key the call layer gives,
reduced to characters that are safe in a file name), 8 kHz mono 16-bit. The
call layer stores the returned path on the call record; nothing here knows
about the store.

Everything runs on the media engine's clock; this module only sequences it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from hotline.media.engine import MediaEngine
from hotline.media.player import PromptItem, SilenceItem, ToneItem
from hotline.media.prompt import Prompt
from hotline.media.recorder import SilenceDetector
from hotline.media.stream import RtpStream
from hotline.media.tones import ToneSpec

BEEP = ToneSpec("beep", (1000.0,))
"""The tone that says "speak now" (1 kHz, continuous; played for `beep_ms`)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def recording_path(folder: str | Path, call: str | int, *, kind: str = "voicemail") -> Path:
    """``<folder>/<kind>-<call>.wav``, with `call` made safe for a file name.

    A SIP Call-ID may hold ``@``, ``/`` or worse; anything but letters,
    digits, ``.``, ``_`` and ``-`` becomes ``_`` and the key is cut to 80
    characters, so the name can neither leave the folder nor be hidden.
    """
    key = _UNSAFE.sub("_", str(call)).strip("._")[:80]
    if not key:
        raise ValueError(f"call key {call!r} gives an empty file name")
    return Path(folder) / f"{kind}-{key}.wav"


@dataclass(frozen=True, slots=True)
class VoicemailResult:
    """A finished voicemail recording."""

    path: Path
    """The WAV file written."""
    seconds: float
    """Length of the file's audio."""
    reason: str
    """Why it stopped: "max_duration", "silence" or "hangup"."""


async def record_voicemail(
    engine: MediaEngine,
    stream: RtpStream,
    path: str | Path,
    *,
    prompt: Prompt | None = None,
    beep_ms: int = 400,
    max_seconds: float = 120.0,
    silence_seconds: float = 5.0,
    silence_rms: int = 200,
    hangup: Awaitable[object] | None = None,
) -> VoicemailResult:
    """Play `prompt` and a beep on `stream`, then record what the caller says into `path`.

    `hangup` is something that completes when the caller hangs up (e.g.
    ``call.wait_ended()``); the recording then stops with what it has. The
    folder is created if missing. The stream stays open: the caller's leg
    belongs to the call layer.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    items: list[PromptItem | SilenceItem | ToneItem] = []
    if prompt is not None:
        # No barge-in: a caller pressing a key must not skip the beep.
        items.append(PromptItem(prompt, barge_in=False))
        items.append(SilenceItem(200, barge_in=False))
    items.append(ToneItem(BEEP, duration_ms=beep_ms))
    stream.play(items)
    gone = asyncio.ensure_future(hangup) if hangup is not None else None
    owned = gone is not None and gone is not hangup  # a task we made, ours to cancel
    try:
        if not await _first(stream.wait_played(), gone):
            return _hung_up_early(engine, stream, path)
        rec = engine.record(
            path,
            [stream],
            max_seconds=max_seconds,
            end_on_silence=SilenceDetector(seconds=silence_seconds, threshold_rms=silence_rms),
        )
        await _first(rec.done.wait(), gone)
        reason = rec.stop_reason or "hangup"
        rec.finish()
        return VoicemailResult(path, rec.recorder.duration,
                               "hangup" if reason == "finished" else reason)
    finally:
        if owned and gone is not None and not gone.done():
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


async def _first(main: Awaitable[object], gone: asyncio.Future[object] | None) -> bool:
    """Wait for `main` or `gone`; True if `main` finished first (or `gone` is None)."""
    task = asyncio.ensure_future(main)
    if gone is None:
        await task
        return True
    await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


def _hung_up_early(engine: MediaEngine, stream: RtpStream, path: Path) -> VoicemailResult:
    """The caller hung up before the beep ended: an empty file, so every voicemail has one."""
    stream.stop_playback()
    engine.record(path, [stream], max_seconds=0.0).finish()
    return VoicemailResult(path, 0.0, "hangup")
