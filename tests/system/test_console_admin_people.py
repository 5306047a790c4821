"""The administration's directory, staff and A/B matrix against a running ``hotline serve``.

A real server process on the demo data (19 staff, 20 posts), to which the test adds 43 posts
of its own before the start — some with one holder, most with none — so the matrix is the
19-people-63-posts view of the customer's desk. The issues are left by real calls placed with
``hotline call`` (menu key 2, network); they are completed and dispatched through the record
page's forms, so the A mark the matrix saves is what the desk's dispatch reads. The users come
from ``hotline add-user`` and read the pages in English (``Console.login``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions, run_all
from tests.system.test_console_issues import PASSWORD, consoles, csrf_of

pytestmark = pytest.mark.timeout(180)

CLOCK = "2026-12-02T10:00+08:00"
"""A Wednesday, 10:00 in Shanghai: business hours, dispatch follows the category's post."""
TODAY = "2026-12-02"
EXTRA_POSTS = 43
"""Posts added to the demo's 20: the customer's desk has 63."""
MANAGER, OPERATOR = "wangjun", "chenjing"
CALLERS = ("13412348001", "13412348002")


@dataclass
class Setup:
    server: HotlineServer
    issues: list[int]
    """The two network issues, one per call, in call order."""
    old_a: str
    """The network post's A role in the demo data."""
    new_a: str
    """An engineer who holds no role on the network post: the test makes them its A."""
    spare: str
    """Another engineer without a role on the network post, whose details the test edits."""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("console-admin-people")
    ports = PortAllocator()
    nobody = ports.one()  # a desk phone nothing listens on: the call moves on at once
    server = HotlineServer(tmp / "hotline", ports, ServerOptions(
        clock=CLOCK, desk=(f"sip:8001@127.0.0.1:{nobody}",), desk_ring_seconds=2, oncall_ring_seconds=2))
    server.init_db()
    with sqlite3.connect(server.database) as db:
        db.executemany("INSERT INTO posts (id, name, description) VALUES (?, ?, '')",
                       [(f"extra{n:02d}", f"岗位{n:02d}") for n in range(EXTRA_POSTS)])
        # Every fifth extra post has one holder (an A): thin, but with an A.
        db.executemany("INSERT INTO post_assignments (post_id, person_id, role, rank) VALUES (?, 'lihua', 'A', 0)",
                       [(f"extra{n:02d}",) for n in range(0, EXTRA_POSTS, 5)])
    holders = {r["person_id"]: r["role"] for r in server.query(
        "SELECT person_id, role FROM post_assignments WHERE post_id = 'network'")}
    (old_a,) = [p for p, role in holders.items() if role == "A"]
    engineers = [r["id"] for r in server.query("SELECT id FROM people WHERE roles LIKE '%engineer%' ORDER BY id")]
    new_a, spare = [e for e in engineers if e not in holders and e != "lihua"][:2]
    config = str(server.config_path)
    server.add_users({MANAGER: "manager", OPERATOR: "operator", "lihua": "admin"}, PASSWORD)
    server.start()
    try:
        run_all([["call", "--config", config, "--from", caller, "--digits", "2", "--seconds", "2"]
                 for caller in CALLERS])
        keys = ["+86" + c for c in CALLERS]

        def ended() -> list[int] | None:
            rows = server.query("SELECT i.id, i.caller_key FROM issues i JOIN calls c ON c.id = i.call_id"
                                " WHERE c.ended_at IS NOT NULL AND i.call_ended_at IS NOT NULL")
            found = {r["caller_key"]: r["id"] for r in rows}
            return [found[k] for k in keys] if set(keys) <= set(found) else None

        yield Setup(server, server.wait_for("the calls' issues", ended), old_a, new_a, spare)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


@pytest.fixture
async def browser(setup: Setup) -> AsyncIterator[Any]:
    async with consoles(setup.server) as open_as:
        yield open_as


