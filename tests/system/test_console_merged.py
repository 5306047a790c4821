"""The record page of merged issues against a running ``hotline serve``: both ends link each other.

A repeat caller's call is merged into the issue they called about, and two calls are linked to a
major incident's parent issue — each through the service that does it when the caller presses 1
(``IssueService.merge_call_issue``, ``IncidentService.link_call``), in the server's database
before it starts. A row inserted by hand, without a single audit event, must still have a page.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import pytest

from hotline.config import load_config
from hotline.incidents import IncidentService
from hotline.issues import IssueService
from hotline.store import Store
from hotline.store.records import NewCall
from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.system.test_console_issues import csrf_of

pytestmark = pytest.mark.timeout(120)

CLOCK = "2026-12-02T10:00+08:00"
AT = datetime.fromisoformat("2026-12-02T09:00+08:00")
PASSWORD = "console-pass-2026"
REPEAT_CALLER = "+8613412345611"


@dataclass
class Scene:
    server: HotlineServer
    first: int
    """The repeat caller's first issue, worked on."""
    repeat: int
    """Their second call's issue, merged into ``first``."""
    parent: int
    """The major incident's parent issue."""
    linked: tuple[int, int]
    """Two calls' issues linked to the incident."""
    bare: int
    """A row without events."""


async def make_issues(server: HotlineServer) -> tuple[int, int, int, tuple[int, int]]:
    config = load_config(server.config_path)
    async with Store(server.database) as store:
        issues = IssueService(store, config.site.timezone, clock=lambda: AT)
        _, first = await issues.create_issue_for_call(NewCall("first", AT, caller_key=REPEAT_CALLER))
        await issues.transition(first.id, "recorded", actor="chenjing",
                                changes={"category": "network", "description": "办公室无法上网"})
        _, repeat = await issues.create_issue_for_call(NewCall("repeat", AT, caller_key=REPEAT_CALLER))
        await issues.merge_call_issue(repeat.id, first.id, actor="ivr", note="the caller pressed 1")
        incidents = IncidentService(store, issues, config.site.timezone, clock=lambda: AT)
        incident = await incidents.declare("邮件系统故障", categories=["network"], announcement="邮件系统目前无法使用",
                                           by="wangjun")
        linked = []
        for n in (1, 2):
            _, call = await issues.create_issue_for_call(NewCall(f"incident-{n}", AT,
                                                                 caller_key=f"+861341234562{n}"))
            await incidents.link_call(incident.id, call.id)
            linked.append(call.id)
        return first.id, repeat.id, incident.issue_id, (linked[0], linked[1])


def insert_bare_row(server: HotlineServer) -> int:
    with sqlite3.connect(server.database) as db:
        cur = db.execute("INSERT INTO issues (number, source, status, created_at, updated_at)"
                         " VALUES ('HL-2026-900001', 'phone', 'new', ?, ?)",
                         (AT.isoformat(), AT.isoformat()))
        assert cur.lastrowid is not None
        return cur.lastrowid


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("console-merged")
    server = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=CLOCK))
    server.init_db()
    (tmp / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    added = server.hotline("add-user", "--config", str(server.config_path), "chenjing", "--role", "operator",
                           "--password-file", str(tmp / "pw"))
    assert added.returncode == 0, added.stdout + added.stderr
    first, repeat, parent, linked = asyncio.run(make_issues(server))
    bare = insert_bare_row(server)
    assert server.query("SELECT COUNT(*) AS n FROM issue_events WHERE issue_id = ?", (bare,)) == [{"n": 0}]
    server.start()
    try:
        yield Scene(server, first, repeat, parent, linked, bare)
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture
async def console(scene: Scene) -> AsyncIterator[aiohttp.ClientSession]:
    base = f"http://127.0.0.1:{scene.server.web_port}"
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get("/login") as r:
            token = csrf_of(await r.text())
        async with session.post("/login", allow_redirects=False, data={
                "_csrf": token, "user": "chenjing", "password": PASSWORD}) as r:
            assert r.status == 303, await r.text()
        async with session.get("/") as r:
            token = csrf_of(await r.text())
        async with session.post("/language", allow_redirects=False,
                                data={"_csrf": token, "language": "en", "next": "/"}) as r:
            assert r.status == 303
        yield session


async def page_of(session: aiohttp.ClientSession, issue_id: int) -> str:
    async with session.get(f"/issues/{issue_id}") as r:
        text = await r.text()
        assert r.status == 200, text
        return text


def merged_into_link(page: str) -> tuple[int, str] | None:
    match = re.search(r'<dd id="merged-into"><a href="/issues/(\d+)">([^<]+)</a>', page)
    return (int(match.group(1)), match.group(2)) if match else None


def merged_in_rows(page: str) -> list[int]:
    match = re.search(r'<section id="merged-in">.*?</section>', page, re.S)
    return [int(i) for i in re.findall(r'<tr class="merged" data-id="(\d+)">', match.group(0))] if match else []


def number_of(scene: Scene, issue_id: int) -> str:
    (row,) = scene.server.query("SELECT number FROM issues WHERE id = ?", (issue_id,))
    return str(row["number"])


async def test_a_repeat_callers_merged_call_and_the_issue_it_joined_link_each_other(
    scene: Scene, console: aiohttp.ClientSession,
) -> None:
    repeat = await page_of(console, scene.repeat)
    assert merged_into_link(repeat) == (scene.first, number_of(scene, scene.first))
    assert merged_in_rows(repeat) == []
    first = await page_of(console, scene.first)
    assert merged_into_link(first) is None and 'id="merged-into"' not in first
    assert merged_in_rows(first) == [scene.repeat]
    assert f'<a href="/issues/{scene.repeat}">{number_of(scene, scene.repeat)}</a>' in first


async def test_a_major_incidents_parent_lists_every_linked_call(
    scene: Scene, console: aiohttp.ClientSession,
) -> None:
    parent = await page_of(console, scene.parent)
    assert merged_in_rows(parent) == list(scene.linked)
    section = re.search(r'<section id="merged-in">.*?</section>', parent, re.S)
    assert section is not None and "+8613412345621" in html.unescape(section.group(0))
    for linked in scene.linked:
        assert merged_into_link(await page_of(console, linked)) == (scene.parent, number_of(scene, scene.parent))


async def test_an_issue_without_events_still_has_its_page(scene: Scene, console: aiohttp.ClientSession) -> None:
    page = await page_of(console, scene.bare)
    assert "HL-2026-900001" in page and 'id="sla-missing"' in page and 'id="sla-state"' not in page
    # An issue with its history has its clocks.
    assert 'id="sla-state"' in await page_of(console, scene.first)
