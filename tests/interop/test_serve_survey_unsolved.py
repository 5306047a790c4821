"""A survey call answered "not solved" and then hung up, through ``hotline serve``, with a real phone.

Set up as in ``test_serve_survey``: kamailio as the outbound proxy, the employee a baresip
registered under their directory mobile, their issue resolved through the desk before the
server starts — and flagged for a call back, as call control flags a missed call. The employee
answers, keys 0 at the first question and hangs up once the server has said it noted that. The
issue must reopen at once (no retry, though retries are a few seconds apart) and leave the
operators' "callers to call back" queue, since the employee was reached.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hotline.config import load_config
from hotline.issues import IssueService
from hotline.store import Store
from tests.interop.conftest import need
from tests.interop.media_helpers import stop_quietly
from tests.interop.peers import Kamailio, PortAllocator, start_baresip
from tests.interop.serve_helpers import HotlineServer
from tests.interop.test_serve_survey import (
    BUSINESS_HOURS,
    OWNER,
    employees,
    seed_resolved,
    survey_server,
    surveys_of,
    wait_said,
)

pytestmark = pytest.mark.timeout(180)

SURVEY = """
[callback.survey]
enabled = true
max_concurrent = 2
attempts = 1
retry_minutes = 0.05
ring_seconds = 5
answer_seconds = 6
check_seconds = 0.5
"""


async def flag_for_call_back(server: HotlineServer, issue_id: int) -> None:
    async with Store(server.database) as store:
        issues = IssueService(store, load_config(server.config_path).site.timezone)
        await issues.update_fields(issue_id, actor="system", changes={"call_back": True},
                                   note="nobody answered and no voicemail was left")


async def test_not_solved_then_hung_up_reopens_at_once_and_clears_the_call_back(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio,
) -> None:
    need("baresip")
    server = survey_server(tmp_path, free_ports, kamailio, BUSINESS_HOURS, SURVEY)
    (employee,) = employees(server, 1)
    issue_id, _ = await seed_resolved(server, employee["mobile"], employee["employee_id"], "z")
    await flag_for_call_back(server, issue_id)
    phone = start_baresip(tmp_path / "phone", free_ports, user=employee["mobile"],
                          registrar=(kamailio.open_port, "x"), auto_answer=True)
    try:
        server.start()
        await phone.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await wait_said(server, "survey-intro")
        await asyncio.to_thread(phone.send_dtmf, "0")
        await wait_said(server, "survey-not-fixed-noted")
        await asyncio.to_thread(phone.hangup)
        await asyncio.to_thread(server.wait_for, "the reopened issue", lambda: server.query(
            "SELECT status FROM issues WHERE id = ?", (issue_id,)) == [{"status": "reopened"}], 20)
        mark = len(phone.ctrl.events)
        await asyncio.sleep(6.0)  # twice the retry spacing: a retry would have rung by now
        assert [e for e in phone.ctrl.events[mark:] if e.get("type") == "CALL_INCOMING"] == []
    finally:
        server.stop()
        stop_quietly(phone)

    # One attempt, its partial answers kept; not given up (the issue went back to work instead).
    (attempt,) = surveys_of(server, issue_id)
    assert (attempt["outcome"], attempt["not_fixed"], attempt["keys"], attempt["efficiency"]) == (
        "hung-up", 1, "0", None)
    kinds = [r["kind"] for r in server.query(
        "SELECT kind FROM issue_events WHERE issue_id = ? ORDER BY id", (issue_id,))]
    assert "survey_gave_up" not in kinds and kinds.count("callback_partial") == 1
    (partial,) = server.query("SELECT actor, after, note FROM issue_events WHERE issue_id = ?"
                              " AND kind = 'callback_partial'", (issue_id,))
    assert partial["actor"] == "ivr" and json.loads(partial["after"]) == {
        "fixed": False, "reopened": True, "complete": False}
    (status,) = server.query("SELECT note FROM issue_events WHERE issue_id = ? AND kind = 'status'"
                             " ORDER BY id DESC LIMIT 1", (issue_id,))
    assert status["note"] == "caller says not fixed (callback cut short)"
    assert server.query("SELECT * FROM desk_callbacks WHERE issue_id = ?", (issue_id,)) == []
    # Back with its owner (the desk's unit tests check the owner and the managers are told).
    assert server.query("SELECT owner FROM issues WHERE id = ?", (issue_id,)) == [{"owner": OWNER}]
    # The employee was reached: no call back is due any more.
    (row,) = server.query("SELECT call_back FROM issues WHERE id = ?", (issue_id,))
    assert row["call_back"] == 0
    (cleared,) = server.query("SELECT actor, note FROM issue_events WHERE issue_id = ? AND kind = 'fields'"
                              " AND json_extract(after, '$.call_back') = 0", (issue_id,))
    assert cleared["actor"] == "survey" and cleared["note"].startswith("caller reached by a survey call")
    assert "Traceback" not in server.log()