def audit_rows(setup: Setup, action: str) -> list[dict[str, Any]]:
    return setup.server.query("SELECT * FROM console_audit WHERE action = ? ORDER BY id", (action,))


def row_of(page: str, post: str) -> str:
    match = re.search(rf'<tr id="post-{re.escape(post)}"[^>]*>.*?</tr>', page, re.S)
    assert match is not None, post
    return match.group(0)


def marks_in(row: str) -> dict[str, str]:
    """Person -> the selected mark of each cell of a matrix row."""
    out = {}
    for person, cell in re.findall(r'<td class="mark[^"]*" data-person="([^"]+)">(.*?)</td>', row, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', cell)
        out[person] = chosen.group(1) if chosen else ""
    return out


def row_form(page: str, post: str) -> dict[str, str]:
    """What the browser posts for a matrix row: its hidden fields and every cell's mark."""
    row = row_of(page, post)
    fields = dict(re.findall(r'<input type="hidden" name="(_csrf|post|v)" value="([^"]*)">', row))
    return {**fields, **{f"mark:{p}": m for p, m in marks_in(row).items()}}


# -- roles --------------------------------------------------------------------------------------

ADMIN_PAGES = ("/admin/people", "/admin/posts", "/admin/directory", "/admin/directory/X1",
               "/admin/people/zhangwei", "/admin/directory?q=1")
ADMIN_POSTS = ("/admin/people/save", "/admin/people/shifts", "/admin/people/leave", "/admin/people/leave/remove",
               "/admin/posts/assign", "/admin/directory/import")


async def test_an_operator_is_refused_by_the_server(setup: Setup, browser: Any) -> None:
    operator = await browser(OPERATOR)
    home = await operator.text("/")
    assert 'href="/admin/people"' not in home  # not in the menu ...
    token = csrf_of(home)
    for path in ADMIN_PAGES:  # ... and refused by the server
        status, _ = await operator.get(path)
        assert status == 403, path
    assignments = setup.server.query("SELECT * FROM post_assignments ORDER BY post_id, person_id")
    for path in ADMIN_POSTS:
        status, _, _ = await operator.post(path, {"_csrf": token, "person": OPERATOR, "post": "network",
                                                  f"mark:{OPERATOR}": "A", "name": "x", "roles": "admin",
                                                  "starts_on": TODAY, "ends_on": TODAY, "leave": "1"})
        assert status == 403, path
    assert setup.server.query("SELECT * FROM post_assignments ORDER BY post_id, person_id") == assignments
    assert setup.server.query("SELECT roles FROM people WHERE id = ?", (OPERATOR,))[0]["roles"] == "operator"
    # The refused requests changed nothing, so the operator has no audit line beyond the login's.
    assert {r["action"] for r in setup.server.query("SELECT action FROM console_audit WHERE actor = ?",
                                                    (OPERATOR,))} <= {"login", "language"}
    anonymous = await browser(None)
    status, _ = await anonymous.get("/admin/posts")
    assert status == 302


# -- the directory ------------------------------------------------------------------------------

async def test_a_gbk_csv_with_a_bad_row_is_imported_and_reported(setup: Setup, browser: Any) -> None:
    manager = await browser(MANAGER)
    known = setup.server.query("SELECT employee_id, name FROM directory ORDER BY employee_id LIMIT 1")[0]
    lines = ["工号,姓名,部门,办公地点,手机,分机",
             "T0001,张三丰,炼油二部试点班,三号楼,13800001111,",
             f"{known['employee_id']},{known['name']},信息中心调整后,五号楼,,",
             "T0002,,质检部,一号楼,13800002222,",          # line 4: no name
             "T0003,李四,质检部,一号楼,12345,"]             # line 5: not a mobile
    data = ("\r\n".join(lines) + "\r\n").encode("gbk")
    page = await manager.text("/admin/directory")
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_of(page))
    form.add_field("file", data, filename="通讯录.csv", content_type="text/csv")
    async with manager.session.post(manager.base + "/admin/directory/import", data=form) as r:
        assert r.status == 200
        report = await r.text()

    def figure(name: str) -> str:
        match = re.search(rf'id="report-{name}"[^>]*>([^<]*)<', report)
        assert match is not None, name
        return match.group(1)

    assert figure("encoding") == "gb18030"
    assert (figure("imported"), figure("inserted"), figure("updated"), figure("rejected")) == ("2", "1", "1", "2")
    rejected = dict(re.findall(r'<tr class="rejected" data-line="(\d+)"><td>\d+</td><td>([^<]*)</td>', report))
    assert set(rejected) == {"4", "5"}
    assert "missing name" in rejected["4"] and "12345" in rejected["5"]
    assert "T0002,,质检部" in report  # the row as written, decoded from GBK
    (new,) = setup.server.query("SELECT * FROM directory WHERE employee_id = 'T0001'")
    assert (new["name"], new["department"], new["mobile"]) == ("张三丰", "炼油二部试点班", "+8613800001111")
    assert setup.server.query("SELECT department FROM directory WHERE employee_id = ?",
                              (known["employee_id"],))[0]["department"] == "信息中心调整后"
    assert not setup.server.query("SELECT 1 FROM directory WHERE employee_id IN ('T0002', 'T0003')")
    imports = audit_rows(setup, "directory_import")
    assert len(imports) == 1, imports
    audit = imports[0]
    assert audit["detail"].startswith("通讯录.csv (gb18030)"), audit
    assert audit["actor"] == MANAGER and "2 rejected" in audit["detail"] and "lines 4, 5" in audit["detail"]
    # Found by any number, as a caller would be matched, and by name; the page shows the numbers.
    for q in ("138 0000 1111", "+86 138-0000-1111", "张三丰", "试点班"):
        found = await manager.text("/admin/directory?q=" + q)
        assert 'data-id="T0001"' in found, q
    assert 'data-id="T0001"' not in await manager.text("/admin/directory?q=%25")  # a LIKE wildcard is text
    employee = await manager.text("/admin/directory/T0001")
    assert "张三丰" in employee and "138 0000 1111" in employee


