"""The JSON API of a running ``hotline serve``: its OpenAPI document, tokens, roles, CSRF, every
route, the rate limit and the issue-event webhooks.

Tokens come from ``hotline add-token`` (and are revoked with ``hotline revoke-token``) on the
server's database; every response a route gives is checked against the schema the served
OpenAPI document gives for that route and status (a status it does not document fails). A
webhook receiver on 127.0.0.1 answers 500 to its first delivery and 200 afterwards: the event
must come again, with the same delivery id and a valid HMAC-SHA256 signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import ROOT
from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions
from tests.system.api_schema import check_openapi, operation_for, schema_errors
from tests.system.test_console_issues import PASSWORD, Console, csrf_of

pytestmark = pytest.mark.timeout(240)

SECRET = "webhook-secret-0123456789"
BURST = 300


class Api:
    """Requests to the API, each response checked against the OpenAPI document."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.doc: dict[str, Any] = {}
        self.checked: set[tuple[str, str, int]] = set()

    async def load(self) -> dict[str, Any]:
        async with self.http.get(self.base + "/api/openapi.json") as r:
            assert r.status == 200 and r.content_type == "application/json"
            self.doc = await r.json()
        return self.doc

    async def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                   data: bytes | None = None, headers: dict[str, str] | None = None,
                   http: aiohttp.ClientSession | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with (http or self.http).request(method, self.base + path, json=json_body, data=data,
                                               headers=sent, allow_redirects=False) as r:
            assert r.content_type == "application/json", (r.status, await r.text())
            body = await r.json()
            retry_after = r.headers.get("Retry-After")
        found = operation_for(self.doc, method, path.split("?")[0])
        assert found is not None, f"{method} {path} is not documented"
        template, op = found
        response = op["responses"].get(str(r.status))
        assert response is not None, f"{method} {template} answered {r.status}, not documented: {body}"
        schema = response["content"]["application/json"]["schema"]
        problems = schema_errors(schema, body, self.doc)
        assert not problems, f"{method} {path} {r.status}: {problems}\n{body}"
        self.checked.add((method, template, r.status))
        if r.status == 429:
            assert retry_after is not None and int(retry_after) >= 1
        return r.status, body


def add_token(server: HotlineServer, user: str, *args: str) -> tuple[int, str]:
    result = server.hotline("add-token", "--config", str(server.config_path), user, *args)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    (row,) = server.query("SELECT id FROM api_tokens ORDER BY id DESC LIMIT 1")
    return int(row["id"]), token


