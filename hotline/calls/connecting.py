"""Connecting a caller to people: a flow's ``route`` node, rung and recorded.

:class:`Connector` takes a :class:`~hotline.calls.interpreter.CallRun` at a ``route`` node:
it asks the router for a plan, records the people who cannot be rung and why, rings the rest
through the forwarder (one after another, or together) with the whisper and press-1 accept,
and puts every attempt on the call row and the event bus as it happens -- who answered the
moment the legs are bridged. In redirect or refer mode it hands the call to the PBX instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.calls.flows import RouteNode
from hotline.calls.forwarding import ForwardPlan, ForwardResult, LegOutcome
from hotline.calls.outcome import CallerGone, shielded
from hotline.calls.routing import RoutePlan, Target
from hotline.events import Accepted, Answered, Declined, Ringing, Routed
from hotline.media.stream import RtpStream
from hotline.media.voicemail import recording_path

if TYPE_CHECKING:
    from hotline.calls.interpreter import CallRun

__all__ = ["Connector"]

log = logging.getLogger(__name__)


class Connector:
    """Rings a route's people for one call (see the module doc)."""

    def __init__(self, run: CallRun) -> None:
        self.run = run
        self.s = run.s

    async def route(self, node: RouteNode) -> str | None:
        s = self.s
        if node.to == "owner":
            plan = await s.router.plan_owner(self.run.linked, s.clock(), ring_seconds=node.ring_seconds)
        else:
            plan = await s.router.plan(node.to, s.clock(), ring_seconds=node.ring_seconds)
        reason = plan.note or f"{self.run.flow.name}/{node.id}"
        s.bus.publish(Routed(self.run.record.id, s.clock(), node.to, reason))
        self.run.outcome.routed = True
        self.run.outcome.route = node.to  # the route tried, until someone on it answers
        for target in plan.targets:
            if target.skip is not None:
                self._attempt_later(plan, target, "skipped", note=target.skip)
        reachable = plan.reachable
        if not reachable:
            log.info("call %d: route %s has nobody to ring (%s)", self.run.record.id, node.to, reason)
            return node.next
        if s.config.routing.mode != "bridge":
            return await self._hand_over(plan, reachable[0])
        stream = await self.run.answer()
        if node.to == "desk":
            s.desk_busy += 1
        try:
            if plan.together:
                done = await self._ring(plan, reachable, stream)
            else:
                done = False
                for target in reachable:
                    done = await self._ring(plan, (target,), stream)
                    if done or self.run.call.is_over:
                        break
        finally:
            if node.to == "desk":
                s.desk_busy -= 1
        if self.run.call.is_over:
            raise CallerGone
        return None if done else node.next

    def _attempt_later(self, plan: RoutePlan, target: Target, outcome: str, *, note: str = "") -> None:
        """Record an attempt without holding up the ringing (the run's write chain keeps order)."""
        self.run.later(lambda: self._attempt(plan, target, outcome, note=note))

    async def _attempt(self, plan: RoutePlan, target: Target, outcome: str, *, note: str = "",
                       seconds: float = 0.0, status: int | None = None) -> None:
        s = self.s
        entry: dict[str, Any] = {
            "route": plan.route, "target": target.dial, "role": target.role, "person": target.person,
            "at": s.clock().isoformat(timespec="seconds"), "outcome": outcome,
            "seconds": round(seconds, 1),
        }
        if status is not None:
            entry["status"] = status
        if note:
            entry["note"] = note
        await shielded(s.store.calls.add_attempt(self.run.record.id, entry))
        if outcome not in ("answered", "skipped"):
            s.bus.publish(Declined(self.run.record.id, s.clock(), target.dial, target.person, outcome))

    async def _ring(self, plan: RoutePlan, targets: Sequence[Target], stream: RtpStream) -> bool:
        """Ring ``targets`` (together if several); True when one accepted and the call is done."""
        s = self.s
        for target in targets:
            s.bus.publish(Ringing(self.run.record.id, s.clock(), target.dial, target.person))
        whisper: list[Path] = []
        if plan.whisper and s.speech is not None:
            whisper = await s.speech.whisper(
                self.run.flow.languages[0], caller_name=self.run.caller.name,
                department=self.run.caller.department,
                number=self.run.caller.number if not self.run.caller.withheld else None,
                category_id=self.run.category or self.run.issue.category, issue_number=self.run.issue.number)
        record_to = None
        if s.config.routing.record:
            record_to = recording_path(s.config.media.recordings_dir, self.run.record.id, kind="call")
        routing = s.config.routing
        # A withheld number stays withheld: the engineer's phone shows the hotline instead.
        shown = self.run.caller.number if not self.run.caller.withheld else s.config.sip.hotline_number
        announcement = s.recorded_announcement(self.run.language) if routing.announce_recording else None
        plans = [ForwardPlan(
            t.dial, caller_id=shown, display_name=self.run.caller.name, ring_timeout=plan.ring_seconds,
            whisper=tuple(whisper) or None,
            accept_seconds=routing.accept_seconds if plan.whisper else None,
            announcement=announcement, record_to=record_to,
        ) for t in targets]
        by_dial = {t.dial: t for t in targets}
        forwarder = s.forwarder(plan.allows)

        async def bridged(leg: LegOutcome) -> None:
            # Who answered goes on the record now, not when the conversation ends.
            await self._answered(plan, by_dial.get(leg.target) or Target(leg.target, ""), leg)

        try:
            result = await forwarder.forward_any(self.run.call, stream, plans, on_bridged=bridged)
        except Exception:
            log.exception("call %d: forwarding to %s failed", self.run.record.id,
                          ", ".join(t.dial for t in targets))
            for target in targets:
                await self._attempt(plan, target, "failed", note="internal error")
            return False
        await self._record_legs(plan, result, by_dial)
        if result.accepted:
            self.run.outcome.talk_seconds += result.bridged_seconds
            self.run.outcome.relay = {"callee": result.callee_stats, "relay": result.relay}
            if result.recording is not None:
                self.run.outcome.recording = result.recording
                await shielded(s.store.calls.update(self.run.record.id, recording=str(result.recording)))
            return True
        return False

    async def _record_legs(self, plan: RoutePlan, result: ForwardResult,
                           by_dial: Mapping[str, Target]) -> None:
        s = self.s
        legs: Sequence[LegOutcome] = result.legs
        for leg in legs:
            target = by_dial.get(leg.target) or Target(leg.target, "")
            if leg.outcome == "answered":
                continue  # recorded when it was bridged
            if leg.outcome in ("declined", "not-accepted"):
                s.bus.publish(Answered(self.run.record.id, s.clock(), target.dial, target.person))
            await self._attempt(plan, target, leg.outcome, seconds=leg.ring_seconds, status=leg.status)

    async def _answered(self, plan: RoutePlan, target: Target, leg: LegOutcome) -> None:
        s = self.s
        self.run.outcome.answered_at = s.engine.now()
        self.run.outcome.answered_by = target.person or target.dial
        self.run.outcome.route = plan.record_label(target)
        s.bus.publish(Answered(self.run.record.id, s.clock(), target.dial, target.person))
        s.bus.publish(Accepted(self.run.record.id, s.clock(), target.dial, target.person))
        await shielded(s.store.calls.update(
            self.run.record.id, answered_by=self.run.outcome.answered_by, route=self.run.outcome.route,
            ring_seconds=round(self.run.outcome.answered_at - self.run.started, 1)))
        await self._attempt(plan, target, "answered", seconds=leg.ring_seconds)

    async def _hand_over(self, plan: RoutePlan, target: Target) -> str | None:
        """Redirect (302, before we answered) or transfer (REFER): no whisper, no escalation."""
        s = self.s
        s.bus.publish(Ringing(self.run.record.id, s.clock(), target.dial, target.person))
        self.run.outcome.route = plan.record_label(target)
        if self.run.stream is None and s.config.routing.mode == "redirect":
            await self.run.call.redirect(target.dial, diversion=None)
            await self._attempt(plan, target, "redirected")
            self.run.outcome.disposition = "redirected"
            return None
        await self.run.answer()
        try:
            await self.run.call.transfer(target.dial)
        except Exception as exc:
            log.info("call %d: transfer to %s failed: %s", self.run.record.id, target.dial, exc)
            await self._attempt(plan, target, "failed", note=f"REFER: {exc}")
            return None
        await self._attempt(plan, target, "transferred")
        self.run.outcome.disposition = "transferred"
        with contextlib.suppress(Exception):
            await self.run.call.hangup()
        return None
