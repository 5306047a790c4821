"""Prompts: audio files cut into ready-to-send RTP payloads, cached.

A `Prompt` is decoded and encoded once, at load, for one codec and packet
time: a tuple of payloads, the last one padded with silence. Playing it is
then indexing a tuple, which is what lets one process play to a thousand
callers.

`PromptCache` keys prompts by (path, modification time, codec, ptime), so an
operator replacing a file is picked up at the next load without a restart;
loading reads the file, so the asyncio side calls it ahead of time or off the
event loop.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.media.codecs import SAMPLE_WIDTH, Codec, samples_per_packet
from hotline.media.wav import Audio, PromptError, load_wav

__all__ = ["Prompt", "PromptCache", "PromptError"]


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt encoded for one codec, as a tuple of packet payloads."""

    name: str
    codec: Codec
    samples_per_packet: int
    frames: tuple[bytes, ...]
    source_samples: int
    """Samples in the decoded audio (the last frame's padding not counted)."""

    @classmethod
    def from_audio(cls, audio: Audio, codec: Codec, ptime_ms: int = 20) -> Prompt:
        """Cut decoded audio into `ptime_ms` payloads of `codec`."""
        spp = samples_per_packet(ptime_ms, codec.clock_rate)
        encoded = codec.encode(audio.pcm)
        pad = -len(encoded) % spp
        encoded += codec.silence(pad)
        frames = tuple(encoded[i : i + spp] for i in range(0, len(encoded), spp))
        return cls(Path(audio.source).name, codec, spp, frames, len(audio.pcm) // SAMPLE_WIDTH)

    @classmethod
    def load(cls, path: str | Path, codec: Codec, ptime_ms: int = 20) -> Prompt:
        """Read a WAV file and encode it (raises `PromptError`)."""
        return cls.from_audio(load_wav(path), codec, ptime_ms)

    @property
    def duration(self) -> float:
        """Playing time in seconds (whole frames)."""
        return len(self.frames) * self.samples_per_packet / self.codec.clock_rate

    def __repr__(self) -> str:
        return f"<Prompt {self.name} {self.codec.name} {len(self.frames)} frames>"


class PromptCache:
    """Loaded prompts by (path, mtime, codec, ptime), least recently used dropped first."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._prompts: OrderedDict[tuple[str, int, str, int], Prompt] = OrderedDict()
        self._audio: OrderedDict[tuple[str, int], Audio] = OrderedDict()
        self.loads = 0
        """Files read and decoded (cache misses on the audio)."""

    def get(self, path: str | Path, codec: Codec, ptime_ms: int = 20) -> Prompt:
        """The prompt for this file, codec and ptime, loading it if needed."""
        resolved = str(Path(path).resolve())
        try:
            mtime = os.stat(resolved).st_mtime_ns
        except OSError as exc:
            raise PromptError(f"{path}: cannot read ({exc.strerror})") from exc
        key = (resolved, mtime, codec.name, ptime_ms)
        prompt = self._prompts.get(key)
        if prompt is not None:
            self._prompts.move_to_end(key)
            return prompt
        audio = self._audio.get((resolved, mtime))
        if audio is None:
            audio = load_wav(resolved)
            self.loads += 1
            self._audio[(resolved, mtime)] = audio
            self._trim(self._audio)
        prompt = Prompt.from_audio(audio, codec, ptime_ms)
        self._prompts[key] = prompt
        self._trim(self._prompts)
        return prompt

    def _trim(self, table: OrderedDict[Any, Any]) -> None:
        while len(table) > self.max_entries:
            table.popitem(last=False)

    def __len__(self) -> int:
        return len(self._prompts)
