"""Running one call through its IVR flow: prompts, menus, routing, voicemail, the record.

Theory of operation. :class:`CallRun` walks the flow's nodes (``hotline.calls.flows``) for
one call that is already on record (the controller committed the call and its issue before
anything else). Each node is one method returning the next node's id, or None when the
call is over:

* nodes that need no audio (``set``, ``branch``, ``goto``, and ``route`` in redirect mode)
  run before the call is answered, so a flow that routes at once can still send a 302;
  the first node that plays or listens answers the call (after ``sip.ring_seconds`` of
  ringing);
* every wait is raced against the caller hanging up (or its RTP stopping): then
  :class:`CallerGone` unwinds to :meth:`CallRun.run`, which records the call as it stood;
* ``route`` is handed to :class:`~hotline.calls.connecting.Connector`: the router's plan, rung
  through the :class:`~hotline.calls.forwarding.Forwarder` — one after another, or
  together — with the whisper and press-1 accept for engineers; each attempt is
  appended to the call row and published on the event bus as it happens, so the record
  and the console never wait for the end of the call;
* the disposition follows from what happened: ``answered`` (a person accepted),
  ``voicemail`` (a message was left), ``abandoned`` (the caller hung up first),
  ``missed`` (the flow ended without either: the issue is flagged for a call back and the
  desk is told), ``rejected``, ``failed``.

Writes to the store are shielded from cancellation (a write cancelled between BEGIN and
COMMIT would leave the shared connection in a transaction), and every write names the call
record by id, so nothing here depends on the SIP layer's state once the call has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hotline.calendar import DayKind
from hotline.calls.connecting import Connector
from hotline.calls.flows import (
    CATEGORY_PROMPTS,
    AnnounceIncidentNode,
    BranchNode,
    CollectNode,
    Flow,
    GotoNode,
    HangupNode,
    MenuNode,
    Node,
    OfferOpenIssueNode,
    PlayNode,
    RouteNode,
    SetNode,
    StatusLookupNode,
    VoicemailNode,
    conditions_hold,
    menu_target,
)
from hotline.calls.outcome import CallerFacts, CallerGone, Outcome, shielded
from hotline.calls.racing import Interrupted, unless
from hotline.calls.self_service import SelfService
from hotline.events import IvrChoice, Routed, Voicemail
from hotline.media.codecs import codec_named
from hotline.media.player import Item, PromptItem
from hotline.media.prompt import Prompt, PromptCache
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.media.voicemail import record_voicemail, recording_path
from hotline.sip.call import CallEnded, IncomingCall
from hotline.sip.call_events import Dtmf, Refer, Reinvite
from hotline.sip.sdp import make_offer, negotiate_answer
from hotline.store.records import CallRecord, IssueRecord

if TYPE_CHECKING:
    from hotline.calls.controller import CallServices

__all__ = ["CallRun", "CallerFacts", "CallerGone", "PromptLoader"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_STEPS = 500
"""Nodes one call may pass through: validation forbids loops without input, so only a
caller pressing keys for a very long time gets here; the call then ends as missed."""


SILENCE_SECONDS = 5.0
"""A voicemail ends after this long without speech."""


class PromptLoader:
    """Prompt files encoded for a stream's codec, loaded off the event loop and cached."""

    def __init__(self, cache: PromptCache | None = None) -> None:
        self.cache = cache or PromptCache()
        self._lock = threading.Lock()

    async def load(self, path: Path, stream: RtpStream) -> Prompt:
        config = stream.session.config

        def load() -> Prompt:
            with self._lock:
                return self.cache.get(path, config.codec, config.ptime_ms)

        return await asyncio.to_thread(load)


