"""The operator console in a real browser: Debian's Chromium (Playwright) against ``hotline serve``.

One server and one browser for the module; each test opens its own browser contexts (a context
is a fresh profile: its own cookies). Calls are real SIP calls from sipp. The pages the tests
pass through are saved as screenshots under ``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.console_helpers import (
    MANAGER,
    OPERATOR,
    Console,
    console_server,
    login,
    platform_fonts,
    screenshot,
    sipp_call,
)
from tests.gate import require
from tests.interop.peers import Sipp
from tests.ports import PORTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CJK_FONTS = {"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei"}
"""The console's font stack for Chinese (web/static/console.css)."""
XSS_DISPLAY = r"\"><img src=x onerror=alert(1)><script>alert(2)</script>"
"""A From display name (a SIP quoted-string: the quote comes escaped)."""
XSS_TEXT = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
"""The same name as the caller's phone meant it."""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    c = console_server(tmp_path_factory.mktemp("browser"), PORTS)
    try:
        yield c
    finally:
        assert c.server.stop() == 0, c.server.log()[-4000:]


@pytest.fixture
def sipp(tmp_path: Any) -> Iterator[Sipp]:
    require(shutil.which("sipp") is not None, "sipp is not installed (scripts/install-test-deps.sh)")
    runner = Sipp(tmp_path / "sipp", PORTS)
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture
def open_page(browser: Browser, console: Console) -> Iterator[Callable[[str | None], Page]]:
    """``open_page(user)``: a page in a new context, logged in as ``user`` (None: not logged in)."""
    contexts: list[BrowserContext] = []

    def open_as(user: str | None) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            login(page, console, user)
        return page

    try:
        yield open_as
    finally:
        for context in contexts:
            context.close()


