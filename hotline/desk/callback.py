"""Resolution and the callback (回访): the employee scores the service, poor scores reopen.

A resolved issue waits in the callback queue until someone — an operator, or
the automated IVR callback flow that dials the employee and collects three DTMF
digits — records three 1–5 scores (efficiency, result, attitude), whether the
problem is really fixed, and a comment. A score at or below
:attr:`DeskSettings.poor_score`, or "not fixed", reopens the issue and tells the
owner (``reopened``) and the managers (``poor_callback``); otherwise the issue
moves to ``callback_done``. The callback row, its audit event, the status
change and the notifications are one transaction.

A callback cut short after the employee said "not solved" (the survey call's 0,
then a hang-up before the three scores) needs no more questions: the problem is
known to be open. :meth:`CallbackService.record_unsolved` reopens the issue at
once with the reason, the partial scores on its ``callback_partial`` audit event
and the same notifications as a poor callback. It writes no callback row (that
holds three scores) and so earns nobody points; the survey caller's own record
keeps the keys pressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline.desk.context import DeskContext
from hotline.desk.notify import drafts, issue_payload
from hotline.desk.workflow import Workflow
from hotline.issues import IssueError
from hotline.store import EventDraft
from hotline.store.desk.callbacks import Callback
from hotline.store.desk.outbox import OutboxDraft
from hotline.store.records import IssueRecord

__all__ = ["SCORE_NAMES", "CallbackOutcome", "CallbackScores", "CallbackService"]

SCORE_NAMES = ("efficiency", "result", "attitude")


@dataclass(frozen=True)
class CallbackScores:
    """Three scores, 1 (worst) … 5 (best)."""

    efficiency: int
    result: int
    attitude: int

    def __post_init__(self) -> None:
        for name in SCORE_NAMES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
                raise ValueError(f"callback score {name} must be an integer 1…5, got {value!r}")

    @classmethod
    def from_digits(cls, digits: str) -> CallbackScores:
        """Scores keyed on a phone: three digits 1–5 in the order efficiency, result, attitude."""
        if len(digits) != 3 or any(d not in "12345" for d in digits):
            raise ValueError(f"expected three digits 1-5 (efficiency, result, attitude), got {digits!r}")
        return cls(int(digits[0]), int(digits[1]), int(digits[2]))

    def worst(self) -> int:
        return min(self.efficiency, self.result, self.attitude)


@dataclass(frozen=True)
class CallbackOutcome:
    issue: IssueRecord
    reopened: bool
    reason: str


class CallbackService:
    def __init__(self, ctx: DeskContext, workflow: Workflow) -> None:
        self.ctx = ctx
        self.workflow = workflow

    async def resolve(self, issue_id: int, *, by: str, resolution: str) -> IssueRecord:
        """Resolve with a resolution text (required); the issue enters the callback queue."""
        if not resolution.strip():
            raise IssueError("resolved: a resolution text is required")
        return await self.workflow.change(issue_id, "resolved", actor=by,
                                          changes={"resolution": resolution.strip()})

    async def queue(self, limit: int = 100) -> list[IssueRecord]:
        return await self.ctx.desk.callbacks.queue(limit)

    async def record(self, issue_id: int, scores: CallbackScores, *, by: str = "ivr",
                     fixed: bool = True, comment: str = "") -> CallbackOutcome:
        """Record a callback; reopen on a poor score or "not fixed"."""
        ctx, now = self.ctx, self.ctx.now()
        issue = await self.workflow.issue(issue_id)
        if issue.status != "resolved":
            raise IssueError(f"{issue.number} is {issue.status}: only resolved issues get a callback")
        poor = scores.worst() <= ctx.settings.poor_score
        reopen = poor or not fixed
        reasons = []
        if not fixed:
            reasons.append("caller says not fixed")
        if poor:
            reasons.append(f"score ≤ {ctx.settings.poor_score}")
        summary = (f"callback by {by}: efficiency {scores.efficiency}, result {scores.result}, "
                   f"attitude {scores.attitude}, fixed {'yes' if fixed else 'no'}")
        if comment.strip():
            summary += f" — {comment.strip()}"
        record = Callback(issue_id, now, by, scores.efficiency, scores.result, scores.attitude, fixed,
                          comment.strip(), reopen)
        event = EventDraft(by, "callback", None, {
            "efficiency": scores.efficiency, "result": scores.result, "attitude": scores.attitude,
            "fixed": fixed, "reopened": reopen}, summary)
        outbox: list[OutboxDraft] = []
        if reopen:
            outbox = await self._reopen_notices(issue, "; ".join(reasons), comment,
                                                [scores.efficiency, scores.result, scores.attitude])
        target = "reopened" if reopen else "callback_done"
        note = "; ".join(reasons) if reopen else ""
        updated = await self.workflow.change(issue_id, target, actor=by, note=note, first=[event],
                                             outbox=outbox, callback=record)
        return CallbackOutcome(updated, reopen, note)

    async def record_unsolved(self, issue_id: int, scores: Mapping[str, int], *, by: str = "ivr",
                              comment: str = "") -> CallbackOutcome:
        """A callback cut short after "not solved": reopen now (see the module doc).

        ``scores`` are the answers given before it ended (question name → 1…5, any of them).
        """
        unknown = set(scores) - set(SCORE_NAMES)
        if unknown:
            raise ValueError(f"unknown callback scores {sorted(unknown)}; expected {', '.join(SCORE_NAMES)}")
        for name, value in scores.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
                raise ValueError(f"callback score {name} must be an integer 1…5, got {value!r}")
        issue = await self.workflow.issue(issue_id)
        if issue.status != "resolved":
            raise IssueError(f"{issue.number} is {issue.status}: only resolved issues get a callback")
        reason = "caller says not fixed (callback cut short)"
        given = {name: scores[name] for name in SCORE_NAMES if name in scores}
        summary = f"callback by {by} cut short: fixed no, " + (
            ", ".join(f"{name} {value}" for name, value in given.items()) or "no scores")
        if comment.strip():
            summary += f" — {comment.strip()}"
        event = EventDraft(by, "callback_partial", None,
                           {**given, "fixed": False, "reopened": True, "complete": False}, summary)
        outbox = await self._reopen_notices(issue, reason, comment, [scores.get(n) for n in SCORE_NAMES])
        updated = await self.workflow.change(issue_id, "reopened", actor=by, note=reason, first=[event],
                                             outbox=outbox)
        return CallbackOutcome(updated, True, reason)

    async def _reopen_notices(self, issue: IssueRecord, reason: str, comment: str,
                              scores: list[int | None]) -> list[OutboxDraft]:
        """``reopened`` to the owner and ``poor_callback`` to the managers."""
        ctx = self.ctx
        people = [p for p in [issue.owner] if p]
        managers = await ctx.desk.dispatch.managers()
        contacts = await ctx.desk.dispatch.contacts([*people, *managers])
        payload = {**issue_payload(issue), "status": "reopened", "reason": reason,
                   "comment": comment.strip(), "scores": scores}
        return [*drafts(ctx.settings, "reopened", people, contacts, payload, issue.id),
                *drafts(ctx.settings, "poor_callback", managers, contacts, payload, issue.id)]

    async def history(self, issue_id: int) -> list[Callback]:
        return await self.ctx.desk.callbacks.for_issue(issue_id)
