"""Call back from the console (click-to-dial) through ``hotline serve``, with real phones.

The server runs as a real process (``init-db --demo``, ``serve --clock`` in business hours) with
kamailio as its outbound proxy. The employee is one of the demo directory's employees: their
phone is a baresip registered at kamailio under their mobile number as the directory holds it.
The issue is made the real way: ``hotline call`` rings the hotline from that mobile. The operator
is given an account and a desk phone (``hotline add-user --desk-phone 8002``: another baresip,
registered at kamailio as that extension), logs in over HTTP and posts the record page's "call back" form. What each phone
received (baresip's events, in order) and heard (Goertzel on its recordings) is checked, and the
call row is read back from the server's database.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hotline.config import load_config
from hotline.issues import IssueService
from hotline.store import Store
from tests.conftest import ROOT
from tests.interop.conftest import need
from tests.interop.media_helpers import read_wav, stop_quietly, tone_runs, tone_wav
from tests.interop.peers import Baresip, Kamailio, PortAllocator, start_baresip
from tests.interop.serve_helpers import HotlineServer, ServerOptions

pytestmark = pytest.mark.timeout(180)

# Wednesday 2 December 2026, 10:00 in Beijing: business hours.
BUSINESS_HOURS = "2026-12-02T10:00+08:00"
OPERATOR_HZ, EMPLOYEE_HZ, TONE_HZ = 1100.0, 700.0, 450.0
PASSWORD = "console-pass-2026"
OPERATOR = "chenjing"
NO_PHONE_OPERATOR = "huangmin"
DESK_PHONE = "8002"


def seconds_of(ua: Baresip, hz: float) -> float:
    files = [p for p in ua.recordings() if "dec" in p.name]
    assert files, f"no decoder recording in {ua.recordings()}"
    pcm, rate = read_wav(files[0])
    return sum(b - a for a, b in tone_runs(pcm, hz, rate=rate))


def incoming(ua: Baresip) -> list[dict[str, Any]]:
    """The phone's call events (an auto-answering baresip reports an INVITE as its remote SDP,
    a ringing one as CALL_INCOMING): empty while nobody has called it."""
    return [e for e in ua.ctrl.events if str(e.get("type", "")).startswith("CALL_")]


@dataclass
class Scene:
    server: HotlineServer
    operator: Baresip
    employee: Baresip
    employee_id: str
    mobile: str
    issue_id: int


def add_user(server: HotlineServer, user: str, *extra: str) -> None:
    pw = server.tmp / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    result = server.hotline("add-user", "--config", str(server.config_path), user, "--role", "operator",
                            "--password-file", str(pw), *extra)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def scene_factory(tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio) -> Iterator[Any]:
    """Builds the scene: ``operator_answers``/``employee_answers`` choose the phones' answer mode."""
    need("baresip")
    started: list[Any] = []

    def build(*, operator_answers: bool = True, employee_answers: bool = True) -> Scene:
        server = HotlineServer(tmp_path / "hotline", free_ports, ServerOptions(
            clock=BUSINESS_HOURS, desk_ring_seconds=4, oncall_ring_seconds=4,
            proxy=f"sip:127.0.0.1:{kamailio.open_port}"))
        server.init_db()
        (row,) = server.query("SELECT employee_id, mobile FROM directory WHERE mobile LIKE '+861%'"
                              " AND extension IS NOT NULL ORDER BY employee_id LIMIT 1")
        # The operator's desk phone is extension 8002 of the PBX (kamailio), dialled through it.
        operator = start_baresip(tmp_path / "operator", free_ports, user=DESK_PHONE, display="Operator",
                                 registrar=(kamailio.open_port, "x"), auto_answer=operator_answers,
                                 audio_source=tone_wav(tmp_path / "operator.wav", OPERATOR_HZ, 60))
        started.append(operator)
        employee = start_baresip(tmp_path / "employee", free_ports, user=row["mobile"],
                                 registrar=(kamailio.open_port, "x"), auto_answer=employee_answers,
                                 audio_source=tone_wav(tmp_path / "employee.wav", EMPLOYEE_HZ, 60))
        started.append(employee)
        add_user(server, OPERATOR, "--desk-phone", DESK_PHONE)
        add_user(server, NO_PHONE_OPERATOR)
        server.start()
        started.append(server)
        # The employee rings the hotline from their mobile: that call makes the issue.
        call = subprocess.run([sys.executable, "-m", "hotline", "call", "--config", str(server.config_path),
                               "--from", row["mobile"], "--seconds", "2"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert call.returncode == 0, call.stdout + call.stderr
        (first,) = server.ended_calls(1)
        issue = server.issue_of(first["id"])
        assert issue["employee_id"] == row["employee_id"], issue
        assert not incoming(operator) and not incoming(employee)
        return Scene(server, operator, employee, row["employee_id"], row["mobile"], issue["id"])

    try:
        yield build
    finally:
        for thing in reversed(started):
            if isinstance(thing, HotlineServer):
                thing.stop()
            else:
                stop_quietly(thing)


class Console:
    """One logged-in user's HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, server: HotlineServer) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{server.web_port}"

    async def login(self, user: str) -> Console:
        page = await self.page("/login")
        async with self.session.post(self.base + "/login", allow_redirects=False, data={
                "_csrf": csrf_of(page), "user": user, "password": PASSWORD}) as r:
            assert r.status == 303, await r.text()
        return self

    async def page(self, path: str) -> str:
        async with self.session.get(self.base + path) as r:
            assert r.status == 200, await r.text()
            return await r.text()

    async def call_back(self, issue_id: int, key: str) -> tuple[int, str]:
        page = await self.page(f"/issues/{issue_id}")
        async with self.session.post(f"{self.base}/issues/{issue_id}/dial", allow_redirects=False,
                                     data={"_csrf": csrf_of(page), "number": key}) as r:
            return r.status, await r.text()


def csrf_of(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


@pytest.fixture
async def console() -> AsyncIterator[Any]:
    sessions: list[aiohttp.ClientSession] = []

    async def open_as(server: HotlineServer, user: str) -> Console:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return await Console(session, server).login(user)

    try:
        yield open_as
    finally:
        for session in sessions:
            await session.close()


async def next_message(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[dict[str, Any]], bool],
                       timeout: float = 10.0) -> dict[str, Any]:
    """The first message of the live panel's socket that is ``wanted``."""
    async with asyncio.timeout(timeout):
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and wanted(decoded := json.loads(message.data)):
                return decoded
    raise AssertionError("the live panel's socket closed before the message came")


async def flag_for_call_back(server: HotlineServer, issue_id: int) -> None:
    async with Store(server.database) as store:
        issues = IssueService(store, load_config(server.config_path).site.timezone)
        await issues.update_fields(issue_id, actor="system", changes={"call_back": True},
                                   note="nobody answered and no voicemail was left")


def call_back_queue(page: str) -> list[int]:
    """The issues of the operators' "callers to call back" queue on the queues page."""
    match = re.search(r'<section class="queue" id="queue-call-back".*?</section>', page, re.S)
    assert match is not None, page
    return [int(i) for i in re.findall(r'data-id="(\d+)"', match.group(0))]


def outbound(server: HotlineServer) -> list[dict[str, Any]]:
    return [c for c in server.calls() if c["direction"] == "out"]


async def test_call_back_rings_the_operator_first_then_bridges_the_employee(
    scene_factory: Any, console: Any,
) -> None:
    scene: Scene = scene_factory()
    server = scene.server
    operator = await console(server, OPERATOR)
    page = await operator.page(f"/issues/{scene.issue_id}")
    # The form offers keys; the numbers are shown, never posted.
    assert re.search(r'name="number" value="mobile"', page) and scene.mobile in page
    assert not re.search(r'name="number" value="\+?\d', page)

    # A number typed into the form is refused, and nothing is dialled.
    for forged in (scene.mobile, "+8613900000009", "mobile2"):
        status, body = await operator.call_back(scene.issue_id, forged)
        assert status == 400, body
        assert "Nothing was dialled" in body or "未拨打任何号码" in body
    # A user without a desk phone is told so; nothing is dialled either.
    other = await console(server, NO_PHONE_OPERATOR)
    status, body = await other.call_back(scene.issue_id, "mobile")
    assert status == 409 and ("--desk-phone" in body), body
    await asyncio.sleep(1.0)
    assert outbound(server) == [] and not incoming(scene.operator) and not incoming(scene.employee)

    # The caller must be called back (flagged as call control flags a missed call): the queue shows it.
    await flag_for_call_back(server, scene.issue_id)
    assert scene.issue_id in call_back_queue(await operator.page("/queues/operator"))
    panel = await operator.session.ws_connect(f"ws://127.0.0.1:{server.web_port}/live/ws")
    status, _ = await operator.call_back(scene.issue_id, "mobile")
    assert status == 303
    await scene.operator.ctrl.wait_event_async("CALL_ESTABLISHED", 15)
    await scene.employee.ctrl.wait_event_async("CALL_ESTABLISHED", 15)
    # The live panel shows the call as outbound, placed by the operator, without a screen pop.
    arrived = await next_message(panel, lambda m: m.get("kind") == "call_arrived")
    assert (arrived["direction"], arrived["placed_by"], arrived["flow"], arrived["issue"], arrived["pop"]) == (
        "out", OPERATOR, "callback", scene.issue_id, None)
    assert arrived["placed_by_name"]
    await panel.close()
    # The employee was reached: the issue leaves the callers to call back, on the operator's name.
    server.wait_for("the call-back flag cleared", lambda: server.query(
        "SELECT call_back FROM issues WHERE id = ?", (scene.issue_id,)) == [{"call_back": 0}])
    (cleared,) = server.query("SELECT actor, note FROM issue_events WHERE issue_id = ? AND kind = 'fields'"
                              " AND json_extract(after, '$.call_back') = 0", (scene.issue_id,))
    assert cleared["actor"] == OPERATOR and cleared["note"].startswith("caller reached by a call back")
    assert scene.issue_id not in call_back_queue(await operator.page("/queues/operator"))
    # A second call back of the same issue while this one runs is refused.
    status, body = await operator.call_back(scene.issue_id, "mobile")
    assert status == 409, body
    await asyncio.sleep(3.0)  # bridged: each hears the other
    await asyncio.to_thread(scene.operator.hangup)
    await scene.employee.ctrl.wait_event_async("CALL_CLOSED", 10)
    (call,) = server.wait_for("the call back's end", lambda: [c for c in outbound(server) if c["ended_at"]])

    # The operator's phone rang (and answered) before the employee's phone was dialled.
    op_in, emp_in = incoming(scene.operator)[0], incoming(scene.employee)[0]
    op_up = scene.operator.ctrl.wait_event("CALL_ESTABLISHED", 1)
    assert op_in["t"] < op_up["t"] < emp_in["t"], (op_in, op_up, emp_in)
    assert (call["issue_id"], call["placed_by"], call["direction"]) == (scene.issue_id, OPERATOR, "out")
    assert [(a["role"], a["target"], a["outcome"]) for a in call["attempts"]] == [
        ("operator", DESK_PHONE, "answered"), ("mobile", scene.mobile, "answered")]
    assert (call["disposition"], call["answered_by"]) == ("answered", scene.employee_id)
    assert call["talk_seconds"] >= 2.5 and call["ring_seconds"] is not None
    # RTP through the bridge, both ways, and never one's own tone back.
    assert seconds_of(scene.operator, EMPLOYEE_HZ) > 2.0
    assert seconds_of(scene.employee, OPERATOR_HZ) > 2.0
    assert seconds_of(scene.operator, OPERATOR_HZ) == 0.0 and seconds_of(scene.employee, EMPLOYEE_HZ) == 0.0
    # The issue shows it, its audit trail says who called back, and the refusals are on record.
    page = await operator.page(f"/issues/{scene.issue_id}")
    assert f'data-id="{call["id"]}" data-disposition="answered"' in page
    kinds = [r["kind"] for r in server.query(
        "SELECT kind FROM issue_events WHERE issue_id = ? ORDER BY id", (scene.issue_id,))]
    assert kinds.count("call_back") == 1 and kinds.count("call_back_refused") == 5, kinds
    assert "Traceback" not in server.log()


async def test_operator_who_does_not_answer_means_the_employee_is_never_dialled(
    scene_factory: Any, console: Any,
) -> None:
    scene: Scene = scene_factory(operator_answers=False)
    server = scene.server
    operator = await console(server, OPERATOR)
    status, _ = await operator.call_back(scene.issue_id, "mobile")
    assert status == 303
    await scene.operator.ctrl.wait_event_async("CALL_INCOMING", 10)
    await scene.operator.ctrl.wait_event_async("CALL_CLOSED", 15)  # rang desk_ring_seconds, cancelled
    (call,) = server.wait_for("the call back's end", lambda: [c for c in outbound(server) if c["ended_at"]])
    await asyncio.sleep(1.0)
    assert not incoming(scene.employee)
    assert [(a["role"], a["outcome"]) for a in call["attempts"]] == [("operator", "no-answer")]
    assert (call["disposition"], call["answered_by"], call["issue_id"]) == (
        "operator-unanswered", None, scene.issue_id)
    page = await operator.page(f"/issues/{scene.issue_id}")
    assert 'data-disposition="operator-unanswered"' in page


async def test_employee_who_does_not_answer_the_operator_hears_ringback_then_busy(
    scene_factory: Any, console: Any,
) -> None:
    scene: Scene = scene_factory(employee_answers=False)
    server = scene.server
    operator = await console(server, OPERATOR)
    status, _ = await operator.call_back(scene.issue_id, "mobile")
    assert status == 303
    await scene.operator.ctrl.wait_event_async("CALL_ESTABLISHED", 15)
    await scene.employee.ctrl.wait_event_async("CALL_INCOMING", 15)
    await scene.operator.ctrl.wait_event_async("CALL_CLOSED", 20)  # ringing 4 s, busy tone, hung up
    (call,) = server.wait_for("the call back's end", lambda: [c for c in outbound(server) if c["ended_at"]])
    assert [(a["role"], a["outcome"]) for a in call["attempts"]] == [
        ("operator", "answered"), ("mobile", "no-answer")]
    assert (call["disposition"], call["answered_by"], call["talk_seconds"]) == ("missed", None, 0.0)
    # 450 Hz: ringback (1 s on, 4 s off) while the employee's phone rang, then the busy tone.
    assert seconds_of(scene.operator, TONE_HZ) > 1.5
    assert seconds_of(scene.operator, EMPLOYEE_HZ) == 0.0