class Watch:
    """What a page did that it must not: dialogs (alert), script errors, CSP violations."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def issue_row(console: Console, issue_id: int) -> dict[str, Any]:
    (row,) = console.server.query("SELECT * FROM issues WHERE id = ?", (issue_id,))
    return row


def submit(page: Page, form: str) -> None:
    with page.expect_navigation():
        page.click(f"form#{form} button[type=submit]")


# -- tests --------------------------------------------------------------------------------------


def test_login_and_home_render_in_chinese(console: Console, open_page: Callable[[str | None], Page]) -> None:
    from playwright.sync_api import expect

    page = open_page(None)
    page.goto(console.base + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    # The glyphs were drawn with a CJK font of the stack, not as boxes of a Latin fallback.
    fonts = platform_fonts(page, "h1")
    assert any(f in CJK_FONTS and glyphs >= 2 for f, glyphs in fonts.items()), fonts
    screenshot(page, "login")
    login(page, console, OPERATOR)
    expect(page.locator("#user-name")).to_have_text("陈静")
    expect(page.locator("main h1")).to_contain_text("陈静")
    expect(page.locator("header nav")).to_contain_text("工单")
    assert any(f in CJK_FONTS for f in platform_fonts(page, "header nav a")), "no CJK font on the home page"
    screenshot(page, "home")


def test_a_call_pops_up_and_its_record_is_worked_until_a_poor_callback_reopens_it(
        console: Console, open_page: Callable[[str | None], Page], sipp: Sipp) -> None:
    from playwright.sync_api import expect

    server, employee = console.server, console.employee
    op = open_page(OPERATOR)
    op.goto(console.base + "/live")
    expect(op.locator("#live-status")).to_have_attribute("data-state", "connected")
    run = sipp_call(sipp, console, employee["mobile"], "Mobile", hold_ms=2500)

    # The screen pop: who calls, from the directory, and the record made for this call.
    expect(op.locator("#screen-pop")).to_be_visible()
    expect(op.locator("#pop-name")).to_have_text(employee["name"])
    expect(op.locator("#pop-department")).to_have_text(employee["department"])
    expect(op.locator("#pop-location")).to_have_text(employee["location"])
    expect(op.locator("#pop-employee")).to_have_text(employee["employee_id"])
    number = op.locator("#pop-issue-link").inner_text()
    (issue,) = [r["id"] for r in server.query("SELECT id FROM issues WHERE number = ?", (number,))]
    row = op.locator(f"#live-rows tr[data-call='{issue_row(console, issue)['call_id']}']")
    expect(row).to_contain_text(employee["name"])
    screenshot(op, "live-screen-pop")
    result = run.wait(30)
    assert result.ok, result.describe()
    expect(row).to_have_attribute("data-state", "ended")

    # Complete it from the pop's quick form.
    form = op.locator("#pop-form")
    form.locator("select[name=category]").select_option("network")
    form.locator("select[name=priority]").select_option("P2")
    form.locator("textarea[name=description]").fill("VPN drops every ten minutes in building 7")
    op.click("#pop-save")
    expect(op.locator("#pop-result")).to_contain_text(number)
    assert (issue_row(console, issue)["status"], issue_row(console, issue)["priority"]) == ("recorded", "P2")

    op.goto(console.base + "/issues")
    expect(op.locator(f"#issues tr[data-id='{issue}']")).to_contain_text(number)
    screenshot(op, "issues")

    # Dispatch as the desk suggests: the network post's A role.
    op.goto(console.base + f"/issues/{issue}")
    expect(op.locator("#suggestion")).to_be_visible()
    submit(op, "dispatch")
    assert issue_row(console, issue)["owner"] == console.owner

    # The engineer adds progress and resolves.
    engineer = open_page(console.owner)
    engineer.goto(console.base + f"/issues/{issue}")
    engineer.fill("#note-text", "Replaced the access switch's uplink module")
    submit(engineer, "note")
    expect(engineer.locator("li.note")).to_contain_text("Replaced the access switch")
    engineer.fill("#resolve-resolution", "Uplink stable for an hour")
    submit(engineer, "resolve")
    assert issue_row(console, issue)["status"] == "resolved"

    # The operator's callback with poor scores reopens it.
    op.goto(console.base + f"/issues/{issue}")
    for name, score in (("efficiency", "1"), ("result", "2"), ("attitude", "1")):
        op.select_option(f"#callback-{name}", score)
    op.check("form#callback input[name=fixed][value=no]")
    op.fill("#callback-comment", "Still drops in the afternoon")
    submit(op, "callback")
    assert issue_row(console, issue)["status"] == "reopened"
    expect(op.locator("tr.callback.bad")).to_be_visible()
    screenshot(op, "issue")


def test_markup_in_a_callers_display_name_does_not_run(
        console: Console, open_page: Callable[[str | None], Page], sipp: Sipp) -> None:
    from playwright.sync_api import expect

    op = open_page(OPERATOR)
    watch = Watch(op)
    op.goto(console.base + "/live")
    expect(op.locator("#live-status")).to_have_attribute("data-state", "connected")
    run = sipp_call(sipp, console, "+8613412349876", XSS_DISPLAY, hold_ms=1000)
    expect(op.locator("#pop-name")).to_have_text(XSS_TEXT)  # shown as text, whole
    result = run.wait(30)
    assert result.ok, result.describe()
    number = op.locator("#pop-issue-link").inner_text()
    (issue,) = console.server.query("SELECT id, caller_name FROM issues WHERE number = ?", (number,))
    assert issue["caller_name"] == XSS_TEXT
    pages = {"/live": "#live", f"/issues/{issue['id']}": "main", "/issues": "main", "/": "main"}
    for path, scope in pages.items():
        if path != "/live":
            op.goto(console.base + path)
            expect(op.locator(scope)).to_contain_text(XSS_TEXT)
        assert op.locator(f"{scope} img").count() == 0, path
        assert op.locator(f"{scope} script:not(#live-labels)").count() == 0, path
    op.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)


def test_an_operator_is_refused_manager_pages_by_the_server(
        console: Console, open_page: Callable[[str | None], Page]) -> None:
    from playwright.sync_api import expect

    issue = console.first_issue
    op = open_page(OPERATOR)
    menu = op.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "/audit" not in menu and "/issues" in menu, menu
    response = op.goto(console.base + "/audit")
    assert response is not None and response.status == 403
    op.goto(console.base + f"/issues/{issue}")
    assert op.locator("form#reassign").count() == 0
    # The form the page does not offer, posted by hand with the page's own token and version.
    token = op.locator("input[name=_csrf]").first.get_attribute("value") or ""
    row = issue_row(console, issue)
    form = {"v_status": row["status"], "v_updated": row["updated_at"], "person": console.owner, "reason": "by hand"}
    refused = op.request.post(console.base + f"/issues/{issue}/reassign", max_redirects=0,
                              form={**form, "_csrf": token})
    assert refused.status == 403
    assert issue_row(console, issue) == row

    manager = open_page(MANAGER)
    menu = manager.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "/audit" in menu, menu
    manager.goto(console.base + f"/issues/{issue}")
    token = manager.locator("input[name=_csrf]").first.get_attribute("value") or ""
    allowed = manager.request.post(console.base + f"/issues/{issue}/reassign", max_redirects=0,
                                   form={**form, "_csrf": token})
    assert allowed.status != 403  # the role, not the form, decided: a manager's post is weighed (409: still new)
    response = manager.goto(console.base + "/audit")
    assert response is not None and response.status == 200
    expect(manager.locator("#audit")).to_contain_text(OPERATOR)
    screenshot(manager, "audit")


def test_switching_to_english_changes_the_page_language(
        console: Console, open_page: Callable[[str | None], Page]) -> None:
    from playwright.sync_api import expect

    op = open_page(OPERATOR)
    op.goto(console.base + "/issues")
    expect(op.locator("h1")).to_have_text("工单")
    with op.expect_navigation():
        op.click("#switch-language")
    try:
        expect(op.locator("html")).to_have_attribute("lang", "en")
        assert op.url == console.base + "/issues"  # back where the user was
        expect(op.locator("h1")).to_have_text("Issues")
        expect(op.locator("#logout")).to_have_text("Log out")
        expect(op.locator("#switch-language")).to_have_text("中文")
        screenshot(op, "issues-english")
    finally:
        with op.expect_navigation():
            op.click("#switch-language")
    expect(op.locator("html")).to_have_attribute("lang", "zh-CN")


def test_the_live_panel_reconnects_by_itself_after_a_restart_and_catches_up(
        console: Console, open_page: Callable[[str | None], Page], sipp: Sipp) -> None:
    from playwright.sync_api import expect

    server = console.server
    op = open_page(OPERATOR)
    op.goto(console.base + "/live")
    status = op.locator("#live-status")
    expect(status).to_have_attribute("data-state", "connected")
    op.evaluate("window.sameDocument = 'not reloaded'")

    assert server.stop() == 0, server.log()[-3000:]
    expect(status).to_have_attribute("data-state", re.compile("^(reconnecting|offline)$"))
    screenshot(op, "live-disconnected")

    # While the panel cannot reach it, the server comes back on the same ports and a call arrives.
    op.context.set_offline(True)
    calls_before = len(server.calls())
    server.start()
    run = sipp_call(sipp, console, console.employee["mobile"], "Mobile", hold_ms=8000)
    call = server.wait_for("the call after the restart",
                           lambda: (lambda c: c[-1]["id"] if len(c) > calls_before else None)(server.calls()))
    row = op.locator(f"#live-rows tr[data-call='{call}']")
    assert row.count() == 0
    op.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "connected", timeout=40_000)
    expect(row).to_contain_text(console.employee["name"])  # from the new server's snapshot
    assert op.evaluate("window.sameDocument") == "not reloaded"
    result = run.wait(30)
    assert result.ok, result.describe()
    expect(row).to_have_attribute("data-state", "ended")
