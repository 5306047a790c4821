"""Reading audio files for prompts: WAV in, 8 kHz mono 16-bit PCM out.

Accepted, so that whatever an operator records or synthesises just works:
- 16-bit PCM, mono or stereo (mixed down), at any rate from 8 to 48 kHz
  (resampled to 8 kHz with `audioop.ratecv`, which interpolates linearly and
  does not low-pass first: fine for speech recorded at 16 kHz, audible
  aliasing on music at 44.1 kHz, so music on hold is better made at 8 kHz);
- 8-bit µ-law or A-law (WAV formats 7 and 6), 8 kHz mono, as telephony tools
  write them.
Anything else raises `PromptError`, which names the file and says what to do.

PCM goes through the standard `wave` module; G.711 WAVs, which `wave`
refuses, through a tiny RIFF chunk reader.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from hotline.media.codecs import PCMA, PCMU, SAMPLE_RATE, SAMPLE_WIDTH, audioop

WAVE_PCM = 1
WAVE_ALAW = 6
WAVE_MULAW = 7
WAVE_EXTENSIBLE = 0xFFFE

MIN_RATE = 8000
MAX_RATE = 48000


class PromptError(ValueError):
    """An audio file we cannot play: the operator's to fix (wrong format, missing file)."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio: 8 kHz mono 16-bit PCM."""

    pcm: bytes
    source: str
    """Where it came from (a path), for messages."""

    @property
    def samples(self) -> int:
        """Number of samples."""
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class _Format:
    tag: int
    channels: int
    rate: int
    bits: int


def _chunks(data: bytes, path: Path) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PromptError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        chunks.setdefault(cid, body)
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    if b"fmt " not in chunks or b"data" not in chunks:
        raise PromptError(f"{path}: WAV file without a fmt or data chunk")
    return chunks


def _format(fmt: bytes, path: Path) -> _Format:
    if len(fmt) < 16:
        raise PromptError(f"{path}: WAV fmt chunk too short")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == WAVE_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    return _Format(tag, channels, rate, bits)


def _resample(pcm: bytes, rate: int) -> bytes:
    if rate == SAMPLE_RATE:
        return pcm
    converted, _ = audioop.ratecv(pcm, SAMPLE_WIDTH, 1, rate, SAMPLE_RATE, None)
    return converted


def load_wav(path: str | Path) -> Audio:
    """Read a WAV file as 8 kHz mono 16-bit PCM; raises `PromptError` if it cannot be used."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"{path}: cannot read ({exc.strerror})") from exc
    fmt = _format(_chunks(data, path)[b"fmt "], path)
    if fmt.tag in (WAVE_MULAW, WAVE_ALAW):
        if fmt.channels != 1 or fmt.rate != SAMPLE_RATE or fmt.bits != 8:
            raise PromptError(
                f"{path}: G.711 WAV must be 8 kHz mono 8-bit, not {fmt.rate} Hz "
                f"{fmt.channels} channel(s) {fmt.bits}-bit"
            )
        codec = PCMU if fmt.tag == WAVE_MULAW else PCMA
        return Audio(codec.decode(_chunks(data, path)[b"data"]), str(path))
    if fmt.tag != WAVE_PCM:
        raise PromptError(
            f"{path}: WAV format {fmt.tag} is not supported; use 16-bit PCM or G.711"
        )
    if fmt.bits != 16:
        raise PromptError(f"{path}: {fmt.bits}-bit PCM is not supported; convert to 16-bit")
    if fmt.channels not in (1, 2):
        raise PromptError(f"{path}: {fmt.channels} channels; use mono (or stereo)")
    if not MIN_RATE <= fmt.rate <= MAX_RATE:
        raise PromptError(f"{path}: sample rate {fmt.rate} Hz outside 8–48 kHz")
    try:
        with wave.open(str(path), "rb") as w:
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise PromptError(f"{path}: broken WAV file ({exc})") from exc
    if fmt.channels == 2:
        pcm = audioop.tomono(pcm, SAMPLE_WIDTH, 0.5, 0.5)
    return Audio(_resample(pcm, fmt.rate), str(path))


def write_wav(path: str | Path, pcm: bytes, *, channels: int = 1, rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM (interleaved if stereo) as a WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm)
