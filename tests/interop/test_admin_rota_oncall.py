"""The on-call rota page against ``hotline serve`` at night: an override made in the console routes calls.

The server runs at Thursday 2026-12-03 23:00 (after hours) with the rota of ``serve_helpers``
(daily, zhangwei primary on the clock's day, liuyang the next day, wangjun the manager).
zhangwei's mobile is a number no phone registers (a call to him would fail with 404), wangjun
has none, and zhangwei is on leave on Saturday. A manager logs in to the console: zhangwei is on
call now, wangjun is marked unreachable (no mobile) and Saturday's stretch is a gap (its primary
is on leave). liuyang then takes Thursday night by an override: the page says so at once (who,
made by whom, why), and a real call from a baresip caller, forwarded through kamailio, rings
liuyang's mobile (a baresip) first as the primary.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from tests.interop.media_helpers import stop_quietly
from tests.interop.peers import Baresip, Kamailio, PortAllocator
from tests.interop.serve_helpers import ENGINEERS, MANAGER, HotlineServer, ServerOptions
from tests.interop.test_serve_oncall import (
    LIUYANG_HZ,
    MOBILES,
    attempts_of,
    dial_and_press,
    engineer,
    start_caller,
)
from tests.system.test_console_admin_calendar import PASSWORD, Client
from tests.system.test_console_issues import consoles

pytestmark = pytest.mark.timeout(240)

THURSDAY_NIGHT = "2026-12-03T23:00+08:00"
ZHANGWEI, LIUYANG = ENGINEERS
OPERATOR = "chenjing"


async def give_tonight_to_liuyang(manager: Client) -> str:
    """"I take Thursday night": the override, made by `manager`; the rota page after it."""
    status, page, location = await manager.post("/admin/rota/override", {
        "rota": "it-oncall", "person": LIUYANG, "level": "primary", "replaces": "",
        "starts": "2026-12-03T22:00", "ends": "2026-12-04T08:30", "reason": "zhangwei is ill tonight"})
    assert (status, location) == (303, "/admin/rota?made=override"), page
    page = await manager.text(location)
    assert oncall_now(page) == [LIUYANG, MANAGER]
    return page


def oncall_now(page: str) -> list[str]:
    """The person ids of the "on call now" chain, in order."""
    card = re.search(r'<div class="oncall-card[^"]*" id="oncall-now">(.*?)</div>', page, re.S)
    assert card is not None, page
    return re.findall(r'<li class="[a-z]+" data-person="([^"]+)"', card.group(1))


def stretches(page: str) -> list[tuple[str, str, str]]:
    """(classes, start, primary) of each row of the coming weeks."""
    return re.findall(r'<tr class="stretch([^"]*)" data-start="([^"]+)" data-primary="([^"]+)"', page)


async def test_an_override_changes_who_is_on_call_and_where_the_night_call_goes(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio,
) -> None:
    liuyang = engineer(tmp_path, free_ports, kamailio, LIUYANG, LIUYANG_HZ)
    caller: Baresip | None = None
    server = HotlineServer(tmp_path / "hotline", free_ports, ServerOptions(
        clock=THURSDAY_NIGHT, proxy=f"sip:127.0.0.1:{kamailio.open_port}", accept_seconds=10))
    server.init_db()
    server.add_users({MANAGER: "manager", OPERATOR: "operator"}, PASSWORD)
    server.set_mobile(ZHANGWEI, MOBILES[ZHANGWEI])
    server.set_mobile(LIUYANG, MOBILES[LIUYANG])
    with sqlite3.connect(server.database) as db:
        db.execute("UPDATE people SET mobile = NULL WHERE id = ?", (MANAGER,))
        db.execute("INSERT INTO desk_leave (person_id, starts_on, ends_on, reason, made_by, made_at)"
                   " VALUES (?, '2026-12-05', '2026-12-06', 'family', 'test', '2026-12-01T00:00:00Z')",
                   (ZHANGWEI,))
    try:
        server.start()
        async with consoles(server, password=PASSWORD, kind=Client) as open_as:
            operator = await open_as(OPERATOR)
            assert (await operator.get("/admin/rota"))[0] == 403
            status, _, _ = await operator.post("/admin/rota/override", {"rota": "it-oncall", "person": OPERATOR})
            assert status == 403
            manager = await open_as(MANAGER)
            page = await manager.text("/admin/rota")
            assert oncall_now(page) == [ZHANGWEI, LIUYANG, MANAGER]
            assert re.search(rf'<li class="away" data-person="{MANAGER}">.*?no mobile', page), page
            rows = stretches(page)
            assert rows[0][1].startswith("2026-12-03T23:00") and rows[0][2] == ZHANGWEI, rows
            gaps = [(start[:10], primary) for classes, start, primary in rows if "gap" in classes]
            assert gaps == [("2026-12-05", ZHANGWEI)], rows  # Saturday's shift: zhangwei is on leave
            assert 'id="no-changes"' in page

            # A form with mistakes: each is shown next to its field, what was typed is kept.
            status, page, _ = await manager.post("/admin/rota/override", {
                "rota": "it-oncall", "person": LIUYANG, "level": "primary", "replaces": "",
                "starts": "2026-12-03T22:00", "ends": "yesterday", "reason": ""})
            assert status == 400, page
            assert 'id="override-ends-error"' in page and 'id="override-reason-error"' in page
            assert 'value="2026-12-03T22:00"' in page and 'value="yesterday"' in page
            assert server.query("SELECT COUNT(*) AS n FROM rota_changes")[0]["n"] == 0

            page = await give_tonight_to_liuyang(manager)
            change = re.search(r'<tr class="change override" data-id="\d+">(.*?)</tr>', page, re.S)
            assert change is not None, page
            assert "zhangwei is ill tonight" in change.group(1) and "2026-12-03 22:00" in change.group(1)
            (row,) = server.query("SELECT kind, person, other, level, made_by, reason FROM rota_changes")
            assert row == {"kind": "override", "person": LIUYANG, "other": None, "level": "primary",
                           "made_by": MANAGER, "reason": "zhangwei is ill tonight"}
            assert "rota_override" in await manager.text("/audit")

            # A real call now: routed by the override, liuyang's mobile rings first.
            caller = start_caller(tmp_path, free_ports)
            await dial_and_press(caller, server, "2")
            await liuyang.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
            await asyncio.sleep(3.0)  # the whisper
            await asyncio.to_thread(liuyang.send_dtmf, "1")
            await asyncio.sleep(2.0)
            await asyncio.to_thread(liuyang.hangup)
            await caller.ctrl.wait_event_async("CALL_CLOSED", 10)
            (call,) = server.ended_calls(1)

            # Saturday's gap closed by a swap: liuyang takes zhangwei's place for that shift.
            status, page, location = await manager.post("/admin/rota/swap", {
                "rota": "it-oncall", "a": ZHANGWEI, "b": LIUYANG, "starts": "2026-12-05T08:30",
                "ends": "2026-12-06T08:30", "reason": "zhangwei away for the weekend"})
            assert (status, location) == (303, "/admin/rota?made=swap"), page
            page = await manager.text(location)
            saturday = [(classes, primary) for classes, start, primary in stretches(page) if start.startswith("2026-12-05")]
            assert saturday == [("", LIUYANG)], stretches(page)
            assert re.search(r'<tr class="change swap" data-id="\d+">.*?zhangwei away for the weekend', page, re.S)
    finally:
        server.stop()
        stop_quietly(liuyang, *([caller] if caller else []))
    # The chain is liuyang, wangjun: the manager, with no mobile, is put on record as skipped
    # before anyone rings; zhangwei, whose night it was, is not tried at all.
    assert attempts_of(call) == [("oncall", MANAGER, "manager", "skipped"),
                                 ("oncall", LIUYANG, "primary", "answered")], call["attempts"]
    assert (call["route"], call["answered_by"]) == (f"oncall:{LIUYANG}", LIUYANG), call
    assert call["attempts"][1]["target"] == MOBILES[LIUYANG]
    assert "Traceback" not in server.log()

