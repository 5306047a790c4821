"""The media engine: the RTP port pool, every stream, and ONE media clock.

Theory of operation. One timer, armed for absolute
deadlines (`DeadlineSchedule`), ticks every `tick_ms` (2 ms by default). A
stream with a packet time of P ms sends on every (P / tick_ms)-th tick;
streams are kept in buckets by (interval, phase), so a tick touches only the
streams due on it, and new streams spread over the phases as they join.
Late wake-ups catch up by at most `max_burst` ticks; older ticks are skipped
(the audio time passes, the next packet gets the marker bit). The tick is
that fine not for pacing but for spreading: 20 ms streams fall into ten
phases, so each wake-up hands a tenth of the packets to the kernel — on
loopback a sendto costs ~10 µs, and a thousand in one burst would make the
last ones 10 ms late.

The clock's time base is `time.perf_counter_ns`, not `loop.time()`: uvloop's
`loop.time()` counts whole milliseconds (libuv's cached `uv_now`), too coarse
for deadlines 2 ms apart and for measuring lateness. The timer is armed with
`loop.call_later` for the time left until the deadline on that clock, so
whatever the loop's own time base, it only sets how close the wake-up lands.

The timer is armed `wake_early` (0.5 ms) before each deadline and a tick is
sent when its deadline is within `max(wake_early, timer_granularity)`: the
standard loop's epoll waits are rounded up to whole milliseconds, so a timer
armed on the deadline fires 0–1 ms late, and armed half a millisecond early
the send error is centred on the deadline. uvloop rounds each delay to the
nearest millisecond from a time already up to a millisecond old, so its timer
fires up to a millisecond early as well as late (`timer_granularity` is then
1 ms): a tick that close is sent rather than re-armed for less than half a
millisecond, which libuv rounds to zero -- a busy loop until the deadline.

A bridged leg whose relay carries the other leg's packets has nothing to do
on its ticks, so it leaves the clock after its first relaying tick and comes
back when a poll finds the relay quiet (keep-alive silence is then counted on
its ticks), when it has key presses of its own to send, or when the bridge
ends (`MediaSession.needs_clock`): five hundred bridged calls then cost the
clock nothing per packet time.

Received datagrams are handled as they arrive (relayed at once when bridged),
never on the clock: each RTP socket is read by the loop's datagram transport
on uvloop, else with `loop.add_reader`, draining what is queued on each
wake-up either way (see `hotline.media.udp`). Each stream is
also polled about every `poll_interval` seconds for time-driven events (RTP
timeout, lost DTMF end packets) and RTCP reports -- a few streams per tick,
round robin, so that a thousand streams never get polled in one go -- and
recordings are pumped into their WAV files. With no stream and no recording
the timer is not armed at all.

With a `relay` (`hotline.media.relay.RelayWorkers`), a pair that stays
bridged `lend_after` seconds with nothing played, recorded or keyed on it is
lent to a worker process, which runs this same engine for it; the pair is
off this engine's clock, polls and sockets meanwhile (`RtpStream.lent`), and
comes back (`settle`) before anything reads or changes its sessions here.

Nothing here sleeps; every task-like thing is a timer handle the engine
cancels on `close()` (a pending lend finds the engine closed and does nothing).

The engine is each stream's `StreamOwner`: a stream tells it when its media
changed or it closed; the engine calls a stream's public `send_rtp`, `poll`,
`receive_rtp` and `receive_rtcp`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import wave
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hotline.media.bridge import Bridge, LegMedia
from hotline.media.clock import DeadlineSchedule
from hotline.media.codecs import SAMPLE_WIDTH
from hotline.media.ports import PortPool, PortsExhausted
from hotline.media.recorder import Recorder, SilenceDetector
from hotline.media.session import MediaSession, NegotiatedLike, StreamConfig
from hotline.media.stream import RtpStream
from hotline.media.udp import UdpSocket

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ClockStats:
    """How well the media clock keeps time."""

    wakeups: int = 0
    ticks: int = 0
    skipped: int = 0
    packets: int = 0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    """Seconds from a tick's deadline to the end of its sending, per tick (recent)."""
    wake_lateness: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    """Seconds from the first due deadline to the timer callback starting (negative: early)."""


