"""The console's records (issue list, record page, forms) against a running ``hotline serve``.

The issues are made the real way: ``hotline call`` places test calls to the server, whose IVR
takes the menu key and routes the call (a desk phone nobody listens at, then the on-call chain
with no proxy to dial through: every attempt is on the record), so each call leaves an issue
with its call. The users are made with ``hotline add-user`` and switched to English, so that
the assertions read the same before and after the Chinese catalog is merged. Only the
pagination test writes rows itself (see there why).

The server's clock is set to a Wednesday in business hours (``--clock``), so dispatch follows
the category's post: its A role, who is given an account to work the issue.
"""

from __future__ import annotations

import contextlib
import html
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from hotline.console.recordings import signed_recording_url
from hotline.console.sessions import User
from hotline.console.views.issue_page import voicemail_url
from hotline.console.views.issue_rules import may
from hotline.console.views.issues_list import parse_list_query
from hotline.store.issues import IssueFilter, issue_list_sql
from hotline.store.records import IssueRecord
from tests.conftest import ROOT
from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import ENGINEERS, HotlineServer, ServerOptions

pytestmark = pytest.mark.timeout(120)

CLOCK = "2026-12-02T10:00+08:00"
"""A Wednesday, 10:00 in Shanghai: business hours."""
SECRET = "test-secret-0123456789abcdef0123456789"
"""``[web] secret`` of the configuration HotlineServer writes."""
PASSWORD = "console-pass-2026"
NAME_XSS = '<script>alert("name")</script>'
DESCRIPTION_XSS = '<img src=x onerror=alert(1)><script>alert("desc")</script> printer'


@dataclass
class Setup:
    server: HotlineServer
    issues: dict[str, int]
    """Issue id per call: "routed" (rang the desk and the on-call chain), "xss" (a display name
    with markup), "stale" (two operators at once), "desktop" (menu key 1, left alone)."""
    owner: str
    """The network post's A role: dispatch gives it the network issue."""
    other_engineer: str


def start_calls(server: HotlineServer) -> list[subprocess.Popen[str]]:
    base = [sys.executable, "-m", "hotline", "call", "--config", str(server.config_path)]
    plans = [
        ["--from", "13412345601", "--digits", "2", "--seconds", "10"],
        ["--from", "13412345602", "--digits", "2", "--seconds", "3", "--name", NAME_XSS],
        ["--from", "13412345603", "--digits", "2", "--seconds", "3"],
        ["--from", "13412345604", "--digits", "1", "--seconds", "3"],
    ]
    return [subprocess.Popen([*base, *plan], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for plan in plans]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("console-issues")
    ports = PortAllocator()
    nobody = ports.one()  # a desk phone at a port nothing listens on: its attempt fails at once
    server = HotlineServer(tmp / "hotline", ports, ServerOptions(
        clock=CLOCK, desk=(f"sip:8001@127.0.0.1:{nobody}",), desk_ring_seconds=2, oncall_ring_seconds=2))
    server.init_db()
    (owner,) = [r["person_id"] for r in server.query(
        "SELECT a.person_id FROM post_assignments a JOIN categories c ON c.post_id = a.post_id"
        " WHERE c.id = 'network' AND a.role = 'A'")]
    other = next(e for e in ("luoyu", "hexin", "linfeng") if e != owner)
    server.add_users({"chenjing": "operator", "huangmin": "operator", "wangjun": "manager",
                      owner: "engineer", other: "engineer"}, PASSWORD)
    server.start()
    try:
        calls = start_calls(server)
        for proc in calls:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, out + err
        keys = {"routed": "+8613412345601", "xss": "+8613412345602", "stale": "+8613412345603",
                "desktop": "+8613412345604"}

        def ended() -> dict[str, int] | None:
            rows = server.query("SELECT i.id, i.caller_key FROM issues i JOIN calls c ON c.id = i.call_id"
                                " WHERE c.ended_at IS NOT NULL AND i.call_ended_at IS NOT NULL")
            found = {r["caller_key"]: r["id"] for r in rows}
            return {name: found[key] for name, key in keys.items()} if set(keys.values()) <= set(found) else None

        issues = server.wait_for("the four calls' issues", ended)
        yield Setup(server, issues, owner, other)
    finally:
        assert server.stop() == 0, server.log()


class Console:
    """One browser: a session of one user, pages read as text."""

    def __init__(self, session: aiohttp.ClientSession, server: HotlineServer) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{server.web_port}"

    async def login(self, user: str, password: str = PASSWORD) -> Self:
        """Log in as ``user`` and switch the pages to English (the tests read English labels)."""
        page = await self.text("/login")
        async with self.session.post(self.base + "/login", allow_redirects=False, data={
                "_csrf": csrf_of(page), "user": user, "password": password}) as r:
            assert r.status == 303, await r.text()
        page = await self.text("/")
        async with self.session.post(self.base + "/language", allow_redirects=False,
                                     data={"_csrf": csrf_of(page), "language": "en", "next": "/"}) as r:
            assert r.status == 303
        return self

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.base + path, allow_redirects=False) as r:
            return r.status, await r.text()

    async def text(self, path: str) -> str:
        status, page = await self.get(path)
        assert status == 200, page
        return page

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        async with self.session.post(self.base + path, data=data, allow_redirects=False) as r:
            return r.status, r.headers.get("Location", ""), await r.text()

    async def act(self, issue_id: int, action: str, fields: dict[str, str], *,
                  page: str | None = None) -> tuple[int, str, str]:
        """Post one of the record page's forms as the page rendered it (CSRF token, version)."""
        page = page if page is not None else await self.text(f"/issues/{issue_id}")
        return await self.post(f"/issues/{issue_id}/{action}", {**form_of(page), **fields})


