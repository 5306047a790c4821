"""Call-progress tones (Chinese national values, GB 3380-1982), frame by frame.

All the tones are 450 Hz at −10 dBm0 and differ only in cadence:

    dial tone    continuous
    ringback     1.0 s on, 4.0 s off   (回铃音, what a caller hears while we forward)
    busy         0.35 s on, 0.35 s off (忙音)
    congestion   0.7 s on, 0.7 s off   (拥塞音)
    vacant       3 × (0.1 on, 0.1 off), 0.4 on, 0.4 off (空号音)

One whole cadence cycle is rendered once per (tone, codec) and cached, and
a generator only keeps a sample position into it, so frames of any ptime
cut the cadence exactly, the sine's phase is continuous across frames, and a
thousand callers hearing ringback cost one 40 kB table. For a continuous
tone the cycle is the shortest length holding a whole number of periods
(160 samples for 450 Hz at 8 kHz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from hotline.media.codecs import SAMPLE_RATE, SAMPLE_WIDTH, Codec, pcm_from_samples

# −10 dBm0: G.711's full-scale sine is +3.17 dBm0, so −13.17 dBFS.
TONE_LEVEL_DBM0 = -10.0
_FULL_SCALE_DBM0 = 3.17


@dataclass(frozen=True, slots=True)
class ToneSpec:
    """A tone: frequencies played together, and an on/off cadence in milliseconds."""

    name: str
    frequencies: tuple[float, ...]
    cadence: tuple[tuple[int, int], ...] = ()
    """(on_ms, off_ms) pairs repeated in order; empty for a continuous tone."""
    level_dbm0: float = TONE_LEVEL_DBM0

    @property
    def cycle_ms(self) -> int:
        """Length of one cadence cycle (0 if continuous)."""
        return sum(on + off for on, off in self.cadence)


DIAL = ToneSpec("dial", (450.0,))
RINGBACK = ToneSpec("ringback", (450.0,), ((1000, 4000),))
BUSY = ToneSpec("busy", (450.0,), ((350, 350),))
CONGESTION = ToneSpec("congestion", (450.0,), ((700, 700),))
VACANT = ToneSpec("vacant", (450.0,), ((100, 100), (100, 100), (100, 100), (400, 400)))

TONES: dict[str, ToneSpec] = {t.name: t for t in (DIAL, RINGBACK, BUSY, CONGESTION, VACANT)}


def _continuous_cycle(frequencies: tuple[float, ...], rate: int) -> int:
    """Shortest sample count holding a whole number of periods of every frequency (≤ 1 s)."""
    for n in range(1, rate + 1):
        if all(abs(f * n / rate - round(f * n / rate)) < 1e-9 for f in frequencies):
            return n
    return rate


@lru_cache(maxsize=64)
def render_cycle(spec: ToneSpec, sample_rate: int = SAMPLE_RATE) -> bytes:
    """One cadence cycle of the tone as 16-bit PCM."""
    amplitude = 32767 * 10 ** ((spec.level_dbm0 - _FULL_SCALE_DBM0) / 20)
    amplitude /= max(1, len(spec.frequencies))
    if spec.cadence:
        length = sample_rate * spec.cycle_ms // 1000
        on = bytearray(length)  # 1 where the tone sounds
        pos = 0
        for on_ms, off_ms in spec.cadence:
            n_on = sample_rate * on_ms // 1000
            on[pos : pos + n_on] = b"\x01" * n_on
            pos += n_on + sample_rate * off_ms // 1000
    else:
        length = _continuous_cycle(spec.frequencies, sample_rate)
        on = bytearray(b"\x01" * length)
    w = [2 * math.pi * f / sample_rate for f in spec.frequencies]
    # The phase runs on from the start of the cycle through the off parts, so
    # each burst starts wherever the continuous sine is: no click per burst
    # beyond the on/off edge itself.
    return pcm_from_samples(
        [amplitude * sum(math.sin(wi * i) for wi in w) if on[i] else 0 for i in range(length)]
    )


@lru_cache(maxsize=64)
def encoded_cycle(spec: ToneSpec, codec: Codec) -> bytes:
    """One cadence cycle encoded with `codec` (G.711 is per sample, so slices stay valid)."""
    return codec.encode(render_cycle(spec, codec.clock_rate))


class ToneGenerator:
    """Frames of a tone, `samples_per_packet` at a time, with exact cadence."""

    def __init__(self, spec: ToneSpec, *, samples_per_packet: int = 160) -> None:
        self.spec = spec
        self.samples_per_packet = samples_per_packet
        self.position = 0
        """Samples produced so far."""

    def _slice(self, cycle: bytes, width: int) -> bytes:
        n = len(cycle) // width
        start = self.position % n
        need = self.samples_per_packet
        out = b""
        while need:
            take = min(need, n - start)
            out += cycle[start * width : (start + take) * width]
            need -= take
            start = 0
        self.position += self.samples_per_packet
        return out

    def next_pcm(self) -> bytes:
        """The next frame as 16-bit PCM."""
        return self._slice(render_cycle(self.spec), SAMPLE_WIDTH)

    def next_payload(self, codec: Codec) -> bytes:
        """The next frame encoded with `codec`."""
        return self._slice(encoded_cycle(self.spec, codec), 1)