def timer_granularity(loop: asyncio.AbstractEventLoop) -> float:
    """How early a timer of `loop` may fire: 1 ms on libuv's millisecond timers, else none."""
    return 0.001 if type(loop).__module__.startswith("uvloop") else 0.0


class Recording:
    """A recording being written to a WAV file."""

    def __init__(self, path: Path, recorder: Recorder, streams: list[RtpStream]) -> None:
        self.path = path
        self.recorder = recorder
        self.streams = streams
        # Open for the recording's whole life; closed in finish().
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115
        self._wav.setnchannels(recorder.channels)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(recorder.sample_rate)
        self.done = asyncio.Event()

    def pump(self, now: float) -> None:
        """Append what is final; close the file when the recording stopped itself."""
        data = self.recorder.pull(now)
        if data:
            # A few kB every 100 ms, into the page cache: not worth a thread.
            self._wav.writeframes(data)
        if self.recorder.stopped:
            self.finish()

    def finish(self) -> None:
        """Write the rest and close the file."""
        if self.done.is_set():
            return
        self._wav.writeframes(self.recorder.finish())
        self._wav.close()
        for stream in self.streams:
            if stream.session.recorder is not None and stream.session.recorder[0] is self.recorder:
                stream.session.recorder = None
        self.done.set()

    @property
    def stop_reason(self) -> str | None:
        """Why it stopped ("max_duration", "silence", "finished"), None while running."""
        return self.recorder.stopped


class MediaConfigLike(Protocol):
    """The `[media]` settings the engine uses (hotline.config.MediaConfig fits)."""

    @property
    def rtp_port_min(self) -> int: ...
    @property
    def rtp_port_max(self) -> int: ...
    @property
    def rtp_timeout(self) -> float: ...
    @property
    def symmetric_rtp(self) -> bool: ...


