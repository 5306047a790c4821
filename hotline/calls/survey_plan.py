"""The automated callback survey (回访 by phone), decided without any I/O.

Theory of operation. A resolved issue waits in the desk's callback queue. The survey caller
(:mod:`hotline.calls.survey`) looks at that queue every ``check_seconds`` and asks
:func:`due` which issues to call now: only in business time, at most ``max_concurrent`` calls
at once, never an issue whose call is running, and for each issue at most ``attempts`` calls of
the current resolution, ``retry_minutes`` apart. An issue whose attempts are spent stays in the
queue for an operator, its attempts on record; an issue with no number in the directory (mobile,
then desk extension) is left to the operator at once.

Once the employee answers, :class:`SurveyDialog` runs the questions: which issue the call is
about, then efficiency (效率), result (效果) and attitude (态度), each a key 1–5. A 0, at any
question, says the problem is not solved: it is noted and the same question is asked again, so a
survey always ends with three scores. A wrong key or silence repeats the question, up to
``question_tries`` times. The dialog's steps say what to play (fragment ids of
``hotline.calls.speech.FRAGMENTS``; :data:`ISSUE` stands for the issue's number and category)
and whether to wait for a key; its answers, partial or complete, are what gets stored.

:func:`outcome_after_dial` names how an unanswered call ended; a completed survey is
``completed``; an answered call that ended without three scores is ``hung-up`` (the employee
left) or ``no-input`` (the questions were asked out). Every outcome but ``completed`` is retried,
unless the employee keyed 0 before it ended: the issue is then reopened at once (see
:mod:`hotline.calls.survey`) and leaves the callback queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from hotline.calls.callback_plan import offered_numbers

__all__ = [
    "ISSUE", "QUESTIONS", "Outcome", "PastAttempt", "Step", "SurveyAnswers", "SurveyDialog",
    "SurveySettings", "due", "given_up", "number_to_dial", "outcome_after_dial",
]

ISSUE = "@issue"
"""In a step's prompts: the issue's number (digit by digit) and its category."""
QUESTIONS = ("efficiency", "result", "attitude")
"""The three scores, in the order they are asked (``CallbackScores``' fields)."""
NOT_FIXED_KEY = "0"


@dataclass(frozen=True)
class SurveySettings:
    """``[callback.survey]``: the automated callback survey calls."""

    enabled: bool = False
    """Call employees whose issue was resolved (off: the callback queue is the operators' alone)."""
    max_concurrent: int = 4
    """Survey calls at once, at most."""
    attempts: int = 3
    """Calls per resolved issue before it is left to the operators."""
    retry_minutes: float = 120.0
    """Least time between two calls about the same issue (counted from the previous call's start)."""
    ring_seconds: float = 30.0
    """How long the employee's phone rings before the call counts as not answered."""
    answer_seconds: float = 8.0
    """How long the employee has to press a key once a question has been asked."""
    question_tries: int = 2
    """Times a question is asked when the answer is missing or not 1–5 (or 0)."""
    check_seconds: float = 60.0
    """How often the callback queue is looked at."""


class Outcome(StrEnum):
    """How a survey attempt ended."""

    COMPLETED = "completed"
    """Three scores keyed: stored with ``Desk.record_callback``."""
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    DECLINED = "declined"
    FAILED = "failed"
    """The call could not be placed or broke (network, media, no number)."""
    HUNG_UP = "hung-up"
    """Answered, then the employee hung up before the third score."""
    NO_INPUT = "no-input"
    """Answered, but the questions were asked out without three scores."""
    INTERRUPTED = "interrupted"
    """The server stopped during the call."""


def outcome_after_dial(leg_outcome: str) -> Outcome:
    """A dial that was never answered, from the forwarding layer's leg outcome."""
    return {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER, "declined": Outcome.DECLINED,
            "cancelled": Outcome.INTERRUPTED}.get(leg_outcome, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class PastAttempt:
    """A survey call already made for the issue's current resolution."""

    started_at: datetime
    outcome: str | None
    """None while it runs (or when the server stopped in its middle without closing it)."""


def given_up(attempts: Sequence[PastAttempt], settings: SurveySettings) -> bool:
    """Whether the issue is left to the operators: its calls are spent without a survey."""
    return (len(attempts) >= settings.attempts
            and all(a.outcome != Outcome.COMPLETED for a in attempts))


def due(queue: Sequence[int], history: Mapping[int, Sequence[PastAttempt]], *, now: datetime,
        business_time: bool, running: frozenset[int] | set[int], settings: SurveySettings) -> list[int]:
    """The issues (ids, in queue order: longest waiting first) to call now.

    ``queue`` is the callback queue, ``history`` each issue's attempts of its current
    resolution, ``running`` the issues whose survey call is in progress.
    """
    if not settings.enabled or not business_time:
        return []
    free = settings.max_concurrent - len(running)
    spacing = timedelta(minutes=settings.retry_minutes)
    chosen: list[int] = []
    for issue_id in queue:
        if len(chosen) >= free:
            break
        if issue_id in running:
            continue
        attempts = history.get(issue_id, ())
        if any(a.outcome == Outcome.COMPLETED for a in attempts) or given_up(attempts, settings):
            continue
        if attempts and now < max(a.started_at for a in attempts) + spacing:
            continue
        chosen.append(issue_id)
    return chosen


def number_to_dial(*, mobile: str | None, extension: str | None) -> str | None:
    """The directory number a survey calls: the mobile, else the desk extension (never a number
    from anywhere else, such as the issue's caller ID)."""
    offers = offered_numbers(mobile=mobile, extension=extension, caller_key=None)
    return offers[0].dial if offers else None


@dataclass
class SurveyAnswers:
    """What the employee keyed so far."""

    scores: dict[str, int] = field(default_factory=dict)
    """Question name → 1…5."""
    not_fixed: bool = False
    keys: str = ""
    """Every key pressed, in order."""

    @property
    def complete(self) -> bool:
        return all(q in self.scores for q in QUESTIONS)


@dataclass(frozen=True, slots=True)
class Step:
    """What the survey call does next."""

    prompts: tuple[str, ...]
    """Fragment ids to play, in order (:data:`ISSUE` for the issue's number and category)."""
    wait_for_key: bool
    """Wait ``answer_seconds`` for a key after playing (a key also cuts the prompts short)."""
    finished: Outcome | None = None
    """Set on the last step: the call hangs up after its prompts."""


class SurveyDialog:
    """The questions of one answered survey call (see the module doc)."""

    def __init__(self, question_tries: int = 2) -> None:
        if question_tries < 1:
            raise ValueError("question_tries must be at least 1")
        self.question_tries = question_tries
        self.answers = SurveyAnswers()
        self._index = 0
        self._tries = 0
        self._finished: Outcome | None = None

    @property
    def question(self) -> str | None:
        return QUESTIONS[self._index] if self._index < len(QUESTIONS) else None

    @property
    def finished(self) -> Outcome | None:
        return self._finished

    def start(self) -> Step:
        """The first step: which issue the call is about, how to answer, the first question."""
        self._tries = 1
        return Step(("survey-intro", ISSUE, "survey-how", f"survey-{QUESTIONS[0]}"), True)

    def on_key(self, key: str) -> Step:
        """The employee pressed ``key`` while (or after) a question was asked."""
        self._check_running()
        self.answers.keys += key
        question = self.question
        assert question is not None
        if key == NOT_FIXED_KEY:
            self.answers.not_fixed = True
            return Step(("survey-not-fixed-noted", f"survey-{question}"), True)
        if key in "12345" and len(key) == 1:
            self.answers.scores[question] = int(key)
            self._index += 1
            self._tries = 1
            if self.question is None:
                self._finished = Outcome.COMPLETED
                return Step(("survey-thanks",), False, Outcome.COMPLETED)
            return Step((f"survey-{self.question}",), True)
        return self._again(("survey-invalid",))

    def on_silence(self) -> Step:
        """``answer_seconds`` passed after a question without a key."""
        self._check_running()
        return self._again(())

    def on_hangup(self) -> Outcome:
        """The employee hung up: the attempt's outcome."""
        if self._finished is None:
            self._finished = Outcome.HUNG_UP
        return self._finished

    def _again(self, before: tuple[str, ...]) -> Step:
        if self._tries >= self.question_tries:
            self._finished = Outcome.NO_INPUT
            return Step(("survey-goodbye",), False, Outcome.NO_INPUT)
        self._tries += 1
        return Step((*before, f"survey-{self.question}"), True)

    def _check_running(self) -> None:
        if self._finished is not None:
            raise RuntimeError(f"the survey has ended ({self._finished})")
