"""Forwarding an answered call to an on-call engineer: one outbound leg, bridged to the caller.

Theory of operation. The caller's leg is already answered and has its
`RtpStream` (the IVR played to it). `Forwarder.forward` then:

1. opens an RTP stream for the outbound leg -- its port goes into our offer,
   its codec is known only from the answer -- and dials the target through
   `SipEndpoint.place_call`, behind the forwarder's allow-check;
2. while the leg rings, plays ringback to the caller (450 Hz, 1 s on / 4 s
   off); a 183 with SDP (early media: the callee's network announcing or
   ringing itself) bridges the caller to that audio instead;
3. on the answer, the caller hears ringback (again) while the on-call leg
   alone hears the whisper prompt (who calls, about what); when the call is
   recorded, both legs then hear the announcement; then the legs are
   bridged -- audio passed through, or PCMU<->PCMA transcoded, RFC 4733
   digits relayed with the payload type mapped -- and the recording (caller
   left, on-call right, or a mono mix) starts;
4. the first leg to end -- a BYE, or an RTP timeout -- ends the other one.

An outbound leg that is not answered (busy, rejected, no answer within
`ring_timeout`, failed), or whose engineer hangs up before the bridge (on
hearing the whisper), leaves the caller's leg up with its stream idle: the
result says why, and the call layer tries the next engineer or takes a
voicemail. A caller who hangs up while the leg rings gets the leg CANCELled.

The forwarder owns the outbound leg's stream and closes it; the caller's
stream belongs to whoever answered the caller. Only the outbound leg's
events are consumed here; the caller's end is watched with `wait_ended()`,
so the call layer may keep reading the caller's events -- and should pass a
caller's SIP INFO keys on as RFC 4733 with ``stream.peer.send_digits(...)``
while bridged (RFC 4733 keys are relayed by the bridge itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.media.codecs import codec_named
from hotline.media.engine import MediaEngine, Recording
from hotline.media.player import PromptItem, ToneItem
from hotline.media.prompt import Prompt, PromptCache
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.media.tones import RINGBACK
from hotline.sip.call import IncomingCall, OutgoingCall
from hotline.sip.call_events import Answered, CallEvent, Ended, Progress
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import NegotiatedMedia, make_offer

__all__ = ["ForwardPlan", "ForwardResult", "Forwarder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ForwardPlan:
    """Where and how to forward one call."""

    target: str
    """A number (dialled through `sip.outbound.proxy`) or a SIP URI."""
    caller_id: str
    """The number presented to the engineer (usually the caller's)."""
    display_name: str | None = None
    """The name presented with it."""
    ring_timeout: float = 30.0
    """Seconds the leg may ring before it is CANCELled."""
    whisper: Path | None = None
    """A prompt only the engineer hears after answering, before the bridge."""
    announcement: Path | None = None
    """A prompt both legs hear before a recorded bridge ("this call is recorded")."""
    record_to: Path | None = None
    """Record both legs of the bridged call into this WAV file."""
    stereo: bool = True
    """Two channels (caller left, engineer right) rather than a mono mix."""


@dataclass(frozen=True, slots=True)
class ForwardResult:
    """How a forwarding attempt went."""

    answered: bool
    """Whether the engineer answered (and was bridged, unless a leg ended first)."""
    ended_by: str
    """What ended it: "caller" or "callee" (hung up), "caller-rtp-timeout",
    "callee-rtp-timeout", "unanswered" (then `reason`/`status` say why), or
    "declined" (the engineer answered but hung up before the bridge, e.g. on
    hearing the whisper)."""
    reason: str = ""
    """The outbound leg's `Ended.reason` ("rejected", "timeout", "cancelled", ...)."""
    status: int | None = None
    """The SIP status that ended the outbound leg, if any (486, 487, 603...)."""
    bridged_seconds: float = 0.0
    """How long the two legs were bridged."""
    recording: Path | None = None
    """The recording written, if one was asked for and the legs were bridged."""
    callee_stats: dict[str, object] = field(default_factory=dict)
    """The outbound leg's RTP statistics."""
    relay: dict[str, dict[str, int]] = field(default_factory=dict)
    """Bridge counters by direction ("from_caller", "from_callee"): relayed, transcoded..."""

    @property
    def caller_still_up(self) -> bool:
        """Nobody took the call and the caller is still there (try someone else, or voicemail)."""
        return self.ended_by in ("unanswered", "declined")


class _Events:
    """Reads a call's events one at a time, with at most one read pending.

    Cancelling a pending ``__anext__`` would close the call's event
    generator, so the pending read is kept across waits instead.
    """

    def __init__(self, events: AsyncIterator[CallEvent]) -> None:
        self._events = events
        self._next: asyncio.Future[CallEvent] | None = None

    def next(self) -> asyncio.Future[CallEvent]:
        if self._next is None:
            self._next = asyncio.ensure_future(anext(self._events))
        return self._next

    def take(self) -> CallEvent:
        assert self._next is not None and self._next.done()
        event, self._next = self._next.result(), None
        return event

    async def close(self) -> None:
        await _cancel(self._next)


async def _cancel(*futures: asyncio.Future[Any] | None) -> None:
    for fut in futures:
        if fut is not None and not fut.done():
            fut.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await fut


async def _first(watch: dict[str, asyncio.Future[Any]], *extra: asyncio.Future[Any]) -> str | None:
    """Wait until a watched future or one of `extra` is done; the watched one's name, or None."""
    await asyncio.wait([*watch.values(), *extra], return_when=asyncio.FIRST_COMPLETED)
    for name, fut in watch.items():
        if fut.done():
            return name
    return None


async def _first_of(watch: dict[str, asyncio.Future[Any]], step: Awaitable[Any]) -> str | None:
    """Run `step` unless a watched future completes first (its name; `step` is then cancelled)."""
    task = asyncio.ensure_future(step)
    try:
        return await _first(watch, task)
    finally:
        await _cancel(task)


class Forwarder:
    """Forwards answered calls to outbound legs (see the module doc).

    `allowed` is the allow-check `place_call` needs: it proves a target came
    from configuration (rota, forward targets). `codecs` are offered to the
    outbound leg in this order; `media_address` is the address put in our
    SDP (default: the one the SIP endpoint uses toward the caller).
    """

    def __init__(
        self,
        endpoint: SipEndpoint,
        engine: MediaEngine,
        *,
        allowed: Callable[[str], bool],
        codecs: Iterable[str] = ("PCMU", "PCMA"),
        ptime_ms: int = 20,
        media_address: str | None = None,
        prompts: PromptCache | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.engine = engine
        self.allowed = allowed
        self.codecs = tuple(codecs)
        self.ptime_ms = ptime_ms
        self.media_address = media_address
        self.prompts = prompts or PromptCache()
        self._prompts_lock = threading.Lock()  # loads run in worker threads

    # -- the API ---------------------------------------------------------------------------

    async def forward(self, call: IncomingCall, stream: RtpStream, plan: ForwardPlan) -> ForwardResult:
        """Dial `plan.target`, bridge it to the answered `call` (whose media is `stream`).

        Returns when the bridged call is over (both legs hung up), or when the
        outbound leg was not answered (the caller's leg stays up), or when the
        caller hung up first. Raises `DialRefused` if `allowed` refuses the target.
        """
        address = self.media_address or call.endpoint.local_host(
            call.sip_transport, call.source[0]
        ).strip("[]")
        out = await self.engine.open_stream(
            StreamConfig(
                codec_named(self.codecs[0]),
                None,
                ptime_ms=self.ptime_ms,
                receives=False,  # no RTP timeout while it rings
                rtp_timeout=self.engine.rtp_timeout,
                symmetric_rtp=self.engine.symmetric_rtp,
            )
        )
        watch: dict[str, asyncio.Future[Any]] = {
            "caller": asyncio.ensure_future(call.wait_ended()),
            "caller-rtp-timeout": asyncio.ensure_future(stream.wait_timed_out()),
        }
        leg: OutgoingCall | None = None
        events: _Events | None = None
        recording: Recording | None = None
        bridged_at: float | None = None
        try:
            offer = make_offer(address, out.port, self.codecs, ptime=self.ptime_ms)
            leg = await self.endpoint.place_call(
                plan.target,
                allowed=self.allowed,
                caller_id=plan.caller_id,
                display_name=plan.display_name,
                sdp_offer=offer.serialize(),
                timeout=plan.ring_timeout,
            )
            stream.play([ToneItem(RINGBACK)])
            events = _Events(leg.events())
            answered = await self._ring(leg, events, stream, out, watch)
            if not isinstance(answered, Answered):
                return await self._not_answered(answered, call, stream, out, leg)
            watch["callee"] = asyncio.ensure_future(leg.wait_ended())
            watch["callee-rtp-timeout"] = asyncio.ensure_future(out.wait_timed_out())
            if answered.media is None:
                log.warning("forward %s: the answer agreed no audio; hanging up", call.call_id)
                await leg.hangup()
                return ForwardResult(True, "callee", "failed", None,
                                     callee_stats=await out.close("no media"))
            ended = await self._whisper(answered.media, plan, stream, out, watch)
            if ended in ("callee", "callee-rtp-timeout"):
                # The engineer hung up on the whisper (declined): the caller stays, as if
                # nobody had answered, for the next engineer or a voicemail.
                stream.stop_playback()
                await leg.hangup()
                ended_leg = await leg.wait_ended()
                return ForwardResult(True, "declined", ended_leg.reason, ended_leg.status,
                                     callee_stats=await out.close("declined"))
            if ended is None:
                self.engine.bridge(stream, out)
                bridged_at = self.engine.now()
                if plan.record_to is not None:
                    recording = self.engine.record(plan.record_to, [stream, out],
                                                   stereo=plan.stereo)
                ended = await _first(watch)
            assert ended is not None
            return await self._tear_down(ended, call, leg, stream, out, recording, bridged_at)
        finally:
            if events is not None:
                await events.close()
            await _cancel(*watch.values())
            if recording is not None:
                recording.finish()
            if not out.closed:
                await out.close("forward ended")
            if leg is not None and not leg.is_over and bridged_at is None:
                # Something failed before the bridge (a bug, a cancellation): do not leave it up.
                await leg.hangup()

    # -- the phases ----------------------------------------------------------------------

    async def _ring(
        self,
        leg: OutgoingCall,
        events: _Events,
        stream: RtpStream,
        out: RtpStream,
        watch: dict[str, asyncio.Future[Any]],
    ) -> Answered | Ended | str:
        """Until the leg is answered (Answered), fails (Ended), or the caller goes (its name)."""
        early = False
        while True:
            pending = events.next()
            gone = await _first(watch, pending)
            if gone is not None:
                return gone
            event = events.take()
            if isinstance(event, Progress) and event.early_media is not None and not early:
                # The callee's network plays its own ringback or an announcement:
                # the caller hears that rather than ours.
                out.reconfigure(self._config(event.early_media))
                self.engine.bridge(stream, out)
                early = True
            elif isinstance(event, Answered | Ended):
                if early:
                    self.engine.unbridge(stream, out)
                return event

    async def _not_answered(
        self,
        outcome: Ended | str,
        call: IncomingCall,
        stream: RtpStream,
        out: RtpStream,
        leg: OutgoingCall,
    ) -> ForwardResult:
        stats = await out.close("not answered")
        if isinstance(outcome, Ended):
            stream.stop_playback()
            return ForwardResult(False, "unanswered", outcome.reason, outcome.status,
                                 callee_stats=stats)
        # The caller hung up (or its RTP stopped) while the leg rang.
        await leg.hangup()
        ended = await leg.wait_ended()
        if not call.is_over:
            await call.hangup()
        return ForwardResult(False, outcome, ended.reason, ended.status, callee_stats=stats)

    async def _whisper(
        self,
        media: NegotiatedMedia,
        plan: ForwardPlan,
        stream: RtpStream,
        out: RtpStream,
        watch: dict[str, asyncio.Future[Any]],
    ) -> str | None:
        """Whisper to the engineer, announce to both; the name of a leg that ended, if any."""
        out.reconfigure(self._config(media))
        current = stream.session.player.current
        if not (isinstance(current, ToneItem) and current.spec == RINGBACK):
            stream.play([ToneItem(RINGBACK)])  # early media stopped it
        if plan.whisper is not None:
            out.play([PromptItem(await self._prompt(plan.whisper, out))])  # a key skips it
            ended = await _first_of(watch, out.wait_played())
            if ended is not None:
                return ended
        if plan.announcement is not None and plan.record_to is not None:
            stream.play([PromptItem(await self._prompt(plan.announcement, stream), barge_in=False)])
            out.play([PromptItem(await self._prompt(plan.announcement, out), barge_in=False)])
            ended = await _first_of(watch, asyncio.gather(stream.wait_played(), out.wait_played()))
            if ended is not None:
                return ended
        return None

    async def _tear_down(
        self,
        ended: str,
        call: IncomingCall,
        leg: OutgoingCall,
        stream: RtpStream,
        out: RtpStream,
        recording: Recording | None,
        bridged_at: float | None,
    ) -> ForwardResult:
        """One leg ended: end the other, finish the recording, close the outbound stream."""
        bridged = self.engine.now() - bridged_at if bridged_at is not None else 0.0
        relay: dict[str, dict[str, int]] = {}
        if out.session.bridge is not None:
            bridge = out.session.bridge[0]  # the caller's leg is side "a"
            relay = {"from_caller": bridge.stats("a").as_dict(),
                     "from_callee": bridge.stats("b").as_dict()}
        if out.peer is not None:
            self.engine.unbridge(stream, out)
        if recording is not None:
            recording.finish()
        hangups: list[Awaitable[None]] = []
        if not leg.is_over:
            hangups.append(leg.hangup())
        if not call.is_over:
            hangups.append(call.hangup())
        await asyncio.gather(*hangups)
        stats = await out.close("hangup")
        leg_end = leg.ended
        log.info("forward %s ended by %s after %.1f s bridged", call.call_id, ended, bridged)
        return ForwardResult(
            True,
            ended,
            leg_end.reason if leg_end else "",
            leg_end.status if leg_end else None,
            bridged_seconds=bridged,
            recording=recording.path if recording is not None else None,
            callee_stats=stats,
            relay=relay,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _config(self, media: NegotiatedMedia) -> StreamConfig:
        return self.engine.stream_config(media)

    async def _prompt(self, path: Path, stream: RtpStream) -> Prompt:
        """`path` encoded for `stream`'s codec and packet time (read off the event loop)."""
        config = stream.session.config

        def load() -> Prompt:
            with self._prompts_lock:
                return self.prompts.get(path, config.codec, config.ptime_ms)

        return await asyncio.to_thread(load)
