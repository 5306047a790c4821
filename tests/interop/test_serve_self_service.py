"""The phone that knows the caller, through ``hotline serve``: open issues, status, major incidents.

Every test runs the real server process (``init-db --demo``, ``serve --clock`` in business
hours) with the repository's default flow and real callers on 127.0.0.1: a baresip caller that
presses keys (RFC 4733), an owner's phone (baresip, its staff record's mobile a SIP URI), and
sipp callers that press a key with SIP INFO. What the IVR said is read from the server's log
(each spoken sequence is logged as the fragments it is made of); the records from its database.
"""

from __future__ import annotations

import asyncio
import re
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
from tests.interop.peers import Baresip, PortAllocator, Sipp, start_baresip
from tests.interop.serve_helpers import CALLER, ENGINEERS, HotlineServer, ServerOptions

# Wednesday 2 December 2026, 10:00 in Beijing: a working day, in business hours.
BUSINESS_HOURS = "2026-12-02T10:00+08:00"
SEEDED_AT = datetime.fromisoformat("2026-11-30T09:00+08:00")
NOTE_AT = datetime.fromisoformat("2026-12-01T15:00+08:00")
PLANNED = datetime.fromisoformat("2026-12-05T17:30+08:00")
OWNER = ENGINEERS[1]


@pytest.fixture
def caller(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Baresip]:
    need("baresip")
    ua = start_baresip(tmp_path / "caller", free_ports, user=CALLER, display="Test Caller",
                       auto_answer=False, audio_source=tone_wav(tmp_path / "caller.wav", 700.0, 60))
    try:
        yield ua
    finally:
        stop_quietly(ua)


def serve(tmp_path: Path, free_ports: PortAllocator, options: ServerOptions) -> HotlineServer:
    server = HotlineServer(tmp_path / "hotline", free_ports, options)
    server.init_db()
    return server


async def seed_open_issue(server: HotlineServer) -> tuple[int, str]:
    """An earlier call of CALLER about the network, dispatched to OWNER, in progress, with a
    planned date and a progress note: (issue id, number). Written as the desk would."""
    config = load_config(server.config_path)
    async with Store(server.database) as store:
        issues = IssueService(store, config.site.timezone, clock=lambda: SEEDED_AT)
        call, issue = await issues.create_issue_for_call(NewCall("seed-call", SEEDED_AT, caller_key=CALLER))
        await store.calls.end(call.id, SEEDED_AT, "answered")
        await issues.transition(issue.id, "recorded", actor="op",
                                changes={"category": "network", "description": "办公室无法上网"})
        await issues.transition(issue.id, "dispatched", actor="op",
                                changes={"owner": OWNER, "planned_at": PLANNED})
        await issues.transition(issue.id, "in_progress", actor=OWNER)
        desk = Desk(store, build_calendar(config), config.desk, clock=lambda: NOTE_AT)
        await desk.add_note(issue.id, by=OWNER, text="已更换交换机端口，观察中")
        return issue.id, issue.number


def the_call(server: HotlineServer) -> list[dict[str, Any]]:
    """The calls made by the test, once ended (the seeded one left out)."""
    return [c for c in server.ended_calls(2) if c["sip_call_id"] != "seed-call"]


def said(server: HotlineServer, first: str) -> list[str]:
    """The fragments of the spoken sequences that start with ``first``, as the server logged them."""
    return [line.split(" | ") for line in re.findall(r"says (" + re.escape(first) + r"[^\n]*)", server.log())]


