"""The work queues of each role against a running ``hotline serve``.

The records are made before the server starts, on its SQLite file, through the services the
server itself uses — :class:`IssueService` records each call and its issue, the call is ended
and flagged for a call back as call control does, and the :class:`Desk` records, dispatches,
works, resolves, closes and sweeps — each step at its own instant of a clock the test moves, so
that by the server's ``--clock`` (a Wednesday, 10:00 in Shanghai) the issues have aged into
every queue: a breach, an issue at risk, a stale one from Monday, one dispatch found nobody for,
a record past its 30 minutes. Then the server starts at that instant, and the pages are read as
each user sees them (English, so that the assertions read the same before and after the
Chinese catalog is merged).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotline.config import load_config
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.services import build_calendar
from hotline.store import Store
from hotline.store.desk.dispatch import Leave
from hotline.store.records import NewCall
from tests.gate import require
from tests.interop.peers import LOOPBACK, PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.system.test_console_issues import consoles

pytestmark = pytest.mark.timeout(180)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=SH)
"""The server's ``--clock``: a Wednesday, 10:00, business hours."""
PASSWORD = "queues-pass-2026"
OPERATOR, ENGINEER, OTHER_ENGINEER, MANAGER, BOTH = "chenjing", "luoyu", "hexin", "wangjun", "huangmin"
"""``BOTH`` is an operator and a manager."""
CHROMIUM = Path("/usr/bin/chromium")


class Clock:
    """The services' clock during the set-up: moved by the test from step to step."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Seeded:
    server: HotlineServer
    ids: dict[str, int]
    ended: dict[str, datetime]
    """When each call ended (for the record's deadline)."""


async def seed(server: HotlineServer) -> tuple[dict[str, int], dict[str, datetime]]:
    config = load_config(server.config_path)
    clock = Clock()
    ids: dict[str, int] = {}
    ended: dict[str, datetime] = {}
    async with Store(server.database) as store:
        issues = IssueService(store, config.site.timezone, clock=clock)
        desk = Desk(store, build_calendar(config), config.desk, clock=clock)

        async def call(name: str, started: datetime, minutes: float, disposition: str = "answered",
                       call_back: str = "") -> int:
            clock.at = started
            number = f"+86134000{len(ids):05d}"
            record, issue = await issues.create_issue_for_call(NewCall(
                sip_call_id=f"queues-{name}@test", started_at=started, from_uri=f"sip:{number}@{LOOPBACK}",
                caller_raw=number, caller_key=number))
            clock.at = started + timedelta(minutes=minutes)
            await store.calls.end(record.id, clock.at, disposition)
            ended[name] = clock.at
            if call_back:  # as call control flags a missed or refused call
                await issues.update_fields(issue.id, actor="system", changes={"call_back": True}, note=call_back)
            ids[name] = issue.id
            return issue.id

        async def step(minutes: float) -> None:
            clock.at += timedelta(minutes=minutes)

        async def record(issue_id: int, priority: str, category: str = "network") -> None:
            await step(3)
            await desk.transition(issue_id, "recorded", actor=OPERATOR, changes={
                "category": category, "priority": priority, "description": f"queue test {priority}"})

        async def worked(name: str, started: datetime, owner: str, priority: str = "P1") -> int:
            """Recorded, dispatched to ``owner`` and taken up (the first response) within 10 minutes."""
            issue_id = await call(name, started, 2)
            await record(issue_id, priority)
            await step(1)
            await desk.dispatch(issue_id, actor=OPERATOR, to=owner, note="queue test")
            await step(4)
            await desk.transition(issue_id, "in_progress", actor=owner)
            return issue_id

        # The operator's records: two answered calls not completed (one within its 30 minutes,
        # one past them), a refused call (to complete and to call back), a missed call completed
        # but not called back yet, a missed call closed (no longer to call back), one done.
        await call("fresh", NOW - timedelta(minutes=15), 3)
        await call("late", NOW - timedelta(minutes=60), 10)
        await call("rejected", NOW - timedelta(minutes=20), 0, "rejected", "refused for overload")
        missed = await call("missed", NOW - timedelta(minutes=40), 1, "missed", "nobody answered")
        await record(missed, "P3")
        closed = await call("closed_missed", NOW - timedelta(minutes=90), 1, "missed", "nobody answered")
        await step(5)
        await desk.transition(closed, "closed", actor=OPERATOR, note="the caller rang again")
        done = await call("recorded", NOW - timedelta(minutes=70), 5)
        await record(done, "P4")

        # The engineer's issues (P1: 4 hours to resolve, 24x7), and another engineer's.
        await worked("breached", NOW - timedelta(hours=5), ENGINEER)
        await worked("at_risk", NOW - timedelta(hours=3, minutes=30), ENGINEER)
        await worked("on_track", NOW - timedelta(hours=1), ENGINEER)
        paused = await worked("paused", NOW - timedelta(hours=2), ENGINEER)
        await step(20)
        await desk.transition(paused, "pending_caller", actor=ENGINEER, note="waiting for the caller's laptop")
        resolved = await worked("resolved", NOW - timedelta(minutes=90), ENGINEER)
        await step(30)
        await desk.resolve(resolved, by=ENGINEER, resolution="Replaced the patch cable")
        await worked("other_breached", NOW - timedelta(hours=6), OTHER_ENGINEER)
        # Monday 10:00, taken up at once and not touched since: stale on Wednesday (P3 is on track).
        await worked("stale", datetime(2026, 11, 30, 10, 0, tzinfo=SH), OTHER_ENGINEER, "P3")

        # Everyone of the printer post away this week: dispatch finds nobody.
        post = next(c.post_id for c in await store.people.categories() if c.id == "printer")
        clock.at = NOW - timedelta(minutes=35)
        for a in await store.people.assignments(post):
            await desk.add_leave(Leave(a.person_id, date(2026, 11, 30), date(2026, 12, 6), "training"),
                                 made_by=MANAGER)
        nobody = await call("unassigned", NOW - timedelta(minutes=30), 4)
        await record(nobody, "P3", "printer")
        result = await desk.dispatch(nobody, actor=OPERATOR)
        assert result.person_id is None, result

        # What the server's minute job does at its start: the recording rule and the SLA sweep.
        clock.at = NOW
        await issues.flag_recording_overdue()
        await desk.sweep_sla()
    return ids, ended


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("console-queues")
    server = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=NOW.isoformat()))
    server.init_db()
    server.add_users({OPERATOR: "operator", ENGINEER: "engineer", OTHER_ENGINEER: "engineer",
                      MANAGER: "manager", BOTH: ["operator", "manager"]}, PASSWORD)
    ids, ended = asyncio.run(seed(server))
    server.start()
    try:
        yield Seeded(server, ids, ended)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


