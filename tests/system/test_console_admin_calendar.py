"""The business calendar page against a running ``hotline serve``: paste the notice, save, edit.

The server's calendar folder is a copy, under the test's tmp dir, of the repository's 2024 and
2025 files only: on its ``--clock`` (2025-12-03) it has no calendar for next year and warns.
The 2026 notice is rebuilt from the quoted lines of ``config/calendar/cn-2026.toml`` as the
parser's unit test does; pasted in the console it must give exactly that file's holidays and
make-up days, written in the tmp folder and used by the server at once (its month grids are
classified by the server's own calendar). The repository's ``config/`` is only read.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiohttp
import pytest

from hotline.calendar import load_calendar_file
from tests.conftest import ROOT
from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.system.test_console_issues import Console, consoles, csrf_of
from tests.unit.test_holiday_notice import shipped_notice

pytestmark = pytest.mark.timeout(180)

NOW = "2025-12-03T10:00+08:00"
"""A Wednesday in December, when the State Council's notice for next year is out: the warning is on."""
PASSWORD = "calendar-pass-2026"
OPERATOR, MANAGER = "chenjing", "wangjun"
SHIPPED = ROOT / "config" / "calendar"


@dataclass
class Site:
    server: HotlineServer
    folder: Path
    """The server's calendar folder (a copy under tmp)."""


@contextlib.contextmanager
def staffed_server(folder: Path, clock: str) -> Iterator[HotlineServer]:
    """``hotline serve --clock`` in `folder` with the demo data, a manager and an operator whose
    password is `PASSWORD`; stopped after."""
    server = HotlineServer(folder / "hotline", PortAllocator(), ServerOptions(clock=clock))
    server.init_db()
    server.add_users({MANAGER: "manager", OPERATOR: "operator"}, PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def with_calendar_copy(server: HotlineServer, folder: Path, years: tuple[int, ...]) -> None:
    """Point the server's configuration at ``folder``, holding copies of the shipped ``years``."""
    folder.mkdir()
    for year in years:
        shutil.copy2(SHIPPED / f"cn-{year}.toml", folder / f"cn-{year}.toml")
    config = server.config_path.read_text(encoding="utf-8")
    line = f'folder = "{SHIPPED}"'
    assert line in config
    server.config_path.write_text(config.replace(line, f'folder = "{folder}"'), encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("admin-calendar")
    server = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=NOW))
    folder = tmp / "calendar"
    with_calendar_copy(server, folder, (2024, 2025))
    server.init_db()
    server.add_users({OPERATOR: "operator", MANAGER: "manager"}, PASSWORD)
    server.start()
    try:
        yield Site(server, folder)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


class Client(Console):
    """A browser whose posts carry its page's CSRF token."""

    def __init__(self, session: aiohttp.ClientSession, server: HotlineServer) -> None:
        super().__init__(session, server)
        self.csrf = ""

    async def login(self, user: str, password: str = PASSWORD) -> Self:
        await super().login(user, password)
        self.csrf = csrf_of(await self.text("/"))
        return self

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        """Status, page and Location (in that order, unlike Console.post)."""
        async with self.session.post(self.base + path, allow_redirects=False,
                                     data={"_csrf": self.csrf, **data}) as r:
            return r.status, await r.text(), r.headers.get("Location", "")


def cells(page: str, kind: str) -> set[str]:
    """The dates of the month grids' cells of ``kind`` (holiday, make_up_workday…)."""
    return set(re.findall(rf'<td class="day {kind}" data-date="([0-9-]+)"', page))


def expected_days(path: Path) -> tuple[set[str], set[str]]:
    """Holiday dates and make-up working days of a calendar file, as the grid lists them."""
    year = load_calendar_file(path)
    return ({d.isoformat() for h in year.holidays for d in h.dates()},
            {w.date.isoformat() for w in year.workdays})


