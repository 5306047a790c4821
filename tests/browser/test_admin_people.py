"""Staff administration in a real browser: Debian's Chromium (Playwright) against ``hotline serve``.

A manager uploads a GBK CSV, as Excel in China saves it, with one bad row and reads the import
report; searches the directory for the new employee by mobile number; then makes another
engineer the A role of the "desktop" post in the A/B matrix. The operator completes and
dispatches the issue of a real call (menu key 1, desktop) on its record page, and the desk's
dispatch gives it to the new A. An operator who types an administration address is refused by
the server. Screenshots of each page go to ``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.console_helpers import (
    MANAGER,
    OPERATOR,
    Console,
    console_server,
    login,
    screenshot,
)
from tests.ports import PORTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

GBK_ROWS = ("工号,姓名,部门,办公地点,手机,分机",
            "B0001,欧阳修,炼化工程部,七号楼,13700001234,",
            "B0002,王安石,,七号楼,1.37E+10,")
"""The second row's mobile is what Excel makes of a long number: rejected, on line 3."""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    c = console_server(tmp_path_factory.mktemp("browser-admin-people"), PORTS)
    try:
        yield c
    finally:
        assert c.server.stop() == 0, c.server.log()[-4000:]


@pytest.fixture
def open_page(browser: Browser, console: Console) -> Iterator[Callable[[str], Page]]:
    contexts: list[BrowserContext] = []

    def open_as(user: str) -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Script errors and CSP violations; failed loads are judged by their address below.
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document"
                and not r.url.endswith("/favicon.ico") else None)
        page.errors = errors  # type: ignore[attr-defined]
        login(page, console, user)
        return page

    try:
        yield open_as
    finally:
        for context in contexts:
            context.close()


def submit(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_gbk_import_report_and_directory_search(console: Console, open_page: Callable[[str], Page],
                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(MANAGER)
    page.click("nav a[href='/admin/people']")
    page.click(".subnav a[href='/admin/directory']")
    csv = tmp_path / "员工通讯录.csv"
    csv.write_bytes(("\r\n".join(GBK_ROWS) + "\r\n").encode("gbk"))
    page.set_input_files("#file", str(csv))
    submit(page, "#import-submit")
    report = page.locator("#import-report")
    expect(report).to_contain_text("员工通讯录.csv")
    expect(page.locator("#report-encoding")).to_have_text("gb18030")
    expect(page.locator("#report-imported")).to_have_text("1")
    expect(page.locator("#report-inserted")).to_have_text("1")
    expect(page.locator("#report-rejected")).to_have_text("1")
    rejected = page.locator("#rejected tr.rejected")
    expect(rejected).to_have_count(1)
    expect(rejected).to_have_attribute("data-line", "3")
    expect(rejected).to_contain_text("Excel")
    expect(rejected).to_contain_text("王安石")
    screenshot(page, "admin-directory-import")
    (row,) = console.server.query("SELECT name, mobile FROM directory WHERE employee_id = 'B0001'")
    assert row == {"name": "欧阳修", "mobile": "+8613700001234"}
    assert not console.server.query("SELECT 1 FROM directory WHERE employee_id = 'B0002'")

    page.fill("#q", "137-0000-1234")
    submit(page, "#search-submit")
    expect(page.locator("#employees tr.employee")).to_have_count(1)
    page.click("#employees a[href='/admin/directory/B0001']")
    expect(page.locator("#employee-name")).to_contain_text("欧阳修")
    expect(page.locator("#employee")).to_contain_text("137 0000 1234")
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_a_mark_in_the_matrix_is_followed_by_dispatch(console: Console,
                                                         open_page: Callable[[str], Page]) -> None:
    from playwright.sync_api import expect

    server = console.server
    holders = {r["person_id"]: r["role"] for r in server.query(
        "SELECT person_id, role FROM post_assignments WHERE post_id = 'desktop'")}
    (old_a,) = [p for p, role in holders.items() if role == "A"]
    engineers = [r["id"] for r in server.query("SELECT id FROM people WHERE roles LIKE '%engineer%' ORDER BY id")]
    new_a = next(e for e in engineers if e not in holders)
    manager = open_page(MANAGER)
    manager.goto(console.base + "/admin/posts")
    row = manager.locator("#post-desktop")
    expect(manager.locator("#matrix tbody tr.post-row")).to_have_count(len(server.query("SELECT id FROM posts")))
    # Two A marks in one row: refused, the marks as chosen stay on the page.
    row.locator(f"td[data-person='{new_a}'] select").select_option("A")
    submit(manager, "#post-desktop button.save-row")
    expect(manager.locator("#post-desktop .field-error")).to_contain_text("A")
    expect(manager.locator(f"#post-desktop td[data-person='{new_a}'] select")).to_have_value("A")
    assert server.query("SELECT person_id FROM post_assignments WHERE post_id = 'desktop' AND role = 'A'") \
        == [{"person_id": old_a}]
    # The old A becomes a backup after the others.
    backups = sum(1 for role in holders.values() if role == "B")
    manager.locator(f"#post-desktop td[data-person='{old_a}'] select").select_option(f"B{backups + 1}")
    submit(manager, "#post-desktop button.save-row")
    expect(manager.locator("#saved")).to_be_visible()
    expect(manager.locator(f"#post-desktop td[data-person='{new_a}']")).to_have_class("mark mark-a")
    expect(manager.locator(f"#post-desktop td[data-person='{old_a}']")).to_have_class("mark mark-b")
    screenshot(manager, "admin-posts-matrix")
    assert {r["person_id"]: (r["role"], r["rank"]) for r in server.query(
        "SELECT * FROM post_assignments WHERE post_id = 'desktop'")}[new_a] == ("A", 0)

    operator = open_page(OPERATOR)
    operator.goto(console.base + f"/issues/{console.first_issue}")
    operator.select_option("#complete-category", "desktop")
    operator.select_option("#complete-priority", "P3")
    operator.fill("#complete-description", "显示器不亮")
    submit(operator, "form#complete button[type=submit]")
    expect(operator.locator(f"#suggestion strong .person[data-person='{new_a}']")).to_be_visible()
    submit(operator, "form#dispatch button[type=submit]")
    (issue,) = server.query("SELECT owner, status FROM issues WHERE id = ?", (console.first_issue,))
    assert issue == {"owner": new_a, "status": "dispatched"}
    screenshot(operator, "admin-posts-dispatched")


def test_staff_page_and_an_operator_refused(console: Console, open_page: Callable[[str], Page]) -> None:
    from playwright.sync_api import expect

    manager = open_page(MANAGER)
    manager.goto(console.base + "/admin/people")
    expect(manager.locator("#people tr.person")).to_have_count(19)
    manager.click("#people a[href='/admin/people/zhangwei']")
    manager.fill("#shifts-day1", "09:00-18:00")
    manager.fill("#shifts-day2", "9-18")
    submit(manager, "#shifts-save")
    expect(manager.locator("#err-shifts-day2")).to_be_visible()
    expect(manager.locator("#shifts-day1")).to_have_value("09:00-18:00")  # kept
    screenshot(manager, "admin-person")

    operator = open_page(OPERATOR)
    expect(operator.locator("nav a[href='/admin/people']")).to_have_count(0)
    response: Any = operator.goto(console.base + "/admin/posts")
    assert response is not None and response.status == 403
