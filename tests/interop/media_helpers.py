"""Helpers for the media interop tests: hotline answering with the media engine, tones, energy checks.

* :class:`MediaDesk` -- hotline's SIP endpoint on 127.0.0.1 whose call handler
  answers every call with an :class:`RtpStream` of a real :class:`MediaEngine`
  and then runs the test's ``behaviour(call, stream)``.
* :func:`tone_wav` -- a WAV of a pure tone (what a baresip plays into a call).
* :func:`tone_share` / :func:`tone_runs` -- how much of a PCM stretch is one
  frequency (a Goertzel filter), and where a tone sounds over time.
* :func:`start_baresip_with_codecs` -- a baresip like ``peers.start_baresip``
  whose account offers/accepts only the given codecs (for transcoding tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

from hotline.media.codecs import audioop, samples_from_pcm
from hotline.media.engine import MediaEngine
from hotline.media.stream import RtpStream
from hotline.sip.call import CallEnded, IncomingCall
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import negotiate_answer
from hotline.sip.settings import SipSettings
from tests.interop.peers import (
    LOOPBACK,
    Baresip,
    PortAllocator,
    start_baresip,
)

Behaviour = Callable[[IncomingCall, RtpStream], Awaitable[None]]


class MediaDesk:
    """hotline's endpoint + media engine on 127.0.0.1; each call is answered and handed to `behaviour`."""

    def __init__(self, sip: SipSettings, engine: MediaEngine, behaviour: Behaviour, *,
                 codecs: tuple[str, ...] = ("PCMU", "PCMA"), **stream_options: object) -> None:
        self.stream_options = stream_options
        """`StreamConfig` fields for the answered calls' streams (rtp_timeout=...)."""
        self.engine = engine
        self.behaviour = behaviour
        self.codecs = codecs
        self.endpoint = SipEndpoint(sip, on_call=self._on_call, codecs=codecs)
        self.calls: list[IncomingCall] = []
        self.streams: list[RtpStream] = []
        self.errors: list[BaseException] = []
        self.handled = asyncio.Event()

    @property
    def uri(self) -> str:
        """Where to call the hotline."""
        _, host, port = self.endpoint.local_addresses[0]
        return f"sip:12345@{host}:{port}"

    async def _on_call(self, call: IncomingCall) -> None:
        self.calls.append(call)
        stream: RtpStream | None = None
        try:
            assert call.remote_sdp is not None
            probe = negotiate_answer(call.remote_sdp, local_address=LOOPBACK, local_port=9,
                                     supported_codecs=self.codecs)
            stream = await self.engine.open_stream(self.engine.stream_config(probe.media, **self.stream_options))
            self.streams.append(stream)
            await call.answer(call.make_answer(LOOPBACK, stream.port))
            await self.behaviour(call, stream)
        except CallEnded:
            pass
        except BaseException as exc:  # shown by the test, not lost in the endpoint's task
            self.errors.append(exc)
            raise
        finally:
            if stream is not None:
                await stream.close("hangup")
            if not call.is_over:
                await call.hangup()
            self.handled.set()

    async def __aenter__(self) -> MediaDesk:
        await self.engine.start()
        await self.endpoint.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.endpoint.stop()
        await self.engine.close()


def tone_wav(path: Path, frequency: float, seconds: float, *, amplitude: int = 8000,
             rate: int = 8000) -> Path:
    """A mono 16-bit WAV of one sine (fades in/out over 5 ms so it has no clicks)."""
    n = int(seconds * rate)
    fade = rate // 200
    frames = bytearray()
    for i in range(n):
        gain = min(1.0, i / fade, (n - 1 - i) / fade)
        v = int(amplitude * gain * math.sin(2 * math.pi * frequency * i / rate))
        frames += v.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def read_wav(path: Path) -> tuple[bytes, int]:
    """(mono 16-bit PCM, sample rate) of a WAV file (first channel if stereo)."""
    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    if channels == 2:
        frames = audioop.tomono(frames, 2, 1, 0)
    return frames, rate


def tone_share(pcm: bytes, frequency: float, rate: int = 8000) -> float:
    """The share of the stretch's energy at `frequency` (0..1; a pure tone gives ~1)."""
    samples = samples_from_pcm(pcm)
    n = len(samples)
    if n == 0:
        return 0.0
    energy = float(sum(s * s for s in samples))
    if energy == 0:
        return 0.0
    w = 2 * math.pi * frequency / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2.0 * power / (n * energy)


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit PCM."""
    samples = samples_from_pcm(pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def tone_runs(pcm: bytes, frequency: float, *, rate: int = 8000, window_ms: int = 50,
              share: float = 0.5, min_rms: float = 300.0) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches where `frequency` dominates the audio."""
    step = rate * window_ms // 1000 * 2
    runs: list[tuple[float, float]] = []
    start: float | None = None
    for i in range(0, len(pcm) - step + 1, step):
        chunk = pcm[i : i + step]
        on = rms(chunk) >= min_rms and tone_share(chunk, frequency, rate) >= share
        t = i / 2 / rate
        if on and start is None:
            start = t
        elif not on and start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, len(pcm) / 2 / rate))
    return runs


def start_baresip_with_codecs(
    workdir: Path,
    ports: PortAllocator,
    *,
    user: str,
    codecs: str = "PCMU,PCMA",
    auto_answer: bool = True,
    audio_source: Path | None = None,
    audio_seconds: float = 60.0,
) -> Baresip:
    """``peers.start_baresip`` (unregistered) with the account limited to `codecs`."""
    return start_baresip(workdir, ports, user=user, auto_answer=auto_answer, codecs=codecs,
                         audio_seconds=audio_seconds, audio_source=audio_source)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` every 20 ms (without blocking the loop); AssertionError after `timeout`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.02)


def stop_quietly(*peers: Baresip) -> None:
    """Stop baresips (by PID, through their own stop())."""
    for peer in peers:
        with contextlib.suppress(Exception):
            peer.stop()