@pytest.fixture
async def client(site: Site) -> AsyncIterator[Any]:
    async with consoles(site.server, password=PASSWORD, kind=Client) as open_as:
        yield open_as


def folder_files(site: Site) -> list[str]:
    return sorted(p.name for p in site.folder.iterdir())


async def test_only_managers_and_admins_reach_the_calendar(site: Site, client: Any) -> None:
    operator = await client(OPERATOR)
    for method, path in (("GET", "/admin/calendar"), ("GET", "/admin/calendar/edit?year=2025"),
                         ("POST", "/admin/calendar/notice/save"), ("POST", "/admin/calendar/edit")):
        if method == "GET":
            status, _ = await operator.get(path)
        else:
            status, _, _ = await operator.post(path, {"notice": shipped_notice(2026), "year": "2025",
                                                      "content": "year = 2025\n"})
        assert status == 403, (method, path, status)
    assert folder_files(site) == ["cn-2024.toml", "cn-2025.toml"]
    # The operator sees the missing-year warning, without the link to a page they cannot open.
    home = await operator.text("/")
    assert 'id="calendar-warning"' in home and "NO HOLIDAY CALENDAR for 2026" in home
    assert 'href="/admin/calendar"' not in home


async def test_malformed_notice_names_the_line_and_keeps_the_text(site: Site, client: Any) -> None:
    manager = await client(MANAGER)
    lines = shipped_notice(2026).split("\n")
    assert lines[6].strip().startswith("二、春节")  # line 7 of the pasted text
    lines[6] = lines[6].replace("2月15日", "2月30日")
    broken = "\n".join(lines)
    for path in ("/admin/calendar/notice", "/admin/calendar/notice/save"):
        status, page, _ = await manager.post(path, {"notice": broken})
        assert status == 400, page
        error = re.search(r'<p class="error" role="alert" id="notice-error">([^<]*)</p>', page)
        assert error is not None, page
        assert error.group(1).startswith("Line 7: ") and "2月30日" in error.group(1), error.group(1)
        assert "2月30日（农历腊月二十八、周日）" in page.split('id="notice-text"', 1)[1]  # nothing lost
    status, page, _ = await manager.post("/admin/calendar/notice", {"notice": "国务院办公厅\n随便写点什么\n"})
    assert status == 400 and 'id="notice-error"' in page, page
    assert folder_files(site) == ["cn-2024.toml", "cn-2025.toml"]


