"""In-band DTMF detection on decoded 8 kHz linear PCM, for trunks that send tones in the audio.

Theory of operation. The audio is cut into blocks of 102 samples (12.75 ms).
For each block we measure the energy at the 8 DTMF frequencies (rows 697,
770, 852, 941 Hz; columns 1209, 1336, 1477, 1633 Hz) — the single-bin DFT a
Goertzel filter computes, evaluated here as two dot products with
precomputed cosine/sine tables so the inner loop runs in C. 102 samples puts
neighbouring rows near each other's spectral nulls.

A block "hears" a key when:
- the strongest row and column each stand out from the others of their group
  by `relative_peak` (8 dB);
- the twist between them is within limits (column up to 8 dB weaker, "normal
  twist", or up to 4 dB stronger, "reverse twist");
- the two tones carry most of the block's energy (`tone_fraction`), which is
  what rejects speech, music and noise;
- the signal is above a minimum level.

A key is accepted after `min_blocks` consecutive blocks agree (≥ 25 ms of
steady tone, so 40 ms key presses pass), ends after two blocks without it,
and a new key needs a pause first. Each key is reported once, when it ends,
with its duration.
"""

from __future__ import annotations

import math
import operator

from hotline.media.codecs import samples_from_pcm
from hotline.media.compact import CompactState
from hotline.media.events import DigitReceived, DigitSource

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")

BLOCK = 102


def _tables(freq: float, n: int, rate: int) -> tuple[list[float], list[float]]:
    w = 2.0 * math.pi * freq / rate
    return [math.cos(w * i) for i in range(n)], [math.sin(w * i) for i in range(n)]


class GoertzelDetector(CompactState):
    """Finds DTMF keys in 8 kHz 16-bit PCM fed in frames of any size."""

    def __init__(
        self,
        *,
        sample_rate: int = 8000,
        min_blocks: int = 2,
        end_blocks: int = 2,
        pause_blocks: int = 2,
        relative_peak_db: float = 8.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        tone_fraction: float = 0.6,
        min_level: float = 100.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.min_blocks = min_blocks
        self.end_blocks = end_blocks
        self.pause_blocks = pause_blocks
        self.relative_peak = 10 ** (relative_peak_db / 10)
        self.normal_twist = 10 ** (normal_twist_db / 10)
        self.reverse_twist = 10 ** (reverse_twist_db / 10)
        self.tone_fraction = tone_fraction
        # Minimum RMS of the block (16-bit scale) to consider it at all.
        self.min_energy = min_level * min_level * BLOCK
        self._tables = [_tables(f, BLOCK, sample_rate) for f in ROWS + COLS]
        self._buffer: list[int] = []
        self._last: str | None = None
        self._run = 0
        self._active: str | None = None
        self._active_blocks = 0
        self._gap = 0
        self._quiet = pause_blocks
        self._ready = True  # a first key needs no pause before it

    def _powers(self, block: list[int]) -> list[float]:
        out = []
        for cos_t, sin_t in self._tables:
            re = sum(map(operator.mul, block, cos_t))
            im = sum(map(operator.mul, block, sin_t))
            out.append(re * re + im * im)
        return out

    def classify(self, block: list[int]) -> str | None:
        """The key one block of `BLOCK` samples holds, if any."""
        energy = float(sum(map(operator.mul, block, block)))
        if energy < self.min_energy:
            return None
        p = self._powers(block)
        rows, cols = p[:4], p[4:]
        r = max(range(4), key=rows.__getitem__)
        c = max(range(4), key=cols.__getitem__)
        row_e, col_e = rows[r], cols[c]
        if row_e <= 0 or col_e <= 0:
            return None
        if col_e * self.normal_twist < row_e or row_e * self.reverse_twist < col_e:
            return None
        for i in range(4):
            if i != r and rows[i] * self.relative_peak > row_e:
                return None
            if i != c and cols[i] * self.relative_peak > col_e:
                return None
        # A pure sine of amplitude A gives |X|² = (A·N/2)² and energy A²·N/2, so
        # 2·|X|²/(N·energy) is the share of the block's energy in that tone.
        fraction = 2.0 * (row_e + col_e) / (len(block) * energy)
        if fraction < self.tone_fraction:
            return None
        return KEYS[r][c]

    def feed(self, pcm: bytes, now: float) -> list[DigitReceived]:
        """Feed decoded audio; the keys that ended in it."""
        self._buffer.extend(samples_from_pcm(pcm))
        out: list[DigitReceived] = []
        while len(self._buffer) >= BLOCK:
            block = self._buffer[:BLOCK]
            del self._buffer[:BLOCK]
            digit = self._step(self.classify(block), now)
            if digit is not None:
                out.append(digit)
        return out

    def _step(self, key: str | None, now: float) -> DigitReceived | None:
        if key == self._last:
            self._run += 1
        else:
            self._last, self._run = key, 1
        self._quiet = self._quiet + 1 if key is None else 0
        if self._active is None:
            if key is not None and self._run >= self.min_blocks and self._ready:
                self._active, self._active_blocks, self._gap = key, self._run, 0
                self._ready = False
            elif key is None and self._quiet >= self.pause_blocks:
                self._ready = True
            return None
        if key == self._active:
            self._active_blocks += 1 + self._gap  # a one-block dropout is part of the tone
            self._gap = 0
            return None
        self._gap += 1
        if self._gap < self.end_blocks:
            return None
        return self._end(now)

    def _end(self, now: float) -> DigitReceived:
        assert self._active is not None
        digit = DigitReceived(
            digit=self._active,
            duration_ms=round(self._active_blocks * BLOCK * 1000 / self.sample_rate),
            source=DigitSource.INBAND,
            at=now,
        )
        self._active = None
        self._ready = self._quiet >= self.pause_blocks
        return digit

    def flush(self, now: float) -> list[DigitReceived]:
        """End of the audio: report a key still held."""
        return [self._end(now)] if self._active is not None else []