async def test_a_file_that_cannot_be_read_says_why_and_imports_nothing(setup: Setup, browser: Any) -> None:
    manager = await browser(MANAGER)
    count = setup.server.query("SELECT COUNT(*) AS n FROM directory")[0]["n"]
    token = csrf_of(await manager.text("/admin/directory"))
    for data, expected in (("名字,电话\n张三,13800003333\n".encode("gbk"), "no employee id"),
                           (b"\xff\xfe\x00", "UTF-16"), (b"", "empty")):
        form = aiohttp.FormData()
        form.add_field("_csrf", token)
        form.add_field("file", data, filename="bad.csv", content_type="text/csv")
        async with manager.session.post(manager.base + "/admin/directory/import", data=form) as r:
            page = await r.text()
            assert r.status == 400, page
        error = re.search(r'<span class="error field-error" id="err-file" role="alert">([^<]*)</span>', page)
        assert error is not None and expected in error.group(1), (expected, page[-2000:])
        assert 'id="import-report"' not in page
    assert setup.server.query("SELECT COUNT(*) AS n FROM directory")[0]["n"] == count


async def test_a_large_plants_directory_over_one_megabyte_is_imported(setup: Setup, browser: Any) -> None:
    # aiohttp reads at most 1 MiB of a request body by default; a plant's directory is larger.
    manager = await browser(MANAGER)
    rows = [f"B{n:05d},批量导入员工{n},第{n % 40}车间运行班组,{n % 12}号楼{n % 9}层,139{n:08d},"
            for n in range(15000)]
    data = ("工号,姓名,部门,办公地点,手机,分机\r\n" + "\r\n".join(rows) + "\r\n").encode("utf-8")
    assert len(data) > 1024 * 1024
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_of(await manager.text("/admin/directory")))
    form.add_field("file", data, filename="directory.csv", content_type="text/csv")
    async with manager.session.post(manager.base + "/admin/directory/import", data=form) as r:
        report = await r.text()
        assert r.status == 200, report[-2000:]
    assert re.search(r'id="report-imported"[^>]*>15000<', report), report[-2000:]
    assert setup.server.query("SELECT COUNT(*) AS n FROM directory WHERE employee_id LIKE 'B%'")[0]["n"] == 15000


