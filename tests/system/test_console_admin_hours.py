"""Working hours changed on the calendar page, against the running ``hotline serve``.

The server runs at Wednesday 2025-12-03 10:00 (+08:00), inside the configuration's hours
(08:00-12:00, 13:30-17:30 on weekdays). A manager moves Wednesday to the afternoon only: the
desk is closed now, at once and after a restart; mistakes are refused beside their field with
what was typed kept; an operator may not; going back to the configuration's opens it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import aiohttp
import pytest

from tests.interop.serve_helpers import MANAGER, HotlineServer
from tests.system.test_console_admin_calendar import OPERATOR, PASSWORD, Client, staffed_server
from tests.system.test_console_issues import consoles

pytestmark = pytest.mark.timeout(120)

WEDNESDAY_MORNING = "2025-12-03T10:00+08:00"
WEEK = {"monday": "08:00-12:00, 13:30-17:30", "tuesday": "08:00-12:00, 13:30-17:30",
        "wednesday": "13:00-18:00", "thursday": "08:00-12:00 13:30-17:30",
        "friday": "08:00-12:00，13:30-17:30", "saturday": "", "sunday": "", "make_up": "monday"}


async def business_hours(server: HotlineServer, token: str) -> bool:
    """What the JSON API tells an integration (a chat robot) about now."""
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{server.web_port}/api/rota/now",
            headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200
        body = await response.json()
    assert isinstance(body["business_hours"], bool)
    return bool(body["business_hours"])


def open_now(page: str) -> str:
    match = re.search(r'<p id="open-now" class="(open|closed)">', page)
    assert match is not None, page
    return match.group(1)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    with staffed_server(tmp_path_factory.mktemp("hours"), WEDNESDAY_MORNING) as s:
        yield s


async def test_working_hours_changed_in_the_console_apply_at_once_and_after_a_restart(
        server: HotlineServer) -> None:
    async with consoles(server, password=PASSWORD, kind=Client) as open_as:
        made = server.hotline("add-token", "--config", str(server.config_path), OPERATOR)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        manager = await open_as(MANAGER)
        page = await manager.text("/admin/calendar")
        assert open_now(page) == "open" and 'id="hours-reset"' not in page
        assert 'value="08:00-12:00, 13:30-17:30"' in page
        assert await business_hours(server, token) is True

        operator = await open_as(OPERATOR)
        assert (await operator.post("/admin/calendar/hours", WEEK))[0] == 403

        # Mistakes: each beside its field, what was typed kept, nothing stored.
        for field, typed in (("wednesday", "8-12"), ("wednesday", "08:00-12:00, 11:00-13:00"),
                             ("tuesday", "17:00-09:00"), ("monday", "<script>alert(1)</script>")):
            status, page, _ = await manager.post("/admin/calendar/hours", {**WEEK, field: typed})
            assert status == 400 and f'id="hours-{field}-error"' in page, (field, typed, page)
            assert "<script>alert" not in page and f'value="{typed}"'.replace("<", "&lt;").replace(">", "&gt;") in page
        status, page, _ = await manager.post("/admin/calendar/hours", {**WEEK, "make_up": "saturday"})
        assert status == 400 and 'id="hours-make_up-error"' in page
        closed = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), "")
        status, page, _ = await manager.post("/admin/calendar/hours", {**closed, "make_up": "monday"})
        assert status == 400 and 'id="hours-refusal"' in page
        assert server.query("SELECT COUNT(*) AS n FROM site_settings")[0]["n"] == 0
        assert open_now(await manager.text("/admin/calendar")) == "open"

        status, page, location = await manager.post("/admin/calendar/hours", WEEK)
        assert (status, location) == (303, "/admin/calendar?hours=saved"), page
        page = await manager.text(location)
        assert open_now(page) == "closed" and 'id="hours-saved"' in page
        assert await business_hours(server, token) is False
        assert 'id="hours-wednesday" maxlength="200" placeholder' in page and 'value="13:00-18:00"' in page
        assert 'value="08:00-12:00, 13:30-17:30"' in page  # Thursday and Friday written back alike
        assert "wangjun" in page and 'id="hours-reset"' in page
        assert "calendar_hours" in await manager.text("/audit")

        server.stop()
        server.start()
        manager = await open_as(MANAGER)
        assert open_now(await manager.text("/admin/calendar")) == "closed"

        status, _, location = await manager.post("/admin/calendar/hours/reset", {})
        assert (status, location) == (303, "/admin/calendar?hours=reset")
        page = await manager.text(location)
        assert open_now(page) == "open" and 'id="hours-reset"' not in page
        assert server.query("SELECT COUNT(*) AS n FROM site_settings")[0]["n"] == 0
        assert await business_hours(server, token) is True
        assert "Traceback" not in server.log()