class RelayLender(Protocol):
    """Where bridged pairs can be carried meanwhile (`hotline.media.relay.RelayWorkers` fits)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def lend(self, a: RtpStream, b: RtpStream) -> bool:
        """Carry the bridged pair `a`, `b` elsewhere (both become `lent`); False if it cannot."""
        ...

    def reclaim(self, stream: RtpStream) -> tuple[RtpStream, RtpStream]:
        """Take back the pair `stream` is lent in, sessions up to date (blocks briefly)."""
        ...


class MediaEngine:
    """Owns the RTP ports, the streams and the media clock of the process."""

    rtp_timeout: float = 30.0
    """Default RTP timeout for streams made with `stream_config`."""
    symmetric_rtp: bool = True
    """Default latching for streams made with `stream_config`."""

    @classmethod
    def from_config(cls, config: MediaConfigLike, *, bind_host: str = "0.0.0.0") -> MediaEngine:
        """An engine for the configured port range, with its stream defaults."""
        engine = cls(bind_host=bind_host, port_min=config.rtp_port_min,
                     port_max=config.rtp_port_max)
        engine.rtp_timeout = config.rtp_timeout
        engine.symmetric_rtp = config.symmetric_rtp
        return engine

    def stream_config(self, media: NegotiatedLike, **options: Any) -> StreamConfig:
        """A `StreamConfig` from the SIP layer's negotiated media and the engine's defaults."""
        defaults: dict[str, Any] = {
            "rtp_timeout": self.rtp_timeout,
            "symmetric_rtp": self.symmetric_rtp,
        }
        return StreamConfig.from_negotiated(media, **{**defaults, **options})

    def __init__(
        self,
        *,
        bind_host: str = "0.0.0.0",
        port_min: int = 20000,
        port_max: int = 20999,
        quiet_period: float = 10.0,
        tick_ms: int = 2,
        max_burst: int = 3,
        poll_interval: float = 0.1,
        wake_early: float = 0.0005,
        timer_granularity: float | None = None,
        udp_transport: bool | None = None,
        relay: RelayLender | None = None,
        lend_after: float = 2.0,
    ) -> None:
        self.bind_host = bind_host
        self.pool = PortPool(port_min, port_max, quiet_period=quiet_period)
        self.tick_ms = tick_ms
        self.max_burst = max_burst
        self.poll_interval = poll_interval
        self._poll_queue: deque[RtpStream] = deque()
        self._last_pump = 0.0
        self.wake_early = wake_early
        self.timer_granularity = timer_granularity
        """How early the loop's timers may fire (None: found out from the loop at start)."""
        self.udp_transport = udp_transport
        """RTP sockets on the loop's datagram transports (None: where the loop reads in C)."""
        self.relay = relay
        """Relay workers that bridged pairs are lent to (None: every stream stays here)."""
        self.lend_after = lend_after
        """Seconds a pair stays bridged before it is lent (an early-media bridge is short)."""
        self.clock = ClockStats()
        self._buckets: dict[tuple[int, int], dict[int, RtpStream]] = {}
        self._streams: dict[int, RtpStream] = {}
        self._recordings: list[Recording] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._schedule: DeadlineSchedule | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Get ready; the media clock runs while there are streams."""
        self._loop = asyncio.get_running_loop()
        if self.timer_granularity is None:
            self.timer_granularity = timer_granularity(self._loop)
        self._schedule = DeadlineSchedule(self.now(), self.tick_ms / 1000, max_burst=self.max_burst)
        if self.relay is not None:
            await self.relay.start()

    async def close(self) -> None:
        """Close every stream (with RTCP BYE), finish recordings, stop the clock and the workers."""
        self._closing = True
        for stream in list(self._streams.values()):
            await stream.close("shutdown")
        if self.relay is not None:
            await self.relay.close()
        for rec in list(self._recordings):
            rec.finish()
        self._recordings.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._poll_queue.clear()

    @staticmethod
    def now() -> float:
        """The media clock's time base: monotonic seconds at nanosecond resolution.

        Only differences mean anything; it is not the loop's `loop.time()`.
        """
        return time.perf_counter_ns() * 1e-9

    @property
    def streams(self) -> list[RtpStream]:
        """Open streams."""
        return list(self._streams.values())

    # -- streams -------------------------------------------------------------------------

    async def open_stream(self, config: StreamConfig) -> RtpStream:
        """Bind an RTP/RTCP port pair and add a stream to the clock."""
        assert self._loop is not None and self._schedule is not None, "engine not started"
        loop = self._loop
        for _ in range(16):
            port = self.pool.allocate(self.now())
            session = MediaSession(config, self.now())
            try:
                rtp = await UdpSocket.open(loop, self.bind_host, port, transport=self.udp_transport)
            except OSError as exc:
                log.warning("RTP port %d unusable (%s); setting it aside", port, exc)
                self.pool.block(port)
                continue
            try:
                rtcp = await UdpSocket.open(loop, self.bind_host, port + 1,
                                            transport=self.udp_transport)
            except OSError as exc:
                log.warning("RTCP port %d unusable (%s); setting the pair aside", port + 1, exc)
                rtp.close()
                self.pool.block(port)
                continue
            return self.adopt(session, port, rtp, rtcp)
        raise PortsExhausted("no usable RTP port pair after 16 attempts")

    def adopt(self, session: MediaSession, port: int, rtp: UdpSocket, rtcp: UdpSocket) -> RtpStream:
        """A stream for a session and its open sockets, on the clock (`open_stream`, and a relay
        worker taking a lent pair); `port` is not taken from the pool."""
        assert self._loop is not None, "engine not started"
        if self._timer is None:
            # The clock was idle: restart it from now (no stream has a phase to keep).
            self._schedule = DeadlineSchedule(self.now(), self.tick_ms / 1000, max_burst=self.max_burst)
            self._arm()
        every = max(1, round(session.config.ptime_ms / self.tick_ms))
        phase = self._quietest_phase(every)
        stream = RtpStream(self, session, port, rtp, rtcp, every, phase)
        rtp.on_datagram = stream.receive_rtp
        rtcp.on_datagram = stream.receive_rtcp
        self._streams[port] = stream
        self._clock(stream)
        self._poll_queue.append(stream)
        return stream

    def release(self, stream: RtpStream) -> None:
        """Let go of a stream without ending it -- no RTCP BYE, the port not given back -- as a
        relay worker does with a pair it returns. Its sockets are closed here."""
        stream.closed = True  # the poll queue drops it
        stream.close_sockets()
        self._streams.pop(stream.port, None)
        self._unschedule(stream)

    # -- what a stream tells its owner (StreamOwner) ---------------------------------------

    def stream_closed(self, stream: RtpStream) -> None:
        """Take a closed stream off the clock and give its port pair back to the pool."""
        self._streams.pop(stream.port, None)
        self._unschedule(stream)
        self.pool.release(stream.port, self.now())

    def _quietest_phase(self, every: int) -> int:
        """The phase of `every` with the fewest streams, the soonest of those on a tie.

        Streams opened in one burst (a thousand in a few milliseconds, or
        calls arriving together) must still spread over the phases: taking
        the next tick's phase alone would put them all on the same tick.
        """
        assert self._schedule is not None
        start = self._schedule.next_tick
        return min(
            ((start + k) % every for k in range(every)),
            key=lambda p: len(self._buckets.get((every, p), ())),
        )

    def stream_reconfigured(self, stream: RtpStream) -> None:
        """Move a stream whose packet time changed to the bucket of its new interval."""
        assert self._schedule is not None
        every = max(1, round(stream.session.config.ptime_ms / self.tick_ms))
        if every == stream.every or stream.closed:
            return
        self._unschedule(stream)
        stream.every, stream.phase = every, self._quietest_phase(every)
        self._clock(stream)

    def stream_needs_clock(self, stream: RtpStream) -> None:
        """`stream` has work on every packet time again: back on the clock if it was taken off."""
        if not stream.on_clock and not stream.closed and not stream.failed and not stream.lent:
            self._clock(stream)

    def settle(self, stream: RtpStream) -> None:
        """Make `stream.session` current: a pair lent to a relay worker comes back now.

        If it stays bridged (it came back for key presses to send, say), it is lent again
        `lend_after` seconds later unless something else needs it here by then.
        """
        if stream.lent and self.relay is not None:
            a, b = self.relay.reclaim(stream)
            for s in (a, b):
                self.stream_needs_clock(s)
            bridged = a.session.bridge
            if bridged is not None and a.peer is b and self._loop is not None:
                self._loop.call_later(self.lend_after, self._lend, a, b, bridged[0])

    def _clock(self, stream: RtpStream) -> None:
        self._buckets.setdefault((stream.every, stream.phase), {})[stream.port] = stream
        stream.on_clock = True

    def _unschedule(self, stream: RtpStream) -> None:
        stream.on_clock = False
        bucket = self._buckets.get((stream.every, stream.phase))
        if bucket is not None:
            bucket.pop(stream.port, None)
            if not bucket:
                del self._buckets[(stream.every, stream.phase)]

    # -- bridging and recording ----------------------------------------------------------

    def bridge(self, a: RtpStream, b: RtpStream) -> Bridge:
        """Relay RTP between two legs (each stops playing; see `Bridge`)."""
        for s in (a, b):
            s.stop_playback()
            if s.peer is not None:
                self.unbridge(s, s.peer)
        ca, cb = a.session.config, b.session.config
        br = Bridge(
            LegMedia(ca.codec, ca.telephone_event_pt),
            a.session.sender,
            LegMedia(cb.codec, cb.telephone_event_pt),
            b.session.sender,
        )
        a.session.bridge, b.session.bridge = (br, "a"), (br, "b")
        a.peer, b.peer = b, a
        if self.relay is not None and self._loop is not None:
            self._loop.call_later(self.lend_after, self._lend, a, b, br)
        return br

    def _lend(self, a: RtpStream, b: RtpStream, bridge: Bridge) -> None:
        """Hand a pair still bridged by `bridge` to a relay worker, if nothing else needs it here."""
        assert self.relay is not None
        if self._closing:
            return
        for s in (a, b):
            session = s.session
            if (s.closed or s.failed or s.lent or session.bridge is None
                    or session.bridge[0] is not bridge or session.recorder is not None):
                return  # no longer this bridge, or recorded: it stays here
        busy = any(s.session.player.playing or s.session.dtmf_out.active for s in (a, b))
        if not busy and self.relay.lend(a, b):
            for s in (a, b):
                self._unschedule(s)
        elif self._loop is not None:  # playing or keying, or no worker ready: later
            self._loop.call_later(self.lend_after, self._lend, a, b, bridge)

    def unbridge(self, a: RtpStream, b: RtpStream) -> None:
        """Stop relaying; both streams go back to their players (silence if idle)."""
        self.settle(a)
        self.settle(b)
        for s in (a, b):
            s.session.bridge = None
            s.peer = None
            s.session.sender.mark_gap()
            self.stream_needs_clock(s)  # its player sends again

    def record(
        self,
        path: str | Path,
        streams: Iterable[RtpStream],
        *,
        stereo: bool = False,
        max_seconds: float | None = None,
        end_on_silence: SilenceDetector | None = None,
    ) -> Recording:
        """Record what one or two legs receive into a WAV file."""
        streams = list(streams)
        for stream in streams:
            self.settle(stream)
        recorder = Recorder(
            self.now(),
            legs=len(streams),
            stereo=stereo,
            max_seconds=max_seconds,
            end_on_silence=end_on_silence,
        )
        rec = Recording(Path(path), recorder, streams)
        for i, stream in enumerate(streams):
            stream.session.recorder = (recorder, i)
        self._recordings.append(rec)
        return rec

    # -- the clock -----------------------------------------------------------------------

    def _arm(self) -> None:
        """Wake up `wake_early` before the next deadline (a relative delay: see the module doc)."""
        assert self._loop is not None and self._schedule is not None
        delay = self._schedule.next_deadline - self.wake_early - self.now()
        self._timer = self._loop.call_later(max(0.0, delay), self._on_tick)

    def _on_tick(self) -> None:
        assert self._loop is not None and self._schedule is not None
        try:
            self._run_due_ticks()
            self._poll(self.now())
        finally:
            # Whatever went wrong with one tick, the clock of every other call keeps going.
            if self._streams or self._recordings:
                self._arm()
            else:
                self._timer = None

    def _run_due_ticks(self) -> None:
        assert self._loop is not None and self._schedule is not None
        sched, stats, now = self._schedule, self.clock, self.now
        woke = now()
        due = sched.due(woke + max(self.wake_early, self.timer_granularity or 0.0))
        stats.wakeups += 1
        if due.count:
            stats.wake_lateness.append(woke - sched.deadline(due.first))
        for n in range(due.first - due.skipped, due.first):
            for stream in self._due_streams(n):
                stream.session.skip_tick()
        stats.skipped += due.skipped
        for n in due.ticks:
            for stream in self._due_streams(n):
                try:
                    data = stream.session.tick()
                except Exception:  # a bug of ours: lose this stream, not the clock
                    log.exception("media tick failed for %r; it stops sending", stream)
                    self._unschedule(stream)
                    stream.failed = True
                    continue
                if data is not None:
                    stream.send_rtp(data)
                    stats.packets += 1
                elif not stream.session.needs_clock:
                    # A bridged leg the relay carries: off the clock until a poll finds the
                    # relay quiet (see MediaSession.needs_clock).
                    self._unschedule(stream)
            stats.ticks += 1
            stats.lateness.append(now() - sched.deadline(n))

    def _due_streams(self, n: int) -> list[RtpStream]:
        out: list[RtpStream] = []
        for (every, phase), bucket in self._buckets.items():
            if n % every == phase:
                out.extend(bucket.values())
        return out

    def _poll(self, now: float) -> None:
        queue = self._poll_queue
        if queue:
            wallclock = time.time()
            count = math.ceil(len(queue) * self.tick_ms / 1000 / self.poll_interval)
            for _ in range(min(count, len(queue))):
                stream = queue.popleft()
                if stream.lent:  # a relay worker polls it meanwhile
                    queue.append(stream)
                elif not stream.closed:
                    stream.poll(now, wallclock)
                    queue.append(stream)
                    if not stream.on_clock and stream.session.needs_clock:
                        self.stream_needs_clock(stream)
        if self._recordings and now - self._last_pump >= self.poll_interval:
            self._last_pump = now
            for rec in list(self._recordings):
                rec.pump(now)
                if rec.done.is_set():
                    self._recordings.remove(rec)
