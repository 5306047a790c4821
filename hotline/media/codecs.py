"""G.711 codecs (PCMU, PCMA), linear PCM helpers and packet timing.

Linear PCM throughout the media layer is 16-bit signed, mono, in the
machine's byte order (little-endian on every platform we run on, which is
also WAV's order), at 8 kHz.

The G.711 work is done by the `audioop` module: in the standard library up to
Python 3.12, provided under the same name by the `audioop-lts` package from
3.13 on. PCMU↔PCMA transcoding is a 256-entry byte table, built once, so a
bridge converts a packet with one `bytes.translate`.
"""

from __future__ import annotations

import array
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

with warnings.catch_warnings():
    # 3.11/3.12 warn that audioop will leave the standard library; audioop-lts replaces it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
MIN_PTIME = 10
MAX_PTIME = 60
DEFAULT_PTIME = 20


class UnsupportedCodec(ValueError):
    """A codec name or payload type we do not speak (a negotiation bug, or the far end's offer)."""


@dataclass(frozen=True, slots=True)
class Codec:
    """An audio codec as SDP names it."""

    name: str
    """The encoding name in `a=rtpmap` (PCMU, PCMA)."""
    payload_type: int
    """The static RTP payload type (RFC 3551)."""
    clock_rate: int = SAMPLE_RATE
    silence_byte: int = 0xFF
    """The code of a zero sample, for silence packets."""

    def encode(self, pcm: bytes) -> bytes:
        """Linear 16-bit PCM to this codec (one byte per sample)."""
        if self.name == "PCMU":
            return audioop.lin2ulaw(pcm, SAMPLE_WIDTH)
        return audioop.lin2alaw(pcm, SAMPLE_WIDTH)

    def decode(self, payload: bytes) -> bytes:
        """This codec to linear 16-bit PCM."""
        if self.name == "PCMU":
            return audioop.ulaw2lin(payload, SAMPLE_WIDTH)
        return audioop.alaw2lin(payload, SAMPLE_WIDTH)

    def silence(self, samples: int) -> bytes:
        """A payload of `samples` samples of silence."""
        return bytes([self.silence_byte]) * samples

    def __repr__(self) -> str:
        return f"<Codec {self.name}/{self.clock_rate} pt={self.payload_type}>"


PCMU = Codec("PCMU", 0, silence_byte=0xFF)
PCMA = Codec("PCMA", 8, silence_byte=0xD5)

CODECS: dict[str, Codec] = {"PCMU": PCMU, "PCMA": PCMA}


def codec_named(name: str) -> Codec:
    """The codec for an SDP encoding name (case-insensitive)."""
    try:
        return CODECS[name.upper()]
    except KeyError:
        raise UnsupportedCodec(f"codec {name!r} is not supported (only PCMU, PCMA)") from None


def codec_for_payload_type(pt: int) -> Codec:
    """The codec for a static payload type."""
    for codec in CODECS.values():
        if codec.payload_type == pt:
            return codec
    raise UnsupportedCodec(f"payload type {pt} is not a supported codec")


def _table(src: Codec, dst: Codec) -> bytes:
    return dst.encode(src.decode(bytes(range(256))))


_TRANSCODE = {
    ("PCMU", "PCMA"): _table(PCMU, PCMA),
    ("PCMA", "PCMU"): _table(PCMA, PCMU),
}


def transcode(payload: bytes, src: Codec, dst: Codec) -> bytes:
    """A G.711 payload converted from one law to the other (unchanged if the same)."""
    if src.name == dst.name:
        return payload
    return payload.translate(_TRANSCODE[(src.name, dst.name)])


def samples_per_packet(ptime_ms: int, clock_rate: int = SAMPLE_RATE) -> int:
    """Samples in a packet of `ptime_ms` milliseconds (10–60 ms)."""
    if not MIN_PTIME <= ptime_ms <= MAX_PTIME:
        raise ValueError(f"ptime {ptime_ms} ms outside {MIN_PTIME}–{MAX_PTIME} ms")
    return clock_rate * ptime_ms // 1000


def pcm_from_samples(samples: Iterable[float]) -> bytes:
    """16-bit PCM bytes from a sequence of integer samples (clipped to 16 bits)."""
    return array.array("h", (max(-32768, min(32767, round(s))) for s in samples)).tobytes()


def samples_from_pcm(pcm: bytes) -> array.array[int]:
    """The integer samples of 16-bit PCM bytes."""
    out = array.array("h")
    out.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    return out


def silence_pcm(samples: int) -> bytes:
    """`samples` samples of linear silence."""
    return bytes(SAMPLE_WIDTH * samples)


def rms(pcm: bytes) -> int:
    """Root-mean-square level of 16-bit PCM (0–32767)."""
    return audioop.rms(pcm, SAMPLE_WIDTH) if pcm else 0


def dbfs(pcm: bytes) -> float:
    """Level of 16-bit PCM in dB relative to a full-scale sine (−inf for silence)."""
    level = rms(pcm)
    if level == 0:
        return -math.inf
    return 20.0 * math.log10(level * math.sqrt(2) / 32767.0)


def mix(a: bytes, b: bytes) -> bytes:
    """Two 16-bit PCM fragments added with saturation (the shorter padded with silence)."""
    if len(a) < len(b):
        a += bytes(len(b) - len(a))
    elif len(b) < len(a):
        b += bytes(len(a) - len(b))
    return audioop.add(a, b, SAMPLE_WIDTH)
