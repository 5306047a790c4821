"""Calling an employee back from the console: the user's desk phone first, then the employee.

Theory of operation. :meth:`CallbackDialer.start` is what the record page's "call back" button
reaches (through the app key ``CALLBACKS``, so the console imports no SIP). It builds the
numbers offered for the issue again from the database and lets :func:`~.callback_plan.decide`
judge the posted key; a refusal (a key that is not an offer, no desk phone, a call back of the
issue already running, no outbound proxy) dials nothing and goes on the issue's audit trail.
Otherwise it commits the outbound call row (``direction = 'out'``, linked to the issue) with a
``call_back`` audit entry, publishes ``call_arrived`` (flow ``callback``) on the event bus, and
runs the call in a task of its own, so the page answers at once:

1. the user's desk phone is rung (``routing.desk_ring_seconds``); busy, no answer or a failure
   end the call back there -- the employee is never dialled;
2. once the user answers, the forwarder dials the employee (``routing.oncall_ring_seconds``,
   only the number decided on passes its allow-check) while the user hears Chinese ringback
   (450 Hz, 1 s on, 4 s off), and bridges the two when the employee answers -- recorded when
   ``routing.record`` is on;
3. an employee who is busy or does not answer gets the user the busy tone, then a hang-up; a
   user who hangs up while the employee's phone rings has that leg CANCELled.

Each leg is an attempt on the call row (who, when, outcome, seconds) and an event on the bus
as it happens; the end writes who answered, ring and talk seconds, the disposition
(:func:`~.callback_plan.disposition_of`) and the media statistics. An employee who answers has
been reached: the issue leaves the operators' "callers to call back" queue
(:meth:`~hotline.issues.IssueService.clear_call_back`, audited as the user's). Stopping the server
cancels running call backs: their legs are hung up and their rows closed as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotline.calls.callback_plan import CallbackPlan, Offer, Refusal, decide, disposition_of, offered_numbers
from hotline.calls.forwarding import Forwarder, ForwardPlan, LegOutcome, outcome_of
from hotline.calls.media_address import toward_first_hop
from hotline.calls.outcome import shielded
from hotline.config import Config
from hotline.events import Answered, CallArrived, CallEnded, Declined, EventBus, Ringing, Routed
from hotline.issues import IssueService
from hotline.media.codecs import codec_named
from hotline.media.engine import MediaEngine
from hotline.media.player import ToneItem
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.media.tones import BUSY
from hotline.media.voicemail import recording_path
from hotline.sip.call import CallFailed, OutgoingCall
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import make_offer
from hotline.store import Store
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import IssueRecord, NewCall

__all__ = ["CallbackDialer", "Started"]

log = logging.getLogger(__name__)

BUSY_TONE_MS = 3000
"""How long the user hears the busy tone when the employee cannot be reached."""
ROUTE = "callback"


@dataclass(frozen=True, slots=True)
class Started:
    """A call back is under way: its call row."""

    call_id: int


@dataclass
class _Progress:
    """What happened so far, for the call row at the end."""

    operator_outcome: str = "failed"
    employee_outcome: str | None = None
    bridged: bool = False
    talk_seconds: float = 0.0
    ring_seconds: float | None = None
    disposition: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class CallbackDialer:
    """Places call backs for the console (see the module doc); one per issue at a time."""

    def __init__(self, *, config: Config, store: Store, issues: IssueService, endpoint: SipEndpoint,
                 engine: MediaEngine, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.issues = issues
        self.outbound = OutboundCallStore(store.db)
        self.endpoint = endpoint
        self.engine = engine
        self.bus = bus
        self.clock = clock
        self.operator_ring_seconds = config.routing.desk_ring_seconds
        self.employee_ring_seconds = config.routing.oncall_ring_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._claimed: set[int] = set()
        """Issues with a call back being placed or in progress."""
        self._stopping = False

    # -- for the console -------------------------------------------------------------------

    async def offers(self, issue: IssueRecord) -> tuple[Offer, ...]:
        """The numbers a call back of ``issue`` may dial (the directory's and the caller ID)."""
        employee = await self.store.directory.get(issue.employee_id) if issue.employee_id else None
        return offered_numbers(mobile=employee.mobile if employee else None,
                               extension=employee.extension if employee else None,
                               caller_key=issue.caller_key)

    def running(self, issue_id: int) -> bool:
        """Whether a call back of the issue is being placed or in progress."""
        return issue_id in self._claimed

    async def desk_phone(self, user_id: str) -> str | None:
        account = await self.store.accounts.get(user_id)
        return account.desk_phone if account is not None else None

    async def start(self, issue: IssueRecord, user_id: str, key: str) -> Started | Refusal:
        """Start a call back of ``issue`` by ``user_id`` to the offer under ``key``."""
        offers = await self.offers(issue)
        desk_phone = await self.desk_phone(user_id)
        open_rows = await self.outbound.open_for_issue(issue.id)
        # No await from this check to the claim: two clicks at once cannot both pass it.
        verdict = decide(desk_phone=desk_phone, offers=offers, key=key,
                         running=bool(open_rows) or self.running(issue.id) or self._stopping,
                         can_dial_numbers=self.config.sip.outbound.proxy is not None)
        if not isinstance(verdict, Refusal):
            self._claimed.add(issue.id)
        if isinstance(verdict, Refusal):
            # The posted key only, never a number that was not offered.
            await self.outbound.refused(issue.id, self.clock(), actor=user_id, reason=verdict.value,
                                        note={"key": key[:40]})
            log.info("call back of issue %s by %s refused: %s", issue.number, user_id, verdict.value)
            return verdict
        try:
            return await self._place(issue, user_id, verdict)
        except BaseException:
            self._claimed.discard(issue.id)
            raise

    async def _place(self, issue: IssueRecord, user_id: str, verdict: CallbackPlan) -> Started:
        """Commit the call row, announce the call, start its task (which releases the claim)."""
        employee = await self.store.directory.get(issue.employee_id) if issue.employee_id else None
        name = employee.name if employee is not None else issue.caller_name
        # The desk phone's display: the issue and whom it is about to call.
        shown = f"{issue.number} {name or verdict.employee.dial}"
        started = self.clock()
        record = await self.outbound.create(
            NewCall(sip_call_id=f"callback-{uuid.uuid4().hex}", started_at=started,
                    from_uri=verdict.operator_phone, from_display=shown,
                    caller_raw=verdict.employee.dial, caller_key=verdict.employee.dial,
                    to_uri=verdict.employee.dial, direction="out"),
            issue_id=issue.id, placed_by=user_id, employee_id=issue.employee_id,
            note={"key": verdict.employee.key, "number": verdict.employee.dial,
                  "desk_phone": verdict.operator_phone}, flow=ROUTE)
        call_id = record.call.id
        self.bus.publish(CallArrived(call_id, started, issue.id, issue.number, verdict.employee.dial,
                                     name, issue.employee_id, ROUTE, direction="out", placed_by=user_id))
        self.bus.publish(Routed(call_id, started, ROUTE, f"call back by {user_id}"))
        task = asyncio.ensure_future(self._run(call_id, verdict, issue, user_id, shown))
        self._tasks.add(task)

        def done(_: object) -> None:
            self._tasks.discard(task)
            self._claimed.discard(issue.id)

        task.add_done_callback(done)
        return Started(call_id)

    async def stop(self) -> None:
        """Hang up every call back in progress and wait for their rows to be closed."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- one call back ---------------------------------------------------------------------

    async def _run(self, call_id: int, plan: CallbackPlan, issue: IssueRecord, user_id: str,
                   shown: str) -> None:
        began = self.engine.now()
        progress = _Progress()
        stream: RtpStream | None = None
        leg: OutgoingCall | None = None
        try:
            address = await toward_first_hop(self.endpoint, self.config.sip.outbound.proxy,
                                             plan.operator_phone)
            stream = await self._open_stream()
            offer = make_offer(address, stream.port, self.config.media.codecs, ptime=self.config.media.ptime)
            self.bus.publish(Ringing(call_id, self.clock(), plan.operator_phone, user_id))
            leg = await self.endpoint.place_call(
                plan.operator_phone, allowed=lambda target: target == plan.operator_phone,
                caller_id=self.config.sip.hotline_number or plan.employee.dial,
                display_name=shown,
                sdp_offer=offer.serialize(), timeout=self.operator_ring_seconds)
            try:
                answer = await leg.answered()
            except CallFailed as failed:
                progress.operator_outcome = outcome_of(failed.ended)
                await self._attempt(call_id, "operator", plan.operator_phone, user_id,
                                    progress.operator_outcome, self.engine.now() - began,
                                    failed.ended.status, leg.call_id)
                self.bus.publish(Declined(call_id, self.clock(), plan.operator_phone, user_id,
                                          progress.operator_outcome))
                return
            progress.operator_outcome = "answered"
            self.bus.publish(Answered(call_id, self.clock(), plan.operator_phone, user_id))
            await self._attempt(call_id, "operator", plan.operator_phone, user_id, "answered",
                                self.engine.now() - began, None, leg.call_id)
            if answer.media is None:
                log.warning("call back %d: no audio agreed with %s", call_id, plan.operator_phone)
                return
            stream.reconfigure(self.engine.stream_config(answer.media))
            await self._employee(call_id, plan, issue, user_id, leg, stream, address, began, progress)
        except asyncio.CancelledError:
            progress.disposition = "interrupted"
            raise
        except Exception:
            log.exception("call back %d failed", call_id)
            progress.disposition = "failed"
        finally:
            if leg is not None and not leg.is_over:
                with contextlib.suppress(Exception):
                    await leg.hangup()
            if stream is not None and not stream.closed:
                progress.stats["operator"] = await stream.close("call back ended")
            await self._finish(call_id, progress, began)

    async def _employee(self, call_id: int, plan: CallbackPlan, issue: IssueRecord, user_id: str,
                        leg: OutgoingCall, stream: RtpStream, address: str, began: float,
                        progress: _Progress) -> None:
        """Dial the employee from the answered desk phone's leg and bridge the two."""
        employee = plan.employee
        record_to = None
        if self.config.routing.record:
            record_to = recording_path(self.config.media.recordings_dir, call_id, kind="call")
        forwarder = Forwarder(self.endpoint, self.engine, allowed=lambda target: target == employee.dial,
                              codecs=self.config.media.codecs, ptime_ms=self.config.media.ptime,
                              media_address=address)
        who = issue.employee_id or employee.dial

        async def bridged(answered: LegOutcome) -> None:
            progress.ring_seconds = self.engine.now() - began
            self.bus.publish(Answered(call_id, self.clock(), employee.dial, None))
            await shielded(self.store.calls.update(
                call_id, answered_at=self.clock(), answered_by=who, route=f"{ROUTE}:{employee.key}",
                ring_seconds=round(progress.ring_seconds, 1)))
            await self._attempt(call_id, employee.key, employee.dial, None, "answered",
                                answered.ring_seconds, None, None, employee=issue.employee_id)
            await self._reached(call_id, issue, user_id)

        self.bus.publish(Ringing(call_id, self.clock(), employee.dial, None))
        result = await forwarder.forward_any(leg, stream, [ForwardPlan(
            employee.dial, caller_id=self.config.sip.hotline_number, display_name=self.config.site.name,
            ring_timeout=self.employee_ring_seconds, record_to=record_to)], on_bridged=bridged)
        progress.bridged = result.accepted
        progress.talk_seconds = result.bridged_seconds
        progress.stats.update(employee=result.callee_stats, relay=result.relay)
        if result.recording is not None:
            await shielded(self.store.calls.update(call_id, recording=str(result.recording)))
        unanswered = [o for o in result.legs if o.outcome != "answered"]
        for outcome in unanswered:
            await self._attempt(call_id, employee.key, employee.dial, None, outcome.outcome,
                                outcome.ring_seconds, outcome.status, None, employee=issue.employee_id)
            self.bus.publish(Declined(call_id, self.clock(), employee.dial, None, outcome.outcome))
        progress.employee_outcome = "answered" if result.accepted else (
            unanswered[-1].outcome if unanswered else "failed")
        if not result.accepted and not leg.is_over:
            # The user is still listening: the busy tone says the employee was not reached.
            stream.play([ToneItem(BUSY, BUSY_TONE_MS)])
            ended = asyncio.ensure_future(leg.wait_ended())
            try:
                await asyncio.wait([ended, asyncio.ensure_future(stream.wait_played())],
                                   return_when=asyncio.FIRST_COMPLETED, timeout=BUSY_TONE_MS / 1000 + 1)
            finally:
                ended.cancel()

    # -- helpers ---------------------------------------------------------------------------

    async def _reached(self, call_id: int, issue: IssueRecord, user_id: str) -> None:
        """The employee answered: nobody needs to call them back about this issue any more."""
        try:
            cleared = await shielded(self.issues.clear_call_back(
                issue.id, actor=user_id, note=f"caller reached by a call back (call #{call_id})"))
        except Exception:  # the call goes on; the flag stays for an operator to see
            log.exception("call back %d: could not clear the call-back flag of %s", call_id, issue.number)
            return
        if cleared is not None:
            log.info("call back %d: %s leaves the callers to call back", call_id, issue.number)

    async def _open_stream(self) -> RtpStream:
        return await self.engine.open_stream(StreamConfig(
            codec_named(self.config.media.codecs[0]), None, ptime_ms=self.config.media.ptime,
            receives=False,  # no RTP timeout while the desk phone rings
            rtp_timeout=self.engine.rtp_timeout, symmetric_rtp=self.engine.symmetric_rtp))

    async def _attempt(self, call_id: int, role: str, target: str, person: str | None, outcome: str,
                       seconds: float, status: int | None, sip_call_id: str | None, *,
                       employee: str | None = None) -> None:
        entry: dict[str, Any] = {
            "route": ROUTE, "role": role, "target": target, "person": person,
            "at": self.clock().isoformat(timespec="seconds"), "outcome": outcome,
            "seconds": round(seconds, 1),
        }
        if status is not None:
            entry["status"] = status
        if employee is not None:
            entry["employee"] = employee
        if sip_call_id is not None:
            entry["sip_call_id"] = sip_call_id
        await shielded(self.store.calls.add_attempt(call_id, entry))

    async def _finish(self, call_id: int, progress: _Progress, began: float) -> None:
        disposition = progress.disposition or disposition_of(
            operator_outcome=progress.operator_outcome, employee_outcome=progress.employee_outcome,
            bridged=progress.bridged)
        changes: dict[str, Any] = {"talk_seconds": round(progress.talk_seconds, 1),
                                   "disposition": disposition}
        if progress.ring_seconds is None:
            changes["ring_seconds"] = round(self.engine.now() - began, 1)
        try:
            await shielded(self.store.calls.update(call_id, **changes))
            if progress.stats:
                await shielded(self.store.calls.set_media_stats(call_id, progress.stats))
            await shielded(self.store.calls.end(call_id, self.clock(), disposition))
        except Exception:
            log.exception("call back %d: the record could not be closed", call_id)
        answered_by = None
        if progress.bridged:
            row = await self.store.calls.get(call_id)
            answered_by = row.answered_by if row is not None else None
        self.bus.publish(CallEnded(call_id, self.clock(), disposition, answered_by))
        log.info("call back %d ended: %s", call_id, disposition)
