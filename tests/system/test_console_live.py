"""The live calls panel against the running ``hotline serve``: the WebSocket, the screen pop, resuming.

A real server process, accounts made with ``hotline add-user``, aiohttp's client as the browser
and real calls placed with ``hotline call``. The calls go through a small UDP relay of the
test's own (:class:`InviteTap`), which notes when the INVITE left the caller: the screen pop's
latency is from there to the ``call_arrived`` message reaching the client (printed, not
asserted: the goal is 100 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

from hotline.app import BUS, CLOCK, init_app
from hotline.calls.testcall import TEST_CALLER
from hotline.clock import WallClock, parse_clock_start
from hotline.config import load_config
from hotline.console import live
from hotline.console.live import LIVE
from hotline.events import IvrChoice
from tests.conftest import ROOT
from tests.interop.peers import LOOPBACK, PortAllocator
from tests.interop.serve_helpers import HotlineServer, ServerOptions

pytestmark = pytest.mark.timeout(180)

BUSINESS_HOURS = "2026-12-02T10:00+08:00"
ACCOUNTS = (("chenjing", "operator-pass-123", "operator"), ("zhangwei", "engineer-pass-456", "engineer"))
XSS = "<img src=x onerror=alert(document.cookie)>"


# -- the server, logins, the socket --------------------------------------------------------------


def add_accounts(s: HotlineServer, tmp: Path) -> None:
    for user, password, role in ACCOUNTS:
        (tmp / f"{user}.pw").write_text(password + "\n", encoding="utf-8")
        result = s.hotline("add-user", "--config", str(s.config_path), user, "--role", role,
                           "--password-file", str(tmp / f"{user}.pw"))
        assert result.returncode == 0, result.stderr


def make_server(tmp: Path) -> HotlineServer:
    s = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=BUSINESS_HOURS))
    s.init_db()
    add_accounts(s, tmp)
    s.start()
    return s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    s = make_server(tmp_path_factory.mktemp("live"))
    try:
        yield s
    finally:
        assert s.stop() == 0, s.log()[-4000:]


def base(server: HotlineServer) -> str:
    return f"http://{LOOPBACK}:{server.web_port}"


@contextlib.asynccontextmanager
async def logged_in(server: HotlineServer, user: str = "chenjing") -> AsyncIterator[aiohttp.ClientSession]:
    password = dict((u, p) for u, p, _ in ACCOUNTS)[user]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(base(server) + "/login") as r:
            token = re.search(r'name="_csrf" value="([^"]+)"', await r.text())
        assert token is not None
        async with client.post(base(server) + "/login", allow_redirects=False,
                               data={"_csrf": token.group(1), "user": user, "password": password}) as r:
            assert r.status == 303
        yield client


@dataclass
class Panel:
    """A socket to /live/ws and every message it got, with when it got it (perf_counter)."""

    ws: aiohttp.ClientWebSocketResponse
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append((time.perf_counter(), json.loads(msg.data)))
                self.changed.set()
        self.changed.set()

    async def wait_for(self, what: str, predicate: Callable[[dict[str, Any]], bool],
                       timeout: float = 20.0) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            for at, message in self.messages:
                if predicate(message):
                    return at, message
            if self.ws.closed or time.monotonic() > deadline:
                raise AssertionError(f"no {what}; got {[m for _, m in self.messages]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))

    def of_call(self, call: int) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("call") == call]

    @property
    def last_seq(self) -> int:
        return max(m["seq"] for _, m in self.messages if m["kind"] != "tick")


@contextlib.asynccontextmanager
async def panel(client: aiohttp.ClientSession, server: HotlineServer, query: str = "") -> AsyncIterator[Panel]:
    ws = await client.ws_connect(f"ws://{LOOPBACK}:{server.web_port}/live/ws{query}")
    p = Panel(ws)
    p.task = asyncio.ensure_future(p._read())
    try:
        yield p
    finally:
        await ws.close()
        await p.task


# -- calls, through a relay that times the INVITE ------------------------------------------------


class InviteTap(asyncio.DatagramProtocol):
    """A UDP relay in front of the server's SIP port, both ways; notes when each INVITE passes."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.invites: list[float] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self.opening: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"INVITE "):
            self.invites.append(time.perf_counter())
        up = self.upstream.get(addr)
        if up is not None:
            up.sendto(data)
            return
        task = asyncio.ensure_future(self._open_upstream(addr, data))
        self.opening.add(task)
        task.add_done_callback(self.opening.discard)

    async def _open_upstream(self, addr: tuple[str, int], first: bytes) -> None:
        tap = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, _: tuple[str, int]) -> None:
                assert tap.transport is not None
                tap.transport.sendto(data, addr)

        loop = asyncio.get_running_loop()
        up, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.server)
        self.upstream[addr] = up
        up.sendto(first)

    def close(self) -> None:
        for up in self.upstream.values():
            up.close()
        if self.transport is not None:
            self.transport.close()


