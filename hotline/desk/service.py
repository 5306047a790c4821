"""The :class:`Desk` facade: every desk service behind one object the app can wire.

Construct it from the open store, the site calendar, :class:`DeskSettings` and
the on-call rota (``rota=``, ``rota_name=``); the console and the IVR call its
methods, nothing here knows HTTP or SIP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import aiohttp

from hotline.calendar import BusinessCalendar
from hotline.desk.callback import CallbackOutcome, CallbackScores, CallbackService
from hotline.desk.context import DeskContext, RotaSource, utc_now
from hotline.desk.dispatch import CoverageGap, CoverageReport, DispatchResult, DispatchService
from hotline.desk.kb import KnowledgeBase, SearchHit
from hotline.desk.notify import drafts, issue_payload
from hotline.desk.notify.channels import Channel, build_channels
from hotline.desk.notify.worker import DeliveryWorker
from hotline.desk.progress import Digest, DigestItem, Progress
from hotline.desk.report import ReportService, ServiceReport, report_csv
from hotline.desk.scoring import LeaderboardRow, ScoreEntry, Scoring
from hotline.desk.settings import DeskSettings
from hotline.desk.sla import SlaReading
from hotline.desk.workflow import SweepResult, Workflow
from hotline.store import EventDraft, Store
from hotline.store.desk.callbacks import Callback
from hotline.store.desk.changes import DeskChange
from hotline.store.desk.dispatch import DispatchEntry, Leave, WeeklyShift
from hotline.store.desk.kb import Article
from hotline.store.desk.outbox import OutboxRow
from hotline.store.records import IssueEvent, IssueRecord

__all__ = ["Desk"]


class Desk:
    """The service desk: dispatch, SLA, progress, callback, scoring, notifications, KB, reports."""

    def __init__(self, store: Store, calendar: BusinessCalendar, settings: DeskSettings | None = None,
                 clock: Callable[[], datetime] = utc_now, *, rota: RotaSource | None = None,
                 rota_name: str | None = None) -> None:
        """``rota`` is the site's on-call rota — the one call routing forwards to — or a function
        returning the current one; ``rota_name`` picks its rotation (default: the first).
        Without a rota, dispatch and escalation ignore the hour (see :mod:`hotline.desk.oncall`).
        A ``rota_name`` the rota does not have raises ``ValueError``.
        """
        self.ctx = DeskContext(store, calendar, settings or DeskSettings(), clock, rota, rota_name)
        self.dispatcher = DispatchService(self.ctx)
        self.workflow = Workflow(self.ctx)
        self.progress = Progress(self.ctx, self.workflow)
        self.callbacks = CallbackService(self.ctx, self.workflow)
        self.scoring = Scoring(self.ctx)
        self.kb = KnowledgeBase(self.ctx)
        self.reports = ReportService(self.ctx)
        self._worker: DeliveryWorker | None = None

    def _wake(self) -> None:
        """New outbox rows may be waiting: let the delivery worker look now."""
        if self._worker is not None:
            self._worker.wake()

    # -- 1. dispatch -------------------------------------------------------------------------
    async def add_leave(self, leave: Leave, *, made_by: str) -> int:
        """Record leave; returns its id."""
        return await self.ctx.desk.dispatch.add_leave(leave, made_by=made_by, at=self.ctx.now())

    async def leaves(self, person_ids: list[str], first: date, last: date) -> list[Leave]:
        """Leave of these people overlapping ``first``..``last``."""
        return await self.ctx.desk.dispatch.leaves(person_ids, first, last)

    async def remove_leave(self, leave_id: int) -> None:
        await self.ctx.desk.dispatch.remove_leave(leave_id)

    async def set_shifts(self, person_id: str, shifts: list[WeeklyShift]) -> None:
        """Replace a person's weekly shifts (empty: the desk's business hours)."""
        await self.ctx.desk.dispatch.set_shifts(person_id, shifts)

    async def dispatch(self, issue_id: int, *, actor: str = "system", to: str | None = None,
                       note: str = "") -> DispatchResult:
        """Dispatch automatically (A, else least-loaded B) or manually to ``to`` with a reason."""
        result = await self.dispatcher.dispatch(issue_id, actor=actor, to=to, note=note)
        self._wake()
        return result

    async def reassign(self, issue_id: int, to: str, *, actor: str, note: str) -> IssueRecord:
        """Hand an issue being worked to someone else, with the reason (dispatch-logged)."""
        issue = await self.dispatcher.reassign(issue_id, to, actor=actor, note=note)
        self._wake()
        return issue

    async def dispatch_log(self, issue_id: int | None = None, limit: int = 100) -> list[DispatchEntry]:
        """Newest first; one issue's or everyone's."""
        return await self.ctx.desk.dispatch.log(issue_id, limit)

    async def coverage(self, first: date, last: date) -> list[CoverageGap]:
        """Working days and posts with no available A or B role."""
        return await self.dispatcher.coverage(first, last)

    async def coverage_report(self, first: date, last: date) -> CoverageReport:
        """Posts with no available A or B role, and on-call stretches (every rotation of the
        rota) whose primary is on leave or inactive with no override covering them."""
        return await self.dispatcher.coverage_report(first, last)

    # -- 2. status changes and SLA -------------------------------------------------------------
    async def transition(self, issue_id: int, target: str, *, actor: str, note: str = "",
                         changes: Mapping[str, Any] | None = None) -> IssueRecord:
        """Move an issue (life-cycle rules of ``hotline.issues``) and refresh its SLA projection."""
        return await self.workflow.change(issue_id, target, actor=actor, note=note, changes=changes)

    async def refresh_sla(self, issue_id: int) -> dict[str, Any]:
        """Recompute an issue's stored SLA projection from its events.

        Call it after changing an issue outside the desk (e.g. ``IssueService.transition``).
        """
        return await self.workflow.refresh(issue_id)

    async def sla(self, issue_id: int) -> SlaReading:
        """Both SLA clocks of an issue now (due instants, minutes used, state)."""
        return await self.workflow.reading(await self.workflow.issue(issue_id))

    async def sweep_sla(self) -> SweepResult:
        """Warn on at-risk, escalate on breach (run every minute or so)."""
        result = await self.workflow.sweep()
        self._wake()
        return result

    # -- 3. progress ---------------------------------------------------------------------------
    async def add_note(self, issue_id: int, *, by: str, text: str) -> IssueRecord:
        """A dated progress note by the owner (or anyone working the issue)."""
        return await self.progress.add_note(issue_id, by=by, text=text)

    async def notes(self, issue_id: int) -> list[IssueEvent]:
        return await self.progress.notes(issue_id)

    async def stale(self) -> list[DigestItem]:
        """Worked issues with no activity during the last closed working day."""
        return await self.progress.stale()

    async def digests(self) -> list[Digest]:
        """Per owner: stale and at-risk issues (what the daily digest says)."""
        return await self.progress.digests()

    async def send_digests(self) -> list[str]:
        """Enqueue today's digest notifications (once per owner per day); returns the owners."""
        owners = await self.progress.send_digests()
        self._wake()
        return owners

    # -- 4. resolution and callback --------------------------------------------------------------
    async def resolve(self, issue_id: int, *, by: str, resolution: str) -> IssueRecord:
        """Resolve (resolution text required); the issue joins the callback queue."""
        return await self.callbacks.resolve(issue_id, by=by, resolution=resolution)

    async def callback_queue(self, limit: int = 100) -> list[IssueRecord]:
        """Resolved issues awaiting their callback, longest waiting first."""
        return await self.callbacks.queue(limit)

    async def record_callback(self, issue_id: int, scores: CallbackScores, *, by: str = "ivr",
                              fixed: bool = True, comment: str = "") -> CallbackOutcome:
        """The callback result (from an operator or the IVR's DTMF flow); poor or unfixed reopens."""
        outcome = await self.callbacks.record(issue_id, scores, by=by, fixed=fixed, comment=comment)
        await self.scoring.sync(issue_id)
        self._wake()
        return outcome

    async def record_unsolved_callback(self, issue_id: int, scores: Mapping[str, int], *, by: str = "ivr",
                                       comment: str = "") -> CallbackOutcome:
        """A callback cut short after the employee said "not solved" (``scores``: the answers
        given before it ended): the issue reopens at once, notified as a poor callback."""
        outcome = await self.callbacks.record_unsolved(issue_id, scores, by=by, comment=comment)
        await self.scoring.sync(issue_id)
        self._wake()
        return outcome

    async def callbacks_of(self, issue_id: int) -> list[Callback]:
        return await self.callbacks.history(issue_id)

    async def close(self, issue_id: int, *, by: str) -> IssueRecord:
        """Close an issue whose callback is done."""
        return await self.workflow.change(issue_id, "closed", actor=by, note="callback done, closed")

    # -- 5. scoring ----------------------------------------------------------------------------
    async def accrue_scores(self) -> int:
        """Daily job: overdue deductions up to now (and any missed earnings); returns entries added."""
        return await self.scoring.accrue()

    async def adjust_score(self, person_id: str, month: str, points: float, *, reason: str, by: str,
                           issue_id: int | None = None) -> int:
        """A manual adjustment with its reason; returns its id."""
        return await self.scoring.adjust(person_id, month, points, reason=reason, by=by, issue_id=issue_id)

    async def score_ledger(self, month: str | None = None) -> list[ScoreEntry]:
        return await self.ctx.desk.scores.ledger(month)

    async def monthly_scores(self, first_month: str, last_month: str) -> list[tuple[str, str, float]]:
        """(month, person, points) per person per month."""
        return await self.ctx.desk.scores.totals(first_month, last_month)

    async def leaderboard(self, month: str) -> list[LeaderboardRow]:
        return await self.scoring.leaderboard(month)

    async def verify_scores(self) -> list[str]:
        """Compare the incremental ledger with a recomputation from the events; [] if equal."""
        return await self.scoring.verify()

    # -- 6. notifications ----------------------------------------------------------------------
    def delivery_worker(self, session: aiohttp.ClientSession, *,
                        extra_channels: Mapping[str, Channel] | None = None,
                        **options: Any) -> DeliveryWorker:
        """A worker over the configured channels; the caller starts it and stops (awaits) it.

        The desk wakes it whenever an action enqueued notifications. ``extra_channels`` deliver
        outbox rows enqueued by others (the API's issue-event webhooks).

        ``options`` go to :class:`DeliveryWorker` (``worker_id``, ``batch``, ``idle_seconds``).
        """
        channels = {**build_channels(tuple(self.ctx.settings.channels), session), **(extra_channels or {})}
        self._worker = DeliveryWorker(self.ctx.desk.outbox, channels, self.ctx.settings, **options)
        return self._worker

    async def notify_call(self, issue_id: int, event: str, recipients: list[str], *,
                          details: Mapping[str, Any], note: str) -> list[str]:
        """Tell ``recipients`` and the duty operators about a call (``voicemail``, ``missed_call``).

        The audit event and the outbox rows are one transaction, so the notice is delivered
        (with retries) even if the server stops right after. Returns who is told.
        """
        ctx = self.ctx
        issue = await self.workflow.issue(issue_id)
        operators = await ctx.desk.dispatch.with_role("operator")
        people = list(dict.fromkeys([*recipients, *operators]))
        contacts = await ctx.desk.dispatch.contacts(people)
        payload = {**issue_payload(issue), **details}
        await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status,
            events=[EventDraft("system", event, None, {**details, "notified": people}, note)],
            outbox=drafts(ctx.settings, event, people, contacts, payload, issue.id),
        ), ctx.now())
        self._wake()
        return people

    async def notify_callers(self, issue_id: int, event: str,
                             callers: Mapping[str, Mapping[str, str | None]], *,
                             details: Mapping[str, Any], note: str, actor: str = "system") -> list[str]:
        """Tell employees who called about an issue (e.g. a major incident is over).

        ``callers`` maps each recipient (employee id or number) to its name, e-mail and mobile,
        from the directory: callers are not staff, so the desk's contacts do not have them.
        One audit event and the outbox rows in one transaction, as for :meth:`notify_call`.
        """
        ctx = self.ctx
        issue = await self.workflow.issue(issue_id)
        recipients = list(callers)
        payload = {**issue_payload(issue), **details}
        await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status,
            events=[EventDraft(actor, event, None, {**details, "notified": recipients}, note)],
            outbox=drafts(ctx.settings, event, recipients, callers, payload, issue.id),
        ), ctx.now())
        self._wake()
        return recipients

    async def notifications(self, issue_id: int) -> list[OutboxRow]:
        """An issue's notifications with their delivery state (pending, sent, dead; attempts; error)."""
        return await self.ctx.desk.outbox.for_issue(issue_id)

    # -- 7. knowledge base and search ----------------------------------------------------------
    async def article_from_issue(self, issue_id: int, *, by: str, title: str | None = None,
                                 symptoms: str | None = None, fix: str | None = None) -> Article:
        """Turn a resolved issue into an article (texts default to the issue's)."""
        return await self.kb.article_from_issue(issue_id, by=by, title=title, symptoms=symptoms, fix=fix)

    async def write_article(self, *, title: str, symptoms: str, fix: str, category: str | None,
                            by: str) -> Article:
        return await self.kb.write_article(title=title, symptoms=symptoms, fix=fix, category=category, by=by)

    async def article(self, article_id: int) -> Article | None:
        return await self.ctx.desk.kb.get(article_id)

    async def search(self, text: str, *, limit: int = 20,
                     kinds: tuple[str, ...] = ("article", "issue")) -> list[SearchHit]:
        """Full-text search (Chinese and English), ranked, with marked snippets (see ``kb.segments``)."""
        return await self.kb.search(text, limit=limit, kinds=kinds)

    # -- 8. service report -----------------------------------------------------------------------
    async def report(self, first: date, last: date) -> ServiceReport:
        """Figures for local days ``first``..``last`` (``.data`` is JSON-ready)."""
        return await self.reports.build(first, last)

    async def report_json(self, first: date, last: date) -> str:
        return json.dumps((await self.reports.build(first, last)).data, ensure_ascii=False, indent=2)

    async def report_csv(self, first: date, last: date) -> str:
        return report_csv(await self.reports.build(first, last))
