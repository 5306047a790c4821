"""Call control: the ``on_call`` handler of ``hotline serve``.

Theory of operation. For every INVITE the SIP endpoint hands over, :class:`CallController`

1. decides admission at once, before any await (so a burst cannot slip past the count):
   past ``sip.max_calls`` calls at once, or ``sip.max_calls_per_caller`` from one number,
   the call will be refused;
2. normalises the caller (P-Asserted-Identity, Remote-Party-ID, From, Privacy) and commits
   the call and its issue in one transaction (:meth:`IssueService.create_issue_for_call`)
   BEFORE the first ring — a caller who hangs up at once, or is refused, is on record;
3. publishes ``call_arrived`` on the event bus, then either refuses (``503`` with
   ``Retry-After``: disposition ``rejected``, the issue flagged for a call back) or runs the
   call's flow (:class:`~hotline.calls.interpreter.CallRun`) — the flow serving the dialled
   number, taken when the call starts, so a reload never changes a call in progress;
4. records how it ended: route, who answered, ring and talk seconds, language, media
   statistics, disposition; a missed call (or one abandoned while it rang for a person)
   flags the issue for a call back and tells the desk; ``call_ended`` on the bus.

A media port pool that runs dry is handled like overload (503, recorded), never as a
handler crash. The controller owns the per-call services (:class:`CallServices`): the
router, the forwarder factory, prompts, speech, the categories' menu digits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hotline.calendar import BusinessCalendar
from hotline.callerid import CallerKind, caller_from_headers
from hotline.calls.flows import FlowSet
from hotline.calls.forwarding import Forwarder
from hotline.calls.interpreter import CallRun, PromptLoader
from hotline.calls.outcome import CallerFacts, shielded
from hotline.calls.routing import Router
from hotline.calls.speech import PromptLibrary, Speech
from hotline.config import Config
from hotline.desk.service import Desk
from hotline.events import CallArrived, CallEnded, EventBus
from hotline.incidents import Incident, IncidentService
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.media.ports import PortsExhausted
from hotline.services import numbering_plan
from hotline.sip.call import IncomingCall
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.protection import PeerAllowList
from hotline.sip.sdp import SdpError
from hotline.store import Store
from hotline.store.records import CallRecord, IssueRecord, NewCall

__all__ = ["CallController", "CallServices", "disposition_of"]

log = logging.getLogger(__name__)

CATEGORY_TTL = 30.0
"""Seconds the categories' menu digits are cached (a new category reaches menus this fast)."""


@dataclass
class CallServices:
    """What every call's run needs, shared by all calls."""

    config: Config
    store: Store
    issues: IssueService
    desk: Desk
    engine: MediaEngine
    bus: EventBus
    clock: Callable[[], datetime]
    calendar: BusinessCalendar
    router: Router
    library: PromptLibrary
    speech: Speech | None
    prompts: PromptLoader = field(default_factory=PromptLoader)
    incidents: IncidentService | None = None
    """Major incidents (the ``major_incident`` condition, the ``announce_incident`` node)."""
    endpoint: SipEndpoint | None = None
    media_address: str | None = None
    desk_busy: int = 0
    """Calls ringing or bridged to the desk right now (the ``desk_available`` condition)."""
    categories: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Category id → (name, English name)."""
    _digits: dict[str, str] = field(default_factory=dict)
    _digits_at: float = -1e9
    _inband: PeerAllowList | None = None

    def category_digits(self) -> dict[str, str]:
        """Menu digit → category id, as the database says (refreshed by the controller)."""
        return dict(self._digits)

    async def refresh_categories(self) -> None:
        if time.monotonic() - self._digits_at < CATEGORY_TTL:
            return
        categories = await self.store.people.categories()
        self.categories = {c.id: (c.name, c.name_en) for c in categories}
        self._digits = {c.dtmf: c.id for c in categories if c.dtmf}
        self._digits_at = time.monotonic()

    async def active_incidents(self) -> Sequence[Incident]:
        """Major incidents not cleared, newest first (none without an incident service)."""
        return await self.incidents.active() if self.incidents is not None else ()

    def desk_available(self) -> bool:
        return len(self.config.routing.desk) > self.desk_busy

    def forwarder(self, allowed: Callable[[str], bool]) -> Forwarder:
        assert self.endpoint is not None, "the SIP endpoint is not started"
        return Forwarder(self.endpoint, self.engine, allowed=allowed, codecs=self.config.media.codecs,
                         ptime_ms=self.config.media.ptime, media_address=self.media_address,
                         prompts=self.prompts.cache)

    def recorded_announcement(self, language: str) -> Path | None:
        return self.library.resolve("recorded", language)

    def inband_dtmf(self, source: tuple[str, int]) -> bool:
        if self._inband is None:
            self._inband = PeerAllowList(self.config.media.inband_dtmf_peers)
        return self._inband.allows(*source)


def disposition_of(run: CallRun) -> str:
    """The call record's disposition once its flow has ended (see the module doc)."""
    outcome = run.outcome
    if outcome.disposition is not None:
        return outcome.disposition
    if outcome.answered_by is not None:
        return "answered"
    if outcome.voicemail is not None:
        return "voicemail"
    ended = run.call.ended
    if ended is not None and ended.reason in ("remote-bye", "cancelled"):
        return "abandoned"
    if ended is not None and ended.reason == "no-ack":
        return "failed"
    return "missed"


