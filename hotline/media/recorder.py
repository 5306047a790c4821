"""Recording one leg (voicemail) or both legs of a call, as 8 kHz 16-bit PCM for a WAV file.

Theory of operation. Each leg's packets are placed on a common sample
timeline: a leg's first packet is anchored at its arrival time since the
recording started, and later packets at their RTP timestamp relative to that
first one. Lost packets thus leave silence of the right length, reordered
packets land in their place, and the two legs of a forwarded call stay in
step. Audio is held back `latency` seconds (to let late packets in) and then
committed: `pull(now)` returns the committed frames — a mono mix, or
interleaved left/right for two-channel recordings — for the adapter to
append to the file. `finish()` returns the rest.

A recording stops itself at `max_seconds`, or, for voicemail, when a
`SilenceDetector` has heard only silence for its `seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.media.codecs import SAMPLE_RATE, SAMPLE_WIDTH, audioop
from hotline.media.rtp import ts_diff


class SilenceDetector:
    """Says when audio has stayed below an energy threshold for long enough."""

    def __init__(
        self,
        *,
        seconds: float = 5.0,
        threshold_rms: int = 200,
        window_ms: int = 100,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.threshold_rms = threshold_rms
        self.window = sample_rate * window_ms // 1000
        self.needed = int(seconds * sample_rate)
        self.silent_samples = 0
        self._pending = b""

    def feed(self, pcm: bytes) -> bool:
        """Feed mono PCM; True once the trailing silence reaches the configured length."""
        self._pending += pcm
        step = self.window * SAMPLE_WIDTH
        while len(self._pending) >= step:
            chunk, self._pending = self._pending[:step], self._pending[step:]
            if audioop.rms(chunk, SAMPLE_WIDTH) < self.threshold_rms:
                self.silent_samples += self.window
            else:
                self.silent_samples = 0
        return self.silent_samples >= self.needed


@dataclass(slots=True)
class _Leg:
    first_ts: int | None = None
    offset: int = 0
    buffer: bytearray = field(default_factory=bytearray)
    packets: int = 0


class Recorder:
    """Assembles a recording from packets of one or two legs."""

    def __init__(
        self,
        start: float,
        *,
        legs: int = 1,
        stereo: bool = False,
        max_seconds: float | None = None,
        end_on_silence: SilenceDetector | None = None,
        latency: float = 0.2,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if legs not in (1, 2):
            raise ValueError("a recording has one or two legs")
        if stereo and legs != 2:
            raise ValueError("a two-channel recording needs two legs")
        self.start = start
        self.stereo = stereo
        self.channels = 2 if stereo else 1
        self.sample_rate = sample_rate
        self.max_samples = None if max_seconds is None else int(max_seconds * sample_rate)
        self.silence = end_on_silence
        self.latency = latency
        self.committed = 0
        """Samples (per channel) handed out so far."""
        self.stopped: str | None = None
        """Why the recording stopped: "max_duration", "silence" or "finished"."""
        self.late_dropped = 0
        self.resyncs = 0
        self._legs = [_Leg() for _ in range(legs)]

    @property
    def duration(self) -> float:
        """Seconds committed so far."""
        return self.committed / self.sample_rate

    def add(self, leg: int, timestamp: int, pcm: bytes, now: float) -> None:
        """A decoded packet of `leg` (0 or 1) with its RTP timestamp, arrived at `now`."""
        if self.stopped:
            return
        state = self._legs[leg]
        expected = round((now - self.start) * self.sample_rate)
        if state.first_ts is None:
            state.first_ts, state.offset = timestamp, expected
        pos = state.offset + ts_diff(timestamp, state.first_ts)
        if abs(pos - expected) > self.sample_rate:
            # The source jumped (a new SSRC after a re-INVITE, a restart):
            # re-anchor on arrival time rather than leave a long hole.
            state.first_ts, state.offset, pos = timestamp, expected, expected
            self.resyncs += 1
        state.packets += 1
        rel = (pos - self.committed) * SAMPLE_WIDTH
        if rel < 0:
            if rel + len(pcm) <= 0:
                self.late_dropped += 1
                return
            pcm, rel = pcm[-rel:], 0
        buf = state.buffer
        if len(buf) < rel + len(pcm):
            buf.extend(bytes(rel + len(pcm) - len(buf)))
        buf[rel : rel + len(pcm)] = pcm

    def _take(self, n: int) -> bytes:
        if self.max_samples is not None:
            n = min(n, self.max_samples - self.committed)
        if n <= 0:
            return b""
        size = n * SAMPLE_WIDTH
        parts = []
        for state in self._legs:
            part = bytes(state.buffer[:size])
            del state.buffer[:size]
            parts.append(part + bytes(size - len(part)))
        mono = parts[0] if len(parts) == 1 else audioop.add(parts[0], parts[1], SAMPLE_WIDTH)
        if self.stereo:
            out = audioop.add(
                audioop.tostereo(parts[0], SAMPLE_WIDTH, 1, 0),
                audioop.tostereo(parts[1], SAMPLE_WIDTH, 0, 1),
                SAMPLE_WIDTH,
            )
        else:
            out = mono
        self.committed += n
        if self.max_samples is not None and self.committed >= self.max_samples:
            self.stopped = "max_duration"
        if self.silence is not None and self.silence.feed(mono) and not self.stopped:
            self.stopped = "silence"
        return out

    def pull(self, now: float) -> bytes:
        """Frames committed by `now` (16-bit PCM, interleaved if two-channel)."""
        if self.stopped:
            return b""
        # The epsilon keeps float rounding (0.04 s → 319.999… samples) from losing a sample.
        horizon = int((now - self.start - self.latency) * self.sample_rate + 1e-6)
        return self._take(horizon - self.committed)

    def finish(self) -> bytes:
        """Everything still held, and stop."""
        out = b""
        if not self.stopped:
            n = max(len(leg.buffer) for leg in self._legs) // SAMPLE_WIDTH
            out = self._take(n)
        self.stopped = self.stopped or "finished"
        return out