async def test_a_repeat_caller_adds_to_the_open_issue_and_its_owner_rings_first(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip,
) -> None:
    owner_phone = start_baresip(tmp_path / "owner", free_ports, user="owner", display="Owner",
                                audio_source=tone_wav(tmp_path / "owner.wav", 1300.0, 60))
    server = serve(tmp_path, free_ports, ServerOptions(clock=BUSINESS_HOURS, desk_ring_seconds=5,
                                                       oncall_ring_seconds=10))
    server.set_mobile(OWNER, owner_phone.uri)
    open_id, open_number = await seed_open_issue(server)
    try:
        server.start()
        await asyncio.to_thread(caller.dial, server.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.to_thread(server.wait_for, "the offer", lambda: said(server, "offer-one"), 20)
        await asyncio.to_thread(caller.send_dtmf, "1")
        await owner_phone.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await asyncio.sleep(2.0)  # the whisper: who calls, about which issue, press 1
        await asyncio.to_thread(owner_phone.send_dtmf, "1")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(caller.hangup)
        await owner_phone.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = the_call(server)
    finally:
        server.stop()
        stop_quietly(owner_phone)
    # The offer read the open issue: its number digit by digit, its category.
    (offer,) = said(server, "offer-one")
    digits = [f"digit-{d}" for d in issue_digits(open_number)]
    assert offer == ["offer-one", "issue-number", *digits, "category-network", "offer-add-1", "offer-new-2"]
    # No new open issue: the call's own issue is kept, closed, merged into the open one.
    own = server.issue_of(call["id"])
    assert (own["status"], own["merged_into"]) == ("closed", open_id)
    still_open = server.query("SELECT id FROM issues WHERE caller_key = ? AND status <> 'closed'", (CALLER,))
    assert [r["id"] for r in still_open] == [open_id]
    trail = server.query("SELECT kind FROM issue_events WHERE issue_id = ? ORDER BY id", (own["id"],))
    assert [r["kind"] for r in trail] == ["created", "merged"]
    assert server.query("SELECT COUNT(*) AS n FROM issue_events WHERE issue_id = ? AND kind = 'merged_in'",
                        (open_id,))[0]["n"] == 1
    # The owner rang first and answered.
    # (the post's A and B roles after the owner are on record as skipped: their mobiles are numbers and
    # this server has no outbound proxy to dial them through)
    rung = [(a["person"], a["role"], a["outcome"]) for a in call["attempts"] if a["outcome"] != "skipped"]
    assert rung == [(OWNER, "owner", "answered")], call["attempts"]
    assert all(a["route"] == "owner" and a["person"] != OWNER for a in call["attempts"] if a["outcome"] == "skipped")
    assert (call["disposition"], call["route"], call["answered_by"]) == ("answered", f"owner:{OWNER}", OWNER)
    assert {"node": "offer", "digit": "1", "choice": f"linked:{open_number}"} in call["menu"]
    assert "Traceback" not in server.log()


async def test_status_by_phone_reads_back_the_latest_issue(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip,
) -> None:
    server = serve(tmp_path, free_ports, ServerOptions(clock=BUSINESS_HOURS))
    issue_id, number = await seed_open_issue(server)
    try:
        server.start()
        await asyncio.to_thread(caller.dial, server.uri)
        await caller.ctrl.wait_event_async("CALL_ESTABLISHED", 10)
        await asyncio.to_thread(server.wait_for, "the offer", lambda: said(server, "offer-one"), 20)
        await asyncio.to_thread(caller.send_dtmf, "2")  # a new problem: on to the menu
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.send_dtmf, "8")  # the status of my latest issue
        await asyncio.to_thread(server.wait_for, "the read-back", lambda: said(server, "status-intro"), 20)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(caller.hangup)
        (call,) = the_call(server)
    finally:
        server.stop()
    (owner,) = server.query("SELECT name FROM people WHERE id = ?", (OWNER,))
    (spoken,) = said(server, "status-intro")
    assert spoken == [
        "status-intro", *(f"digit-{d}" for d in issue_digits(number)),
        "status-is", "status-in_progress",
        "status-owner", f"name:{owner['name']}",
        "status-planned", "month-12", "day-5", "status-planned-end",
        "status-progress", "month-12", "day-1",
    ]
    assert {"node": "status", "digit": "", "choice": f"status:{number}"} in call["menu"]
    # Pressing 2 kept the call's own issue: it is not merged into anything.
    assert server.issue_of(call["id"])["merged_into"] is None
    assert server.query("SELECT status FROM issues WHERE id = ?", (issue_id,))[0]["status"] == "in_progress"
    assert "Traceback" not in server.log()


