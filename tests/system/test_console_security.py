"""Attacks on the console against the running ``hotline serve``: forged requests, markup, SQL, sessions, roles.

A real server process; accounts from ``hotline add-user``; the issues left by real calls placed
with ``hotline call`` (one from a directory employee whose name, department and location are
markup, imported with ``hotline import-directory``; one whose SIP display name is markup); a staff
member whose name in the store is markup. Requests are aiohttp's, as a browser's or an
attacker's script would send them. The login brute-force test here extends
``test_console_auth.py``'s (one user) with guessing across user ids from one address.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from markupsafe import escape
from yarl import URL

from hotline.app import init_app
from hotline.config import load_config
from hotline.console.views.issue_rules import ACTIONS
from tests.conftest import ROOT
from tests.interop.peers import LOOPBACK, PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions, run_all
from tests.system.test_console_issues import PASSWORD, Console, consoles, csrf_of, form_of, listed

pytestmark = pytest.mark.timeout(180)

CLOCK = "2026-12-02T10:00+08:00"
"""A Wednesday in business hours: dispatch follows the category's post."""
ATTACKS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}")
RAW = ("<script>alert(1)", "<img src=x", 'href="javascript:', "src='javascript:", 'src="javascript:')
"""What must never reach a page's markup from data."""
SQL = ("' OR 1=1 --", "1; DROP TABLE issues; --", "x' UNION SELECT id, name FROM people --", '") OR ("1"="1',
       "%' --")
EMPLOYEE_MOBILE = "13900007001"
DISPLAY_CALLER = "13412347002"
PLAIN_CALLER = "13412347003"


def payload(field: str) -> str:
    """Every attack at once, tagged with the field it went into."""
    return f"[{field}] " + " ".join(ATTACKS)


@dataclass
class Setup:
    server: HotlineServer
    issues: dict[str, int]
    """Issue id per call: "employee" (the markup employee's), "display" (markup display name), "plain"."""
    owner: str
    """The network post's A role; its name in the store is markup."""
    other: str
    """Another engineer."""

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.server.web_port}"


def import_markup_employee(server: HotlineServer, tmp: Path) -> None:
    path = tmp / "directory.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["employee_id", "name", "department", "location", "mobile"])
        writer.writerow(["X9001", payload("name"), payload("department"), payload("location"), EMPLOYEE_MOBILE])
    result = server.hotline("import-directory", "--config", str(server.config_path), str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("console-security")
    server = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=CLOCK))
    server.init_db()
    import_markup_employee(server, tmp)
    (owner,) = [r["person_id"] for r in server.query(
        "SELECT a.person_id FROM post_assignments a JOIN categories c ON c.post_id = a.post_id"
        " WHERE c.id = 'network' AND a.role = 'A'")]
    other = next(e for e in ("luoyu", "hexin", "linfeng") if e != owner)
    with sqlite3.connect(server.database) as db:
        assert db.execute("UPDATE people SET name = ? WHERE id = ?", (payload("staff"), owner)).rowcount == 1
    config = str(server.config_path)
    server.add_users({"chenjing": "operator", "huangmin": "operator", "wangjun": "manager",
                      owner: "engineer", other: "engineer"}, PASSWORD)
    server.start()
    try:
        call = ["call", "--config", config, "--digits", "2", "--seconds", "2"]
        run_all([[*call, "--from", EMPLOYEE_MOBILE], [*call, "--from", DISPLAY_CALLER, "--name", payload("display")],
                 [*call, "--from", PLAIN_CALLER]])
        keys = {"employee": "+86" + EMPLOYEE_MOBILE, "display": "+86" + DISPLAY_CALLER, "plain": "+86" + PLAIN_CALLER}

        def ended() -> dict[str, int] | None:
            rows = server.query("SELECT i.id, i.caller_key FROM issues i JOIN calls c ON c.id = i.call_id"
                                " WHERE c.ended_at IS NOT NULL AND i.call_ended_at IS NOT NULL")
            found = {r["caller_key"]: r["id"] for r in rows}
            return {name: found[key] for name, key in keys.items()} if set(keys.values()) <= set(found) else None

        yield Setup(server, server.wait_for("the three calls' issues", ended), owner, other)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