def queues(page: str) -> dict[str, list[int]]:
    """The issue ids of each queue on the page, in order, by queue key."""
    out = {}
    for key, body in re.findall(r'<section class="queue" id="queue-([a-z-]+)"[^>]*>(.*?)</section>', page, re.S):
        out[key] = [int(i) for i in re.findall(r'<tr class="entry[^"]*" data-id="(\d+)"', body)]
    return out


def counts(page: str) -> dict[str, int]:
    return {k: int(n) for k, n in re.findall(r'<section class="queue" id="queue-([a-z-]+)" data-total="(\d+)"', page)}


def row_of(page: str, issue_id: int) -> str:
    match = re.search(rf'<tr class="entry[^"]*" data-id="{issue_id}">(.*?)</tr>', page, re.S)
    assert match is not None, page
    return match.group(0)


@pytest.fixture
async def browser(seeded: Seeded) -> AsyncIterator[Any]:
    async with consoles(seeded.server, password=PASSWORD) as open_as:
        yield open_as


async def test_the_operator_sees_records_to_complete_calls_to_return_and_callbacks_due(
        seeded: Seeded, browser: Any) -> None:
    ids = seeded.ids
    page = await (await browser(OPERATOR)).text("/")
    found = queues(page)
    assert set(found) == {"to-complete", "call-back", "callbacks-due"}, found
    assert 'id="role-operator"' in page and 'id="role-engineer"' not in page and 'id="role-manager"' not in page
    # Oldest call first; the issue recorded and the one closed are in no operator queue.
    assert found["to-complete"] == [ids["late"], ids["rejected"], ids["fresh"]]
    assert found["call-back"] == [ids["rejected"], ids["missed"]]
    assert found["callbacks-due"] == [ids["resolved"]]
    assert counts(page) == {"to-complete": 3, "call-back": 2, "callbacks-due": 1}
    assert 'Callers to call back <span class="count">2</span>' in page
    # Each entry links to its record page.
    for issue_id in (ids["late"], ids["missed"], ids["resolved"]):
        assert f'<a href="/issues/{issue_id}">' in row_of(page, issue_id)
    assert "Missed" in row_of(page, ids["missed"]) and "Rejected" in row_of(page, ids["rejected"])


