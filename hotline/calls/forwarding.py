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
   alone hears the whisper prompt (who calls, about what); with
   ``accept_seconds`` the engineer must then press 1 to take the call (2
   declines; silence for that long is "not-accepted"), so a voicemail box or
   a pocket that answered does not swallow the caller; when the call is
   recorded, both legs then hear the announcement; then the legs are
   bridged -- audio passed through, or PCMU<->PCMA transcoded, RFC 4733
   digits relayed with the payload type mapped -- and the recording (caller
   left, on-call right, or a mono mix) starts;
4. the first leg to end -- a BYE, or an RTP timeout -- ends the other one.

An outbound leg that is not answered (busy, rejected, no answer within
`ring_timeout`, failed), or whose engineer hangs up before the bridge (on
hearing the whisper), presses 2 or does not press 1 in time, leaves the
caller's leg up with its stream idle: the result says why, and the call
layer tries the next engineer or takes a voicemail. A caller who hangs up
while the leg rings gets the leg CANCELled.

`forward_any` rings several targets at once (a duty desk of several
phones): the first to answer wins and the others are CANCELled; early
media is not bridged then (whose would it be?), the caller hears our
ringback. Every leg's outcome is in `ForwardResult.legs`, for the record.

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
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
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
from hotline.sip.call_events import Answered, CallEvent, CallProgress, Dtmf, Ended
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import NegotiatedMedia, make_offer

__all__ = ["ForwardPlan", "ForwardResult", "Forwarder", "LegOutcome", "outcome_of"]

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
    whisper: Path | Sequence[Path] | None = None
    """Prompts only the engineer hears after answering, before the bridge (played in order)."""
    accept_seconds: float | None = None
    """After the whisper, how long the engineer has to press 1 (None: no question asked)."""
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
    target: str = ""
    """The target of the leg this result is about (the winner, or the last to fail)."""
    accepted: bool = False
    """The engineer pressed the accept key (or none was asked for) and was bridged."""
    legs: tuple[LegOutcome, ...] = ()
    """What happened on every leg dialled, in the order they ended."""

    @property
    def caller_still_up(self) -> bool:
        """Nobody took the call and the caller is still there (try someone else, or voicemail)."""
        return self.ended_by in ("unanswered", "declined", "not-accepted")


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """One outbound leg's fate, for the call record's attempts."""

    target: str
    outcome: str
    """"answered" (and accepted), "busy", "no-answer", "declined", "not-accepted", "failed",
    "cancelled" (another phone answered first, or the caller hung up)."""
    status: int | None = None
    """The SIP status that ended it, if any."""
    ring_seconds: float = 0.0
    """From the INVITE until it was answered or ended."""


def outcome_of(ended: Ended) -> str:
    """How a leg that ended unanswered is described in the record."""
    if ended.reason == "rejected":
        if ended.status in (486, 600):
            return "busy"
        if ended.status == 603:
            return "declined"
        if ended.status in (480, 408):
            return "no-answer"
        return "failed"
    if ended.reason == "timeout":
        return "no-answer"
    if ended.reason == "cancelled":
        return "cancelled"
    return "failed"


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