@contextlib.asynccontextmanager
async def consoles(server: HotlineServer, *, password: str = PASSWORD, kind: type[Console] = Console,
                   ) -> AsyncIterator[Callable[[str | None], Awaitable[Any]]]:
    """``open_as(user)``: a browser of its own (its own cookies) logged in as ``user``, or not
    logged in for None; every one opened is closed on the way out."""
    sessions: list[aiohttp.ClientSession] = []

    async def open_as(user: str | None) -> Console:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        console = kind(session, server)
        return console if user is None else await console.login(user, password)

    try:
        yield open_as
    finally:
        for session in sessions:
            await session.close()


def csrf_of(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def form_of(page: str) -> dict[str, str]:
    """The hidden fields every form of the record page carries."""
    out = {"_csrf": csrf_of(page)}
    for name in ("v_status", "v_updated"):
        match = re.search(rf'name="{name}" value="([^"]*)"', page)
        assert match is not None, page
        out[name] = html.unescape(match.group(1))
    return out


def listed(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="issue[^"]*" data-id="(\d+)"', page)]


def events(page: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'data-(kind|actor|status)="([^"]*)"', row))
            for row in re.findall(r'<tr class="event"[^>]*>', page)]


def has_event(page: str, **attributes: str) -> bool:
    """Whether the audit trail on ``page`` has a row with these data attributes."""
    return any(all(e.get(k) == v for k, v in attributes.items()) for e in events(page))


def issue_row(server: HotlineServer, issue_id: int) -> dict[str, Any]:
    (row,) = server.query("SELECT * FROM issues WHERE id = ?", (issue_id,))
    return row


@pytest.fixture
async def browser(setup: Setup) -> AsyncIterator[Any]:
    async with consoles(setup.server) as open_as:
        yield open_as


# -- the list ---------------------------------------------------------------------------------

