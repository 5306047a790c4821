"""The business calendar and the on-call rota in a real browser: Debian's Chromium against ``hotline serve``.

A manager follows the "no calendar for next year" warning to the calendar page, pastes a notice
with a mistake (the line is named, the text stays), then the 2026 notice rebuilt from
``config/calendar/cn-2026.toml``; confirms, and finds the year's grid drawn from the new file,
which is written in the server's calendar folder — a copy under the test's tmp dir. Then, on the
rota page, they take the night for liuyang with an override and see "on call now" change.
Screenshots of each step go to ``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hotline.calendar import load_calendar_file
from tests.browser.console_helpers import screenshot
from tests.interop.serve_helpers import ENGINEERS, HotlineServer, ServerOptions
from tests.ports import PORTS
from tests.system.test_console_admin_calendar import PASSWORD, SHIPPED, with_calendar_copy
from tests.unit.test_holiday_notice import shipped_notice

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

NIGHT = "2025-12-03T22:00+08:00"
"""A Wednesday night in December 2025: next year's calendar is missing, zhangwei is on call."""
MANAGER = "wangjun"
LIUYANG = ENGINEERS[1]


@dataclass
class Site:
    server: HotlineServer
    folder: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.web_port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("browser-admin-calendar")
    server = HotlineServer(tmp / "hotline", PORTS, ServerOptions(clock=NIGHT))
    folder = tmp / "calendar"
    with_calendar_copy(server, folder, (2024, 2025))
    server.init_db()
    server.add_users({MANAGER: "manager"}, PASSWORD)
    server.start()
    try:
        yield Site(server, folder)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        p = context.new_page()
        p.goto(site.base + "/login")
        p.fill("#user", MANAGER)
        p.fill("#password", PASSWORD)
        with p.expect_navigation():
            p.click("#login")
        yield p
    finally:
        context.close()


def watch(page: Page) -> list[str]:
    """Script errors and CSP violations the page reports (there must be none).

    A form refused with its errors is answered 400 on purpose; Chromium logs that too."""
    errors: list[str] = []
    expected = "Failed to load resource: the server responded with a status of 400"
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith(expected) else None)
    return errors


def test_paste_the_notice_confirm_and_see_the_year(site: Site, page: Page) -> None:
    from playwright.sync_api import expect

    errors = watch(page)
    warning = page.locator("#calendar-warning")
    expect(warning).to_contain_text("2026")
    with page.expect_navigation():
        warning.locator("a[href='/admin/calendar']").click()
    assert page.url == site.base + "/admin/calendar"
    expect(page.locator("#hours-monday")).to_have_value("08:00-12:00, 13:30-17:30")  # the configuration's
    page.click("#calendar-years a:has-text('2026')")
    expect(page.locator("#year-missing")).to_be_visible()
    screenshot(page, "admin-calendar-missing-year")

    # A mistake on line 7: named, and the pasted text is still there to correct.
    lines = shipped_notice(2026).split("\n")
    lines[6] = lines[6].replace("2月15日", "2月30日")
    broken = "\n".join(lines)
    page.fill("#notice-text", broken)
    with page.expect_navigation():
        page.click("#notice-read")
    expect(page.locator("#notice-error")).to_contain_text("7")
    expect(page.locator("#notice-error")).to_contain_text("2月30日")
    assert page.input_value("#notice-text").replace("\r\n", "\n").strip() == broken.strip()
    screenshot(page, "admin-calendar-notice-error")

    page.fill("#notice-text", shipped_notice(2026))
    with page.expect_navigation():
        page.click("#notice-read")
    original = load_calendar_file(SHIPPED / "cn-2026.toml")
    rows = page.locator("#notice-holidays tbody tr")
    expect(rows).to_have_count(len(original.holidays))
    expect(page.locator("#notice-workdays li")).to_have_count(len(original.workdays))
    assert not (site.folder / "cn-2026.toml").exists()  # only shown, not saved yet
    screenshot(page, "admin-calendar-notice-confirm")

    with page.expect_navigation():
        page.click("#notice-save")
    expect(page.locator("#calendar-saved")).to_be_visible()
    expect(page.locator("#calendar-warning")).to_have_count(0)
    saved = load_calendar_file(site.folder / "cn-2026.toml")
    assert [(h.name, h.start, h.end) for h in saved.holidays] == [
        (h.name, h.start, h.end) for h in original.holidays]
    assert [w.date for w in saved.workdays] == [w.date for w in original.workdays]
    for h in original.holidays:
        for d in h.dates():
            expect(page.locator(f'td.day[data-date="{d.isoformat()}"]')).to_have_class("day holiday")
    for w in original.workdays:
        expect(page.locator(f'td.day[data-date="{w.date.isoformat()}"]')).to_have_class("day make_up_workday")
    screenshot(page, "admin-calendar-2026")
    assert errors == [], errors


def test_an_override_changes_who_is_on_call_now(site: Site, page: Page) -> None:
    from playwright.sync_api import expect

    errors = watch(page)
    page.goto(site.base + "/admin/rota")
    now = page.locator("#oncall-now li")
    expect(now.first).to_have_attribute("data-person", ENGINEERS[0])
    screenshot(page, "admin-rota")

    page.select_option("#override-person", LIUYANG)
    page.select_option("#override-level", "primary")
    page.fill("#override-starts", "2025-12-03T21:00")
    page.fill("#override-ends", "2025-12-04T08:30")
    page.fill("#override-reason", "我替张伟值今晚的班")
    with page.expect_navigation():
        page.click("#override-save")
    expect(page.locator("#rota-made")).to_be_visible()
    expect(now.first).to_have_attribute("data-person", LIUYANG)
    expect(page.locator("#changes tr.change.override")).to_contain_text("我替张伟值今晚的班")
    rows = site.server.query("SELECT id, person, made_by, reason FROM rota_changes")
    assert [(r["person"], r["made_by"], r["reason"]) for r in rows] == [(LIUYANG, MANAGER, "我替张伟值今晚的班")]
    screenshot(page, "admin-rota-override")

    # Taken back: the night is zhangwei's again, the row kept with who withdrew it and why.
    form = f"#withdraw-{rows[0]['id']}"
    page.fill(f"{form}-reason", "张伟身体好了")
    with page.expect_navigation():
        page.click(f"{form}-save")
    expect(page.locator("#rota-made")).to_be_visible()
    expect(now.first).to_have_attribute("data-person", ENGINEERS[0])
    expect(page.locator("#no-changes")).to_be_visible()
    expect(page.locator("#withdrawn tr.withdrawn.override")).to_contain_text("张伟身体好了")
    (row,) = site.server.query("SELECT withdrawn_by, withdraw_reason FROM rota_changes")
    assert row == {"withdrawn_by": MANAGER, "withdraw_reason": "张伟身体好了"}
    screenshot(page, "admin-rota-withdrawn")
    assert errors == [], errors
