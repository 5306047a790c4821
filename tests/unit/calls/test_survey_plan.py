"""The automated callback survey's decisions: who is due, the questions, ``[callback.survey]``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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
from hotline.config import ConfigError, load_config

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
ON = SurveySettings(enabled=True, max_concurrent=2, attempts=3, retry_minutes=60)


def attempt(minutes_ago: float, outcome: str | None = "no-answer") -> PastAttempt:
    return PastAttempt(NOW - timedelta(minutes=minutes_ago), outcome)


# -- who is due ----------------------------------------------------------------------------


def test_nothing_is_due_when_off_or_outside_business_time() -> None:
    assert due([1, 2], {}, now=NOW, business_time=True, running=set(), settings=SurveySettings()) == []
    assert due([1, 2], {}, now=NOW, business_time=False, running=set(), settings=ON) == []
    assert due([1, 2], {}, now=NOW, business_time=True, running=set(), settings=ON) == [1, 2]


def test_concurrency_counts_the_calls_already_running_and_keeps_queue_order() -> None:
    assert due([5, 3, 9, 7], {}, now=NOW, business_time=True, running=set(), settings=ON) == [5, 3]
    assert due([5, 3, 9, 7], {}, now=NOW, business_time=True, running={5}, settings=ON) == [3]
    assert due([5, 3, 9], {}, now=NOW, business_time=True, running={1, 2}, settings=ON) == []


def test_a_retry_waits_for_the_spacing_from_the_last_call() -> None:
    history = {1: [attempt(90), attempt(59)], 2: [attempt(61)]}
    assert due([1, 2], history, now=NOW, business_time=True, running=set(), settings=ON) == [2]
    later = NOW + timedelta(minutes=2)
    assert due([1, 2], history, now=later, business_time=True, running=set(), settings=ON) == [1, 2]


def test_spent_attempts_leave_the_issue_to_the_operators_and_a_completed_survey_is_not_repeated() -> None:
    spent = [attempt(300), attempt(200), attempt(100, "hung-up")]
    done = [attempt(300, "completed")]
    history = {1: spent, 2: done, 3: [attempt(100, "busy")]}
    assert given_up(spent, ON) and not given_up(done, ON) and not given_up(spent[:2], ON)
    assert due([1, 2, 3], history, now=NOW, business_time=True, running=set(), settings=ON) == [3]


def test_an_unfinished_attempt_counts_against_the_limit() -> None:
    history = {1: [attempt(300), attempt(200), attempt(100, None)]}
    assert due([1], history, now=NOW, business_time=True, running=set(), settings=ON) == []


def test_only_directory_numbers_are_dialled_mobile_first() -> None:
    assert number_to_dial(mobile="+8613800000001", extension="ext:8001") == "+8613800000001"
    assert number_to_dial(mobile=None, extension="ext:8001") == "8001"
    assert number_to_dial(mobile="sip:evil@example.com", extension=None) is None
    assert number_to_dial(mobile=None, extension=None) is None


def test_dial_outcomes() -> None:
    assert [outcome_after_dial(o) for o in ("busy", "no-answer", "declined", "failed", "cancelled", "odd")] == [
        Outcome.BUSY, Outcome.NO_ANSWER, Outcome.DECLINED, Outcome.FAILED, Outcome.INTERRUPTED, Outcome.FAILED]


# -- the questions -------------------------------------------------------------------------


def test_three_scores_complete_the_survey() -> None:
    dialog = SurveyDialog()
    first = dialog.start()
    assert first.prompts == ("survey-intro", ISSUE, "survey-how", "survey-efficiency") and first.wait_for_key
    assert dialog.on_key("4").prompts == ("survey-result",)
    assert dialog.on_key("5").prompts == ("survey-attitude",)
    last = dialog.on_key("5")
    assert (last.prompts, last.wait_for_key, last.finished) == (("survey-thanks",), False, Outcome.COMPLETED)
    assert dialog.answers.scores == {"efficiency": 4, "result": 5, "attitude": 5}
    assert dialog.answers.complete and not dialog.answers.not_fixed and dialog.answers.keys == "455"
    with pytest.raises(RuntimeError):
        dialog.on_key("1")
    assert dialog.on_hangup() == Outcome.COMPLETED


def test_zero_notes_not_solved_and_asks_the_same_question_again() -> None:
    dialog = SurveyDialog()
    dialog.start()
    dialog.on_key("3")
    step = dialog.on_key("0")
    assert step.prompts == ("survey-not-fixed-noted", "survey-result") and step.wait_for_key
    assert dialog.answers.not_fixed and dialog.question == "result"
    dialog.on_key("2")
    assert dialog.on_key("1").finished == Outcome.COMPLETED
    assert dialog.answers.scores == {"efficiency": 3, "result": 2, "attitude": 1}
    assert dialog.answers.not_fixed and dialog.answers.keys == "3021"


def test_wrong_keys_and_silence_repeat_the_question_then_give_up_keeping_partial_answers() -> None:
    dialog = SurveyDialog(question_tries=2)
    dialog.start()
    dialog.on_key("5")
    assert dialog.on_key("9").prompts == ("survey-invalid", "survey-result")
    last = dialog.on_silence()
    assert (last.finished, last.wait_for_key) == (Outcome.NO_INPUT, False)
    assert dialog.answers.scores == {"efficiency": 5} and not dialog.answers.complete
    assert dialog.on_hangup() == Outcome.NO_INPUT


def test_a_correct_answer_resets_the_tries_and_a_hang_up_mid_survey_is_hung_up() -> None:
    dialog = SurveyDialog(question_tries=2)
    dialog.start()
    dialog.on_silence()
    dialog.on_key("4")
    assert dialog.on_silence().finished is None  # the second question's first repeat
    assert dialog.on_hangup() == Outcome.HUNG_UP
    assert dialog.answers.scores == {"efficiency": 4}


# -- [callback.survey] ---------------------------------------------------------------------

BASE = """\
[site]
name = "IT"

[sip]
allowed_peers = ["10.0.0.0/8"]
hotline_number = "8000"

[web]
secret = "0123456789abcdef0123456789abcdef"
"""


def load(tmp_path: Path, extra: str) -> SurveySettings:
    path = tmp_path / "hotline.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_config(path).survey


def test_the_survey_is_off_by_default_and_read_from_its_table(tmp_path: Path) -> None:
    assert load(tmp_path, "") == SurveySettings()
    settings = load(tmp_path, '[sip.outbound]\nproxy = "sip:10.0.0.1"\n[callback.survey]\nenabled = true\n'
                              "max_concurrent = 50\nattempts = 2\nretry_minutes = 0.05\ncheck_seconds = 1\n")
    assert (settings.enabled, settings.max_concurrent, settings.attempts, settings.retry_minutes,
            settings.check_seconds) == (True, 50, 2, 0.05, 1.0)


def test_bad_survey_settings_are_named_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "[callback.survey]\nenabled = true\nattempts = 0\nretries = 2\n")
    text = str(caught.value)
    assert "callback.survey.attempts" in text and "1–20" in text
    assert "callback.survey.retries: unknown key" in text and "retry_minutes" in text
    assert "sip.outbound.proxy" in text  # numbers are dialled through the proxy
    assert "hotline.toml:" in text
