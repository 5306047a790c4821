"""The monthly service report in a real browser: Debian's Chromium (Playwright) against
``hotline serve`` holding a month of records made through the desk's services
(tests/system/report_seed.py).

The page must show its charts — inline SVG drawn by the server, no script — on screen and when
printed (A4, the console's menus gone), and every table's CSV download must carry the numbers
of the JSON the page is made from. Screenshots (screen and print) and the printed PDF go to
``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hotline.reports.monthly import cell_text
from tests.browser.console_helpers import SCREENSHOTS, screenshot
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.ports import PORTS
from tests.system.report_seed import MANAGER, NOW, PASSWORD, add_users, seed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHARTS = ("categories", "daily", "calls", "sla", "callbacks", "engineers", "dispatch")
A4_TEXT_WIDTH_PX = 170 / 25.4 * 96
"""The 170 mm between A4's 20 mm margins, in CSS pixels."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    tmp = tmp_path_factory.mktemp("browser-reports")
    s = HotlineServer(tmp / "hotline", PORTS, ServerOptions(clock=NOW.isoformat()))
    s.init_db()
    add_users(s)
    # In a thread of its own: Playwright's sync API may already run a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed(s)).result()
    s.start()
    try:
        yield s
    finally:
        assert s.stop() == 0, s.log()[-4000:]


def manager_page(browser: Browser, server: HotlineServer) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    base = f"http://127.0.0.1:{server.web_port}"
    page.goto(base + "/login")
    page.fill("#user", MANAGER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert page.url == base + "/", page.url
    return page


def chart_boxes(page: Page) -> dict[str, Any]:
    return {key: page.locator(f"#chart-{key} svg").bounding_box() for key in CHARTS}


def test_the_report_draws_its_charts_on_screen_and_on_paper(browser: Browser, server: HotlineServer) -> None:
    page = manager_page(browser, server)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"http://127.0.0.1:{server.web_port}/reports?month=2026-11")
    assert page.locator("#service-report").get_attribute("data-first") == "2026-11-01"
    boxes = chart_boxes(page)
    for key, box in boxes.items():
        assert box is not None and box["width"] > 400 and box["height"] > 100, (key, box)
    # The bars are the figures: four dispositions of the month's calls, as the table counts them.
    bars = page.locator("#chart-calls svg .bar")
    drawn = sorted(float(bars.nth(i).get_attribute("data-value") or "nan") for i in range(bars.count()))
    table = [page.locator("#table-calls td[data-key=calls]").nth(i).inner_text()
             for i in range(page.locator("#table-calls td[data-key=calls]").count())]
    assert drawn == sorted(float(n) for n in table) and sum(drawn) == 5
    assert page.locator("header.bar").is_visible()
    screenshot(page, "admin-reports")

    page.emulate_media(media="print")
    assert not page.locator("header.bar").is_visible() and not page.locator("#report-period").is_visible()
    for key, box in chart_boxes(page).items():
        assert box is not None and box["height"] > 100, (key, box)
        assert box["width"] <= A4_TEXT_WIDTH_PX + 1, (key, box)
    screenshot(page, "admin-reports-print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "admin-reports.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + \
        pdf.count(b"/Type/Page") >= 1
    assert errors == [], errors  # no CSP refusal, no script error
    page.context.close()


def test_every_csv_download_matches_the_json_numbers(browser: Browser, server: HotlineServer) -> None:
    page = manager_page(browser, server)
    base = f"http://127.0.0.1:{server.web_port}"
    page.goto(base + "/reports?month=2026-11")
    data = page.request.get(base + "/reports/data?month=2026-11").json()
    links = page.locator("a.csv")
    assert links.count() == len(data["tables"]) >= 9
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        download = info.value
        raw = Path(download.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), download.suggested_filename
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        key = download.suggested_filename.split("-")[1]
        table = data["tables"][key]
        assert rows[1:] == [[cell_text(c["kind"], v) for c, v in zip(table["columns"], row, strict=True)]
                            for row in table["rows"]], key
    page.context.close()


def test_the_flows_page_plays_a_prompt_and_the_incident_form_keeps_its_input(
        browser: Browser, server: HotlineServer) -> None:
    page = manager_page(browser, server)
    base = f"http://127.0.0.1:{server.web_port}"
    page.goto(base + "/admin/flows")
    assert page.locator('section.flow[data-valid="yes"]').count() >= 1
    player = page.locator("audio").first
    player.evaluate("a => { a.preload = 'auto'; a.load(); }")
    page.wait_for_function("a => a.readyState >= 1 && a.duration > 0", arg=player.element_handle(), timeout=10000)
    screenshot(page, "admin-flows")

    page.goto(base + "/admin/incidents")
    say = "邮件系统故障，正在抢修。"
    page.fill("#f-announcement", say)
    with page.expect_navigation():
        page.click("#declare")  # no title: refused, the announcement kept
    assert page.locator("#err-title").is_visible()
    assert page.locator("#f-announcement").input_value() == say
    page.fill("#f-title", "Mail is down")
    with page.expect_navigation():
        page.click("#declare")
    assert page.locator("#active-incidents .announcement").first.inner_text() == say
    screenshot(page, "admin-incidents")
    with page.expect_navigation():
        page.locator("#active-incidents button").first.click()
    assert page.locator("#no-incident").is_visible()
    page.context.close()