@pytest.fixture
async def browser(setup: Setup) -> AsyncIterator[Any]:
    async with consoles(setup.server) as open_as:
        yield open_as


def issue_row(setup: Setup, issue_id: int) -> dict[str, Any]:
    (row,) = setup.server.query("SELECT * FROM issues WHERE id = ?", (issue_id,))
    return row


def body_of(page: str) -> str:
    return page.split("<main>", 1)[1]


# -- CSRF ---------------------------------------------------------------------------------------


def state_changing_routes(config_path: Path) -> list[tuple[str, str]]:
    """(method, path pattern) of every route of the application that is not GET/HEAD."""
    app = init_app(load_config(config_path))  # built, not started: the router is all we read
    out = []
    for route in app.router.routes():
        if route.method in ("GET", "HEAD"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        out.append((route.method, str(info.get("path") or info.get("formatter") or "")))
    return out


def concrete_paths(pattern: str, values: dict[str, list[str]]) -> list[str]:
    """Every path of ``pattern`` with its ``{placeholders}`` taken from ``values``."""
    names = re.findall(r"\{(\w+)\}", pattern)
    unknown = [n for n in names if n not in values]
    assert not unknown, f"{pattern}: say here what to post to {unknown} (a new state-changing route)"
    paths = [pattern]
    for name in names:
        paths = [p.replace("{" + name + "}", v, 1) for p in paths for v in values[name]]
    return paths


async def test_every_state_changing_route_needs_the_sessions_csrf_token(setup: Setup, browser: Any) -> None:
    issue_id = setup.issues["plain"]
    manager, someone = await browser("wangjun"), await browser("huangmin")
    others_token = csrf_of(await someone.text("/"))  # valid, but another session's
    page = await manager.text(f"/issues/{issue_id}")
    own = form_of(page)
    routes = state_changing_routes(setup.server.config_path)
    paths = [(method, path) for method, pattern in routes
             for path in concrete_paths(pattern, {"issue_id": [str(issue_id)], "action": list(ACTIONS),
                                                  "id": ["1"]})]
    assert {("POST", "/login"), ("POST", "/logout"), ("POST", "/language")} <= set(paths), paths
    assert {p for _, p in paths if p.startswith(f"/issues/{issue_id}/")} >= {
        f"/issues/{issue_id}/{a}" for a in ACTIONS}
    before = issue_row(setup, issue_id)
    events_before = setup.server.query("SELECT COUNT(*) AS n FROM issue_events")[0]["n"]
    fields = {"v_status": own["v_status"], "v_updated": own["v_updated"], "language": "en", "next": "/",
              "category": "network", "priority": "P1", "description": "forged", "mode": "auto", "text": "forged",
              "resolution": "forged", "reason": "forged", "person": setup.other, "efficiency": "5",
              "result": "5", "attitude": "5", "fixed": "yes", "user": "wangjun", "password": PASSWORD}
    refused = []
    for method, path in paths:
        for token in (None, "", "forged-" + own["_csrf"][7:], others_token):
            data = dict(fields) if token is None else {**fields, "_csrf": token}
            async with manager.session.request(method, manager.base + path, data=data,
                                               allow_redirects=False) as r:
                refused.append((path, token, r.status))
        # A header is checked like the field; a JSON body carries no token at all.
        async with manager.session.request(method, manager.base + path, headers={"X-CSRF-Token": others_token},
                                           data=fields, allow_redirects=False) as r:
            refused.append((path, "header", r.status))
        async with manager.session.request(method, manager.base + path, json=fields, allow_redirects=False) as r:
            refused.append((path, "json", r.status))
    assert [r for r in refused if r[2] != 403] == []
    assert issue_row(setup, issue_id) == before
    assert setup.server.query("SELECT COUNT(*) AS n FROM issue_events")[0]["n"] == events_before
    # Nothing happened to the session either: still logged in, still in English (Console.login's choice).
    status, page = await manager.get("/")
    assert status == 200 and '<html lang="en">' in page
    # The login form's double-submit token: the field must match the cookie it came with.
    for case in ("another cookie", "no field", "another field"):
        anonymous = await browser(None)
        login_token = csrf_of(await anonymous.text("/login"))
        data = {"_csrf": login_token, "user": "wangjun", "password": PASSWORD}
        if case == "another cookie":
            anonymous.session.cookie_jar.clear()
            anonymous.session.cookie_jar.update_cookies({"hotline_login_csrf": "x" + login_token[1:]},
                                                        URL(anonymous.base))
        elif case == "no field":
            del data["_csrf"]
        else:
            data["_csrf"] = "x" + login_token[1:]
        status, _, _ = await anonymous.post("/login", data)
        assert status == 403, case
    control = await browser(None)  # the same post with the pair intact logs in
    status, _, _ = await control.post("/login", {"_csrf": csrf_of(await control.text("/login")), "user": "wangjun",
                                                 "password": PASSWORD})
    assert status == 303


# -- markup -------------------------------------------------------------------------------------


def assert_inert(page: str, where: str) -> int:
    """No attack reached the markup; every one that is shown is escaped text. How many are shown."""
    body = body_of(page)
    for raw in RAW:
        assert raw not in body, (where, raw)
    shown = body.count(str(escape(" ".join(ATTACKS))))
    assert body.count("{{7*7}}") >= shown, where  # the template did not evaluate data
    return shown


async def test_markup_in_every_free_text_field_renders_inert(setup: Setup, browser: Any) -> None:
    issue_id, closing = setup.issues["employee"], setup.issues["display"]
    op, owner, manager = await browser("chenjing"), await browser(setup.owner), await browser("wangjun")

    async def ok(console: Console, issue: int, action: str, fields: dict[str, str]) -> None:
        status, _, page = await console.act(issue, action, fields)
        assert status == 303, (action, status, page[-2000:])

    await ok(op, issue_id, "complete", {"category": "network", "priority": "P3", "description": payload("description")})
    await ok(op, issue_id, "dispatch", {"mode": "manual", "person": setup.owner, "reason": payload("dispatch")})
    await ok(owner, issue_id, "note", {"text": payload("note")})
    await ok(manager, issue_id, "reassign", {"person": setup.other, "reason": payload("reassign")})
    await ok(manager, issue_id, "resolve", {"resolution": payload("resolution")})
    await ok(manager, issue_id, "article", {"title": payload("title"), "symptoms": payload("symptoms"),
                                            "fix": payload("fix")})
    await ok(op, issue_id, "callback", {"efficiency": "1", "result": "1", "attitude": "2", "fixed": "no",
                                        "comment": payload("comment")})
    await ok(op, closing, "close", {"reason": payload("close")})
    await ok(manager, closing, "reopen", {"reason": payload("reopen")})
    row = issue_row(setup, issue_id)
    assert (row["description"], row["status"]) == (payload("description"), "reopened")  # stored as typed

    record = await op.text(f"/issues/{issue_id}")
    shown = assert_inert(record, "record page")
    for field in ("name", "staff", "description", "dispatch", "note", "reassign", "resolution", "comment"):
        assert str(escape(payload(field))) in record, field
    assert shown >= 8
    other_record = await op.text(f"/issues/{closing}")
    assert assert_inert(other_record, "the display name's record") >= 3
    for field in ("display", "close", "reopen"):
        assert str(escape(payload(field))) in other_record, field
    listing = await op.text("/issues")
    assert assert_inert(listing, "list") >= 2  # the callers' names
    found = await op.text("/issues?" + urlencode({"q": "onerror"}))
    assert issue_id in listed(found)
    assert_inert(found, "search")  # the matches are marked, the text around them escaped
    assert "<mark>onerror</mark>" in found
    for path in ("/", "/live"):
        assert_inert(await op.text(path), path)
    assert_inert(await manager.text("/audit"), "/audit")
    # Reflected: what the request itself carries comes back as text too (the form's values, the
    # login page's "next").
    for query in ({"q": payload("q")}, {"status": payload("status"), "owner": payload("owner")}):
        status, page = await op.get("/issues?" + urlencode(query))
        assert status in (200, 400) and assert_inert(page, str(query)) >= 1, (status, query)
    anonymous = await browser(None)
    status, page = await anonymous.get("/login?" + urlencode({"next": "/" + payload("next")}))
    assert status == 200 and assert_inert(page, "login next") == 1


async def test_the_websocket_feed_carries_markup_as_plain_strings(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    frames: list[str] = []
    config = str(setup.server.config_path)
    async with op.session.ws_connect(f"ws://{LOOPBACK}:{setup.server.web_port}/live/ws") as ws:
        call = [sys.executable, "-m", "hotline", "call", "--config", config, "--digits", "2", "--seconds", "1"]
        calls = [await asyncio.create_subprocess_exec(*call, *extra, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                      stderr=asyncio.subprocess.PIPE)
                 for extra in (["--from", EMPLOYEE_MOBILE], ["--from", "13412347004", "--name", payload("display")])]
        arrived: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(30):
            async for message in ws:
                frames.append(message.data)
                m = json.loads(message.data)
                if m["kind"] == "call_arrived":
                    arrived[m["caller"]] = m
                if len(arrived) == 2:
                    break
        for proc in calls:
            await asyncio.wait_for(proc.communicate(), 60)
    employee = next(m for m in arrived.values() if m.get("employee_id") == "X9001")
    display = next(m for m in arrived.values() if m.get("employee_id") != "X9001")
    caller = employee["pop"]["caller"]
    # Exactly the text as stored: neither escaped for HTML (the script inserts text) nor altered.
    assert (caller["name"], caller["department"], caller["location"]) == (
        payload("name"), payload("department"), payload("location"))
    assert employee["caller_name"] == payload("name")
    assert display["caller_name"] == payload("display")
    for issue in employee["pop"]["open_issues"] + employee["pop"]["recent_issues"]:
        description = issue_row(setup, issue["id"])["description"]
        assert issue["summary"] == description.splitlines()[0][:120] if description else not issue["summary"]
    assert all("&lt;" not in f for f in frames)


# -- SQL ----------------------------------------------------------------------------------------


async def test_sql_in_filters_and_search_is_harmless(setup: Setup, browser: Any) -> None:
    op = await browser("chenjing")
    page = await op.text("/issues")
    form = page.split('id="issue-filters"', 1)[1].split("</form>", 1)[0]
    names = sorted(set(re.findall(r'<(?:input|select)[^>]* name="([a-z_]+)"', form)) | {"before"})
    assert {"q", "status", "category", "owner", "from", "sort", "disposition"} <= set(names), names

    def shape() -> tuple[Any, ...]:
        q = setup.server.query
        return (q("SELECT type, name FROM sqlite_master ORDER BY name"), q("SELECT COUNT(*) AS n FROM issues"),
                q("SELECT COUNT(*) AS n FROM people"), q("SELECT COUNT(*) AS n FROM accounts"))

    before = shape()
    for name in names:
        for attack in SQL:
            status, page = await op.get("/issues?" + urlencode({name: attack}))
            assert status in (200, 400), (name, attack, status)
            if status == 200:
                assert listed(page) == [], (name, attack)  # matched as text: nothing holds it
            else:
                assert f'id="err-{name}"' in page, (name, attack)
    assert shape() == before
    assert setup.server.query("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


# -- sessions and roles ---------------------------------------------------------------------------


async def test_a_session_cookie_set_before_login_is_not_the_one_after(setup: Setup, browser: Any) -> None:
    attacker = await browser("huangmin")
    planted = {c.key: c.value for c in attacker.session.cookie_jar}["hotline_session"]
    victim = await browser(None)
    victim.session.cookie_jar.update_cookies({"hotline_session": planted})
    page = await victim.text("/login")
    status, location, _ = await victim.post("/login", {"_csrf": csrf_of(page), "user": "wangjun",
                                                       "password": PASSWORD})
    assert (status, location) == (303, "/")
    cookie = {c.key: c.value for c in victim.session.cookie_jar}["hotline_session"]
    assert cookie != planted and cookie.split(".")[0] != planted.split(".")[0]
    status, page = await victim.get("/audit")
    assert status == 200  # the victim is the manager ...
    status, _ = await attacker.get("/audit")
    assert status == 302  # ... and the planted session is gone, not promoted


async def test_edited_hidden_fields_do_not_raise_a_role(setup: Setup, browser: Any) -> None:
    server, issue_id = setup.server, setup.issues["plain"]
    op, owner, other = await browser("chenjing"), await browser(setup.owner), await browser(setup.other)
    status, _, _ = await op.act(issue_id, "complete", {"category": "network", "priority": "P3",
                                                       "description": "Printer offline"})
    assert status == 303
    status, _, _ = await op.act(issue_id, "dispatch", {"mode": "manual", "person": setup.owner,
                                                       "reason": "A role of the post"})
    assert status == 303 and issue_row(setup, issue_id)["owner"] == setup.owner
    page = await other.text(f"/issues/{issue_id}")
    assert 'id="note"' not in page and 'id="reassign"' not in page
    before = issue_row(setup, issue_id)
    # The engineer's own token and the issue's current version: only the role is wrong.
    hidden = {"_csrf": csrf_of(page), "v_status": before["status"], "v_updated": before["updated_at"]}
    escalations = [
        ("note", {"text": "mine now", "owner": setup.other, "actor": setup.other}),
        ("resolve", {"resolution": "done", "owner": setup.other, "by": setup.other}),
        ("reassign", {"person": setup.other, "reason": "I take it", "roles": "manager"}),
        ("reopen", {"reason": "again", "role": "manager"}),
        ("dispatch", {"mode": "manual", "person": setup.other, "reason": "me"}),
        ("close", {"reason": "gone"}),
    ]
    for action, fields in escalations:
        status, _, body = await other.post(f"/issues/{issue_id}/{action}", {**hidden, **fields})
        assert status == 403, (action, body[-500:])
    assert issue_row(setup, issue_id) == before
    # The owner's own note, with fields naming someone else: the server writes the session's user.
    status, _, _ = await owner.act(issue_id, "note", {"text": "Checked the spooler", "actor": "wangjun",
                                                      "by": "wangjun", "user": "wangjun", "owner": "wangjun"})
    assert status == 303
    (note,) = server.query("SELECT actor FROM issue_events WHERE issue_id = ? AND kind = 'progress'", (issue_id,))
    assert note["actor"] == setup.owner and issue_row(setup, issue_id)["owner"] == setup.owner
    # An operator may not reassign; a version edited to another status is not believed.
    page, now = await op.text(f"/issues/{issue_id}"), issue_row(setup, issue_id)
    version = {"_csrf": csrf_of(page), "v_status": now["status"], "v_updated": now["updated_at"]}
    status, _, _ = await op.post(f"/issues/{issue_id}/reassign", {**version, "person": setup.other, "reason": "x"})
    assert status == 403
    forged = {**version, "v_status": "resolved", "efficiency": "5", "result": "5", "attitude": "5",
              "fixed": "yes"}
    status, _, _ = await op.post(f"/issues/{issue_id}/callback", forged)
    assert status == 409 and issue_row(setup, issue_id)["status"] == "dispatched"
    status, _, _ = await op.post("/language", {"_csrf": csrf_of(page), "language": "admin"})
    assert status == 400


# -- login guessing -----------------------------------------------------------------------------


async def test_guessing_across_user_ids_from_one_address_is_slowed(tmp_path: Path) -> None:
    server = HotlineServer(tmp_path / "hotline", PortAllocator(), ServerOptions(clock=CLOCK))
    server.init_db()
    server.add_users({"chenjing": "operator"}, PASSWORD)
    server.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            client = Console(session, server)
            statuses = []
            for user in ("zhouting", "' OR 1=1 --", "admin", "root", "wangjun", "chenjing"):
                page = await client.text("/login")
                status, _, _ = await client.post("/login", {"_csrf": csrf_of(page), "user": user,
                                                            "password": PASSWORD if user == "chenjing" else "guess-1234"})
                statuses.append(status)
        # Five wrong guesses from one address, each for a different user: the address waits, even
        # for the right password of a real account.
        assert statuses == [401] * 5 + [429], statuses
        rows = server.query("SELECT action, actor FROM console_audit ORDER BY id")
        assert {"action": "login_refused", "actor": "chenjing"} in rows
        assert {"action": "login", "actor": "chenjing"} not in rows
        assert server.query("SELECT COUNT(*) AS n FROM accounts") == [{"n": 1}]
    finally:
        assert server.stop() == 0, server.log()[-3000:]

