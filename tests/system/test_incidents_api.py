"""The major-incident JSON endpoint of the running ``hotline serve``: roles, CSRF, input, the same service.

A real server process, accounts from ``hotline add-user``, requests as the console's script would
send them (session cookie, ``X-CSRF-Token``); what was declared is read back from the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.system.test_console_issues import PASSWORD, Console, csrf_of

pytestmark = pytest.mark.timeout(120)


async def test_managers_declare_list_and_clear_incidents_with_a_csrf_token(tmp_path: Path) -> None:
    server = HotlineServer(tmp_path / "hotline", PortAllocator(), ServerOptions(clock="2026-12-02T10:00+08:00"))
    server.init_db()
    server.add_users({"wangjun": "manager", "chenjing": "operator"}, PASSWORD)
    server.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as manager_http, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as operator_http:
            manager = await Console(manager_http, server).login("wangjun")
            operator = await Console(operator_http, server).login("chenjing")
            token = csrf_of(await manager.text("/"))
            base = manager.base + "/api/incidents"
            body = {"title": "邮件系统故障", "categories": ["email"], "say": "邮件系统目前无法使用，工程师正在处理"}

            async def call(http: aiohttp.ClientSession, method: str, url: str, *, csrf: str | None,
                           json: Any = None) -> tuple[int, Any]:
                headers = {"Accept": "application/json", **({"X-CSRF-Token": csrf} if csrf else {})}
                async with http.request(method, url, json=json, headers=headers, allow_redirects=False) as r:
                    text = await r.text()
                    return r.status, (await r.json() if r.content_type == "application/json" else text)

            assert await call(manager_http, "GET", base, csrf=None) == (200, {"incidents": []})
            assert (await call(manager_http, "POST", base, csrf=None, json=body))[0] == 403
            operator_token = csrf_of(await operator.text("/"))
            assert (await call(operator_http, "POST", base, csrf=operator_token, json=body))[0] == 403
            assert (await call(operator_http, "GET", base, csrf=None))[0] == 403
            status, why = await call(manager_http, "POST", base, csrf=token, json={**body, "categories": ["mail"]})
            assert status == 400 and "no category 'mail'" in why["error"]["message"]
            status, why = await call(manager_http, "POST", base, csrf=token, json=["not", "an", "object"])
            assert status == 400 and "JSON object" in why["error"]["message"]

            status, declared = await call(manager_http, "POST", base, csrf=token, json=body)
            assert status == 201, declared
            assert (declared["title"], declared["categories"], declared["declared_by"], declared["active"]) == (
                "邮件系统故障", ["email"], "wangjun", True)
            status, listed = await call(manager_http, "GET", base, csrf=None)
            assert [i["id"] for i in listed["incidents"]] == [declared["id"]]

            clear = f"{base}/{declared['id']}/clear"
            status, cleared = await call(manager_http, "POST", clear, csrf=token, json={"notify": True})
            assert status == 200 and cleared["active"] is False and cleared["notified"] == []
            status, why = await call(manager_http, "POST", clear, csrf=token, json={"notify": False})
            assert status == 400 and "already cleared" in why["error"]["message"]
            assert await call(manager_http, "GET", base, csrf=None) == (200, {"incidents": []})
    finally:
        server.stop()
    (row,) = server.query("SELECT i.status, i.priority, i.tags, n.declared_by, n.cleared_by FROM incidents n"
                          " JOIN issues i ON i.id = n.issue_id")
    assert row == {"status": "recorded", "priority": "P1", "tags": '["major-incident"]',
                   "declared_by": "wangjun", "cleared_by": "wangjun"}