class CallRun:
    """One call's walk through its flow (see the module doc)."""

    def __init__(
        self,
        services: CallServices,
        call: IncomingCall,
        record: CallRecord,
        issue: IssueRecord,
        caller: CallerFacts,
        flow: Flow,
    ) -> None:
        self.s = services
        self.call = call
        self.record = record
        self.issue = issue
        self.caller = caller
        self.flow = flow
        self.language = flow.languages[0]
        self.category: str | None = None
        self.linked: IssueRecord | None = None
        """The issue this call was linked to (its own issue merged into it), if any."""
        self.stream: RtpStream | None = None
        self.outcome = Outcome()
        self.started = services.engine.now()
        self._gone: asyncio.Future[Any] | None = None
        self._rtp_gone: asyncio.Future[Any] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._writes: asyncio.Future[None] | None = None

    # -- the walk ------------------------------------------------------------------------

    async def run(self) -> None:
        """Walk the flow until the call is over; the controller records the end."""
        self._gone = asyncio.ensure_future(self.call.wait_ended())
        try:
            node_id: str | None = self.flow.start
            steps = 0
            while node_id is not None and not self.call.is_over:
                steps += 1
                if steps > MAX_STEPS:
                    log.warning("call %d: %d nodes without an end; hanging up", self.record.id, steps)
                    break
                node_id = await self.step(self.flow.node(node_id))
        except (CallerGone, CallEnded):
            pass
        finally:
            for fut in (self._gone, self._rtp_gone, self._follower):
                if fut is not None and not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fut

    async def step(self, node: Node) -> str | None:
        if isinstance(node, PlayNode):
            return await self.play(node)
        if isinstance(node, MenuNode):
            return await self.menu(node)
        if isinstance(node, CollectNode):
            return await self.collect(node)
        if isinstance(node, SetNode):
            return await self.set(node)
        if isinstance(node, BranchNode):
            return self.branch(node, await self.facts())
        if isinstance(node, RouteNode):
            return await self.route(node)
        if isinstance(node, VoicemailNode):
            return await self.voicemail(node)
        if isinstance(node, HangupNode):
            await self.hangup(node)
            return None
        if isinstance(node, GotoNode):
            return node.next
        if isinstance(node, OfferOpenIssueNode):
            return await SelfService(self).offer_open_issue(node)
        if isinstance(node, StatusLookupNode):
            return await SelfService(self).status_lookup(node)
        if isinstance(node, AnnounceIncidentNode):
            return await SelfService(self).announce_incident(node)
        raise AssertionError(f"unknown node {node!r}")

    # -- answering and waiting -------------------------------------------------------------

    async def answer(self) -> RtpStream:
        """Answer the call (after the configured ring time) with a stream; once."""
        if self.stream is not None:
            return self.stream
        call, s = self.call, self.s
        await self.until_gone(asyncio.sleep(s.config.sip.ring_seconds))
        address = s.media_address or call.endpoint.local_host(call.sip_transport, call.source[0]).strip("[]")
        if call.remote_sdp is None:
            stream = await self._answer_late_offer(address)
        else:
            probe = negotiate_answer(call.remote_sdp, local_address=address, local_port=9,
                                     supported_codecs=s.config.media.codecs)
            stream = await s.engine.open_stream(StreamConfig.from_negotiated(
                probe.media, symmetric_rtp=s.config.media.symmetric_rtp,
                rtp_timeout=s.config.media.rtp_timeout, inband_dtmf=s.inband_dtmf(call.source),
            ))
            try:
                await call.answer(call.make_answer(address, stream.port))
            except BaseException:
                await stream.close("not answered")
                raise
        self.stream = stream
        self._rtp_gone = asyncio.ensure_future(stream.wait_timed_out())
        self._follower = asyncio.ensure_future(self._follow(stream))
        await shielded(s.store.calls.update(self.record.id, answered_at=s.clock()))
        return stream

    async def _answer_late_offer(self, address: str) -> RtpStream:
        """An INVITE without SDP: our offer goes in the 200, the caller's answer in the ACK."""
        s, call = self.s, self.call
        codecs = s.config.media.codecs
        stream = await s.engine.open_stream(StreamConfig(
            codec_named(codecs[0]), None, ptime_ms=s.config.media.ptime, receives=False,
            rtp_timeout=s.config.media.rtp_timeout, symmetric_rtp=s.config.media.symmetric_rtp))
        try:
            offer = make_offer(address, stream.port, codecs, ptime=s.config.media.ptime,
                               session=call.sdp_session)
            await call.answer(offer.serialize())
            if call.negotiated is None:
                log.info("call %d: the ACK carried no usable answer; hanging up", self.record.id)
                await call.hangup()
                raise CallerGone
            stream.reconfigure(s.engine.stream_config(call.negotiated))
        except BaseException:
            await stream.close("not answered")
            raise
        return stream

    async def until_gone(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or CallerGone if the caller hangs up (or goes silent) first."""
        watch = [f for f in (self._gone, self._rtp_gone) if f is not None]
        try:
            return await unless(awaitable, *watch)
        except Interrupted:
            pass
        if self._rtp_gone is not None and self._rtp_gone.done():
            log.info("call %d: no RTP from the caller for %.0f s; hanging up", self.record.id,
                     self.s.config.media.rtp_timeout)
            with contextlib.suppress(Exception):
                await self.call.hangup()
        raise CallerGone

    async def _follow(self, stream: RtpStream) -> None:
        """The caller's signalling while the call lasts: INFO keys, re-INVITEs, REFERs."""
        with contextlib.suppress(CallEnded):
            async for event in self.call.events():
                if isinstance(event, Dtmf):
                    if stream.peer is not None:
                        stream.peer.send_digits(event.digit)  # bridged: on to the engineer
                    else:
                        stream.digit_from_info(event.digit, event.duration_ms)
                elif isinstance(event, Reinvite):
                    media = event.media
                    stream.set_remote((media.remote_address, media.remote_port),
                                      (media.remote_address, media.rtcp_port))
                elif isinstance(event, Refer):
                    await event.finish(603, "Decline")  # a caller does not transfer the hotline

    # -- prompts ---------------------------------------------------------------------------

    async def prompt_items(self, prompt_ids: Sequence[str], *, barge_in: bool = True) -> list[Item]:
        stream = await self.answer()
        items: list[Item] = []
        for prompt_id in prompt_ids:
            path = self.s.library.resolve(prompt_id, self.language) or self.s.library.resolve(
                prompt_id, self.flow.languages[0])
            if path is None:
                log.warning("call %d: prompt %r (%s) has no file; skipped", self.record.id, prompt_id,
                            self.language)
                continue
            item = await self._item(path, stream, barge_in)
            if item is not None:
                items.append(item)
        return items

    async def _item(self, path: Path, stream: RtpStream, barge_in: bool) -> PromptItem | None:
        try:
            prompt = await self.s.prompts.load(path, stream)
        except Exception as exc:  # a broken WAV must not drop the call
            log.warning("cannot play %s: %s", path, exc)
            return None
        return PromptItem(prompt, barge_in=barge_in)

    async def category_items(self, digits: Mapping[str, str]) -> list[Item]:
        """"网络问题请按2" for each category the menu offers, in digit order."""
        stream = await self.answer()
        items: list[Item] = []
        for digit, category in sorted(digits.items()):
            path = self.s.library.resolve(f"menu-category-{category}", self.language)
            if path is None and self.s.speech is not None:
                info = self.s.categories.get(category)
                if info is not None:
                    name = info[1] if self.language == "en" and info[1] else info[0]
                    text = (f"{name}请按{digit}。" if self.language == "zh"
                            else f"For {name}, press {digit}.")
                    with contextlib.suppress(Exception):
                        path = await asyncio.wait_for(self.s.speech.say(text, self.language), 3.0)
            item = await self._item(path, stream, True) if path is not None else None
            if item is not None:
                items.append(item)
        return items

    async def speak(self, parts: Sequence[tuple[str, Path]], *,
                    key_within: float | None = None) -> str | None:
        """Play spoken fragments in order; with ``key_within``, wait that long for one key after.

        Each part is (what it says, its WAV); what is said goes to the log, so a read-back can
        be checked against the issue it reads. Returns the key pressed (a key cuts the speech
        short), or None.
        """
        stream = await self.answer()
        log.info("call %d: says %s", self.record.id, " | ".join(label for label, _ in parts))
        items: list[Item] = []
        for _, path in parts:
            item = await self._item(path, stream, key_within is not None)
            if item is not None:
                items.append(item)
        if key_within is None:
            await self.play_and_wait(items)
            return None
        digit = self._pressed(stream)
        if digit is None:
            stream.play(items)
            digit = await self._next_digit(stream, key_within, after_playback=True)
        stream.stop_playback()
        return digit

    async def note_choice(self, node: str, digits: str, choice: str) -> None:
        """Put a choice the caller made on the call row and the event bus."""
        await self._choice(node, digits, choice)

    async def play_and_wait(self, items: list[Item]) -> bool:
        """Play to the caller; True if it played to the end (False: a key cut it short)."""
        stream = await self.answer()
        if not items:
            return True
        stream.play(items)
        return await self.until_gone(stream.wait_played())

    # -- the nodes -------------------------------------------------------------------------

    async def play(self, node: PlayNode) -> str:
        await self.play_and_wait(await self.prompt_items(node.prompts, barge_in=node.barge_in))
        return node.next

    async def menu(self, node: MenuNode) -> str:
        stream = await self.answer()
        digit_map = self.s.category_digits() if node.categories else {}
        tries = 0
        while True:
            digit = self._pressed(stream)
            if digit is None:
                items: list[Item] = []
                for prompt_id in node.prompts:
                    if prompt_id == CATEGORY_PROMPTS:
                        items += await self.category_items(
                            {d: c for d, c in digit_map.items() if d not in node.choices})
                    else:
                        items += await self.prompt_items([prompt_id], barge_in=node.barge_in)
                stream.play(items)
                digit = await self._next_digit(stream, node.timeout, after_playback=True)
            if digit is None:
                tries += 1
                if tries > node.retries:
                    await self._choice(node.id, "", "timeout")
                    return node.timeout_next
                continue
            choice = menu_target(node, digit, digit_map)
            if choice is None:
                await self._choice(node.id, digit, "invalid")
                tries += 1
                if tries > node.retries:
                    return node.timeout_next
                await self.play_and_wait(await self.prompt_items(node.invalid))
                continue
            stream.stop_playback()
            await self._choice(node.id, digit, choice.category or choice.next)
            if choice.category:
                self.category = choice.category
                self.later(functools.partial(self.set_fields, {"category": choice.category},
                                             note=f"IVR menu: {digit}"))
            return choice.next

    async def collect(self, node: CollectNode) -> str:
        stream = await self.answer()
        for _attempt in range(3):
            stream.play(await self.prompt_items(node.prompts))
            typed = ""
            while len(typed) < node.max_digits:
                digit = self._pressed(stream)
                if digit is None:
                    digit = await self._next_digit(stream, node.timeout, after_playback=not typed)
                if digit is None:
                    break
                stream.stop_playback()
                if node.terminator and digit == node.terminator:
                    break
                typed += digit
            if len(typed) >= node.min_digits:
                await self._choice(node.id, typed, node.into)
                await self._store_collected(node.into, typed)
                return node.next
        await self._choice(node.id, "", "timeout")
        return node.timeout_next

    async def set(self, node: SetNode) -> str:
        changes: dict[str, Any] = {}
        if node.category:
            changes["category"] = node.category
        if node.priority:
            changes["priority"] = node.priority
        if node.tags:
            changes["tags"] = sorted(set(self.issue.tags) | set(node.tags))
        if changes:
            await self.set_fields(changes, note=f"IVR {self.flow.name}/{node.id}")
        if node.language:
            self.language = node.language
            await shielded(self.s.store.calls.update(self.record.id, language=node.language))
        return node.next

    def branch(self, node: BranchNode, facts: Mapping[str, bool]) -> str:
        return node.then if conditions_hold(node.when, facts) else node.otherwise

    async def facts(self) -> dict[str, bool]:
        """The conditions a branch may test, as they stand now."""
        s = self.s
        now = s.clock()
        day = s.calendar.day(now.astimezone(s.calendar.tz).date())
        open_issues = await s.issues.open_issues_of_caller(
            caller_key=self.record.caller_key, employee_id=self.issue.employee_id, besides=self.issue.id)
        return {
            "business_hours": s.calendar.is_business_time(now),
            "holiday": day.kind is DayKind.HOLIDAY,
            "make_up_workday": day.kind is DayKind.MAKE_UP_WORKDAY,
            "weekend": day.kind is DayKind.WEEKEND,
            "caller_known": self.caller.employee_id is not None,
            "caller_has_open_issue": bool(open_issues) and self.linked is None,
            "desk_available": s.desk_available(),
            "major_incident": bool(await s.active_incidents()),
        }

    async def route(self, node: RouteNode) -> str | None:
        return await Connector(self).route(node)

    async def voicemail(self, node: VoicemailNode) -> str | None:
        s = self.s
        stream = await self.answer()
        s.bus.publish(Routed(self.record.id, s.clock(), "voicemail", f"{self.flow.name}/{node.id}"))
        await self.play_and_wait(await self.prompt_items(node.prompts, barge_in=False))
        path = recording_path(s.config.media.recordings_dir, self.record.id)
        result = await record_voicemail(
            s.engine, stream, path, max_seconds=min(node.max_seconds, s.config.routing.voicemail_seconds),
            silence_seconds=SILENCE_SECONDS, hangup=self.call.wait_ended(),
        )
        # A recording that stopped for silence after no more than the silence it waited for
        # holds nothing but that silence: no message.
        said = result.seconds - (SILENCE_SECONDS if result.reason == "silence" else 0.0)
        if said < 1.0:
            log.info("call %d: voicemail empty (%s after %.1f s)", self.record.id, result.reason,
                     result.seconds)
            path.unlink(missing_ok=True)
            if self.call.is_over:
                raise CallerGone
            return node.next
        self.outcome.voicemail = result.path
        self.outcome.route = "voicemail"
        await shielded(s.store.calls.update(self.record.id, voicemail=str(result.path), route="voicemail"))
        s.bus.publish(Voicemail(self.record.id, s.clock(), str(result.path), result.seconds))
        await self.notify("voicemail", {"voicemail": str(result.path),
                                         "seconds": round(result.seconds, 1)},
                           f"voicemail of {result.seconds:.0f} s left ({result.reason})")
        if self.call.is_over:
            raise CallerGone
        return node.next

    async def hangup(self, node: HangupNode) -> None:
        if node.prompts:
            await self.play_and_wait(await self.prompt_items(node.prompts, barge_in=False))
        await self.call.hangup()

    # -- helpers of the nodes --------------------------------------------------------------

    @staticmethod
    def _pressed(stream: RtpStream) -> str | None:
        """A key pressed before we asked (barge-in on the previous prompt), if any."""
        if stream.digits.empty():
            return None
        return stream.digits.get_nowait().digit

    async def _next_digit(self, stream: RtpStream, timeout: float, *, after_playback: bool) -> str | None:
        """The next key, or None after ``timeout`` s of silence (counted once the prompt ends)."""

        async def wait() -> str | None:
            getter = asyncio.ensure_future(stream.digits.get())
            try:
                if after_playback:
                    played = asyncio.ensure_future(stream.wait_played())
                    await asyncio.wait([getter, played], return_when=asyncio.FIRST_COMPLETED)
                    played.cancel()
                    if getter.done():
                        return getter.result().digit
                try:
                    return (await asyncio.wait_for(asyncio.shield(getter), timeout)).digit
                except TimeoutError:
                    return None
            finally:
                if not getter.done():
                    getter.cancel()

        return await self.until_gone(wait())

    async def _choice(self, node: str, digits: str, choice: str) -> None:
        s = self.s
        # Written behind: the caller waits for no disk before being routed.
        self.later(lambda: s.store.calls.add_menu_choice(
            self.record.id, {"node": node, "digit": digits, "choice": choice}, digits))
        s.bus.publish(IvrChoice(self.record.id, s.clock(), node, digits, choice))

    def later(self, write: Callable[[], Awaitable[object]]) -> None:
        """Run a store write after the ones queued before it, without waiting for it.

        The call's own writes keep their order (one chain per call); :meth:`flush` waits for
        them all (the controller does before it writes the end of the call). A failed write is
        logged and the chain goes on.
        """
        previous = self._writes

        async def chained() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await shielded(write())
            except Exception:
                log.exception("call %d: a write of its record failed", self.record.id)

        self._writes = asyncio.ensure_future(chained())

    async def flush(self) -> None:
        """Wait until every write queued with :meth:`later` is done."""
        if self._writes is not None:
            await asyncio.wait([self._writes])

    async def _store_collected(self, into: str, typed: str) -> None:
        s = self.s
        if into == "employee_id":
            employee = await s.store.directory.get(typed)
            if employee is not None:
                await self.set_fields({"employee_id": employee.employee_id, "caller_name": employee.name},
                                      note="employee id keyed in the IVR")
            else:
                await self.set_fields({"description": (self.issue.description + "\n").lstrip()
                                       + f"IVR: employee id {typed} keyed (not in the directory)"},
                                      note="employee id keyed in the IVR")
        elif into == "callback_number":
            await self.set_fields({"description": (self.issue.description + "\n").lstrip()
                                   + f"IVR: call back on {typed}"}, note="call-back number keyed")

    async def set_fields(self, changes: Mapping[str, Any], *, note: str) -> None:
        try:
            self.issue = await shielded(self.s.issues.update_fields(
                self.issue.id, actor="ivr", changes=changes, note=note))
        except Exception as exc:  # an operator may have moved the issue on: the call goes on
            log.warning("call %d: could not set %s on issue %s: %s", self.record.id, sorted(changes),
                        self.issue.number, exc)
        if "category" in changes:
            self.category = changes["category"]

    async def notify(self, event: str, details: dict[str, Any], note: str) -> None:
        """Queue a notice for the on-call chain and the duty operators (through the outbox)."""
        s = self.s
        on_call = s.router.on_call(s.clock())
        people = list(on_call.chain) if on_call is not None else []
        try:
            await shielded(s.desk.notify_call(self.issue.id, event, people, details={
                **details, "call_id": self.record.id, "caller": self.caller.display or self.caller.number,
                "caller_name": self.caller.name}, note=note))
        except Exception:
            log.exception("call %d: could not queue the %s notice", self.record.id, event)