async def test_the_list_shows_the_calls_issues_and_filters_them(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    ids = setup.issues
    page = await op.text("/issues")
    assert set(ids.values()) <= set(listed(page))
    assert "2026-12-02 10:00" in page  # created at 10:00 Shanghai time (02:00 UTC)
    network = listed(await op.text("/issues?category=network"))
    assert {ids["routed"], ids["xss"], ids["stale"]} <= set(network) and ids["desktop"] not in network
    assert ids["desktop"] in listed(await op.text("/issues?category=desktop&status=new&owner=none&priority=none"
                                                  "&source=phone&overdue=no&sla=on_track&disposition=abandoned"
                                                  "&from=2026-12-02&to=2026-12-02"))
    assert ids["desktop"] not in listed(await op.text("/issues?source=web"))
    assert ids["desktop"] not in listed(await op.text("/issues?sla=breached"))
    assert ids["desktop"] not in listed(await op.text("/issues?from=2026-12-03"))
    assert ids["desktop"] not in listed(await op.text("/issues?to=2026-12-01"))
    # The routed call rang people and was given up by the caller: a call back is due.
    assert ids["routed"] in listed(await op.text("/issues?call_back=yes&disposition=abandoned"))
    assert ids["routed"] not in listed(await op.text("/issues?call_back=no"))
    missed = await op.text("/issues?disposition=missed")
    assert not set(ids.values()) & set(listed(missed))
    assert 'id="no-issues"' in missed or listed(missed)


@pytest.mark.parametrize(("query", "field"), [
    ("status=bogus", "status"),
    ("category=%27%3B%20DROP%20TABLE%20issues%3B%20--", "category"),
    ("owner=%27%20OR%201%3D1%20--", "owner"),
    ("priority=P9", "priority"),
    ("from=2026-13-45", "from"),
    ("from=9999-12-31", "from"),
    ("from=20261202", "from"),
    ("from=2026-12-05&to=2026-12-01", "to"),
    ("overdue=maybe", "overdue"),
    ("sla=%3Cscript%3E", "sla"),
    ("disposition=1%20OR%201", "disposition"),
    ("sort=id%3B--", "sort"),
    ("before=1%20OR%201%3D1", "before"),
    ("before=99999999999999999999", "before"),
    ("before=987654321", "before"),
    ("q=" + "x" * 300, "q"),
    ("status=%00", "status"),
    ("category=%FF%FE", "category"),
])
async def test_garbage_filter_values_get_a_400_page(setup: Setup, browser: Any, query: str, field: str) -> None:
    op = await browser("chenjing")
    status, page = await op.get("/issues?" + query)
    assert status == 400, page
    assert f'id="err-{field}"' in page and 'id="filter-errors"' in page
    assert "<script>" not in page.split("<main>")[1]
    assert setup.server.query("SELECT COUNT(*) AS n FROM issues")[0]["n"] >= 4  # nothing was dropped


async def test_sql_in_the_search_is_only_text(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    for q in ("' OR 1=1 --", '") OR ("a"="a', "%_%", "网'", "\x00 NUL", "*"):
        status, page = await op.get("/issues?" + urlencode({"q": q}))
        assert status == 200, page
        assert listed(page) == [] and 'id="no-issues"' in page
    status, page = await op.get("/issues?q=%FF%FE%00")
    assert status == 200, page


async def test_unknown_issues_and_forms_are_not_found(setup: Setup, browser: Any) -> None:
    op = await browser("wangjun")
    for path in ("/issues/987654321", "/issues/99999999999999999999", "/issues/1x"):
        status, _ = await op.get(path)
        assert status == 404, path
    page = await op.text(f"/issues/{setup.issues['desktop']}")
    status, _, _ = await op.post(f"/issues/{setup.issues['desktop']}/delete", form_of(page))
    assert status in (404, 405)
    status, _, _ = await op.post("/issues/987654321/close", {**form_of(page), "reason": "x"})
    assert status == 404


# -- the record page ----------------------------------------------------------------------------

async def test_the_record_page_shows_the_call_its_keys_and_every_attempt(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    page = await op.text(f"/issues/{setup.issues['routed']}")
    assert '<td class="key">2</td><td class="choice">Network</td>' in page  # the English name: an English user
    assert 'id="digits">2<' in page
    assert 'data-disposition="abandoned"' in page
    attempts = re.findall(r'<tr class="attempt" data-outcome="([a-z_]+)">', page)
    assert attempts[0] == "failed" and "skipped" in attempts, attempts
    assert f'data-person="{ENGINEERS[0]}"' in page  # the on-call primary, skipped: no proxy to dial
    assert "no sip.outbound.proxy to dial numbers through" in page
    assert 'id="sla-state"' in page
    assert 'id="audit-trail"' in page and has_event(page, kind="created", actor="system")


async def test_complete_dispatch_note_resolve_and_a_poor_callback_reopens(setup: Setup, browser: Any) -> None:
    server, issue_id, owner = setup.server, setup.issues["routed"], setup.owner
    op = await browser("chenjing")
    status, location, _ = await op.act(issue_id, "complete", {
        "category": "network", "priority": "P3", "description": "Switch in building 7 down, ZQXJ uplink lost"})
    assert status == 303 and location.startswith(f"/issues/{issue_id}?done=complete"), location
    page = await op.text(location)
    assert 'id="done"' in page and issue_row(server, issue_id)["status"] == "recorded"
    assert has_event(page, kind="status", actor="chenjing", status="recorded")

    # The dispatch form shows the A/B suggestion and why; the desk decides the same.
    assert 'id="suggestion"' in page and f"A {owner} available" in page
    status, location, _ = await op.act(issue_id, "dispatch", {"mode": "auto"}, page=page)
    assert status == 303, location
    page = await op.text(location)
    assert issue_row(server, issue_id)["owner"] == owner
    assert re.search(rf'<tr class="dispatch" data-person="{owner}">.*A {owner} available', page)
    assert has_event(page, kind="status", actor="chenjing", status="dispatched")

    engineer = await browser(owner)
    status, location, _ = await engineer.act(issue_id, "note", {"text": "Replaced the SFP module"})
    assert status == 303, location
    status, location, _ = await engineer.act(issue_id, "resolve", {"resolution": "Uplink back after SFP swap"})
    assert status == 303, location
    page = await engineer.text(location)
    assert '<li class="note" data-actor="' + owner + '">' in page and "Replaced the SFP module" in page
    assert has_event(page, kind="progress", actor=owner)
    assert has_event(page, kind="status", actor=owner, status="resolved")

    # Full-text search finds it, the match marked and escaped.
    found = await op.text("/issues?q=ZQXJ")
    assert listed(found) == [issue_id] and "<mark>ZQXJ</mark>" in found

    status, location, _ = await op.act(issue_id, "callback", {
        "efficiency": "1", "result": "2", "attitude": "1", "fixed": "no", "comment": "Still slow"})
    assert status == 303, location
    page = await op.text(location)
    assert issue_row(server, issue_id)["status"] == "reopened"
    assert has_event(page, kind="callback", actor="chenjing")
    assert has_event(page, kind="status", actor="chenjing", status="reopened")
    assert '<tr class="callback bad">' in page
    # Every change is in the store's audit trail under the acting user.
    actors = {(r["kind"], r["actor"]) for r in server.query(
        "SELECT kind, actor FROM issue_events WHERE issue_id = ?", (issue_id,))}
    assert {("status", "chenjing"), ("progress", owner), ("status", owner), ("callback", "chenjing")} <= actors


async def test_an_engineer_cannot_complete_or_dispatch_even_by_hand(setup: Setup, browser: Any) -> None:
    server, issue_id = setup.server, setup.issues["desktop"]
    engineer = await browser(setup.other_engineer)
    page = await engineer.text(f"/issues/{issue_id}")
    assert 'id="complete"' not in page and 'id="dispatch"' not in page
    operator_page = await (await browser("chenjing")).text(f"/issues/{issue_id}")
    assert 'id="complete"' in operator_page and 'id="dispatch"' not in operator_page  # not recorded yet
    assert re.search(r'id="countdown">\s*\d+ min left: due at \d\d:\d\d', operator_page)
    # The page offers no form, so post one by hand: the session's token, the issue's version.
    def by_hand(issue_id: int) -> dict[str, str]:
        row = issue_row(server, issue_id)
        return {"_csrf": csrf_of(page), "v_status": row["status"], "v_updated": row["updated_at"]}

    for action, fields in (("complete", {"category": "desktop", "priority": "P2", "description": "x"}),
                           ("dispatch", {"mode": "auto"}), ("close", {"reason": "test"}),
                           ("note", {"text": "not mine"})):
        status, _, body = await engineer.post(f"/issues/{issue_id}/{action}", {**by_hand(issue_id), **fields})
        assert status == 403, (action, body)
    routed = setup.issues["routed"]  # owned by someone else
    status, _, _ = await engineer.post(f"/issues/{routed}/note", {**by_hand(routed), "text": "not mine"})
    assert status == 403
    assert issue_row(server, issue_id)["status"] == "new"


async def test_a_missing_or_wrong_csrf_token_is_refused(setup: Setup, browser: Any) -> None:
    issue_id = setup.issues["desktop"]
    op = await browser("chenjing")
    page = await op.text(f"/issues/{issue_id}")
    fields = {**form_of(page), "category": "desktop", "priority": "P2", "description": "forged"}
    for token in (None, "forged-token"):
        data = {k: v for k, v in fields.items() if k != "_csrf"}
        if token is not None:
            data["_csrf"] = token
        status, _, _ = await op.post(f"/issues/{issue_id}/complete", data)
        assert status == 403
    assert issue_row(setup.server, issue_id)["status"] == "new"


async def test_validation_errors_come_back_next_to_the_field_with_the_input(setup: Setup, browser: Any) -> None:
    issue_id = setup.issues["desktop"]
    op = await browser("chenjing")
    status, _, page = await op.act(issue_id, "complete", {"category": "", "priority": "P2",
                                                          "description": "Kept <text> & more"})
    assert status == 400
    assert 'id="err-category"' in page and 'aria-invalid="true"' in page
    assert ">Kept &lt;text&gt; &amp; more</textarea>" in page
    assert '<option value="P2" selected>' in page
    status, _, page = await op.act(issue_id, "complete", {"category": "desktop", "priority": "P2",
                                                          "description": "x" * 5000})
    assert status == 400 and 'id="err-description"' in page
    status, _, page = await op.act(issue_id, "close", {"reason": " "})
    assert status == 400 and 'id="err-reason"' in page
    status, _, page = await op.act(issue_id, "callback", {"efficiency": "9", "result": "3", "attitude": "x",
                                                          "fixed": "maybe"})
    assert status == 400 and all(f'id="err-{f}"' in page for f in ("efficiency", "attitude", "fixed"))
    assert issue_row(setup.server, issue_id)["status"] == "new"


async def test_markup_in_a_caller_name_or_a_description_renders_inert(setup: Setup, browser: Any) -> None:
    issue_id = setup.issues["xss"]
    op = await browser("chenjing")
    status, location, _ = await op.act(issue_id, "complete", {
        "category": "network", "priority": "P4", "description": DESCRIPTION_XSS})
    assert status == 303
    assert issue_row(setup.server, issue_id)["description"] == DESCRIPTION_XSS
    pages = [await op.text(location), await op.text("/issues"), await op.text("/issues?q=onerror")]
    assert issue_id in listed(pages[2])
    for page in pages:
        body = page.split("<main>")[1]
        assert "<script" not in body and "<img" not in body, body
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in pages[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0]
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in pages[1]


async def test_a_stale_form_says_who_changed_what_and_keeps_the_typed_text(setup: Setup, browser: Any) -> None:
    server, issue_id = setup.server, setup.issues["stale"]
    first, second = await browser("chenjing"), await browser("huangmin")
    old = await first.text(f"/issues/{issue_id}")
    status, _, _ = await second.act(issue_id, "complete", {
        "category": "network", "priority": "P2", "description": "Entered by huangmin"})
    assert status == 303
    status, _, page = await first.act(issue_id, "complete", {
        "category": "network", "priority": "P3", "description": "Typed by chenjing, not lost"}, page=old)
    assert status == 409
    assert 'id="refusal-complete"' in page and "changed this issue meanwhile" in page and "黄敏" in page
    assert '<li data-actor="huangmin" data-kind="status">' in page
    assert ">Typed by chenjing, not lost</textarea>" in page
    assert issue_row(server, issue_id)["description"] == "Entered by huangmin"
    # The kept form is the new version: sent again, the life cycle refuses it, still keeping the text.
    status, _, page = await first.act(issue_id, "complete", {
        "category": "network", "priority": "P3", "description": "Typed by chenjing, not lost"}, page=page)
    assert status == 409 and "Not possible while the issue is Recorded" in page
    assert ">Typed by chenjing, not lost</textarea>" in page


async def test_voicemail_links_are_signed_with_a_key_of_their_own(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    (call_id,) = [r["call_id"] for r in setup.server.query(
        "SELECT call_id FROM issues WHERE id = ?", (setup.issues["routed"],))]
    status, _ = await op.get(f"/voicemails/{call_id}.wav")
    assert status == 403
    recording_link = signed_recording_url(SECRET, call_id).replace("/recordings/", "/voicemails/")
    status, _ = await op.get(recording_link)
    assert status == 403  # a recording's signature does not open the voicemail
    status, body = await op.get(voicemail_url(SECRET, call_id))
    assert status == 404 and "no recording" in body  # signed, but the caller left no message


# -- pagination at scale ------------------------------------------------------------------------

PAGED = 120


@pytest.fixture(scope="module")
def paged_issues(setup: Setup) -> list[tuple[str, int, str | None]]:
    """120 issues of category "printer", written straight into the server's database.

    Why not ``hotline call``: each call takes seconds, and the list reads issue rows, however
    they were made. The rows are what the store writes (created_at as UTC text with
    microseconds); groups of three share a created_at, so the keyset's tie-break on the id is
    exercised. Returns (created_at, id, priority) of each.
    """
    rows = []
    with sqlite3.connect(setup.server.database) as db:
        for n in range(PAGED):
            at = datetime(2026, 11, 1 + n // 12, 3, (n // 3) % 60, tzinfo=UTC).isoformat(timespec="microseconds")
            priority = (None, "P1", "P2", "P3", "P4")[n % 5]
            cur = db.execute(
                "INSERT INTO issues (number, source, status, category, priority, description, created_at,"
                " updated_at) VALUES (?, 'web', 'recorded', 'printer', ?, ?, ?, ?)",
                (f"HL-2026-9{n:05d}", priority, f"paper jam {n}", at, at))
            rows.append((at, int(cur.lastrowid or 0), priority))
    return rows


async def walk(console: Console, query: str) -> tuple[list[int], int]:
    seen, pages, path = [], 0, "/issues?" + query
    while True:
        page = await console.text(path)
        pages += 1
        seen += listed(page)
        link = re.search(r'<a href="([^"]+)" id="next-page"', page)
        if link is None:
            return seen, pages
        path = html.unescape(link.group(1))
        assert "before=" in path


async def test_keyset_pages_walk_every_issue_once_in_order(setup: Setup, browser: Any,
                                                           paged_issues: list[tuple[str, int, str | None]]) -> None:
    op = await browser("wangjun")
    newest = [i for _, i, _ in sorted(paged_issues, reverse=True)]
    seen, pages = await walk(op, "category=printer")
    assert seen == newest and pages == 3
    seen, _ = await walk(op, "category=printer&sort=oldest")
    assert seen == newest[::-1]
    expected = []
    for bucket in ("P1", "P2", "P3", "P4", None):  # newest first within each priority
        expected += [i for at, i, p in sorted(paged_issues, reverse=True) if p == bucket]
    seen, _ = await walk(op, "category=printer&sort=priority")
    assert seen == expected
    seen, _ = await walk(op, "category=printer&priority=P1&from=2026-11-03&to=2026-11-05")
    # Local days 11-03..05 (Shanghai) are 11-02 16:00 to 11-05 16:00 UTC: the rows of 11-03..05 at 03:xx UTC.
    assert seen == [i for at, i, p in sorted(paged_issues, reverse=True)
                    if p == "P1" and "2026-11-03" <= at[:10] <= "2026-11-05"]


WALK_INDEXES = {None: "issues_created", "status": "issues_status", "category": "issues_category_created",
                "priority": "issues_priority_created", "owner": "issues_owner_created",
                "source": "issues_source_created", "call_back": "issues_call_back_created",
                "recording_overdue": "issues_overdue_created"}
"""The index a list query walks, by the filter that drives it (None: no indexed filter)."""


@pytest.mark.parametrize("sort", ["newest", "oldest", "priority"])
def test_every_list_query_walks_an_index_without_sorting(setup: Setup, sort: str) -> None:
    """EXPLAIN QUERY PLAN of the store's list queries on the server's database: each walks the
    index of its rarest indexed filter (a bucket of the priority sort may walk the priority's)."""
    now = datetime.now(UTC)
    filters = [
        (IssueFilter(), None), (IssueFilter(status="new"), "status"), (IssueFilter(owner="zhangwei"), "owner"),
        (IssueFilter(owner=""), "owner"), (IssueFilter(call_back=True), "call_back"),
        (IssueFilter(status="closed", owner="zhangwei", created_from=now), "owner"),
        (IssueFilter(category="network", priority="P1", source="phone", recording_overdue=True,
                     sla_state="breached", disposition="missed", created_from=now, created_to=now),
         "recording_overdue"),
        (IssueFilter(category="network", source="walk-in"), "category"),
        (IssueFilter(priority="P1", status="closed", recording_overdue=False, call_back=False), "priority"),
    ]
    with sqlite3.connect(f"file:{setup.server.database}?mode=ro", uri=True) as db:
        for f, driver in filters:
            expected = {WALK_INDEXES[driver]}
            if sort == "priority" and f.priority is None:
                expected.add(WALK_INDEXES["priority"])
            for cursor in (None, ("P2", now.isoformat(), 5)):
                for sql, params in issue_list_sql(f, sort=sort, cursor=cursor, limit=51):
                    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
                    walk_ = [p for p in plan if re.match(r"(SCAN|SEARCH) i\b", p)]
                    assert len(walk_) == 1, plan
                    assert any(f"USING INDEX {index} " in walk_[0] + " " for index in expected), (f, plan)
                    assert not any("TEMP B-TREE" in p for p in plan), (f, plan)
                    assert all("USING INTEGER PRIMARY KEY" in p or "USING INDEX" in p
                               for p in plan if p.startswith(("SCAN", "SEARCH"))), plan


# -- pure parts ---------------------------------------------------------------------------------

def test_who_may_do_what() -> None:
    def user(*roles: str, uid: str = "u") -> User:
        return User(uid, uid, frozenset(roles), "en", "t", "s")

    def issue(owner: str | None) -> IssueRecord:
        now = datetime.now(UTC)
        return IssueRecord(1, "HL-1", "phone", None, None, None, None, "dispatched", "network", "P3", "", "",
                           owner, None, now, now, None, None, False)

    operator, engineer, manager = user("operator"), user("engineer", uid="e1"), user("manager")
    for action in ("complete", "dispatch", "callback", "close"):
        assert may(operator, action, issue(None)) and not may(engineer, action, issue("e1"))
    for action in ("note", "resolve"):
        assert may(engineer, action, issue("e1")) and not may(engineer, action, issue("e2"))
        assert not may(operator, action, issue(None)) and may(manager, action, issue("e2"))
    for action in ("reassign", "reopen", "article"):
        assert may(manager, action, issue(None)) and may(user("admin"), action, issue(None))
        assert not may(operator, action, issue(None)) and not may(engineer, action, issue("e1"))
    assert not may(manager, "drop_table", issue(None))


def test_filter_values_are_plain_values() -> None:
    req, errors = parse_list_query({"q": "' OR 1=1 --", "owner": "none", "priority": "none",
                                    "from": "2026-12-02", "to": "2026-12-02", "junk": "x"},
                                   categories={"network"}, people={"zhangwei"}, tz=ZoneInfo("Asia/Shanghai"))
    assert not errors and req.q == "' OR 1=1 --"
    assert req.filter.owner == "" and req.filter.priority == ""
    assert req.filter.created_from == datetime(2026, 12, 1, 16, tzinfo=UTC)
    assert req.filter.created_to == datetime(2026, 12, 2, 16, tzinfo=UTC)
    _, errors = parse_list_query({"owner": "zhangwei' --", "category": "network"}, categories={"network"},
                                 people={"zhangwei"}, tz=ZoneInfo("Asia/Shanghai"))
    assert set(errors) == {"owner"}