async def test_pasting_the_2026_notice_gives_that_years_file_and_the_server_uses_it(
        site: Site, client: Any) -> None:
    manager = await client(MANAGER)
    page = await manager.text("/")
    warning = re.search(r'<p class="warning" role="alert" id="calendar-warning">(.*?)</p>', page, re.S)
    assert warning is not None and "2026" in warning.group(1), page
    assert 'href="/admin/calendar"' in warning.group(1)
    page = await manager.text("/admin/calendar?year=2026")
    assert 'id="year-missing"' in page and cells(page, "holiday") == set()
    assert 'id="hours-monday" maxlength="200" placeholder="closed" value="08:00-12:00, 13:30-17:30"' in page

    # Read and shown for confirmation; nothing written yet.
    notice = shipped_notice(2026)
    status, page, _ = await manager.post("/admin/calendar/notice", {"notice": notice})
    assert status == 200, page
    confirm = page.split('id="notice-confirm"', 1)[1]
    shown = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([0-9-]+)</td><td>([0-9-]+)</td><td>(\d+)</td></tr>",
                       confirm)
    original = load_calendar_file(SHIPPED / "cn-2026.toml")
    assert [(n, s, e, int(d)) for _, n, s, e, d in shown] == [
        (h.name, h.start.isoformat(), h.end.isoformat(), (h.end - h.start).days + 1) for h in original.holidays]
    assert folder_files(site) == ["cn-2024.toml", "cn-2025.toml"]

    status, _, location = await manager.post("/admin/calendar/notice/save", {"notice": notice})
    assert (status, location) == (303, "/admin/calendar?year=2026&saved=cn-2026.toml")
    assert folder_files(site) == ["cn-2024.toml", "cn-2025.toml", "cn-2026.toml"]
    saved = load_calendar_file(site.folder / "cn-2026.toml")
    assert [(h.name, h.start, h.end) for h in saved.holidays] == [
        (h.name, h.start, h.end) for h in original.holidays]
    assert [(w.date, w.holiday) for w in saved.workdays] == [(w.date, w.holiday) for w in original.workdays]

    # Applied at once: the server's own calendar classifies 2026 by the new file.
    page = await manager.text("/admin/calendar?year=2026&saved=cn-2026.toml")
    holidays, workdays = expected_days(SHIPPED / "cn-2026.toml")
    assert cells(page, "holiday") == holidays and "2026-10-01" in holidays
    assert cells(page, "make_up_workday") == workdays and "2026-10-10" in workdays
    assert 'id="calendar-saved"' in page
    assert 'id="calendar-warning"' not in page and 'id="calendar-coverage"' not in page
    health = json.loads((await manager.get("/healthz"))[1])
    assert health["checks"]["calendar"]["covered"] == [2024, 2025, 2026], health
    assert "warning" not in health["checks"]["calendar"], health
    audit = await manager.text("/audit")
    assert re.search(r"<td>wangjun</td><td>calendar_saved</td><td>cn-2026.toml from the notice: 7 holidays, "
                     r"6 make-up working days</td>", audit), audit

    # Saved again: the file before is kept aside, where the server never loads it.
    status, _, _ = await manager.post("/admin/calendar/notice/save", {"notice": notice})
    assert status == 303
    kept = [n for n in folder_files(site) if n.startswith("cn-2026.toml.before-")]
    assert len(kept) == 1 and not kept[0].endswith(".toml"), folder_files(site)
    assert (site.folder / kept[0]).read_text(encoding="utf-8") == (site.folder / "cn-2026.toml").read_text(
        encoding="utf-8")


async def test_editing_a_year_saves_only_a_valid_file(site: Site, client: Any) -> None:
    manager = await client(MANAGER)
    page = await manager.text("/admin/calendar/edit?year=2025")
    content = re.search(r'<textarea name="content" id="edit-content"[^>]*>(.*?)</textarea>', page, re.S)
    assert content is not None, page
    path = site.folder / "cn-2025.toml"
    before = path.read_text(encoding="utf-8")
    # The form's text is the file (HTML-escaped); break one date: the problem names its line.
    text = before.replace("end = 2025-10-08", "end = 2025-09-08")
    line = text.split("\n").index("end = 2025-09-08") + 1
    status, page, _ = await manager.post("/admin/calendar/edit", {"year": "2025", "content": text})
    assert status == 400, page
    problems = re.search(r'<div class="error" role="alert" id="edit-problems">(.*?)</div>', page, re.S)
    assert problems is not None and f"cn-2025.toml:{line}: " in problems.group(1), page
    assert "end = 2025-09-08" in page  # the text is kept
    assert path.read_text(encoding="utf-8") == before
    # A valid change: one make-up day less; saved and used.
    workday = "\n[[workday]]\ndate = 2025-09-28\nweekday = \"Sunday\"\nholiday = \"国庆节、中秋节\"\n"
    assert workday in before, before
    status, page, location = await manager.post("/admin/calendar/edit", {
        "year": "2025", "content": before.replace(workday, "\n")})
    assert (status, location) == (303, "/admin/calendar?year=2025&saved=cn-2025.toml"), page
    page = await manager.text("/admin/calendar?year=2025")
    assert "2025-09-28" not in cells(page, "make_up_workday") and "2025-10-11" in cells(page, "make_up_workday")
    assert "2025-09-28" in cells(page, "weekend")