class CallController:
    """``on_call`` handler for :class:`~hotline.sip.endpoint.SipEndpoint` (see the module doc)."""

    def __init__(self, services: CallServices, flows: Callable[[], FlowSet]) -> None:
        self.s = services
        self.flows = flows
        self.plan = numbering_plan(services.config)
        self.active = 0
        """Calls being handled now."""
        self.by_caller: Counter[str] = Counter()
        self.refused = 0
        """Calls refused for overload since start."""

    def _refusal(self, key: str) -> str | None:
        sip = self.s.config.sip
        if self.active >= sip.max_calls:
            return f"{self.active} calls in progress (sip.max_calls = {sip.max_calls})"
        if key and self.by_caller[key] >= sip.max_calls_per_caller:
            return f"{self.by_caller[key]} calls from {key} (sip.max_calls_per_caller)"
        return None

    async def __call__(self, call: IncomingCall) -> None:
        s = self.s
        started = s.clock()
        caller = caller_from_headers(
            p_asserted_identity=call.p_asserted_identity, from_=call.request.headers.get("From"),
            remote_party_id=call.remote_party_id, privacy=call.privacy, plan=self.plan,
        )
        key = caller.key
        refusal = self._refusal(key)
        if refusal is None:
            # Only admitted calls count: refusals still being written must not hold places.
            self.active += 1
            if key:
                self.by_caller[key] += 1
        try:
            flow = self.flows().for_number(call.called)
            record, issue = await shielded(s.issues.create_issue_for_call(NewCall(
                sip_call_id=call.call_id, started_at=started, from_uri=call.from_uri,
                from_display=caller.display_name or call.from_display, caller_raw=caller.raw,
                caller_key=key or None, to_uri=call.to_uri, direction="in",
            )))
            facts = await self._facts(caller, issue)
            s.bus.publish(CallArrived(record.id, s.clock(), issue.id, issue.number, facts.display,
                                      facts.name, facts.employee_id, flow.name))
            log.info("call %s from %r: call #%d, issue %s, flow %s", call.call_id, key, record.id,
                     issue.number, flow.name)
            if refusal is not None:
                await self._refuse(call, record, issue, refusal)
                return
            await s.refresh_categories()
            run = CallRun(s, call, record, issue, facts, flow)
            try:
                if not call.is_over:
                    await call.ringing()
                await run.run()
            except PortsExhausted:
                if run.stream is None:
                    await self._refuse(call, record, issue, "no free RTP port")
                    return
                raise
            except SdpError as exc:
                log.info("call %s: cannot answer the offer (%s)", call.call_id, exc)
                await call.reject(exc.status)
            await self._finish(run)
        finally:
            if refusal is None:
                self.active -= 1
                if key:
                    self.by_caller[key] -= 1
                    if self.by_caller[key] <= 0:
                        del self.by_caller[key]

    async def _facts(self, caller: Any, issue: IssueRecord) -> CallerFacts:
        withheld = caller.kind is CallerKind.WITHHELD
        department = None
        name = issue.caller_name
        if issue.employee_id:
            employee = await self.s.store.directory.get(issue.employee_id)
            if employee is not None:
                department = employee.department or None
                name = employee.name
        number = "" if withheld else (caller.e164 or caller.digits or caller.key)
        return CallerFacts(number=number, display="" if withheld else (caller.national or number),
                           name=None if withheld else name, department=department,
                           employee_id=issue.employee_id, withheld=withheld)

    async def _refuse(self, call: IncomingCall, record: CallRecord, issue: IssueRecord, why: str) -> None:
        """503 with Retry-After; the call stays on record, its issue flagged for a call back."""
        s = self.s
        self.refused += 1
        log.warning("call %s refused with 503: %s", call.call_id, why)
        ended = s.clock()
        if not call.is_over:
            with contextlib.suppress(Exception):
                await call.reject(503, retry_after=s.config.sip.retry_after)
        try:
            await shielded(s.issues.update_fields(issue.id, actor="system", changes={"call_back": True},
                                                  note=f"refused for overload: {why}"))
        except Exception:
            log.exception("call %s: could not flag issue %s for a call back", call.call_id, issue.number)
        await shielded(s.store.calls.end(record.id, ended, "rejected"))
        s.bus.publish(CallEnded(record.id, s.clock(), "rejected"))

    async def _finish(self, run: CallRun) -> None:
        s, call = self.s, run.call
        ended = s.clock()  # before the writes below queue behind others
        await run.flush()
        stats: dict[str, Any] = {}
        if run.stream is not None:
            stats = {"caller": await run.stream.close("hangup")}
            if run.outcome.relay:
                stats.update(run.outcome.relay)
        if not call.is_over:
            with contextlib.suppress(Exception):
                await call.hangup()
        disposition = disposition_of(run)
        now = s.engine.now()
        answered_at = run.outcome.answered_at
        changes: dict[str, Any] = {
            "flow": run.flow.name, "language": run.language,
            "ring_seconds": round((answered_at or now) - run.started, 1),
            "talk_seconds": round(run.outcome.talk_seconds, 1),
        }
        if run.outcome.route is not None:
            changes["route"] = run.outcome.route
        elif run.outcome.voicemail is not None:
            changes["route"] = "voicemail"
        if run.outcome.answered_by is not None:
            changes["answered_by"] = run.outcome.answered_by
        await shielded(s.store.calls.update(run.record.id, **changes))
        if stats:
            with contextlib.suppress(Exception):
                await shielded(s.store.calls.set_media_stats(run.record.id, stats))
        await shielded(s.store.calls.end(run.record.id, ended, disposition))
        if disposition == "missed" or (disposition == "abandoned" and run.outcome.routed):
            await self._flag_call_back(run, disposition)
        s.bus.publish(CallEnded(run.record.id, s.clock(), disposition, run.outcome.answered_by))
        log.info("call #%d ended: %s%s", run.record.id, disposition,
                 f" (answered by {run.outcome.answered_by})" if run.outcome.answered_by else "")

    async def _flag_call_back(self, run: CallRun, disposition: str) -> None:
        s = self.s
        why = ("nobody answered and no voicemail was left" if disposition == "missed"
               else "the caller hung up while waiting for a person")
        try:
            await shielded(s.issues.update_fields(run.issue.id, actor="system",
                                                  changes={"call_back": True}, note=why))
        except Exception:
            log.exception("call #%d: could not flag issue %s for a call back", run.record.id,
                          run.issue.number)
        await run.notify("missed_call", {"disposition": disposition}, why)