async def test_the_countdown_runs_from_the_end_of_the_call(seeded: Seeded, browser: Any) -> None:
    ids, ended = seeded.ids, seeded.ended
    op = await browser(OPERATOR)
    page = await op.text("/queues/operator")
    fresh = row_of(page, ids["fresh"])
    deadline = re.search(r'data-deadline="([^"]+)"', fresh)
    assert deadline is not None, fresh
    assert datetime.fromisoformat(deadline.group(1)) == ended["fresh"] + timedelta(minutes=30)
    # Rendered by the server in the site's time: the call ended 09:48, due 10:18; read a few
    # seconds after the server's 10:00, so 17 whole minutes are left.
    assert re.search(r"1[78] min left: due at 10:18", fresh), fresh
    assert 'class="entry"' in fresh
    late = row_of(page, ids["late"])
    assert 'class="entry overdue"' in late and "overdue since 09:40" in late  # ended 09:10
    deadline = re.search(r'data-deadline="([^"]+)"', late)
    assert deadline is not None and datetime.fromisoformat(deadline.group(1)) == ended["late"] + timedelta(minutes=30)
    # The script is a file of ours (the CSP allows no inline script), the page says the server's now.
    assert '<script src="/static/countdown.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.replace('type="application/json"', "src=x"))
    now = re.search(r'id="countdown-labels" hidden data-now="([^"]+)"', page)
    assert now is not None and abs(datetime.fromisoformat(now.group(1)) - NOW) < timedelta(minutes=2)
    status, script = await op.get("/static/countdown.js")
    assert status == 200 and "data-deadline" in script and "innerHTML" not in script


async def test_the_engineer_sees_their_own_issues_by_sla_state_with_due_times(
        seeded: Seeded, browser: Any) -> None:
    ids = seeded.ids
    page = await (await browser(ENGINEER)).text("/")
    found = queues(page)
    assert found == {"mine-breached": [ids["breached"]], "mine-at-risk": [ids["at_risk"]],
                     "mine-on-track": [ids["on_track"]], "mine-paused": [ids["paused"]]}, found
    assert 'id="role-operator"' not in page and 'id="role-manager"' not in page
    # Created 09:00 (P1: 4 hours to resolve, taken up at 09:10): resolve by 13:00, nothing left to respond to.
    on_track = row_of(page, ids["on_track"])
    cells = re.findall(r'<td class="due[^"]*">([^<]*)</td>', on_track)
    assert cells == ["", "2026-12-02 13:00"], on_track
    # The at-risk one was created 06:30: due 10:30.
    assert "2026-12-02 10:30" in row_of(page, ids["at_risk"])
    # Paused while waiting for the caller: no running clock, no due time.
    assert re.findall(r'<td class="due[^"]*">([^<]*)</td>', row_of(page, ids["paused"])) == ["", ""]


async def test_the_manager_sees_breaches_risks_stale_unassigned_and_overdue_records(
        seeded: Seeded, browser: Any) -> None:
    ids = seeded.ids
    page = await (await browser(MANAGER)).text("/")
    found = queues(page)
    assert found == {
        "breached": [ids["other_breached"], ids["breached"]],
        "at-risk": [ids["at_risk"]],
        "stale": [ids["stale"]],
        "unassigned": [ids["unassigned"]],
        "overdue-recordings": [ids["late"]],
    }, found
    assert 'id="role-operator"' not in page and 'id="role-engineer"' not in page
    assert "罗宇" in row_of(page, ids["breached"]) and "何欣" in row_of(page, ids["other_breached"])
    # A breach's resolution was due at its creation + 4 hours, in the past: marked.
    assert '<td class="due bad">2026-12-02 09:00</td>' in row_of(page, ids["breached"])
    assert '<td class="due">2026-12-02 10:30</td>' in row_of(page, ids["at_risk"])
    assert "2026-11-30 10:" in row_of(page, ids["stale"])  # its last activity: Monday's dispatch