class Receiver:
    """A webhook receiver that fails its first delivery (500) and takes the rest."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 500 if not self.received else 200
        self.received.append((dict(request.headers), body, status))
        return web.Response(status=status, text="try again" if status == 500 else "ok")


async def test_the_api_against_its_openapi_document(tmp_path: Path) -> None:
    ports = PortAllocator()
    hook_port = ports.one()
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(hook_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    extra = "\n".join([
        "[desk]", "backoff_base = 0.3", "",
        "[api]", "rate_per_second = 1", f"burst = {BURST}", "relay_seconds = 0.2", "",
        "[[api.webhook]]", 'name = "tracker"', f'url = "http://127.0.0.1:{hook_port}/hook"',
        f'secret = "{SECRET}"', 'events = ["issue.created", "issue.status"]', ""])
    server = HotlineServer(tmp_path / "hotline", ports, ServerOptions(extra=extra))
    server.init_db()
    server.add_users({"wangjun": "manager", "chenjing": "operator", "zhangwei": "engineer"}, PASSWORD)
    _, operator = add_token(server, "chenjing", "--name", "monitoring")
    manager_id, manager = add_token(server, "wangjun")
    _, narrowed = add_token(server, "wangjun", "--role", "manager", "--name", "narrowed")
    _, engineer = add_token(server, "zhangwei")
    revoked_id, revoked = add_token(server, "chenjing")
    _, expiring = add_token(server, "chenjing", "--expires", "0.00002")  # 1.7 s
    _, flood = add_token(server, "chenjing", "--name", "flood")
    refused = server.hotline("add-token", "--config", str(server.config_path), "chenjing", "--role", "admin")
    assert refused.returncode == 2 and "does not hold" in refused.stderr
    category = server.query("SELECT id FROM categories ORDER BY id LIMIT 1")[0]["id"]
    employee = server.query("SELECT employee_id, name FROM directory ORDER BY employee_id LIMIT 1")[0]
    server.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            api = Api(http, f"http://127.0.0.1:{server.web_port}")
            doc = await api.load()
            assert check_openapi(doc) == []
            documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
            assert {("GET", "/api/issues"), ("POST", "/api/issues"), ("POST", "/api/issues/{id}/transition"),
                    ("POST", "/api/issues/{id}/notes"), ("GET", "/api/calls"), ("GET", "/api/directory"),
                    ("GET", "/api/rota/now"), ("POST", "/api/incidents")} <= documented

            # -- tokens: missing, malformed, wrong, revoked, expired -> 401 -----------------------
            status, body = await api.call("GET", "/api/issues")
            assert (status, body["error"]["code"]) == (401, "unauthorized")
            for bad in ("nonsense", "hl_" + secrets.token_urlsafe(32)):
                status, body = await api.call("GET", "/api/issues", token=bad)
                assert (status, body["error"]["code"]) == (401, "unauthorized"), body
            status, _ = await api.call("GET", "/api/issues", headers={"Authorization": f"Basic {operator}"})
            assert status == 401
            assert (await api.call("GET", "/api/issues", token=revoked))[0] == 200
            result = server.hotline("revoke-token", "--config", str(server.config_path), str(revoked_id))
            assert result.returncode == 0, result.stderr
            status, body = await api.call("GET", "/api/issues", token=revoked)
            assert status == 401 and "revoked" in body["error"]["message"]
            again = server.hotline("revoke-token", "--config", str(server.config_path), str(revoked_id))
            assert again.returncode == 2 and "already" in again.stderr
            await asyncio.sleep(2.0)  # past the expiring token's 1.7 s
            status, body = await api.call("GET", "/api/issues", token=expiring)
            assert status == 401 and "expired" in body["error"]["message"]

            # -- create (no CSRF for tokens), bad input with its field ----------------------------
            new = {"source": "monitoring", "description": "Zabbix: 邮件服务器 mail01 CPU 100%",
                   "category": category, "priority": "P2", "employee_id": employee["employee_id"],
                   "tags": ["zabbix"]}
            status, body = await api.call("POST", "/api/issues", token=engineer, json_body=new)
            assert (status, body["error"]["code"]) == (403, "forbidden")
            for change, field in (({"source": "fax"}, "source"), ({"priority": "P9"}, "priority"),
                                  ({"category": "nope"}, "category"), ({"description": " "}, "description"),
                                  ({"employee_id": "X-404"}, "employee_id"), ({"colour": "red"}, "colour")):
                status, body = await api.call("POST", "/api/issues", token=operator, json_body={**new, **change})
                assert status == 400 and body["error"]["field"] == field, body
                assert body["error"]["code"] in ("invalid_field", "missing_field")
            status, body = await api.call("POST", "/api/issues", token=operator, data=b"{not json",
                                          headers={"Content-Type": "application/json"})
            assert (status, body["error"]["code"]) == (400, "invalid_json")
            status, created = await api.call("POST", "/api/issues", token=operator, json_body=new)
            assert status == 201, created
            issue = created["issue"]
            assert (issue["source"], issue["status"], issue["category"], issue["priority"], issue["caller_name"],
                    issue["tags"]) == ("monitoring", "recorded", category, "P2", employee["name"], ["zabbix"])
            issue_id = issue["id"]
            events = server.query("SELECT actor, kind FROM issue_events WHERE issue_id = ? ORDER BY id", (issue_id,))
            assert events == [{"actor": "chenjing", "kind": "created"}, {"actor": "chenjing", "kind": "status"}]
            status, bare = await api.call("POST", "/api/issues", token=operator,
                                          json_body={"source": "email", "description": "VPN 连不上"})
            assert status == 201 and bare["issue"]["status"] == "new"

            # -- read and list with the console's filters -----------------------------------------
            status, detail = await api.call("GET", f"/api/issues/{issue_id}", token=engineer)
            assert status == 200 and [e["kind"] for e in detail["events"]] == ["created", "status"]
            assert (await api.call("GET", "/api/issues/999999", token=engineer))[0] == 404
            status, listed = await api.call("GET", "/api/issues?source=monitoring&priority=P2", token=engineer)
            assert status == 200 and [r["issue"]["id"] for r in listed["issues"]] == [issue_id]
            status, listed = await api.call("GET", "/api/issues?limit=1", token=engineer)
            assert status == 200 and len(listed["issues"]) == 1 and listed["next_before"] is not None
            status, following = await api.call("GET", f"/api/issues?limit=1&before={listed['next_before']}",
                                               token=engineer)
            assert status == 200 and following["issues"][0]["issue"]["id"] < listed["issues"][0]["issue"]["id"]
            for query, field in (("priority=P9", "priority"), ("from=2026-13-01", "from"), ("limit=0", "limit"),
                                 ("status=' OR 1=1 --", "status"), ("colour=red", "colour")):
                status, body = await api.call("GET", f"/api/issues?{query}", token=engineer)
                assert (status, body["error"]["code"], body["error"]["field"]) == (400, "invalid_field", field)

            # -- transitions and notes, with the console's role rules -----------------------------
            dispatch = {"action": "dispatch", "mode": "manual", "person": "zhangwei", "reason": "API test"}
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=engineer,
                                          json_body=dispatch)
            assert (status, body["error"]["code"]) == (403, "forbidden")
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=operator,
                                          json_body={**dispatch, "expect_status": "new"})
            assert (status, body["error"]["code"]) == (409, "conflict")
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=operator,
                                          json_body={**dispatch, "person": "nobody"})
            assert (status, body["error"]["field"]) == (400, "person")
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=operator,
                                          json_body={**dispatch, "expect_status": "recorded"})
            assert status == 200 and (body["issue"]["status"], body["issue"]["owner"]) == ("dispatched", "zhangwei")
            status, body = await api.call("POST", f"/api/issues/{issue_id}/notes", token=operator,
                                          json_body={"text": "not mine"})
            assert status == 403
            status, body = await api.call("POST", f"/api/issues/{issue_id}/notes", token=engineer,
                                          json_body={"text": "重启了 mail01 的服务"})
            assert status == 201, body
            status, notes = await api.call("GET", f"/api/issues/{issue_id}/notes", token=operator)
            assert status == 200 and [n["actor"] for n in notes["notes"]] == ["zhangwei"]
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=engineer,
                                          json_body={"action": "resolve"})
            assert (status, body["error"]["code"], body["error"]["field"]) == (400, "missing_field", "resolution")
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=engineer,
                                          json_body={"action": "resolve", "resolution": "服务已恢复"})
            assert status == 200 and body["issue"]["status"] == "resolved"
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=engineer,
                                          json_body={"action": "resolve", "resolution": "again"})
            assert (status, body["error"]["code"]) == (409, "conflict")  # resolved already
            status, body = await api.call("POST", f"/api/issues/{issue_id}/transition", token=operator,
                                          json_body={"action": "dispatch", "mode": "auto"})
            assert (status, body["error"]["code"]) == (409, "conflict")
            assert server.query("SELECT actor, kind FROM issue_events WHERE issue_id = ? ORDER BY id DESC LIMIT 1",
                                (issue_id,)) == [{"actor": "zhangwei", "kind": "status"}]

            # -- calls, directory, rota -----------------------------------------------------------
            placed = subprocess.run([sys.executable, "-m", "hotline", "call", "--config", str(server.config_path),
                                     "--digits", "2", "--seconds", "2"], cwd=ROOT, capture_output=True, text=True,
                                    timeout=90)
            assert placed.returncode == 0, placed.stdout + placed.stderr
            server.ended_calls(1)
            status, calls = await api.call("GET", "/api/calls?limit=5", token=operator)
            assert status == 200 and len(calls["calls"]) == 1 and calls["calls"][0]["issue"] is not None
            call_id = calls["calls"][0]["id"]
            status, call = await api.call("GET", f"/api/calls/{call_id}", token=operator)
            assert status == 200 and call["digits"].startswith("2")
            assert (await api.call("GET", "/api/calls/999999", token=operator))[0] == 404
            status, found = await api.call("GET", f"/api/directory?q={employee['employee_id']}", token=operator)
            assert status == 200 and found["employees"][0]["employee_id"] == employee["employee_id"]
            status, body = await api.call("GET", "/api/directory", token=operator)
            assert (status, body["error"]["field"]) == (400, "q")
            status, person = await api.call("GET", f"/api/directory/{employee['employee_id']}", token=operator)
            assert status == 200 and person["name"] == employee["name"]
            assert (await api.call("GET", "/api/directory/X-404", token=operator))[0] == 404
            status, rota = await api.call("GET", "/api/rota/now", token=engineer)
            assert status == 200 and rota["rotas"][0]["rota"] == "it-oncall"
            assert rota["rotas"][0]["chain"][0]["id"] in ("zhangwei", "liuyang")

            # -- incidents: managers only, by token without CSRF ----------------------------------
            incident = {"title": "邮件系统故障", "categories": [category], "say": "邮件系统故障，工程师正在处理"}
            status, body = await api.call("POST", "/api/incidents", token=operator, json_body=incident)
            assert (status, body["error"]["code"]) == (403, "forbidden")
            status, body = await api.call("POST", "/api/incidents", token=manager,
                                          json_body={**incident, "categories": ["mail-x"]})
            assert (status, body["error"]["code"]) == (400, "bad_request")
            status, declared = await api.call("POST", "/api/incidents", token=manager, json_body=incident)
            assert status == 201 and declared["declared_by"] == "wangjun"
            status, listed_incidents = await api.call("GET", "/api/incidents", token=narrowed)
            assert status == 200 and [i["id"] for i in listed_incidents["incidents"]] == [declared["id"]]
            status, cleared = await api.call("POST", f"/api/incidents/{declared['id']}/clear", token=manager,
                                             json_body={"notify": False})
            assert status == 200 and cleared["active"] is False

            # -- a console session needs its CSRF token; a token request does not -----------------
            console = await Console(http, server).login("chenjing")
            csrf = csrf_of(await console.text("/"))
            session_new = {"source": "web", "description": "打印机卡纸"}
            status, body = await api.call("POST", "/api/issues", json_body=session_new)
            assert (status, body["error"]["code"]) == (403, "csrf")
            status, body = await api.call("POST", "/api/issues", json_body=session_new,
                                          headers={"X-CSRF-Token": csrf})
            assert status == 201 and body["issue"]["source"] == "web"
            status, body = await api.call("GET", "/api/incidents")
            assert (status, body["error"]["code"]) == (403, "forbidden")  # the session is an operator's
            # A token beside the session cookie: the token decides (a manager's), no CSRF asked.
            assert (await api.call("GET", "/api/incidents", token=manager))[0] == 200
            assert (await api.call("POST", "/api/issues", token=manager, json_body=session_new))[0] == 201

            # -- the rate limit is per token ------------------------------------------------------
            statuses = [(await api.call("GET", "/api/rota/now", token=flood))[0] for _ in range(BURST + 20)]
            assert statuses[:BURST - 5] == [200] * (BURST - 5) and 429 in statuses
            assert (await api.call("GET", "/api/rota/now", token=operator))[0] == 200

            # -- the webhook: signed, retried after a failure, same delivery id -------------------
            def retried() -> bool:
                if not receiver.received:
                    return False
                failed = receiver.received[0][0].get("X-Hotline-Delivery")
                return any(h.get("X-Hotline-Delivery") == failed and s == 200 for h, _, s in receiver.received)

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not retried():
                await asyncio.sleep(0.2)
            first_headers, first_body, first_status = receiver.received[0]
            assert first_status == 500
            failed_id = first_headers["X-Hotline-Delivery"]
            repeats = [b for h, b, s in receiver.received[1:] if h["X-Hotline-Delivery"] == failed_id and s == 200]
            assert repeats == [first_body], "the failed delivery was not sent again"
            schema = doc["components"]["schemas"]["WebhookDelivery"]
            deliveries = []
            for headers, raw, _ in receiver.received:
                expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(headers["X-Hotline-Signature"], expected)
                delivery = json.loads(raw)
                assert schema_errors(schema, delivery, doc) == []
                assert str(delivery["delivery"]) == headers["X-Hotline-Delivery"]
                assert delivery["type"] == headers["X-Hotline-Event"] in ("issue.created", "issue.status")
                deliveries.append(delivery)
            assert ("issue.created", "chenjing") in {(d["type"], d["actor"]) for d in deliveries
                                                     if d["issue"]["id"] == issue_id}
    finally:
        server.stop()
        await runner.cleanup()
    (row,) = server.query("SELECT channel, state, attempts FROM desk_outbox WHERE id = ?", (int(failed_id),))
    assert row == {"channel": "api:tracker", "state": "sent", "attempts": 2}
    (used,) = server.query("SELECT last_used_at FROM api_tokens WHERE id = ?", (manager_id,))
    assert used["last_used_at"] is not None
    audit = {r["action"] for r in server.query("SELECT action FROM console_audit")}
    assert {"add_token", "revoke_token"} <= audit
    # Every documented operation that serves something was exercised with at least one status.
    exercised = {(m, p) for m, p, _ in api.checked}
    assert exercised >= {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
