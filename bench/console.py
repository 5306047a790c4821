"""Operator console benchmark at 1,000,000 issues: list, record page, search, screen pop.

Processes (all on 127.0.0.1, each stopped by PID):
  * ``hotline serve`` (``--clock`` a Wednesday at 10:00, business hours) on a copy of a
    database holding the demo staff and directory (``hotline init-db --demo``) and
    ``--issues`` issues from :func:`hotline.store.synthetic.fill_history` — calls, audit
    trail, SLA projections, dispatch log, notifications, callbacks, the FTS index. The built
    file is cached under ``var/bench/`` keyed by the schema version, the generator's version
    and the size, so a rerun starts at once (``--rebuild`` makes it again). While building, the
    server runs once on it until its log is quiet: its first start catches up on what a live
    desk keeps current minute by minute (SLA sweep, escalations, scores), which would otherwise
    land in the middle of the measurements; each run also waits for a quiet log before it starts;
  * the baseline, in its own process: a bare aiohttp handler returning a constant, and a bare
    WebSocket fan-out (a UDP datagram in, sent as it is to every socket of ``/ws``);
  * ``hotline call`` (our own UAC, its own process) for each call of the screen-pop test.
Both servers are pinned to CPU 0, this client to CPU 1.

Measured with aiohttp's client, logged in as an operator, one request at a time on a kept-alive
connection, from sending the request to the last byte of the page (the same for the baseline;
operations are interleaved round-robin so noise falls on all alike; a request over 100 ms is
noted on stderr with the time, to set beside the server's log kept by ``--keep``):
  * the issue list (``/issues``): the first page, a deep page (``before`` a random issue),
    filters and sorts as operators use them, and filters that meet on few issues or none (the
    walk's worst case), each mix separately and all together;
  * the record page (``/issues/<id>``) of random issues (old and recent);
  * search (``/issues?q=…``): 3+ character terms (FTS5) and 1–2 character terms;
  * the JSON API with a bearer token made by ``hotline add-token`` on the copy (and the copy's
    ``[api]`` rate limit raised so the bench is never refused): the list (``/api/issues``) with
    some of the console list's mixes, ``before`` a random issue, and a walk down the pages by each
    answer's ``next_before``; and the read (``/api/issues/<id>``, with the audit trail) of random
    issues, old and recent;
  * the monthly service report with its SVG charts (``/reports?month=…``, logged in as a manager
    added to the copy), for random months of the three years and for the last month;
  * screen pop: ``--ws`` WebSocket clients on ``/live/ws``; for each of ``--calls`` calls, from
    the INVITE leaving the caller (noted by a UDP relay of ours in front of the server's SIP port,
    as tests/system/test_console_live.py does) to each client's ``call_arrived`` message (with
    its ``pop``) — one figure per client per call; after each call, the same message through the
    baseline's fan-out to as many sockets. Per-call first/median/last go to stderr.

    .venv/bin/python bench/console.py [--issues 1000000] [--samples 200] [--ws 200] [--calls 20]
                                      [--rebuild] [--keep]
                                      [--only list,record,search,api,report,pop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import cast

import aiohttp

from hotline.store.db import available_migrations
from hotline.store.synthetic import GENERATOR_VERSION, fill_history

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK = "2026-12-02T10:00+08:00"
OPERATOR, PASSWORD = "chenjing", "bench-operator-pass-1"
MANAGER = "wangjun"
"""Opens the report (added to each run's copy, so the cached file stays as built)."""
SEARCHES = ["打印机 卡纸", "VPN 客户端", "报错 0x80070005", "certificate", "keeps crashing",
            "DCS 操作站 黑屏", "资产 A12345", "化工二部 无法登录", "Outlook 邮箱", "重装驱动",
            "MES 终端 频繁掉线", "replaced the power", "视频会议 没有声音", "证书过期",
            "共享盘 access denied", "门禁卡", "Teams 无法连接", "仓储中心 扫描仪", "蓝屏 重启后恢复",
            "研究院 显示器"]
SHORT_SEARCHES = ["蓝屏", "卡纸", "黑屏", "PC", "网"]


def pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def hotline(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"hotline {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def write_config(folder: Path, database: Path) -> tuple[Path, dict[str, int]]:
    ports = {"sip": free_port(socket.SOCK_DGRAM), "web": free_port()}
    rtp = 31000 + (os.getpid() % 200) * 40
    lines = [
        "[site]", 'name = "测试石化 信息中心"', 'timezone = "Asia/Shanghai"', 'area_code = "0571"', "",
        "[database]", f'path = "{database}"', "",
        "[sip]", 'mode = "trunk"', f'listen = ["udp:{HOST}:{ports["sip"]}"]', 'hotline_number = "8000"',
        'allowed_peers = ["127.0.0.0/8"]', "ring_seconds = 0.2", "",
        "[media]", f"rtp_port_min = {rtp}", f"rtp_port_max = {rtp + 19}",
        f'prompts_dir = "{ROOT / "hotline" / "media" / "prompts"}"',
        f'recordings_dir = "{folder / "recordings"}"', "",
        "[web]", f'bind = "{HOST}"', f"port = {ports['web']}",
        'secret = "bench-secret-0123456789abcdef0123456789"', "",
        "[calendar]", f'folder = "{ROOT / "config" / "calendar"}"', "",
        "[[rota]]", 'name = "it-oncall"', 'period = "daily"', 'handover = "08:30"', "anchor = 2026-12-02",
        'members = ["zhangwei", "liuyang"]', 'manager = "wangjun"', "",
        "[ivr]", f'flows_dir = "{ROOT / "ivr_flows"}"', "",
        # One client asking as fast as it can: the default per-token rate would refuse it.
        "[api]", "rate_per_second = 10000", "burst = 100000", "",
    ]
    path = folder / "hotline.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ports


# -- the database ----------------------------------------------------------------------------------


def cached_database(issues: int, rebuild: bool) -> Path:
    """The built file for this schema, generator and size (made when missing)."""
    cache = ROOT / "var" / "bench"
    path = cache / f"console-s{len(available_migrations())}-g{GENERATOR_VERSION}-{issues}.sqlite3"
    if path.exists() and not rebuild:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
    try:
        database = work / "hotline.sqlite3"
        config, ports = write_config(work, database)
        t0 = time.perf_counter()
        hotline("init-db", "--config", str(config), "--demo")
        facts = fill_history(database, issues=issues, now=datetime.fromisoformat(CLOCK))
        (work / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
        hotline("add-user", "--config", str(config), OPERATOR, "--role", "operator",
                "--password-file", str(work / "pw"))
        # The server's first start catches up on what a live desk keeps current minute by minute
        # (SLA sweep and escalations, score ledger, digests): let it do so once, in the cache.
        settle = start_server(config, ports, work / "settle.log")
        try:
            wait_quiet(work / "settle.log", 10.0, 900.0)
        finally:
            stop(settle)
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database.replace(path)
        for stale in cache.glob(f"console-s*-g*-{issues}.sqlite3"):
            if stale != path:  # another schema or generator: never used again
                stale.unlink()
        print(f"built {path.name}: {facts.issues:,} issues, {facts.calls:,} calls, {facts.events:,} events in"
              f" {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


# -- processes -------------------------------------------------------------------------------------


def start(argv: list[str], log: Path, health: str, wait: float = 60) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=lambda: pin(0))
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as r:
            if r.status == 200:
                return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise SystemExit(f"{argv[2:4]} did not come up:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)


def start_server(config: Path, ports: dict[str, int], log: Path) -> subprocess.Popen[bytes]:
    return start([sys.executable, "-m", "hotline", "serve", "--config", str(config), "--clock", CLOCK], log,
                 f"http://{HOST}:{ports['web']}/healthz")


def wait_quiet(log: Path, quiet: float, limit: float) -> None:
    """Until the server's log has not grown for ``quiet`` seconds (its start-up jobs are done)."""
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = log.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)
    raise SystemExit(f"{log}: the server was still busy after {limit:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def baseline_main(port: int) -> None:
    """The baseline server: a handler returning a constant, and a bare WebSocket fan-out: every
    UDP datagram on ``port`` is sent as it is to every socket of ``/ws``."""
    from aiohttp import web

    sockets: set[web.WebSocketResponse] = set()

    async def constant(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        sockets.add(sock)
        try:
            async for _ in sock:
                pass
        finally:
            sockets.discard(sock)
        return sock

    class Trigger(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, _: tuple[str, int]) -> None:
            text = data.decode()
            for sock in sockets:
                task = asyncio.ensure_future(sock.send_str(text))
                sending.add(task)
                task.add_done_callback(sending.discard)

    sending: set[asyncio.Task[None]] = set()

    async def trigger_ctx(_: web.Application) -> AsyncIterator[None]:
        transport, _p = await asyncio.get_running_loop().create_datagram_endpoint(
            Trigger, local_addr=(HOST, port))
        yield
        transport.close()

    app = web.Application()
    app.router.add_get("/", constant)
    app.router.add_get("/ws", ws)
    app.cleanup_ctx.append(trigger_ctx)
    web.run_app(app, host=HOST, port=port, print=None)


# -- HTTP ------------------------------------------------------------------------------------------


async def log_in(client: aiohttp.ClientSession, base: str, user: str = OPERATOR) -> None:
    async with client.get(base + "/login") as r:
        token = re.search(r'name="_csrf" value="([^"]+)"', await r.text())
    if token is None:
        raise SystemExit("no CSRF token on /login")
    async with client.post(base + "/login", allow_redirects=False,
                           data={"_csrf": token.group(1), "user": user, "password": PASSWORD}) as r:
        if r.status != 303:
            raise SystemExit(f"login refused: {r.status}")


async def timed_get(client: aiohttp.ClientSession, url: str, expect: int = 200,
                    seen: Callable[[bytes], None] | None = None) -> float:
    """Milliseconds from sending the request to its body's last byte (``seen`` gets the body)."""
    t0 = time.perf_counter()
    async with client.get(url, allow_redirects=False) as r:
        body = await r.read()
        status = r.status
    ms = (time.perf_counter() - t0) * 1000
    if status != expect:
        raise SystemExit(f"GET {url}: {status} {body[:300]!r}")
    if seen is not None:
        seen(body)
    return ms


def list_mixes(db: Path, rng: random.Random) -> dict[str, Callable[[], str]]:
    """The list requests, by mix: name -> a function giving the next URL (relative)."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        last = int(ro.execute("SELECT MAX(id) FROM issues").fetchone()[0])
        first = int(ro.execute("SELECT MIN(id) FROM issues").fetchone()[0])
        categories = [r[0] for r in ro.execute("SELECT id FROM categories")]
        # The rarest categories with issues: where two selective filters meet on few issues.
        rare = [r[0] for r in ro.execute(
            "SELECT category FROM issues WHERE category IS NOT NULL AND id > ?"
            " GROUP BY category ORDER BY COUNT(*) LIMIT 3", (last - 50000,))]
        owners = [r[0] for r in ro.execute(
            "SELECT owner FROM issues WHERE id > ? AND owner IS NOT NULL GROUP BY owner", (last - 20000,))]
    finally:
        ro.close()

    def pick(items: list[str]) -> str:
        return rng.choice(items)

    def any_id() -> int:
        return rng.randrange(first, last + 1)

    return {
        "first page, newest": lambda: "/issues",
        "deep page (before a random issue)": lambda: f"/issues?before={any_id()}",
        "status in_progress": lambda: "/issues?status=in_progress",
        "status closed, deep page": lambda: f"/issues?status=closed&before={any_id()}",
        "category + status": lambda: f"/issues?category={pick(categories)}&status=closed",
        "owner (open work)": lambda: f"/issues?owner={pick(owners)}&status=in_progress",
        "owner, any status, deep": lambda: f"/issues?owner={pick(owners)}&before={any_id()}",
        "priority P1": lambda: "/issues?priority=P1",
        "source walk-in, last month": lambda: "/issues?source=walk-in&from=2026-11-01&to=2026-11-30",
        "date range (one day, a year ago)": lambda: "/issues?from=2025-12-03&to=2025-12-03",
        "recording overdue": lambda: "/issues?overdue=yes",
        "SLA breached": lambda: "/issues?sla=breached",
        "disposition voicemail": lambda: "/issues?disposition=voicemail",
        "call back flagged": lambda: "/issues?call_back=yes",
        "sort oldest": lambda: "/issues?sort=oldest",
        "sort priority": lambda: "/issues?sort=priority",
        "sort priority, deep page": lambda: f"/issues?sort=priority&before={any_id()}",
        # Filters that meet on few issues (or none): a walk meets every row of its index's range.
        "rare category + P1": lambda: f"/issues?category={pick(rare)}&priority=P1",
        "rare category + missed calls": lambda: f"/issues?category={pick(rare)}&disposition=missed",
        "rare category + recording overdue": lambda: f"/issues?category={pick(rare)}&overdue=yes",
        "monitoring + P1": lambda: "/issues?source=monitoring&priority=P1",
        "call back + closed (none)": lambda: "/issues?call_back=yes&status=closed",
        "nobody's + closed (none)": lambda: "/issues?owner=none&status=closed",
        "SLA breached, sort priority": lambda: "/issues?sla=breached&sort=priority",
        "rare category, sort priority": lambda: f"/issues?category={pick(rare)}&sort=priority",
    }


def record_urls(db: Path, rng: random.Random) -> Callable[[], str]:
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        first, last = ro.execute("SELECT MIN(id), MAX(id) FROM issues").fetchone()
    finally:
        ro.close()

    def url() -> str:
        # Half recent (what operators open), half anywhere in three years.
        if rng.random() < 0.5:
            return f"/issues/{rng.randrange(max(first, last - 5000), last + 1)}"
        return f"/issues/{rng.randrange(first, last + 1)}"
    return url


class ApiPager:
    """A client walking down ``/api/issues`` by each answer's ``next_before``, from the top again
    at the end (or after ``pages``: deep enough to leave the cache's recent pages)."""

    def __init__(self, query: str, pages: int = 50) -> None:
        self.query, self.pages = query, pages
        self.before: int | None = None
        self.depth = 0

    def url(self) -> str:
        if self.before is None:
            return f"/api/issues?{self.query}"
        return f"/api/issues?{self.query}&before={self.before}"

    def seen(self, body: bytes) -> None:
        answer = json.loads(body)
        if not answer["issues"]:
            raise SystemExit(f"{self.url()}: an empty page")
        self.depth += 1
        self.before = answer["next_before"] if self.depth < self.pages else None
        if self.before is None:
            self.depth = 0


def api_mixes(db: Path, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Some of the console list's mixes, asked of the API (the same filters, the same store call)."""
    console = list_mixes(db, rng)
    mixes = ["first page, newest", "deep page (before a random issue)", "status closed, deep page",
             "owner (open work)", "category + status", "date range (one day, a year ago)",
             "sort priority, deep page", "rare category + P1", "nobody's + closed (none)"]

    def of_api(make: Callable[[], str]) -> Callable[[], str]:
        return lambda: "/api" + make()
    return {name: of_api(console[name]) for name in mixes}


def report_urls(db: Path, rng: random.Random) -> Callable[[], str]:
    """Half the last month (what a manager opens), half any month of the file's years."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        first, last = ro.execute("SELECT MIN(created_at), MAX(created_at) FROM issues").fetchone()
    finally:
        ro.close()
    y0, m0, y1, m1 = int(first[:4]), int(first[5:7]), int(last[:4]), int(last[5:7])
    months = [f"{y}-{m:02d}" for y in range(y0, y1 + 1) for m in range(1, 13)
              if (y0, m0) < (y, m) < (y1, m1)]  # whole months only
    return lambda: f"/reports?month={months[-1] if rng.random() < 0.5 else rng.choice(months)}"


async def measure_pages(base: str, baseline: str, db: Path, samples: int, only: set[str],
                        seed: int, api_token: str = "") -> list[tuple[str, list[float], str]]:
    rng = random.Random(seed)
    ops: dict[str, tuple[str, Callable[[], str]]] = {"baseline": ("", lambda: "/")}
    if "list" in only:
        for name, make in list_mixes(db, rng).items():
            ops[f"list: {name}"] = ("list", make)
    if "record" in only:
        ops["record page"] = ("record", record_urls(db, rng))
    if "search" in only:
        ops["search, 3+ characters"] = (
            "search", lambda: "/issues?" + urllib.parse.urlencode({"q": rng.choice(SEARCHES)}))
        ops["search, 1–2 characters"] = (
            "search", lambda: "/issues?" + urllib.parse.urlencode({"q": rng.choice(SHORT_SEARCHES)}))
    pagers: dict[str, ApiPager] = {}
    if "api" in only:
        for name, make in api_mixes(db, rng).items():
            ops[f"API list: {name}"] = ("api list", make)
        pagers["API list: paging by next_before, status closed"] = ApiPager("status=closed&limit=50")
        pagers["API list: paging by next_before, 200 a page"] = ApiPager("limit=200")
        for name, pager in pagers.items():
            ops[name] = ("api list", pager.url)
        record = record_urls(db, rng)
        ops["API read (issue and its audit trail)"] = ("api read", lambda: "/api" + record())
    if "report" in only:
        ops["monthly report with charts"] = ("report", report_urls(db, rng))
    results: dict[str, list[float]] = {name: [] for name in ops}
    jar, one = aiohttp.CookieJar(unsafe=True), aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(base, connector=one, cookie_jar=jar) as client, \
            aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1),
                                  cookie_jar=aiohttp.CookieJar(unsafe=True)) as manager, \
            aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1),
                                  headers={"Authorization": f"Bearer {api_token}"}) as api, \
            aiohttp.ClientSession(baseline, connector=aiohttp.TCPConnector(limit=1)) as bare:
        await log_in(client, "")
        if "report" in only:
            await log_in(manager, "", MANAGER)
        names = list(ops)

        def session_of(name: str) -> aiohttp.ClientSession:
            kind = ops[name][0]
            return (bare if name == "baseline" else manager if kind == "report"
                    else api if kind.startswith("api") else client)

        def seen(name: str) -> Callable[[bytes], None] | None:
            return pagers[name].seen if name in pagers else None

        for name in names:  # warm up: templates compiled, SQLite pages in the cache
            await timed_get(session_of(name), ops[name][1](), seen=seen(name))
        t0 = time.perf_counter()
        for _ in range(samples):
            for name in names:
                ms = await timed_get(session_of(name), ops[name][1](), seen=seen(name))
                results[name].append(ms)
                if ms > 100:  # the tail: when, to set beside the server's log
                    print(f"{time.perf_counter() - t0:7.1f} s {time.strftime('%H:%M:%S')}: {name}"
                          f" {ms:.0f} ms", file=sys.stderr)
    return [(name, results[name], ops[name][0]) for name in names]


# -- the screen pop --------------------------------------------------------------------------------


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

        up, _ = await asyncio.get_running_loop().create_datagram_endpoint(Back, remote_addr=self.server)
        self.upstream[addr] = up
        up.sendto(first)

    def close(self) -> None:
        for up in self.upstream.values():
            up.close()
        if self.transport is not None:
            self.transport.close()


async def measure_pop(base: str, baseline: str, baseline_port: int, config: Path, sip: tuple[str, int],
                      db: Path, sockets: int, calls: int, seed: int) -> tuple[list[float], list[float], int]:
    """Per socket and call, INVITE -> call_arrived (ms); the same for the baseline's fan-out of
    that message (a UDP datagram in, to every socket); sockets that missed a message."""
    rng = random.Random(seed)
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # The callers: the most frequent one (the longest history) and others at random.
        heavy = ro.execute("SELECT employee_id FROM issues WHERE employee_id IS NOT NULL"
                           " AND id > (SELECT MAX(id) - 50000 FROM issues)"
                           " GROUP BY employee_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        mobiles = [r[0] for r in ro.execute("SELECT mobile FROM directory WHERE mobile LIKE '+861%'")]
        (heavy_mobile,) = ro.execute("SELECT mobile FROM directory WHERE employee_id = ?",
                                     (heavy,)).fetchone()
    finally:
        ro.close()
    loop = asyncio.get_running_loop()
    transport, tap = await loop.create_datagram_endpoint(lambda: InviteTap(sip), local_addr=(HOST, 0))
    tap_port = transport.get_extra_info("sockname")[1]
    trigger, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                     remote_addr=(HOST, baseline_port))
    arrivals: dict[tuple[str, int], list[float]] = {}
    sample: list[str] = []

    async def read(key: tuple[str, int], ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and '"kind":"call_arrived"' in msg.data:
                arrivals.setdefault(key, []).append(time.perf_counter())
                if not sample:
                    sample.append(msg.data)

    def collect(side: str, n: int, sent: float, out: list[float]) -> int:
        missed, this = 0, []
        for k in range(sockets):
            got = arrivals.setdefault((side, k), [])
            if len(got) > n:
                this.append((got[n] - sent) * 1000)
            else:
                missed += 1
                got.append(float("inf"))
        out += this
        if this:
            print(f"{side} {n + 1}: first socket {min(this):.1f} ms, median {statistics.median(this):.1f} ms,"
                  f" last {max(this):.1f} ms", file=sys.stderr)
        return missed

    jar, many = aiohttp.CookieJar(unsafe=True), aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=many, cookie_jar=jar) as client, \
            aiohttp.ClientSession(baseline, connector=aiohttp.TCPConnector(limit=0)) as bare:
        await log_in(client, "")
        opened = [(("hotline", k), await client.ws_connect("/live/ws")) for k in range(sockets)]
        opened += [(("baseline", k), await bare.ws_connect("/ws")) for k in range(sockets)]
        readers = [asyncio.ensure_future(read(key, ws)) for key, ws in opened]
        latencies: list[float] = []
        base_latencies: list[float] = []
        missing = 0
        try:
            await asyncio.sleep(1.0)
            for n in range(calls):
                caller = heavy_mobile if n % 2 == 0 else rng.choice(mobiles)
                sent_before = len(tap.invites)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "hotline", "call", "--config", str(config),
                    "--to", f"sip:8000@{HOST}:{tap_port}", "--from", caller, "--seconds", "0.5",
                    "--timeout", "10", cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                await asyncio.wait_for(proc.wait(), 60)
                if len(tap.invites) == sent_before:
                    raise SystemExit(f"call {n}: no INVITE passed the relay")
                await asyncio.sleep(0.3)
                missing += collect("hotline", n, tap.invites[sent_before], latencies)
                # The baseline: the same message, fanned out by a bare aiohttp server.
                sent = time.perf_counter()
                trigger.sendto(sample[0].encode() if sample else b'{"kind":"call_arrived"}')
                await asyncio.sleep(0.3)
                missing += collect("baseline", n, sent, base_latencies)
        finally:
            for _, ws in opened:
                await ws.close()
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            tap.close()
            trigger.close()
    return latencies, base_latencies, missing


# -- report ----------------------------------------------------------------------------------------


def row(name: str, ms: list[float], goal: str, base: float | None) -> str:
    if not ms:
        return f"| {name} | 0 | | | | {goal} |"
    p50, p99 = statistics.median(ms), percentile(ms, 99)
    ratio = f" ({p99 / base:.0f}× baseline)" if base else ""
    return f"| {name} | {len(ms)} | {p50:.2f} ms | **{p99:.2f} ms**{ratio} | {max(ms):.1f} ms | {goal} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200, help="requests per operation")
    ap.add_argument("--ws", type=int, default=200, help="WebSocket clients of the live panel")
    ap.add_argument("--calls", type=int, default=20, help="calls placed for the screen pop")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", default="list,record,search,api,report,pop")
    ap.add_argument("--rebuild", action="store_true", help="build the cached database again")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (server log)")
    ap.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server:
        baseline_main(args.baseline_server)
        return 0
    only = set(args.only.split(","))
    cached = cached_database(args.issues, args.rebuild)
    tmp = Path(tempfile.mkdtemp(prefix="hotline-console-bench-"))
    server = bare = None
    try:
        db = tmp / "hotline.sqlite3"
        t0 = time.perf_counter()
        shutil.copyfile(cached, db)
        print(f"copied {cached.name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        config, ports = write_config(tmp, db)
        if "report" in only:
            (tmp / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
            hotline("add-user", "--config", str(config), MANAGER, "--role", "manager",
                    "--password-file", str(tmp / "pw"))
        # Made as an administrator makes one, on the copy before the server opens it.
        api_token = (hotline("add-token", "--config", str(config), OPERATOR, "--name", "bench").stdout.strip()
                     if "api" in only else "")
        base = f"http://{HOST}:{ports['web']}"
        server = start_server(config, ports, tmp / "serve.log")
        wait_quiet(tmp / "serve.log", 3.0, 300.0)
        bare_port = free_port()
        bare = start([sys.executable, __file__, "--baseline-server", str(bare_port)], tmp / "baseline.log",
                     f"http://{HOST}:{bare_port}/")
        pin(1)
        results = asyncio.run(measure_pages(base, f"http://{HOST}:{bare_port}", db, args.samples, only,
                                            args.seed, api_token)) if only - {"pop"} else []
        base_p99 = percentile(results[0][1], 99) if results else None
        print(f"issues: {args.issues:,}; database {db.stat().st_size / 1e6:.0f} MB;"
              f" {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average {os.getloadavg()[0]:.1f}")
        print()
        print("| operation | n | p50 | p99 | max | goal |")
        print("|---|---|---|---|---|---|")
        goals = {"list": "p99 ≤ 50 ms", "record": "p99 ≤ 50 ms", "search": "p99 ≤ 100 ms",
                 "api list": "p99 ≤ 50 ms", "api read": "p99 ≤ 50 ms", "report": "p99 ≤ 1 s", "": ""}
        by_kind: dict[str, list[float]] = {}
        for name, ms, kind in results:
            print(row(name if kind else "baseline: bare aiohttp handler returning a constant", ms, "",
                      None if not kind else base_p99))
            by_kind.setdefault(kind, []).extend(ms)
        for kind in ("list", "record", "search", "api list", "api read", "report"):
            if kind in by_kind:
                print(row(f"**all {kind} requests**", by_kind[kind], goals[kind], base_p99))
        if "pop" in only:
            latencies, base_ms, missing = asyncio.run(measure_pop(
                base, f"http://{HOST}:{bare_port}", bare_port, config, ("127.0.0.1", ports["sip"]), db,
                args.ws, args.calls, args.seed))
            print(row(f"baseline: bare aiohttp fan-out of that message to {args.ws} sockets", base_ms, "",
                      None))
            print(row(f"screen pop: INVITE -> call_arrived at each of {args.ws} sockets, {args.calls} calls"
                      f" ({missing} missing)", latencies, "p99 ≤ 100 ms",
                      percentile(base_ms, 99) if base_ms else None))
    finally:
        for proc in (bare, server):
            if proc is not None:
                stop(proc)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
