"""The console's browser tests: a real ``hotline serve``, Debian's Chromium through Playwright, sipp calls.

:func:`console_server` writes a configuration (:class:`~tests.interop.serve_helpers.HotlineServer`:
free loopback ports, the server's clock in business hours), loads the demo directory, makes the
accounts with ``hotline add-user`` and starts the server. :func:`launch_chromium` starts
``/usr/bin/chromium`` (never a downloaded browser; a missing one fails under CI). Calls are real
SIP calls placed by sipp's ``uac_call.xml`` with the caller's number and display name in From and
P-Asserted-Identity. Screenshots go to ``tests/artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import ROOT
from tests.gate import require
from tests.interop.peers import PortAllocator, Sipp, SippRun
from tests.interop.serve_helpers import HotlineServer, ServerOptions

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
BUSINESS_HOURS = "2026-12-02T10:00+08:00"
"""A Wednesday, 10:00 in Shanghai: dispatch follows the category's post."""
PASSWORD = "browser-pass-2026"
OPERATOR, MANAGER = "chenjing", "wangjun"


@dataclass
class Console:
    """The running server, its accounts and a demo employee who calls."""

    server: HotlineServer
    owner: str
    """The network post's A role (an engineer account): dispatch gives it network issues."""
    employee: dict[str, Any]
    """A directory employee with a mobile number (id, name, department, location, mobile)."""
    first_issue: int
    """The issue of a call placed with ``hotline call`` at start (menu key 1, left new)."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.web_port}"


def console_server(tmp: Path, ports: PortAllocator) -> Console:
    server = HotlineServer(tmp / "hotline", ports, ServerOptions(clock=BUSINESS_HOURS))
    server.init_db()
    (owner,) = [r["person_id"] for r in server.query(
        "SELECT a.person_id FROM post_assignments a JOIN categories c ON c.post_id = a.post_id"
        " WHERE c.id = 'network' AND a.role = 'A'")]
    employee = server.query(
        "SELECT employee_id, name, department, location, mobile FROM directory"
        " WHERE mobile LIKE '+861%' AND department <> '' AND location <> '' ORDER BY employee_id LIMIT 1")[0]
    server.add_users({OPERATOR: "operator", MANAGER: "manager", owner: "engineer"}, PASSWORD)
    server.start()
    call = server.hotline("call", "--config", str(server.config_path), "--from", "13412340100", "--digits", "1",
                          "--seconds", "1")
    assert call.returncode == 0, call.stdout + call.stderr
    (first,) = server.ended_calls(1)
    return Console(server, owner, employee, server.issue_of(first["id"])["id"])


def launch_chromium(p: Playwright) -> Browser:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (scripts/install-test-deps.sh installs chromium)")
    # Debian's Chromium, not a download; everything it talks to is on loopback.
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])


def login(page: Page, console: Console, user: str) -> None:
    page.goto(console.base + "/login")
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")
    assert page.url == console.base + "/", page.url


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, path  # a page, not an empty image
    return path


def platform_fonts(page: Page, selector: str) -> dict[str, int]:
    """The fonts Chromium actually drew ``selector``'s text with: family -> glyphs (DevTools' CSS domain)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, selector
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return {f["familyName"]: int(f["glyphCount"]) for f in fonts}


def sipp_call(sipp: Sipp, console: Console, number: str, display: str, *, hold_ms: int) -> SippRun:
    """A real call to the server from ``number`` with ``display`` as the From display name.

    ``display`` goes into a SIP quoted-string: a double quote must come escaped (``\\"``).
    """
    csv = sipp.workdir / f"caller-{len(sipp.runs)}.csv"
    sipp.workdir.mkdir(parents=True, exist_ok=True)
    assert ";" not in display and not re.search(r'(?<!\\)"', display), display
    csv.write_bytes(f"SEQUENTIAL\n{number};{display};\n".encode())
    return sipp.start("uac_call.xml", console.server.address, calls=1, inf=str(csv), hold_ms=hold_ms,
                      timeout_s=hold_ms / 1000 + 20)