# -- the A/B matrix -----------------------------------------------------------------------------

async def test_the_matrix_shows_63_posts_19_people_their_load_and_the_gaps(setup: Setup, browser: Any) -> None:
    manager = await browser(MANAGER)
    page = await manager.text("/admin/posts")
    posts = [r["id"] for r in setup.server.query("SELECT id FROM posts ORDER BY id")]
    rows = re.findall(r'<tr id="post-([^"]+)" class="([^"]*)"', page)
    assert [p for p, _ in rows] == posts and len(posts) == 63
    people = re.findall(r'<th scope="col" class="person-head[^"]*" data-person="([^"]+)"', page)
    assert len(people) == 19
    assignments = setup.server.query("SELECT * FROM post_assignments")
    with_a = {a["post_id"] for a in assignments if a["role"] == "A"}
    held = {p: sum(1 for a in assignments if a["post_id"] == p) for p in posts}
    classes = dict(rows)
    assert {p for p in posts if "no-a" in classes[p]} == set(posts) - with_a
    assert {p for p in posts if "thin" in classes[p]} == {p for p in posts if held[p] < 2}
    assert len(set(posts) - with_a) == 34  # 43 added, one in five with an A
    assert "Posts without an A: 34" in page
    thin = sum(1 for p in posts if held[p] < 2)
    assert f"Posts held by fewer than two people: {thin}" in page
    for person in people:
        for role, css in (("A", "load-a"), ("B", "load-b")):
            expected = sum(1 for a in assignments if a["person_id"] == person and a["role"] == role)
            footer = re.search(rf'<tr class="{css}">.*?</tr>', page, re.S)
            assert footer is not None
            cell = re.search(rf'<td data-person="{re.escape(person)}">(\d+)</td>', footer.group(0))
            assert cell is not None and int(cell.group(1)) == expected, (person, role)
    # The network row shows the demo's marks: A, then B1, B2 … by rank.
    network = {a["person_id"]: ("A" if a["role"] == "A" else f"B{a['rank'] + 1}") for a in assignments
               if a["post_id"] == "network"}
    assert {p: m for p, m in marks_in(row_of(page, "network")).items() if m} == network