async def test_a_major_incident_links_its_callers_to_one_parent_issue(
    tmp_path: Path, free_ports: PortAllocator, sipp: Sipp,
) -> None:
    server = serve(tmp_path, free_ports, ServerOptions(clock=BUSINESS_HOURS, notify_url="http://127.0.0.1:9/"))
    config = ("--config", str(server.config_path))
    declared = server.hotline("incident", "declare", "邮件系统故障", "--category", "email",
                              "--say", "邮件系统目前无法使用，工程师正在处理", *config)
    assert declared.returncode == 0, declared.stderr
    incident_id = int(re.search(r"incident (\d+) declared", declared.stdout).group(1))  # type: ignore[union-attr]
    callers = tmp_path / "incident-callers.csv"
    callers.write_text("SEQUENTIAL\n+8613800000011;One\n+8613800000012;Two\n+8613800000013;Three\n")
    other = tmp_path / "other-caller.csv"
    other.write_text("SEQUENTIAL\n+8613800000014;Four\n")
    try:
        server.start()
        about_it = sipp.start("serve_uac_key_then_wait_bye.xml", server.address, service="8000", calls=3,
                              rate=3, inf=callers, variables={"digit": "1"}, timeout_s=60)
        result = await about_it.wait_async(60)
        assert result.ok, result.describe()
        not_about_it = sipp.start("serve_uac_key_then_bye.xml", server.address, service="8000", calls=1,
                                  inf=other, variables={"digit": "2"}, timeout_s=30)
        result = await not_about_it.wait_async(30)
        assert result.ok, result.describe()
        calls = server.ended_calls(4)
    finally:
        server.stop()
    (incident,) = server.query("SELECT * FROM incidents WHERE id = ?", (incident_id,))
    parent = incident["issue_id"]
    linked = [c for c in calls if c["caller_key"] != "+8613800000014"]
    fourth = next(c for c in calls if c["caller_key"] == "+8613800000014")
    # One parent issue, three calls linked to it, each call's own record kept (closed, merged).
    merged = server.query("SELECT * FROM issues WHERE merged_into = ? ORDER BY id", (parent,))
    assert sorted(i["call_id"] for i in merged) == sorted(c["id"] for c in linked)
    assert all(i["status"] == "closed" for i in merged) and incident["callers"] == 3
    # Linked calls were handled by the IVR: nobody rung, not dispatched again.
    assert [(c["disposition"], c["attempts"]) for c in linked] == [("linked", [])] * 3
    assert all({"node": "incident", "digit": "1", "choice": f"incident:{incident_id}"} in c["menu"]
               for c in linked)
    # The fourth caller pressed 2: its own issue, open, on to the menu.
    own = server.issue_of(fourth["id"])
    assert own["merged_into"] is None and own["status"] == "new"
    assert {"node": "incident", "digit": "2", "choice": "not_incident"} in fourth["menu"]
    assert said(server, f"incident {incident_id}:邮件系统目前无法使用")

    listed = server.hotline("incident", "list", *config)
    assert listed.returncode == 0 and "\t3 caller(s)\t" in listed.stdout, listed.stdout
    cleared = server.hotline("incident", "clear", str(incident_id), "--notify", *config)
    assert cleared.returncode == 0, cleared.stderr
    assert "3 caller(s) to be notified" in cleared.stdout
    notices = server.query("SELECT recipient FROM desk_outbox WHERE event = 'incident_cleared' AND issue_id = ?",
                           (parent,))
    assert sorted(r["recipient"] for r in notices) == ["+8613800000011", "+8613800000012", "+8613800000013"]
    again = server.hotline("incident", "clear", str(incident_id), *config)
    assert again.returncode == 2 and "already cleared" in again.stderr
    assert "Traceback" not in server.log()
