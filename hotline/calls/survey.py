"""The survey caller: works the desk's callback queue (回访) by phone.

Theory of operation. Every ``[callback.survey] check_seconds`` the caller reads the callback
queue (``Desk.callback_queue``) and the survey attempts of each issue's current resolution, and
lets :func:`~.survey_plan.due` choose whom to call now: in business time by the server's clock
(``--clock`` included) and the business calendar, at most ``max_concurrent`` calls at once,
``retry_minutes`` between two calls about an issue, ``attempts`` calls at most. Each chosen issue
gets a task of its own:

1. the outbound call row (``direction = 'out'``, flow ``survey``, linked to the issue) and the
   attempt row are committed, and ``call_arrived`` is published;
2. the employee's directory number (mobile, else desk extension) is dialled through
   ``sip.outbound.proxy``, the hotline number as caller ID, for ``ring_seconds``;
3. once answered, :class:`~.survey_plan.SurveyDialog` runs the questions: the prompts are the
   cached speech fragments (the issue's number digit by digit and its category included), in
   the language the employee chose in the IVR when they called about the issue (Chinese when
   unknown); each key is written to the attempt row as it comes, so a hang-up keeps the partial
   answers;
4. three scores are stored with ``Desk.record_callback`` ("not solved" or a poor score reopens
   the issue there). A survey cut short after a 0 ("not solved") needs no retry: the problem is
   known to be open, so ``Desk.record_unsolved_callback`` reopens the issue at once, which takes
   it out of the callback queue for this resolution. Anything else short of three scores is
   retried later, and after the last attempt the issue's audit trail says the calls are spent (it
   stays in the queue for an operator).

An employee who answers has been reached: an issue flagged for a call back (a missed call of
theirs) leaves the operators' "callers to call back" queue (``IssueService.clear_call_back``).

Stopping the server hangs up the survey calls in progress; their rows are closed as
``interrupted``, and an attempt a crash left open is closed so at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hotline.calendar import BusinessCalendar
from hotline.calls.forwarding import outcome_of
from hotline.calls.interpreter import PromptLoader
from hotline.calls.media_address import toward_first_hop
from hotline.calls.outcome import shielded
from hotline.calls.racing import Interrupted, unless
from hotline.calls.speech import Speech, issue_digits
from hotline.calls.survey_plan import (
    ISSUE,
    Outcome,
    PastAttempt,
    SurveyDialog,
    SurveySettings,
    due,
    given_up,
    number_to_dial,
    outcome_after_dial,
)
from hotline.config import Config
from hotline.desk.callback import CallbackScores
from hotline.desk.service import Desk
from hotline.events import Answered, CallArrived, CallEnded, Declined, EventBus, Ringing, Routed
from hotline.issues import IssueError, IssueService
from hotline.media.codecs import codec_named
from hotline.media.engine import MediaEngine
from hotline.media.player import Item, PromptItem
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.sip.call import CallEnded as LegEnded
from hotline.sip.call import CallFailed, OutgoingCall
from hotline.sip.call_events import Dtmf
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.sdp import make_offer
from hotline.store import Store
from hotline.store.records import IssueRecord, NewCall
from hotline.store.survey import SurveyStore

__all__ = ["SurveyCaller"]

log = logging.getLogger(__name__)

FLOW = "survey"
LANG = "zh"
"""The survey's language when the employee's call about the issue did not choose one."""
LANGUAGES = ("zh", "en")
QUEUE_LIMIT = 500
"""Resolved issues looked at per check (the longest waiting first)."""


@dataclass
class _Attempt:
    """One survey call in progress: what the call row and the attempt row get at the end."""

    issue: IssueRecord
    number: str
    attempt: int
    call_id: int = 0
    language: str = LANG
    """The language the employee heard when they called about the issue: the survey speaks it."""
    attempt_id: int = 0
    outcome: Outcome = Outcome.FAILED
    answered: bool = False
    began: float = 0.0
    ring_seconds: float | None = None
    talk_from: float | None = None
    reopened: bool = False
    """Cut short after "not solved": the issue was reopened, so it is not called again."""
    stats: dict[str, Any] = field(default_factory=dict)


class SurveyCaller:
    """Places the automated callback survey calls (see the module doc)."""

    def __init__(self, *, config: Config, store: Store, issues: IssueService, desk: Desk,
                 calendar: BusinessCalendar, endpoint: SipEndpoint, engine: MediaEngine, bus: EventBus,
                 clock: Callable[[], datetime], speech: Speech | None,
                 prompts: PromptLoader | None = None) -> None:
        self.config = config
        self.settings: SurveySettings = config.survey
        self.store = store
        self.surveys = SurveyStore(store.db)
        self.issues = issues
        self.desk = desk
        self.calendar = calendar
        self.endpoint = endpoint
        self.engine = engine
        self.bus = bus
        self.clock = clock
        self.speech = speech
        self.library = speech.library if speech is not None else None
        self.prompts = prompts or PromptLoader()
        self._running: dict[int, asyncio.Task[None]] = {}
        """Issue id → its survey call's task."""
        self._loop_task: asyncio.Task[None] | None = None
        self._no_number: set[int] = set()
        """Issues already logged as having no number to call."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Close attempts a crash left open, then check the queue every ``check_seconds``."""
        closed = await self.surveys.close_interrupted(self.clock())
        if closed:
            log.warning("survey: %d attempt(s) left open by the last run closed as interrupted", closed)
        if self.settings.enabled:
            self._loop_task = asyncio.ensure_future(self._loop())
            log.info("survey calls on: at most %d at once, %d attempt(s) %g min apart",
                     self.settings.max_concurrent, self.settings.attempts, self.settings.retry_minutes)

    async def stop(self) -> None:
        """Stop checking and hang up the survey calls in progress."""
        tasks = [t for t in (self._loop_task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None

    @property
    def running(self) -> frozenset[int]:
        """Issues whose survey call is in progress."""
        return frozenset(self._running)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("survey: checking the callback queue failed")
            await asyncio.sleep(self.settings.check_seconds)

    async def check(self) -> list[int]:
        """Start the survey calls that are due now; the issues called."""
        now = self.clock()
        business = self.calendar.is_business_time(now)
        if not business or len(self._running) >= self.settings.max_concurrent:
            return []
        queue = await self.desk.callback_queue(QUEUE_LIMIT)
        by_id = {issue.id: issue for issue in queue}
        history = await self.surveys.current(list(by_id))
        past = {i: [PastAttempt(a.started_at, a.outcome) for a in attempts]
                for i, attempts in history.items()}
        numbers: dict[int, str] = {}
        callable_ids: list[int] = []
        for issue in queue:
            if issue.id in self._running or given_up(past[issue.id], self.settings):
                continue
            number = await self._number(issue)
            if number is not None:
                numbers[issue.id] = number
                callable_ids.append(issue.id)
        chosen = due(callable_ids, past, now=now, business_time=business,
                     running=set(self._running), settings=self.settings)
        for issue_id in chosen:
            attempt = _Attempt(by_id[issue_id], numbers[issue_id], len(past[issue_id]) + 1)
            self._running[issue_id] = task = asyncio.ensure_future(self._call(attempt))
            task.add_done_callback(self._forget(issue_id))
        return chosen

    def _forget(self, issue_id: int) -> Callable[[object], None]:
        def done(_: object) -> None:
            self._running.pop(issue_id, None)
        return done

    async def _number(self, issue: IssueRecord) -> str | None:
        entry = await self.store.directory.get(issue.employee_id) if issue.employee_id else None
        number = number_to_dial(mobile=entry.mobile if entry else None,
                                extension=entry.extension if entry else None)
        if number is None and issue.id not in self._no_number:
            self._no_number.add(issue.id)
            log.info("survey: %s has no mobile or extension in the directory; left to the operators",
                     issue.number)
        return number

    # -- one survey call ---------------------------------------------------------------------

    async def _call(self, a: _Attempt) -> None:
        issue = a.issue
        a.began = self.engine.now()
        started = self.clock()
        stream: RtpStream | None = None
        leg: OutgoingCall | None = None
        hotline_number = self.config.sip.hotline_number
        try:
            a.call_id, a.attempt_id = await shielded(self.surveys.start(
                NewCall(sip_call_id=f"survey-{uuid.uuid4().hex}", started_at=started,
                        from_uri=hotline_number, from_display=self.config.site.name,
                        caller_raw=a.number, caller_key=a.number, to_uri=a.number, direction="out"),
                issue_id=issue.id, attempt=a.attempt, employee_id=issue.employee_id))
        except Exception:
            log.exception("survey of %s: the call could not be recorded; not dialled", issue.number)
            return
        a.language = await self._language_of(issue)
        self.bus.publish(CallArrived(a.call_id, started, issue.id, issue.number, a.number,
                                     issue.caller_name, issue.employee_id, FLOW, direction="out"))
        self.bus.publish(Routed(a.call_id, started, FLOW, f"survey attempt {a.attempt}"))
        try:
            address = await toward_first_hop(self.endpoint, self.config.sip.outbound.proxy, a.number)
            stream = await self.engine.open_stream(StreamConfig(
                codec_named(self.config.media.codecs[0]), None, ptime_ms=self.config.media.ptime,
                receives=False,  # no RTP timeout while the phone rings
                rtp_timeout=self.engine.rtp_timeout, symmetric_rtp=self.engine.symmetric_rtp))
            offer = make_offer(address, stream.port, self.config.media.codecs, ptime=self.config.media.ptime)
            self.bus.publish(Ringing(a.call_id, self.clock(), a.number, issue.employee_id))
            leg = await self.endpoint.place_call(
                a.number, allowed=lambda target: target == a.number, caller_id=hotline_number,
                display_name=self.config.site.name, sdp_offer=offer.serialize(),
                timeout=self.settings.ring_seconds)
            try:
                answer = await leg.answered()
            except CallFailed as failed:
                leg_outcome = outcome_of(failed.ended)
                a.outcome = outcome_after_dial(leg_outcome)
                await self._leg_attempt(a, leg_outcome, failed.ended.status, leg.call_id)
                self.bus.publish(Declined(a.call_id, self.clock(), a.number, issue.employee_id, leg_outcome))
                return
            a.answered = True
            a.ring_seconds = self.engine.now() - a.began
            a.talk_from = self.engine.now()
            self.bus.publish(Answered(a.call_id, self.clock(), a.number, issue.employee_id))
            await self._leg_attempt(a, "answered", None, leg.call_id)
            await shielded(self.store.calls.update(
                a.call_id, answered_at=self.clock(), answered_by=issue.employee_id or a.number,
                route=FLOW, ring_seconds=round(a.ring_seconds, 1), language=a.language))
            await self._reached(a)
            if answer.media is None:
                log.warning("survey call %d: no audio agreed with %s", a.call_id, a.number)
                return
            stream.reconfigure(self.engine.stream_config(answer.media))
            await self._survey(a, leg, stream)
        except asyncio.CancelledError:
            a.outcome = Outcome.INTERRUPTED
            raise
        except Exception:
            log.exception("survey call %d failed", a.call_id)
            a.outcome = Outcome.FAILED
        finally:
            if leg is not None and not leg.is_over:
                with contextlib.suppress(Exception):
                    await leg.hangup()
            if stream is not None and not stream.closed:
                a.stats["employee"] = await stream.close("survey ended")
            await self._finish(a)

    async def _survey(self, a: _Attempt, leg: OutgoingCall, stream: RtpStream) -> None:
        """The questions, until three scores, the questions asked out, or a hang-up."""
        dialog = SurveyDialog(self.settings.question_tries)
        follower = asyncio.ensure_future(self._follow(leg, stream))
        gone = asyncio.ensure_future(self._gone(leg, stream))
        try:
            step = dialog.start()
            while True:
                items = await self._items(step.prompts, a, stream)
                stream.play(items)
                if step.finished is not None:
                    a.outcome = step.finished
                    if step.finished == Outcome.COMPLETED:
                        await self._record(a, dialog)
                    with contextlib.suppress(Interrupted):
                        await unless(stream.wait_played(), gone)
                    return
                key = await self._next_key(stream, gone)
                stream.stop_playback()
                if key is None:
                    step = dialog.on_silence()
                    continue
                step = dialog.on_key(key)
                answers = dialog.answers
                await shielded(self.surveys.answers(a.attempt_id, scores=dict(answers.scores),
                                                    not_fixed=answers.not_fixed, keys=answers.keys))
        except Interrupted:
            a.outcome = dialog.on_hangup()
        finally:
            for task in (follower, gone):
                task.cancel()
            for task in (follower, gone):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if a.outcome != Outcome.COMPLETED and dialog.answers.not_fixed:
            await self._reopen_unsolved(a, dialog)

    async def _record(self, a: _Attempt, dialog: SurveyDialog) -> None:
        answers = dialog.answers
        scores = CallbackScores(**answers.scores)
        try:
            outcome = await shielded(self.desk.record_callback(
                a.issue.id, scores, by="ivr", fixed=not answers.not_fixed,
                comment=f"survey call #{a.call_id}"))
        except IssueError as exc:  # recorded by an operator meanwhile: their callback stands
            log.warning("survey call %d: the answers of %s were not recorded: %s", a.call_id,
                        a.issue.number, exc)
            return
        log.info("survey call %d: %s scored %d/%d/%d, fixed %s%s", a.call_id, a.issue.number,
                 scores.efficiency, scores.result, scores.attitude, not answers.not_fixed,
                 ", reopened" if outcome.reopened else "")

    async def _reopen_unsolved(self, a: _Attempt, dialog: SurveyDialog) -> None:
        """Cut short after "not solved": reopen now, with the scores given so far."""
        try:
            await shielded(self.desk.record_unsolved_callback(
                a.issue.id, dict(dialog.answers.scores), by="ivr",
                comment=f"survey call #{a.call_id}, {a.outcome.value}"))
        except IssueError as exc:  # an operator recorded a callback meanwhile: theirs stands
            log.warning("survey call %d: %s was not reopened: %s", a.call_id, a.issue.number, exc)
            return
        a.reopened = True
        log.info("survey call %d: %s not solved, %s: reopened", a.call_id, a.issue.number, a.outcome.value)

    async def _reached(self, a: _Attempt) -> None:
        """The employee answered: nobody needs to call them back about this issue any more."""
        try:
            await shielded(self.issues.clear_call_back(
                a.issue.id, actor="survey", note=f"caller reached by a survey call (call #{a.call_id})"))
        except Exception:  # the survey goes on; the flag stays for an operator to see
            log.exception("survey call %d: could not clear the call-back flag of %s", a.call_id,
                          a.issue.number)

    # -- media and keys ----------------------------------------------------------------------

    async def _items(self, prompt_ids: tuple[str, ...], a: _Attempt, stream: RtpStream) -> list[Item]:
        issue = a.issue
        labels: list[str] = []
        paths: list[Path] = []
        for prompt_id in prompt_ids:
            ids = [prompt_id]
            if prompt_id == ISSUE:
                ids = [f"digit-{d}" for d in issue_digits(issue.number)]
                if issue.category:
                    ids.append(f"category-{issue.category}")
            for one in ids:
                path = await self._fragment(one, a.language)
                if path is not None:
                    labels.append(one)
                    paths.append(path)
        log.info("survey call %d: in %s says %s", a.call_id, a.language, " | ".join(labels))
        items: list[Item] = []
        for path in paths:
            try:
                items.append(PromptItem(await self.prompts.load(path, stream), barge_in=True))
            except Exception as exc:  # a broken WAV must not drop the survey
                log.warning("survey: cannot play %s: %s", path, exc)
        return items

    async def _language_of(self, issue: IssueRecord) -> str:
        """The language the employee chose in the IVR when they called about `issue` (an
        English speaker is asked in English); `LANG` when unknown."""
        if issue.call_id is None:
            return LANG
        try:
            call = await self.store.calls.get(issue.call_id)
        except Exception:  # the survey goes on, in the default language
            log.exception("survey of %s: the language of call %d is unknown", issue.number, issue.call_id)
            return LANG
        return call.language if call is not None and call.language in LANGUAGES else LANG

    async def _fragment(self, prompt_id: str, language: str) -> Path | None:
        if self.speech is not None:
            return await self.speech.fragment(prompt_id, language)
        return self.library.resolve(prompt_id, language) if self.library is not None else None

    async def _next_key(self, stream: RtpStream, gone: asyncio.Future[None]) -> str | None:
        """The next key (one pressed during the prompts cuts them short), or None after
        ``answer_seconds`` of silence once they have played."""
        if not stream.digits.empty():
            return stream.digits.get_nowait().digit
        getter = asyncio.ensure_future(stream.digits.get())
        try:
            played = asyncio.ensure_future(stream.wait_played())
            try:
                await unless(asyncio.wait([getter, played], return_when=asyncio.FIRST_COMPLETED), gone)
            finally:
                played.cancel()
            if not getter.done():
                with contextlib.suppress(TimeoutError):
                    await unless(asyncio.wait_for(asyncio.shield(getter), self.settings.answer_seconds),
                                 gone)
            return getter.result().digit if getter.done() and not getter.cancelled() else None
        finally:
            if not getter.done():
                getter.cancel()

    @staticmethod
    async def _gone(leg: OutgoingCall, stream: RtpStream) -> None:
        """Returns when the employee hangs up or their RTP stops."""
        ended = asyncio.ensure_future(leg.wait_ended())
        silent = asyncio.ensure_future(stream.wait_timed_out())
        try:
            await asyncio.wait([ended, silent], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            silent.cancel()

    @staticmethod
    async def _follow(leg: OutgoingCall, stream: RtpStream) -> None:
        """Keys sent by SIP INFO join the RTP ones."""
        with contextlib.suppress(LegEnded):
            async for event in leg.events():
                if isinstance(event, Dtmf):
                    stream.digit_from_info(event.digit, event.duration_ms)


    # -- the record --------------------------------------------------------------------------

    async def _leg_attempt(self, a: _Attempt, outcome: str, status: int | None,
                           sip_call_id: str | None) -> None:
        entry: dict[str, Any] = {
            "route": FLOW, "role": "employee", "target": a.number, "person": None,
            "employee": a.issue.employee_id, "at": self.clock().isoformat(timespec="seconds"),
            "outcome": outcome, "seconds": round(self.engine.now() - a.began, 1), "survey": a.attempt,
        }
        if status is not None:
            entry["status"] = status
        if sip_call_id is not None:
            entry["sip_call_id"] = sip_call_id
        await shielded(self.store.calls.add_attempt(a.call_id, entry))

    async def _finish(self, a: _Attempt) -> None:
        if not a.call_id:
            return
        disposition = ("answered" if a.answered else
                       "interrupted" if a.outcome == Outcome.INTERRUPTED else
                       "missed" if a.outcome in (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DECLINED) else
                       "failed")
        talk = self.engine.now() - a.talk_from if a.talk_from is not None else 0.0
        changes: dict[str, Any] = {"talk_seconds": round(talk, 1), "disposition": disposition}
        if a.ring_seconds is None:
            changes["ring_seconds"] = round(self.engine.now() - a.began, 1)
        now = self.clock()
        try:
            await shielded(self.store.calls.update(a.call_id, **changes))
            if a.stats:
                await shielded(self.store.calls.set_media_stats(a.call_id, a.stats))
            await shielded(self.store.calls.end(a.call_id, now, disposition))
            await shielded(self.surveys.finish(a.attempt_id, now, a.outcome.value))
            if a.outcome != Outcome.COMPLETED and not a.reopened and a.attempt >= self.settings.attempts:
                attempts = (await self.surveys.current([a.issue.id]))[a.issue.id]
                await shielded(self.surveys.gave_up(a.issue.id, now, attempts=[
                    {"call": x.call_id, "at": x.started_at.isoformat(timespec="seconds"),
                     "outcome": x.outcome} for x in attempts]))
                log.info("survey of %s: %d attempt(s) without a survey; left to the operators",
                         a.issue.number, len(attempts))
        except Exception:
            log.exception("survey call %d: the record could not be closed", a.call_id)
        self.bus.publish(CallEnded(a.call_id, now, disposition,
                                   (a.issue.employee_id or a.number) if a.answered else None))
        log.info("survey call %d (%s, attempt %d) ended: %s", a.call_id, a.issue.number, a.attempt,
                 a.outcome.value)