async def test_a_new_a_mark_is_audited_and_dispatch_follows_it_at_once(setup: Setup, browser: Any) -> None:
    manager, operator = await browser(MANAGER), await browser(OPERATOR)
    first, second = setup.issues
    for issue in (first, second):
        status, location, body = await operator.act(issue, "complete", {
            "category": "network", "priority": "P3", "description": "交换机端口不通"})
        assert status == 303, body
    page = await manager.text("/admin/posts")
    form = row_form(page, "network")
    # Invalid rows change nothing: two A marks; two backups with the same rank.
    status, _, body = await manager.post("/admin/posts/assign", {**form, f"mark:{setup.new_a}": "A"})
    assert status == 400 and "Only one A role per post" in body
    assert '<option value="A" selected>' in row_of(body, "network")  # the typed marks are kept
    twice = {**form, f"mark:{setup.new_a}": "B1", f"mark:{setup.old_a}": "B1"}
    status, _, body = await manager.post("/admin/posts/assign", twice)
    assert status == 400 and "B1 is given to" in body
    assert setup.server.query("SELECT person_id FROM post_assignments WHERE post_id = 'network' AND role = 'A'") \
        == [{"person_id": setup.old_a}]
    # The new A; the old A steps down to the last backup.
    b_count = sum(1 for m in form.values() if m.startswith("B") and len(m) == 2)
    change = {**form, f"mark:{setup.new_a}": "A", f"mark:{setup.old_a}": f"B{b_count + 1}"}
    status, location, body = await manager.post("/admin/posts/assign", change)
    assert status == 303 and location.startswith("/admin/posts?saved=network"), body
    roles = {r["person_id"]: (r["role"], r["rank"]) for r in setup.server.query(
        "SELECT * FROM post_assignments WHERE post_id = 'network'")}
    assert roles[setup.new_a] == ("A", 0) and roles[setup.old_a] == ("B", b_count)
    (audit,) = audit_rows(setup, "post_roles_changed")
    assert audit["actor"] == MANAGER and f"A {setup.old_a}" in audit["detail"] and f"→ A {setup.new_a}" \
        in audit["detail"]
    # The same form again is stale: someone (this test) changed the row meanwhile.
    status, _, body = await manager.post("/admin/posts/assign", form)
    assert status == 409 and "changed this post meanwhile" in body
    # The desk's dispatch, through the record page's form, picks the new A: no reload needed.
    status, _, body = await operator.act(first, "dispatch", {"mode": "auto"})
    assert status == 303, body
    (issue,) = setup.server.query("SELECT owner, status FROM issues WHERE id = ?", (first,))
    assert issue == {"owner": setup.new_a, "status": "dispatched"}
    (log,) = setup.server.query("SELECT * FROM desk_dispatch_log WHERE issue_id = ?", (first,))
    assert log["person_id"] == setup.new_a and log["role"] == "A" and log["actor"] == OPERATOR
    # Leave entered on the new A's page applies to the next dispatch at once: a B gets it.
    person = await manager.text(f"/admin/people/{setup.new_a}")
    token = csrf_of(person)
    status, _, body = await manager.post("/admin/people/leave", {
        "_csrf": token, "person": setup.new_a, "starts_on": TODAY, "ends_on": "2026-11-30", "reason": "年假"})
    assert status == 400 and "The last day is before the first." in body and 'value="年假"' in body
    status, _, body = await manager.post("/admin/people/leave", {
        "_csrf": token, "person": setup.new_a, "starts_on": TODAY, "ends_on": "2026-12-04", "reason": "年假"})
    assert status == 303, body
    assert audit_rows(setup, "leave_added")[-1]["actor"] == MANAGER
    status, _, body = await operator.act(second, "dispatch", {"mode": "auto"})
    assert status == 303, body
    (log,) = setup.server.query("SELECT * FROM desk_dispatch_log WHERE issue_id = ?", (second,))
    assert log["role"] == "B" and log["person_id"] != setup.new_a
    assert f"A {setup.new_a} on leave" in log["reason"], log["reason"]


