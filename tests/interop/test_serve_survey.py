"""The automated callback survey (回访) through ``hotline serve``, with real phones.

The server runs as a real process (``init-db --demo``, ``serve --clock``) with kamailio as its
outbound proxy and ``[callback.survey]`` on, checking the callback queue every half second. The
employees are demo directory employees whose phones are baresips registered at kamailio under
their mobile numbers as the directory holds them; their issues are made and resolved the way the
desk does it, in the server's database, before it starts. One employee answers and keys 4, 5, 5
(RFC 4733) as the questions are asked (what the server said is read from its log); another never
answers; a third keys one score and hangs up, twice. The records are read back from the server's database.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.calls.speech import issue_digits
from hotline.config import load_config
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.services import build_calendar
from hotline.store import Store
from hotline.store.records import NewCall
from tests.interop.conftest import need
from tests.interop.media_helpers import stop_quietly, tone_wav
from tests.interop.peers import Baresip, Kamailio, PortAllocator, start_baresip
from tests.interop.serve_helpers import ENGINEERS, HotlineServer, ServerOptions
from tests.interop.test_serve_self_service import said

pytestmark = pytest.mark.timeout(180)

# Wednesday 2 December 2026, 10:00 in Beijing: a working day, in business hours.
BUSINESS_HOURS = "2026-12-02T10:00+08:00"
# Thursday 1 October 2026, 10:00: National Day, a public holiday.
HOLIDAY = "2026-10-01T10:00+08:00"
RESOLVED_AT = datetime.fromisoformat("2026-09-29T16:00+08:00")
OWNER = ENGINEERS[0]
SURVEY = """
[callback.survey]
enabled = true
max_concurrent = 3
attempts = 2
retry_minutes = 0.2
ring_seconds = 5
answer_seconds = 6
check_seconds = 0.5
"""


def survey_server(tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, clock: str,
                  settings: str = SURVEY) -> HotlineServer:
    """``hotline serve --clock`` with the survey `settings`, dialling through kamailio; database made."""
    server = HotlineServer(tmp_path / "hotline", free_ports, ServerOptions(
        clock=clock, proxy=f"sip:127.0.0.1:{kamailio.open_port}", extra=settings))
    server.init_db()
    return server


def employees(server: HotlineServer, count: int) -> list[dict[str, Any]]:
    return server.query("SELECT employee_id, mobile FROM directory WHERE mobile LIKE '+861%'"
                        " ORDER BY employee_id LIMIT ?", (count,))


async def seed_resolved(server: HotlineServer, mobile: str, employee_id: str, tag: str) -> tuple[int, str]:
    """An issue of the employee, recorded, dispatched to OWNER, worked on and resolved."""
    config = load_config(server.config_path)
    async with Store(server.database) as store:
        issues = IssueService(store, config.site.timezone, clock=lambda: RESOLVED_AT)
        call, issue = await issues.create_issue_for_call(NewCall(f"seed-{tag}", RESOLVED_AT, caller_key=mobile))
        assert issue.employee_id == employee_id, issue
        await store.calls.end(call.id, RESOLVED_AT, "answered")
        await issues.transition(issue.id, "recorded", actor="op",
                                changes={"category": "network", "description": "办公室无法上网"})
        await issues.transition(issue.id, "dispatched", actor="op", changes={"owner": OWNER})
        await issues.transition(issue.id, "in_progress", actor=OWNER)
        desk = Desk(store, build_calendar(config), config.desk, clock=lambda: RESOLVED_AT)
        await desk.resolve(issue.id, by=OWNER, resolution="交换机端口已更换")
        return issue.id, issue.number


def surveys_of(server: HotlineServer, issue_id: int) -> list[dict[str, Any]]:
    return server.query("SELECT * FROM survey_attempts WHERE issue_id = ? ORDER BY id", (issue_id,))


def survey_calls(server: HotlineServer, issue_id: int) -> list[dict[str, Any]]:
    return [c for c in server.calls() if c["direction"] == "out" and c["issue_id"] == issue_id]


def incoming(ua: Baresip) -> list[dict[str, Any]]:
    return [e for e in ua.ctrl.events if e.get("type") in ("CALL_INCOMING", "CALL_ESTABLISHED")]


@pytest.fixture
def phones() -> Iterator[list[Baresip]]:
    started: list[Baresip] = []
    try:
        yield started
    finally:
        for ua in started:
            stop_quietly(ua)


async def wait_said(server: HotlineServer, first: str, count: int = 1, timeout: float = 20) -> list[list[str]]:
    return await asyncio.to_thread(server.wait_for, f"{count}× {first}",
                                   lambda: (lambda s: s if len(s) >= count else None)(said(server, first)),
                                   timeout)


async def hang_up_twice(phone: Baresip) -> None:
    """Answer, key 3, hang up; answer the retry and hang up at once."""
    await phone.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
    await asyncio.sleep(2.0)
    await asyncio.to_thread(phone.send_dtmf, "3")
    await asyncio.sleep(1.5)
    await asyncio.to_thread(phone.hangup)
    mark = len(phone.ctrl.events)
    await phone.ctrl.wait_event_async("CALL_ESTABLISHED", 40, after=mark)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(phone.hangup)


async def test_an_employee_keys_the_scores_another_never_answers_and_is_left_to_the_operators(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, phones: list[Baresip],
) -> None:
    need("baresip")
    server = survey_server(tmp_path, free_ports, kamailio, BUSINESS_HOURS)
    happy, silent, quitting = employees(server, 3)
    scored_id, scored_number = await seed_resolved(server, happy["mobile"], happy["employee_id"], "a")
    missed_id, _ = await seed_resolved(server, silent["mobile"], silent["employee_id"], "b")
    quit_id, _ = await seed_resolved(server, quitting["mobile"], quitting["employee_id"], "c")
    assert server.query("SELECT * FROM desk_scores WHERE key = ?", (f"resolve:{scored_id}",)) == []
    answering = start_baresip(tmp_path / "happy", free_ports, user=happy["mobile"],
                              registrar=(kamailio.open_port, "x"), auto_answer=True,
                              audio_source=tone_wav(tmp_path / "happy.wav", 700.0, 60))
    phones.append(answering)
    ringing = start_baresip(tmp_path / "silent", free_ports, user=silent["mobile"],
                            registrar=(kamailio.open_port, "x"), auto_answer=False)
    phones.append(ringing)
    quitter = start_baresip(tmp_path / "quitter", free_ports, user=quitting["mobile"],
                            registrar=(kamailio.open_port, "x"), auto_answer=True)
    phones.append(quitter)
    quitting_task: asyncio.Future[None] | None = None
    try:
        server.start()
        quitting_task = asyncio.ensure_future(hang_up_twice(quitter))
        await answering.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await wait_said(server, "survey-intro")
        await asyncio.to_thread(answering.send_dtmf, "4")
        await wait_said(server, "survey-result")
        await asyncio.to_thread(answering.send_dtmf, "5")
        await wait_said(server, "survey-attitude")
        await asyncio.to_thread(answering.send_dtmf, "5")
        await answering.ctrl.wait_event_async("CALL_CLOSED", 20)  # thanked, then hung up
        # The silent employee: rung, not answered, rung again 12 s later, then given up.
        await asyncio.to_thread(server.wait_for, "the given-up surveys", lambda: len(server.query(
            "SELECT * FROM issue_events WHERE issue_id IN (?, ?) AND kind = 'survey_gave_up'",
            (missed_id, quit_id))) == 2, 60)
        await quitting_task
        await asyncio.sleep(2.0)  # a third call would have started by now
    finally:
        if quitting_task is not None and not quitting_task.done():
            quitting_task.cancel()
        server.stop()

    # What the answering employee heard first: which issue, how to answer, the first question
    # (the other employees' calls run at the same time: their intros may be logged before).
    assert ["survey-intro", *[f"digit-{d}" for d in issue_digits(scored_number)],
            "category-network", "survey-how", "survey-efficiency"] in said(server, "survey-intro")
    (attempt,) = surveys_of(server, scored_id)
    assert (attempt["outcome"], attempt["efficiency"], attempt["result"], attempt["attitude"],
            attempt["not_fixed"], attempt["keys"]) == ("completed", 4, 5, 5, 0, "455")
    (callback,) = server.query("SELECT * FROM desk_callbacks WHERE issue_id = ?", (scored_id,))
    assert (callback["efficiency"], callback["result"], callback["attitude"], callback["fixed"],
            callback["reopened"], callback["by"]) == (4, 5, 5, 1, 0, "ivr")
    (issue,) = server.query("SELECT status FROM issues WHERE id = ?", (scored_id,))
    assert issue["status"] == "callback_done"
    (points,) = server.query("SELECT * FROM desk_scores WHERE key = ?", (f"resolve:{scored_id}",))
    assert points["person_id"] == OWNER and points["points"] > 0
    (call,) = survey_calls(server, scored_id)
    assert (call["flow"], call["disposition"], call["answered_by"], call["to_uri"], call["from_uri"]) == (
        "survey", "answered", happy["employee_id"], happy["mobile"], "8000")
    assert call["id"] == attempt["call_id"] and call["ended_at"] and call["talk_seconds"] > 0
    assert [(a["role"], a["target"], a["outcome"]) for a in call["attempts"]] == [
        ("employee", happy["mobile"], "answered")]

    # The employee who never answered: two calls, the spacing between them, left in the queue.
    missed = surveys_of(server, missed_id)
    assert [(m["attempt"], m["outcome"], m["efficiency"]) for m in missed] == [
        (1, "no-answer", None), (2, "no-answer", None)]
    gap = datetime.fromisoformat(missed[1]["started_at"]) - datetime.fromisoformat(missed[0]["started_at"])
    assert gap.total_seconds() >= 12  # retry_minutes
    calls = survey_calls(server, missed_id)
    assert [(c["disposition"], c["answered_by"]) for c in calls] == [("missed", None), ("missed", None)]
    assert [m["call_id"] for m in missed] == [c["id"] for c in calls]
    rung = [e for e in ringing.ctrl.events if e.get("type") == "CALL_INCOMING"]
    assert len(rung) == 2
    # The phones were shown the hotline's number.
    assert all(str(e.get("peeruri", "")).startswith("sip:8000@") for e in rung), rung
    (still,) = server.query("SELECT status FROM issues WHERE id = ?", (missed_id,))
    assert still["status"] == "resolved"  # in the operators' callback queue
    assert server.query("SELECT * FROM desk_callbacks WHERE issue_id = ?", (missed_id,)) == []
    # The employee who hung up: the score keyed before is kept, the retry came, then the operators.
    quits = surveys_of(server, quit_id)
    assert [(q["attempt"], q["outcome"], q["efficiency"], q["result"], q["keys"]) for q in quits] == [
        (1, "hung-up", 3, None, "3"), (2, "hung-up", None, None, "")]
    assert [c["disposition"] for c in survey_calls(server, quit_id)] == ["answered", "answered"]
    (gave_up,) = server.query("SELECT after FROM issue_events WHERE issue_id = ? AND kind = 'survey_gave_up'",
                              (quit_id,))
    assert [a["outcome"] for a in json.loads(gave_up["after"])["attempts"]] == ["hung-up", "hung-up"]
    assert server.query("SELECT status FROM issues WHERE id = ?", (quit_id,))[0]["status"] == "resolved"
    assert "Traceback" not in server.log()


async def test_no_survey_call_on_a_holiday_until_business_time(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, phones: list[Baresip],
) -> None:
    need("baresip")
    server = survey_server(tmp_path, free_ports, kamailio, HOLIDAY)
    (employee,) = employees(server, 1)
    issue_id, _ = await seed_resolved(server, employee["mobile"], employee["employee_id"], "h")
    phone = start_baresip(tmp_path / "phone", free_ports, user=employee["mobile"],
                          registrar=(kamailio.open_port, "x"), auto_answer=False)
    phones.append(phone)
    try:
        server.start()
        await asyncio.to_thread(server.wait_for, "the survey caller", lambda: "survey calls on" in server.log())
        await asyncio.sleep(4.0)  # eight checks of the queue
        assert survey_calls(server, issue_id) == [] and surveys_of(server, issue_id) == []
        assert incoming(phone) == []
    finally:
        server.stop()
    # The same server on a working morning calls at once.
    server.options.clock = BUSINESS_HOURS
    try:
        server.start()
        await phone.ctrl.wait_event_async("CALL_INCOMING", 20)
    finally:
        server.stop()
    assert [m["attempt"] for m in surveys_of(server, issue_id)] == [1]


async def test_the_survey_speaks_the_language_the_employee_chose_when_calling(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, phones: list[Baresip],
) -> None:
    need("baresip")
    server = survey_server(tmp_path, free_ports, kamailio, BUSINESS_HOURS)
    english, unknown = employees(server, 2)
    english_id, english_number = await seed_resolved(server, english["mobile"], english["employee_id"], "en")
    unknown_id, _ = await seed_resolved(server, unknown["mobile"], unknown["employee_id"], "xx")
    # The English speaker pressed the IVR's English key when calling; the other call has no
    # language on record (as when a caller hangs up in the greeting): Chinese, the default.
    with sqlite3.connect(server.database) as db:
        db.execute("UPDATE calls SET language = 'en' WHERE id = (SELECT call_id FROM issues WHERE id = ?)",
                   (english_id,))
    for person in (english, unknown):
        phones.append(start_baresip(tmp_path / person["employee_id"], free_ports, user=person["mobile"],
                                    registrar=(kamailio.open_port, "x"), auto_answer=True))
    try:
        server.start()
        for phone in phones:
            await phone.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await wait_said(server, "survey-intro", count=2)
        for phone in phones:
            await asyncio.to_thread(phone.hangup)
        for issue_id in (english_id, unknown_id):
            await asyncio.to_thread(server.wait_for, "the survey call's end",
                                    lambda i=issue_id: all(c["ended_at"] for c in survey_calls(server, i)))
    finally:
        server.stop()
    spoken = dict(re.findall(r"survey call (\d+): in (\w+) says survey-intro", server.log()))
    (english_call,) = survey_calls(server, english_id)
    (unknown_call,) = survey_calls(server, unknown_id)
    assert (spoken[str(english_call["id"])], english_call["language"]) == ("en", "en")
    assert (spoken[str(unknown_call["id"])], unknown_call["language"]) == ("zh", "zh")
    assert ["survey-intro", *[f"digit-{d}" for d in issue_digits(english_number)], "category-network",
            "survey-how", "survey-efficiency"] in said(server, "survey-intro")
    assert "Traceback" not in server.log()