@contextlib.asynccontextmanager
async def invite_tap(server: HotlineServer) -> AsyncIterator[tuple[InviteTap, int]]:
    loop = asyncio.get_running_loop()
    transport, tap = await loop.create_datagram_endpoint(lambda: InviteTap(server.address),
                                                         local_addr=(LOOPBACK, 0))
    try:
        yield tap, transport.get_extra_info("sockname")[1]
    finally:
        tap.close()


async def place_call(server: HotlineServer, *args: str, port: int | None = None) -> str:
    """``hotline call`` (through the tap on ``port``); its output."""
    target = ["--to", f"sip:8000@{LOOPBACK}:{port}"] if port else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "call", "--config", str(server.config_path), *target, *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode(errors="replace")


def an_employee(server: HotlineServer, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A directory employee with a mobile, a department and a location (demo data)."""
    rows = server.query("SELECT * FROM directory WHERE mobile LIKE '+861%' AND department <> ''"
                        " AND location <> '' ORDER BY employee_id LIMIT 20")
    return next(r for r in rows if r["employee_id"] not in skip)


# -- the tests -----------------------------------------------------------------------------------


async def test_the_socket_needs_a_session_and_a_role(server: HotlineServer) -> None:
    url = f"ws://{LOOPBACK}:{server.web_port}/live/ws"
    async with aiohttp.ClientSession() as anonymous:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(url)
        assert refused.value.status == 401
    async with logged_in(server, "zhangwei") as engineer:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await engineer.ws_connect(url)
        assert refused.value.status == 403
        async with engineer.get(base(server) + "/live", allow_redirects=False) as r:
            assert r.status == 403
    async with logged_in(server) as operator:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await operator.ws_connect(url, origin="http://evil.example")
        assert refused.value.status == 403
        async with operator.get(url.replace("ws:", "http:"), headers={"Accept": "application/json"}) as r:
            assert r.status == 426  # what live.js's probe gets when it may connect
        async with panel(operator, server) as p:
            _, snapshot = await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
            assert snapshot["reason"] == "connect" and isinstance(snapshot["epoch"], str)
        same = await operator.ws_connect(url, origin=base(server))  # what a browser on /live sends
        assert (await same.receive_json())["kind"] == "snapshot"
        await same.close()


async def test_calls_stream_to_the_panel_with_the_screen_pop(server: HotlineServer) -> None:
    employee = an_employee(server)
    async with logged_in(server) as operator, panel(operator, server) as p, invite_tap(server) as (tap, port):
        _, snapshot = await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
        assert snapshot["calls"] == []
        latencies = []

        # 1. An unknown caller whose phone sends a display name with markup; menu key 2.
        out = await place_call(server, "--digits", "2", "--seconds", "3", "--name", XSS, port=port)
        assert "answered (200" in out, out
        at, arrived = await p.wait_for("call_arrived", lambda m: m["kind"] == "call_arrived")
        latencies.append(at - tap.invites[0])
        call = arrived["call"]
        await p.wait_for("call_ended", lambda m: m["kind"] == "call_ended" and m["call"] == call)
        story = p.of_call(call)
        kinds = [m["kind"] for m in story]
        assert kinds[0] == "call_arrived" and kinds[-1] == "call_ended" and "ivr_choice" in kinds, kinds
        seqs = [m["seq"] for _, m in p.messages if m["kind"] != "tick"]
        assert seqs == list(range(snapshot["seq"], snapshot["seq"] + len(seqs)))  # no gap, no repeat
        assert arrived["caller"] == "134 1234 5678" and arrived["caller_name"] == XSS  # inert text in JSON
        assert re.fullmatch(r"HL-2026-\d{6}", arrived["issue_number"])
        pop = arrived["pop"]
        assert pop["issue"] == {"id": arrived["issue"], "number": arrived["issue_number"]}
        assert pop["caller"]["name"] == XSS and pop["caller"]["number"] == "134 1234 5678"
        assert pop["caller"]["key"] == TEST_CALLER
        assert (pop["caller"]["department"], pop["caller"]["location"], pop["caller"]["employee_id"]) == (None,) * 3
        assert pop["open_issues"] == [] and pop["recent_issues"] == []
        choice = next(m for m in story if m["kind"] == "ivr_choice")
        assert (choice["digits"], choice["choice"], choice["label"]) == ("2", "network", "网络")
        ended = story[-1]
        assert ended["disposition"] in ("abandoned", "missed", "voicemail"), ended
        assert server.issue_of(call)["number"] == arrived["issue_number"]

        # 2. A directory employee calls twice: the second call pops up the first one's record.
        pops = []
        for _ in range(2):
            tap.invites.clear()
            out = await place_call(server, "--from", employee["mobile"], "--seconds", "1", port=port)
            assert "answered (200" in out, out
            at, arrived = await p.wait_for("the employee's call_arrived", lambda m: (
                m["kind"] == "call_arrived" and m.get("employee_id") == employee["employee_id"]
                and m["call"] not in {x["call"] for x in pops}))
            latencies.append(at - tap.invites[0])
            call = arrived["call"]
            await p.wait_for("call_ended", lambda m, c=call: m["kind"] == "call_ended" and m["call"] == c)
            pops.append(arrived)
        first, second = pops
        for arrived in pops:
            caller = arrived["pop"]["caller"]
            assert (caller["name"], caller["department"], caller["location"], caller["employee_id"]) == (
                employee["name"], employee["department"], employee["location"], employee["employee_id"])
            assert arrived["caller_name"] == employee["name"]
        assert first["pop"]["open_issues"] == [] and first["pop"]["recent_issues"] == []
        (open_issue,) = second["pop"]["open_issues"]
        (recent,) = second["pop"]["recent_issues"]
        assert open_issue["id"] == recent["id"] == first["issue"]
        assert open_issue["number"] == first["issue_number"] and open_issue["status"] == "new"

        # Nothing is left on the board: a new panel's snapshot is empty.
        async with panel(operator, server) as again:
            _, fresh = await again.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
            assert fresh["calls"] == [] and fresh["seq"] == p.last_seq
    print("\nscreen pop latency (INVITE leaving the caller -> call_arrived at the client): "
          + ", ".join(f"{1000 * s:.1f} ms" for s in latencies))


async def test_a_call_in_progress_is_in_the_snapshot(server: HotlineServer) -> None:
    async with logged_in(server) as operator, panel(operator, server) as p:
        await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
        calling = asyncio.ensure_future(place_call(server, "--digits", "2", "--seconds", "4"))
        try:
            _, choice = await p.wait_for("ivr_choice", lambda m: m["kind"] == "ivr_choice")
            async with panel(operator, server) as late:
                _, snapshot = await late.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
            (view,) = snapshot["calls"]
            assert view["call"] == choice["call"] and view["state"] == "ivr"
            assert [(c["digits"], c["choice"], c["label"]) for c in view["ivr"]] == [("2", "network", "网络")]
            assert view["pop"]["caller"]["key"] == TEST_CALLER and view["issue_number"].startswith("HL-")
        finally:
            await calling


async def test_a_returning_panel_gets_only_what_it_missed(server: HotlineServer) -> None:
    async with logged_in(server) as operator:
        async with panel(operator, server) as p:
            _, snapshot = await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
        since, epoch = snapshot["seq"], snapshot["epoch"]
        out = await place_call(server, "--seconds", "1")  # while the panel is away
        assert "answered (200" in out, out
        call = server.ended_calls(len(server.calls()))[-1]["id"]
        async with panel(operator, server, f"?since={since}&epoch={epoch}") as back:
            await back.wait_for("call_ended", lambda m: m["kind"] == "call_ended" and m["call"] == call)
            await asyncio.sleep(0.5)
            header, *missed = [m for _, m in back.messages]
        assert header == {"seq": since, "kind": "resume", "epoch": epoch, "at": header["at"],
                          "missed": len(missed)}
        assert [m["seq"] for m in missed] == list(range(since + 1, since + 1 + len(missed)))
        assert {m["call"] for m in missed} == {call}
        assert [m["kind"] for m in missed][::len(missed) - 1] == ["call_arrived", "call_ended"]
        # Numbers from another epoch (a restarted server), or ahead of ours: a fresh snapshot.
        for query, reason in ((f"?since={since}&epoch=bygone", "epoch"), (f"?since={since + 999}&epoch={epoch}", "gap")):
            async with panel(operator, server, query) as other:
                _, first = await other.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
                assert (first["reason"], first["seq"]) == (reason, missed[-1]["seq"]), query


async def test_the_page_carries_its_labels_and_its_script_inserts_text_only(server: HotlineServer) -> None:
    async with logged_in(server) as operator, operator.get(base(server) + "/live") as r:
        assert r.status == 200
        page = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert '<script src="/static/live.js" defer></script>' in page
    labels = re.search(r'<script type="application/json" id="live-labels">(.*?)</script>', page, re.S)
    assert labels is not None
    assert json.loads(labels.group(1))["state_ivr"]  # translated labels for the script
    assert re.search(r'name="_csrf" value="[^"]+"', page)
    assert '<select name="category"' in page and '<option value="P1">' in page
    source = (ROOT / "web" / "static" / "live.js").read_text(encoding="utf-8")
    script = re.sub(r"^\s*//.*$", "", re.sub(r"/\*.*?\*/", "", source, flags=re.S), flags=re.M)  # code only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script and "createElement" in script
    assert "http://" not in script and "https://" not in script  # nothing from a CDN


async def test_the_quick_form_completes_the_record_as_the_script_does(server: HotlineServer) -> None:
    async with logged_in(server) as operator, panel(operator, server) as p:
        await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
        out = await place_call(server, "--digits", "2", "--seconds", "2")
        assert "answered (200" in out, out
        _, arrived = await p.wait_for("call_arrived", lambda m: m["kind"] == "call_arrived")
        issue = arrived["issue"]
        await p.wait_for("call_ended", lambda m: m["kind"] == "call_ended" and m["call"] == arrived["call"])
        async with operator.get(base(server) + "/live") as r:
            token = re.search(r'name="_csrf" value="([^"]+)"', await r.text())
        assert token is not None
        # live.js: the version just before posting (the IVR set the category after the arrival) ...
        async with operator.get(base(server) + f"/live/issues/{issue}", headers={"Accept": "application/json"}) as r:
            assert r.status == 200
            version = await r.json()
        assert (version["status"], version["category"], version["number"]) == ("new", "network", arrived["issue_number"])
        # ... then the form, as the record page's own forms post it.
        form = {"_csrf": token.group(1), "category": "network", "priority": "P2",
                "description": "VPN drops every ten minutes", "v_status": version["status"],
                "v_updated": version["updated_at"]}
        async with operator.post(base(server) + f"/issues/{issue}/complete", data=form, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        row = server.query("SELECT status, category, priority, description FROM issues WHERE id = ?", (issue,))
        assert row == [{"status": "recorded", "category": "network", "priority": "P2",
                        "description": "VPN drops every ten minutes"}]
        async with operator.get(base(server) + f"/live/issues/{issue}", headers={"Accept": "application/json"}) as r:
            assert (await r.json())["status"] == "recorded"  # live.js does not post again
    async with aiohttp.ClientSession() as anonymous, anonymous.get(
            base(server) + f"/live/issues/{issue}", headers={"Accept": "application/json"}) as r:
        assert r.status == 401


async def test_shutdown_closes_the_sockets_with_going_away(tmp_path: Path) -> None:
    s = make_server(tmp_path)
    try:
        async with logged_in(s) as operator, panel(operator, s) as p:
            await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
            started = time.monotonic()
            code = await asyncio.to_thread(s.stop)
            assert p.task is not None
            await asyncio.wait_for(p.task, 10)
            assert p.ws.close_code == 1001
            assert code == 0 and time.monotonic() - started < 10, s.log()[-3000:]
    finally:
        s.stop()


# -- in process: the same application, with the bus at hand -------------------------------------
#
# What a real server cannot be made to do on cue -- thousands of events in a burst, a session
# check every fraction of a second -- is driven here through init_app served on loopback.


@contextlib.asynccontextmanager
async def in_process(tmp: Path) -> AsyncIterator[tuple[web.Application, HotlineServer]]:
    setup = HotlineServer(tmp / "hotline", PortAllocator(), ServerOptions(clock=BUSINESS_HOURS))
    setup.init_db()
    add_accounts(setup, tmp)
    app = init_app(load_config(setup.config_path),
                   clock=WallClock.starting_at(parse_clock_start(BUSINESS_HOURS)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, setup.web_port)
    await site.start()
    try:
        yield app, setup
    finally:
        await runner.cleanup()


async def test_a_browser_that_does_not_read_is_closed_and_delays_nobody(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    count, blob = 20_000, "x" * 2000  # 40 MB: more than loopback and aiohttp buffer for a socket
    async with in_process(tmp_path) as (app, setup), logged_in(setup) as fast_client, \
            logged_in(setup) as slow_client, panel(fast_client, setup) as fast:
        hub = app[LIVE]
        await fast.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
        slow = await slow_client.ws_connect(f"ws://{LOOPBACK}:{setup.web_port}/live/ws")  # never read
        assert len(hub.clients) == 2
        bus, now = app[BUS], app[CLOCK]()
        for published in range(100, count + 1, 100):
            for _ in range(100):
                bus.publish(IvrChoice(1, now, "menu", "1", blob))  # what a call does: never waits
            while hub.feed.seq < published:  # bursts of 100, as fast as the hub takes them
                await asyncio.sleep(0.001)
        await fast.wait_for("every event", lambda m: m["kind"] == "ivr_choice" and m["seq"] == count, timeout=90)
        seqs = [m["seq"] for _, m in fast.messages if m["kind"] != "tick"]
        assert seqs == list(range(0, count + 1))  # the snapshot, then each event once, in order
        deadline = time.monotonic() + 15
        while len(hub.clients) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(hub.clients) == 1, "the slow socket is still open"
        assert "chenjing's browser is not keeping up; closing its socket" in caplog.text
        # What the slow browser got before its connection was cut is whole and in order; it
        # comes back from there and, being too far behind for the ring, gets a snapshot.
        got = [json.loads(m.data) async for m in slow if m.type == aiohttp.WSMsgType.TEXT]
        seqs = [m["seq"] for m in got]
        assert got[0]["kind"] == "snapshot" and seqs == list(range(len(seqs))), seqs[-5:]
        async with panel(slow_client, setup, f"?since={seqs[-1]}&epoch={got[0]['epoch']}") as back:
            _, first = await back.wait_for("a first message", lambda m: True)
        assert (first["kind"], first["reason"], first["seq"]) == ("snapshot", "gap", count)


async def test_the_socket_keeps_its_session_alive_and_ends_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "SESSION_CHECK", 0.3)
    async with in_process(tmp_path) as (app, setup), logged_in(setup) as client:
        async with client.get(base(setup) + "/live") as r:
            token = re.search(r'name="_csrf" value="([^"]+)"', await r.text())
        assert token is not None
        async with panel(client, setup) as p:
            await p.wait_for("snapshot", lambda m: m["kind"] == "snapshot")
            # Half an hour without a request: the socket is what keeps the session alive.
            stale = (app[CLOCK]() - timedelta(minutes=30)).astimezone(UTC).isoformat(timespec="microseconds")
            with sqlite3.connect(setup.database) as db:
                assert db.execute("UPDATE web_sessions SET last_seen = ?", (stale,)).rowcount == 1
            await asyncio.sleep(1.0)
            (seen,) = setup.query("SELECT last_seen FROM web_sessions")
            assert datetime.fromisoformat(seen["last_seen"]) > app[CLOCK]() - timedelta(minutes=1)
            async with client.post(base(setup) + "/logout", data={"_csrf": token.group(1)},
                                   allow_redirects=False) as r:
                assert r.status == 303
            assert p.task is not None
            await asyncio.wait_for(p.task, 5)
            assert p.ws.close_code == 4401