class _Leg:
    """One outbound leg being rung: its plan, RTP stream, SIP call and event reader."""

    def __init__(self, plan: ForwardPlan, out: RtpStream, started: float) -> None:
        self.plan = plan
        self.out = out
        self.started = started
        self.call: OutgoingCall | None = None
        self.events: _Events | None = None


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

    async def forward(self, call: IncomingCall | OutgoingCall, stream: RtpStream,
                      plan: ForwardPlan) -> ForwardResult:
        """Dial `plan.target`, bridge it to the answered `call` (whose media is `stream`).

        Returns when the bridged call is over (both legs hung up), or when the
        outbound leg was not answered or accepted (the caller's leg stays up),
        or when the caller hung up first. Raises `DialRefused` if `allowed`
        refuses the target.
        """
        return await self.forward_any(call, stream, [plan])

    async def forward_any(
        self, call: IncomingCall | OutgoingCall, stream: RtpStream, plans: Sequence[ForwardPlan], *,
        on_bridged: Callable[[LegOutcome], Awaitable[None]] | None = None,
    ) -> ForwardResult:
        """Ring every plan's target at once; the first to answer is whispered to and bridged.

        The other legs are CANCELled as soon as one answers. With one plan this is
        `forward`. Raises `DialRefused` (before dialling anything) if `allowed`
        refuses any target. `on_bridged` is awaited as soon as the legs are bridged
        (with the answering leg), so the call layer can record who answered while
        the conversation goes on; the result comes when the call is over.
        """
        if not plans:
            raise ValueError("forward_any needs at least one target")
        for plan in plans:
            if not self.allowed(plan.target):
                from hotline.sip.endpoint import DialRefused

                raise DialRefused(f"target {plan.target!r} is not an allowed destination")
        if self.media_address is not None:
            address = self.media_address
        elif isinstance(call, IncomingCall):
            address = call.endpoint.local_host(call.sip_transport, call.source[0]).strip("[]")
        else:  # a leg we placed ourselves (a call back): its caller knows the address
            raise ValueError("forwarding from an outgoing call needs media_address")
        watch: dict[str, asyncio.Future[Any]] = {
            "caller": asyncio.ensure_future(call.wait_ended()),
            "caller-rtp-timeout": asyncio.ensure_future(stream.wait_timed_out()),
        }
        legs: list[_Leg] = []
        done: list[LegOutcome] = []
        winner: _Leg | None = None
        recording: Recording | None = None
        bridged_at: float | None = None
        info_relay: asyncio.Task[None] | None = None
        try:
            for plan in plans:
                leg = _Leg(plan, await self._open_out_stream(), self.engine.now())
                legs.append(leg)
                offer = make_offer(address, leg.out.port, self.codecs, ptime=self.ptime_ms)
                leg.call = await self.endpoint.place_call(
                    plan.target,
                    allowed=self.allowed,
                    caller_id=plan.caller_id,
                    display_name=plan.display_name,
                    sdp_offer=offer.serialize(),
                    timeout=plan.ring_timeout,
                )
                leg.events = _Events(leg.call.events())
            stream.play([ToneItem(RINGBACK)])
            ringing = await self._ring(legs, stream, watch, done)
            if isinstance(ringing, str):
                # The caller hung up (or its RTP stopped) while the legs rang.
                return await self._caller_left(ringing, call, legs, done)
            if isinstance(ringing[1], Ended):
                leg_done, failed = ringing
                stream.stop_playback()
                return ForwardResult(False, "unanswered", failed.reason, failed.status,
                                     callee_stats=await leg_done.out.close("not answered"),
                                     target=leg_done.plan.target, legs=tuple(done))
            winner, answered = ringing
            assert isinstance(answered, Answered)
            await self._drop_others(legs, winner, done)
            plan, out, leg_call = winner.plan, winner.out, winner.call
            assert leg_call is not None and winner.events is not None
            rang = self.engine.now() - winner.started
            watch["callee"] = asyncio.ensure_future(leg_call.wait_ended())
            watch["callee-rtp-timeout"] = asyncio.ensure_future(out.wait_timed_out())
            if answered.media is None:
                log.warning("forward %s: the answer agreed no audio; hanging up", call.call_id)
                await leg_call.hangup()
                done.append(LegOutcome(plan.target, "failed", None, rang))
                return ForwardResult(True, "callee", "failed", None, target=plan.target,
                                     callee_stats=await out.close("no media"), legs=tuple(done))
            info_relay = asyncio.ensure_future(self._relay_info(winner.events, stream, out))
            ended = await self._whisper(answered.media, plan, stream, out, watch)
            if ended in ("callee", "callee-rtp-timeout", "declined", "not-accepted"):
                # The engineer hung up on the whisper, pressed 2 or never pressed 1: the
                # caller stays, as if nobody had answered, for the next engineer or a voicemail.
                stream.stop_playback()
                await leg_call.hangup()
                ended_leg = await leg_call.wait_ended()
                why = "not-accepted" if ended == "not-accepted" else "declined"
                done.append(LegOutcome(plan.target, why, ended_leg.status, rang))
                return ForwardResult(True, why, ended_leg.reason, ended_leg.status, target=plan.target,
                                     callee_stats=await out.close(why), legs=tuple(done))
            if ended is None:
                self.engine.bridge(stream, out)
                bridged_at = self.engine.now()
                answered_leg = LegOutcome(plan.target, "answered", None, rang)
                done.append(answered_leg)
                if plan.record_to is not None:
                    recording = self.engine.record(plan.record_to, [stream, out],
                                                   stereo=plan.stereo)
                if on_bridged is not None:
                    try:
                        await on_bridged(answered_leg)
                    except Exception:  # the record is the call layer's business; the call goes on
                        log.exception("forward %s: on_bridged failed", call.call_id)
                ended = await _first(watch)
            else:
                done.append(LegOutcome(plan.target, "cancelled", None, rang))
            assert ended is not None
            result = await self._tear_down(ended, call, leg_call, stream, out, recording, bridged_at)
            return dataclasses.replace(result, target=plan.target, accepted=bridged_at is not None,
                                       legs=tuple(done))
        finally:
            await _cancel(info_relay)
            for leg in legs:
                if leg.events is not None:
                    await leg.events.close()
            await _cancel(*watch.values())
            if recording is not None:
                recording.finish()
            for leg in legs:
                if not leg.out.closed:
                    await leg.out.close("forward ended")
                if leg.call is not None and not leg.call.is_over and (
                        bridged_at is None or leg is not winner):
                    # Something failed before the bridge (a bug, a cancellation): do not leave it up.
                    await leg.call.hangup()

    # -- the phases ----------------------------------------------------------------------

    async def _open_out_stream(self) -> RtpStream:
        return await self.engine.open_stream(
            StreamConfig(
                codec_named(self.codecs[0]),
                None,
                ptime_ms=self.ptime_ms,
                receives=False,  # no RTP timeout while it rings
                rtp_timeout=self.engine.rtp_timeout,
                symmetric_rtp=self.engine.symmetric_rtp,
            )
        )

    async def _ring(
        self,
        legs: list[_Leg],
        stream: RtpStream,
        watch: dict[str, asyncio.Future[Any]],
        done: list[LegOutcome],
    ) -> tuple[_Leg, Answered] | tuple[_Leg, Ended] | str:
        """Until a leg answers (it, Answered), all fail (the last, its Ended), or the caller goes.

        Legs that fail meanwhile are closed and their outcome appended to `done`.
        """
        early: _Leg | None = None
        ringing = list(legs)
        while True:
            pending = {leg.events.next(): leg for leg in ringing if leg.events is not None}
            gone = await _first(watch, *pending)
            if gone is not None:
                return gone
            for fut, leg in pending.items():
                if not fut.done():
                    continue
                assert leg.events is not None
                event = leg.events.take()
                if isinstance(event, CallProgress) and event.early_media is not None and early is None \
                        and len(legs) == 1:
                    # The callee's network plays its own ringback or an announcement:
                    # the caller hears that rather than ours.
                    leg.out.reconfigure(self._config(event.early_media))
                    self.engine.bridge(stream, leg.out)
                    early = leg
                elif isinstance(event, Answered):
                    if early is not None:
                        self.engine.unbridge(stream, early.out)
                    return leg, event
                elif isinstance(event, Ended):
                    if early is leg:
                        self.engine.unbridge(stream, leg.out)
                        early = None
                    ringing.remove(leg)
                    done.append(LegOutcome(leg.plan.target, outcome_of(event), event.status,
                                           self.engine.now() - leg.started))
                    if not ringing:
                        return leg, event
                    await leg.out.close("not answered")

    async def _drop_others(self, legs: list[_Leg], winner: _Leg, done: list[LegOutcome]) -> None:
        """Another phone answered: CANCEL (or BYE, if it answered too) every other leg."""
        others = [leg for leg in legs if leg is not winner and leg.call is not None
                  and not leg.call.is_over]
        for leg in others:
            assert leg.call is not None
            await leg.call.hangup()
        for leg in others:
            assert leg.call is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leg.call.wait_ended(), 5.0)
            done.append(LegOutcome(leg.plan.target, "cancelled", None, self.engine.now() - leg.started))
            await leg.out.close("another phone answered")

    async def _caller_left(
        self, gone: str, call: IncomingCall | OutgoingCall, legs: list[_Leg], done: list[LegOutcome]
    ) -> ForwardResult:
        last: Ended | None = None
        stats: dict[str, object] = {}
        for leg in legs:
            if leg.call is None:
                continue
            if not leg.call.is_over:
                await leg.call.hangup()
                last = await leg.call.wait_ended()
                done.append(LegOutcome(leg.plan.target, "cancelled", last.status,
                                       self.engine.now() - leg.started))
            if not leg.out.closed:
                stats = await leg.out.close("caller left")
        if not call.is_over:
            await call.hangup()
        return ForwardResult(False, gone, last.reason if last else "", last.status if last else None,
                             callee_stats=stats, target=legs[-1].plan.target, legs=tuple(done))

    async def _relay_info(self, events: _Events, stream: RtpStream, out: RtpStream) -> None:
        """The engineer's SIP INFO keys: to the accept question, then on to the caller."""
        while True:
            await events.next()
            event = events.take()
            if isinstance(event, Dtmf):
                if out.peer is None:
                    out.digit_from_info(event.digit, event.duration_ms)
                else:
                    stream.send_digits(event.digit)
            elif isinstance(event, Ended):
                return

    async def _whisper(
        self,
        media: NegotiatedMedia,
        plan: ForwardPlan,
        stream: RtpStream,
        out: RtpStream,
        watch: dict[str, asyncio.Future[Any]],
    ) -> str | None:
        """Whisper to the engineer, ask for 1, announce to both.

        Returns the name of a leg that ended, "declined" or "not-accepted", or None to bridge.
        """
        out.reconfigure(self._config(media))
        current = stream.session.player.current
        if not (isinstance(current, ToneItem) and current.spec == RINGBACK):
            stream.play([ToneItem(RINGBACK)])  # early media stopped it
        whisper = [plan.whisper] if isinstance(plan.whisper, Path) else list(plan.whisper or ())
        while not out.digits.empty():  # keys from before the answer mean nothing here
            out.digits.get_nowait()
        if whisper:
            out.play([PromptItem(await self._prompt(p, out)) for p in whisper])  # a key skips it
            if plan.accept_seconds is None:
                ended = await _first_of(watch, out.wait_played())
                if ended is not None:
                    return ended
        if plan.accept_seconds is not None:
            verdict = await self._accept(plan.accept_seconds, out, watch)
            if verdict is not None:
                return verdict
        if plan.announcement is not None and plan.record_to is not None:
            stream.play([PromptItem(await self._prompt(plan.announcement, stream), barge_in=False)])
            out.play([PromptItem(await self._prompt(plan.announcement, out), barge_in=False)])
            ended = await _first_of(watch, asyncio.gather(stream.wait_played(), out.wait_played()))
            if ended is not None:
                return ended
        return None

    async def _accept(
        self, seconds: float, out: RtpStream, watch: dict[str, asyncio.Future[Any]]
    ) -> str | None:
        """Wait for 1 (None: accepted) or 2 ("declined"); `seconds` after the whisper ends
        without either is "not-accepted"; a leg that ends gives its name."""

        async def whisper_then_wait() -> None:
            await out.wait_played()
            await asyncio.sleep(seconds)

        clock = asyncio.ensure_future(whisper_then_wait())
        try:
            while True:
                key = asyncio.ensure_future(out.digits.get())
                try:
                    gone = await _first(watch, key, clock)
                finally:
                    if not key.done():
                        await _cancel(key)
                if gone is not None:
                    return gone
                if key.done() and not key.cancelled():
                    digit = key.result().digit
                    if digit == "1":
                        out.stop_playback()
                        return None
                    if digit == "2":
                        out.stop_playback()
                        return "declined"
                    continue  # another key: keep listening
                if clock.done():
                    return "not-accepted"
        finally:
            await _cancel(clock)

    async def _tear_down(
        self,
        ended: str,
        call: IncomingCall | OutgoingCall,
        leg: OutgoingCall,
        stream: RtpStream,
        out: RtpStream,
        recording: Recording | None,
        bridged_at: float | None,
    ) -> ForwardResult:
        """One leg ended: end the other, finish the recording, close the outbound stream."""
        bridged = self.engine.now() - bridged_at if bridged_at is not None else 0.0
        relay: dict[str, dict[str, int]] = {}
        bridged_by = out.bridge()  # a pair lent to a relay worker comes back here
        if bridged_by is not None:
            bridge = bridged_by[0]  # the caller's leg is side "a"
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