async def test_staff_details_and_shifts_are_checked_kept_and_audited(setup: Setup, browser: Any) -> None:
    manager, admin = await browser(MANAGER), await browser("lihua")
    page = await manager.text(f"/admin/people/{setup.spare}")
    token = csrf_of(page)
    fields = {"_csrf": token, "person": setup.spare, "name": "赵磊改", "mobile": "0571-88776655", "extension": "99999",
              "email": "someone@example.com", "roles": "engineer", "active": "1"}
    status, _, body = await manager.post("/admin/people/save", fields)
    assert status == 400
    assert re.search(r'id="err-person-mobile">Not a mobile number: 0571-88776655', body)
    assert re.search(r'id="err-person-extension">Not an extension at this site', body)
    assert 'value="0571-88776655"' in body  # what was typed is kept
    # A manager may not make someone an admin; an admin may.
    status, _, body = await manager.post("/admin/people/save", {**fields, "mobile": "139 0000 7777", "extension": "",
                                                                "roles": "admin"})
    assert status == 400 and "Only an administrator may give or take the admin role." in body
    status, location, body = await manager.post("/admin/people/save", {**fields, "mobile": "139 0000 7777",
                                                                       "extension": ""})
    assert status == 303, body
    (row,) = setup.server.query("SELECT mobile, extension, roles FROM people WHERE id = ?", (setup.spare,))
    assert row == {"mobile": "+8613900007777", "extension": None, "roles": "engineer"}
    assert audit_rows(setup, "staff_changed")[-1]["detail"].startswith(f"{setup.spare}: name=赵磊改; mobile=+8613900007777")
    admin_token = csrf_of(await admin.text(f"/admin/people/{setup.spare}"))
    async with admin.session.post(admin.base + "/admin/people/save", data=[
            ("_csrf", admin_token), ("person", setup.spare), ("name", "赵磊改"), ("mobile", "13900007777"),
            ("roles", "engineer"), ("roles", "admin"), ("active", "1")], allow_redirects=False) as r:
        assert r.status == 303
    assert setup.server.query("SELECT roles FROM people WHERE id = ?", (setup.spare,))[0]["roles"] == "engineer,admin"
    # Shifts: a bad window is named next to its day, the other days kept; good ones are stored.
    status, _, body = await manager.post("/admin/people/shifts", {"_csrf": token, "person": setup.spare,
                                                                  "day0": "08:00-12:00, 13:30-17:30",
                                                                  "day1": "12:00-08:00"})
    assert status == 400 and re.search(r'id="err-shifts-day1">Write times as 08:00-12:00', body)
    assert 'value="08:00-12:00, 13:30-17:30"' in body
    status, _, body = await manager.post("/admin/people/shifts", {"_csrf": token, "person": setup.spare,
                                                                  "day0": "08:00-12:00, 13:30-17:30",
                                                                  "day5": "09:00-24:00"})
    assert status == 303, body
    assert setup.server.query("SELECT weekday, starts, ends FROM desk_shifts WHERE person_id = ?"
                              " ORDER BY weekday, starts", (setup.spare,)) == [
        {"weekday": 0, "starts": "08:00", "ends": "12:00"}, {"weekday": 0, "starts": "13:30", "ends": "17:30"},
        {"weekday": 5, "starts": "09:00", "ends": "24:00"}]
    assert audit_rows(setup, "shifts_changed")[-1]["actor"] == MANAGER
    # A new staff member; the id must be new.
    new = {"_csrf": token, "new": "1", "id": setup.spare, "name": "新人", "roles": "engineer", "active": "1"}
    status, _, body = await manager.post("/admin/people/save", new)
    assert status == 400 and f"{setup.spare} is already on the staff list." in body
    status, location, body = await manager.post("/admin/people/save", {**new, "id": "newbie"})
    assert status == 303 and location == "/admin/people/newbie?done=saved", body
    assert audit_rows(setup, "staff_added")[-1]["detail"].startswith("newbie added")
    listing = await manager.text("/admin/people")
    assert 'data-id="newbie"' in listing


async def test_the_admin_pages_need_the_csrf_token(setup: Setup, browser: Any) -> None:
    manager = await browser(MANAGER)
    page = await manager.text("/admin/posts")
    form = row_form(page, "email")
    before = setup.server.query("SELECT * FROM post_assignments WHERE post_id = 'email' ORDER BY person_id")
    for token in (None, "forged"):
        data = {k: v for k, v in form.items() if k != "_csrf"}
        if token:
            data["_csrf"] = token
        data[f"mark:{MANAGER}"] = "B9"
        status, _, _ = await manager.post("/admin/posts/assign", data)
        assert status == 403
    assert setup.server.query("SELECT * FROM post_assignments WHERE post_id = 'email' ORDER BY person_id") == before