async def test_a_user_with_several_roles_sees_each_roles_queues(seeded: Seeded, browser: Any) -> None:
    page = await (await browser(BOTH)).text("/")
    assert 'id="role-operator"' in page and 'id="role-manager"' in page and 'id="role-engineer"' not in page
    assert {"to-complete", "call-back", "callbacks-due", "breached", "stale"} <= set(queues(page))
    assert '<a href="/queues/operator">' in page and '<a href="/queues/manager">' in page


@pytest.mark.parametrize(("user", "path", "status"), [
    (ENGINEER, "/queues/manager", 403),
    (ENGINEER, "/queues/operator", 403),
    (OPERATOR, "/queues/manager", 403),
    (OPERATOR, "/queues/engineer", 403),
    (MANAGER, "/queues/operator", 200),
    (MANAGER, "/queues/manager", 200),
    (ENGINEER, "/queues/engineer", 200),
    (None, "/queues/operator", 302),
])
async def test_each_roles_page_is_refused_to_other_roles_by_the_server(
        seeded: Seeded, browser: Any, user: str | None, path: str, status: int) -> None:
    got, page = await (await browser(user)).get(path)
    assert got == status, page
    if status == 403:
        assert 'class="queue"' not in page
    if status == 200:
        role = path.rsplit("/", 1)[1]
        assert f'id="role-{role}"' in page and page.count('class="role-queues"') == 1


def test_the_countdown_keeps_running_in_chromium(seeded: Seeded) -> None:
    """Debian's Chromium runs countdown.js under the server's CSP: the seconds go down, on the
    server's clock (which is days away from the machine's)."""
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (scripts/install-test-deps.sh installs chromium)")
    from playwright.sync_api import sync_playwright

    ids, ended = seeded.ids, seeded.ended
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"http://{LOOPBACK}:{seeded.server.web_port}/login?next=/queues/operator")
            page.fill("#user", OPERATOR)
            page.fill("#password", PASSWORD)
            page.click("#login")
            page.wait_for_url("**/queues/operator")
            fresh = page.locator(f'tr[data-id="{ids["fresh"]}"] time[data-deadline]')
            late = page.locator(f'tr[data-id="{ids["late"]}"] time[data-deadline]')
            first = left_of(fresh.text_content() or "")
            page.wait_for_function(
                "([el, before]) => el.textContent !== before", arg=[fresh.element_handle(), fresh.text_content()],
                timeout=5000)
            second = left_of(fresh.text_content() or "")
            overdue = late.text_content() or ""
        finally:
            browser.close()
    # The page was made a few seconds after the server's 10:00; the call's deadline is 10:18.
    server_left = (ended["fresh"] + timedelta(minutes=30) - NOW).total_seconds()
    assert server_left - 120 < first <= server_left, first
    assert second < first
    # 20 minutes past its 09:40 deadline, as the script words it (the server wrote "since 09:40").
    assert re.fullmatch(r"overdue by 2\d min|已超时 2\d 分钟", overdue.strip()), overdue
    assert not violations, violations


def left_of(text: str) -> int:
    """Seconds left in a countdown as the script words it ("17 min 05 s left", or its Chinese)."""
    match = re.fullmatch(r"(\d+) min (\d\d) s left|剩余 (\d+) 分 (\d\d) 秒", text.strip())
    assert match is not None, text
    minutes, seconds = (g for g in match.groups() if g is not None)
    return int(minutes) * 60 + int(seconds)


async def test_the_rehearsal_clock_is_announced_in_the_pages_language(seeded: Seeded, browser: Any) -> None:
    anonymous = await (await browser(None)).text("/login")  # Chinese before anyone logs in
    assert re.search(r"演练时钟：服务器时间为 2026-12-02 10:\d\d（", anonymous), anonymous
    page = await (await browser(OPERATOR)).text("/")
    assert re.search(r"Rehearsal clock: the server reads 2026-12-02 10:\d\d \(", page), page
