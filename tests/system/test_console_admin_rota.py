"""Withdrawing an override or swap of the on-call rota, against the running ``hotline serve``.

The server runs at Thursday 2026-12-03 23:00 (after hours) with the rota of ``serve_helpers``
(zhangwei primary tonight, liuyang secondary, wangjun the manager). A manager gives tonight to
liuyang by an override, then takes it back: the withdrawal needs a reason, is refused to an
operator, a second time and for a change that is over; once made, "on call now" is zhangwei
again, at once and after a restart, and the row stays with who withdrew it and why.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from tests.interop.serve_helpers import MANAGER, HotlineServer
from tests.interop.test_admin_rota_oncall import (
    LIUYANG,
    OPERATOR,
    THURSDAY_NIGHT,
    ZHANGWEI,
    give_tonight_to_liuyang,
    oncall_now,
)
from tests.system.test_console_admin_calendar import PASSWORD, Client, staffed_server
from tests.system.test_console_issues import consoles

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    with staffed_server(tmp_path_factory.mktemp("rota"), THURSDAY_NIGHT) as s:
        yield s


async def test_an_override_withdrawn_gives_the_night_back(server: HotlineServer) -> None:
    async with consoles(server, password=PASSWORD, kind=Client) as open_as:
        manager = await open_as(MANAGER)
        page = await give_tonight_to_liuyang(manager)
        (change,) = server.query("SELECT id FROM rota_changes")
        withdraw = f"/admin/rota/changes/{change['id']}/withdraw"
        assert f'action="{withdraw}"' in page

        operator = await open_as(OPERATOR)
        assert (await operator.post(withdraw, {"reason": "not mine to take back"}))[0] == 403

        # No reason: refused next to the field, nothing withdrawn.
        status, page, _ = await manager.post(withdraw, {"reason": "   "})
        assert status == 400, page
        assert f'id="withdraw-{change["id"]}-reason-error"' in page
        assert oncall_now(page) == [LIUYANG, MANAGER]
        assert server.query("SELECT withdrawn_at FROM rota_changes") == [{"withdrawn_at": None}]

        status, page, location = await manager.post(withdraw, {"reason": "zhangwei feels better <b>now</b>"})
        assert (status, location) == (303, "/admin/rota?made=withdrawn"), page
        page = await manager.text(location)
        assert oncall_now(page) == [ZHANGWEI, LIUYANG, MANAGER]
        assert 'id="no-changes"' in page
        gone = re.search(rf'<tr class="withdrawn override" data-id="{change["id"]}">(.*?)</tr>', page, re.S)
        assert gone is not None, page  # listed as withdrawn, with who and why, escaped
        assert "zhangwei feels better &lt;b&gt;now&lt;/b&gt;" in gone.group(1) and "2026-12-03 22:00" in gone.group(1)
        (row,) = server.query("SELECT person, withdrawn_by, withdraw_reason, withdrawn_at FROM rota_changes")
        assert row["person"] == LIUYANG and row["withdrawn_by"] == MANAGER
        assert row["withdraw_reason"] == "zhangwei feels better <b>now</b>" and row["withdrawn_at"]
        audit = await manager.text("/audit")
        assert "rota_withdraw" in audit and "zhangwei feels better &lt;b&gt;now&lt;/b&gt;" in audit

        # Once is enough; an id that was never made is refused the same way.
        for path in (withdraw, "/admin/rota/changes/999999/withdraw"):
            status, page, _ = await manager.post(path, {"reason": "again"})
            assert status == 409 and 'id="withdraw-refusal"' in page, page
        assert (await manager.post("/admin/rota/changes/abc/withdraw", {"reason": "x"}))[0] == 404

        # A change that is over stays as history: listed, but not withdrawn.
        with sqlite3.connect(server.database) as db:
            db.execute("INSERT INTO rota_changes (rota, kind, starts_at, ends_at, person, other, level,"
                       " made_by, reason, made_at) VALUES ('it-oncall', 'override', '2026-12-03T06:00:00Z',"
                       " '2026-12-03T10:00:00Z', ?, NULL, 'primary', ?, 'earlier today', '2026-12-03T05:00:00Z')",
                       (LIUYANG, MANAGER))
        (over,) = server.query("SELECT id FROM rota_changes WHERE reason = 'earlier today'")
        page = await manager.text("/admin/rota")
        assert f'data-id="{over["id"]}"' in page and f'id="withdraw-{over["id"]}"' not in page
        status, page, _ = await manager.post(f"/admin/rota/changes/{over['id']}/withdraw", {"reason": "late"})
        assert status == 409 and 'id="withdraw-refusal"' in page, page

        # The server builds its rota from the store at start: the withdrawal holds.
        server.stop()
        server.start()
        manager = await open_as(MANAGER)
        assert oncall_now(await manager.text("/admin/rota")) == [ZHANGWEI, LIUYANG, MANAGER]
        assert "Traceback" not in server.log()
