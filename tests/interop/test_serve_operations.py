"""Operating a running ``hotline serve``: /metrics, /healthz, the access log, backup and restore.

Every test runs the server as a real process (tests/interop/serve_helpers.py) and talks to it
the way an operator's tools would: Prometheus text parsed with prometheus-client's own parser
after a real SIP call (our UAC, ``hotline call``), ``/healthz`` read as JSON, the access log
read from its file, and ``hotline backup``/``hotline restore`` run as commands while sipp
keeps calls coming.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hotline.metrics import GAUGE_TTL
from tests.conftest import ROOT
from tests.interop.peers import LOOPBACK, Kamailio, PortAllocator, Sipp
from tests.interop.serve_helpers import ENGINEERS, MANAGER, HotlineServer, ServerOptions

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

CHAIN = (*ENGINEERS, MANAGER)
"""The on-call chain of serve_helpers' rota: primary, secondary, manager."""


def start_server(tmp: Path, ports: PortAllocator, options: ServerOptions | None = None, *,
                 web: str = "") -> HotlineServer:
    """A server with its demo database; ``web`` adds keys to its ``[web]`` table."""
    server = HotlineServer(tmp, ports, options or ServerOptions())
    if web:
        text = server.config_path.read_text(encoding="utf-8")
        server.config_path.write_text(text.replace("[web]\n", f"[web]\n{web}\n", 1), encoding="utf-8")
    server.init_db()
    return server


def get(server: HotlineServer, path: str, *, source: str | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (any status), optionally from another loopback address."""
    conn = http.client.HTTPConnection(LOOPBACK, server.web_port, timeout=10,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(server: HotlineServer) -> Samples:
    status, body = get(server, "/metrics")
    assert status == 200, body
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def health(server: HotlineServer) -> tuple[int, dict[str, Any]]:
    status, body = get(server, "/healthz")
    return status, json.loads(body)


@pytest.fixture
def stop_later() -> Iterator[list[HotlineServer]]:
    servers: list[HotlineServer] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


# -- /metrics after a real call, its allow-list, the access log -----------------------------------


@pytest.mark.timeout(120)
def test_metrics_count_a_real_call_and_the_access_log_records_requests(
    tmp_path: Path, free_ports: PortAllocator, stop_later: list[HotlineServer],
) -> None:
    access = tmp_path / "logs" / "access.log"
    server = start_server(tmp_path / "hotline", free_ports, ServerOptions(rtp_ports=20),
                          web=f'access_log = "{access}"\nmetrics_allow = ["127.0.0.1"]')
    stop_later.append(server)
    (tmp_path / "pw").write_text("operator-pass-123\n", encoding="utf-8")
    added = server.hotline("add-user", "--config", str(server.config_path), "chenjing", "--role", "operator",
                           "--password-file", str(tmp_path / "pw"))
    assert added.returncode == 0, added.stderr
    server.start()
    before = scrape(server)

    call = subprocess.Popen([sys.executable, "-m", "hotline", "call", "--config", str(server.config_path),
                             "--digits", "2", "--seconds", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 15
        while True:  # while the call is up: one call in progress, its RTP stream open
            during = scrape(server)
            if value(during, "hotline_rtp_streams") >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        out, err = call.communicate(timeout=60)
    finally:
        if call.poll() is None:
            call.kill()
            call.communicate()
    assert call.returncode == 0, out + err
    assert value(during, "hotline_calls_active") == 1 and value(during, "hotline_rtp_streams") == 1
    assert value(during, "hotline_sip_dialogs") == 1
    (row,) = server.ended_calls(1)
    assert (row["disposition"], row["menu"][0]["choice"]) == ("abandoned", "network")

    deadline = time.monotonic() + 10 + GAUGE_TTL
    while True:
        # The counters follow the call's events a moment after its record is written; the
        # database gauges are re-read at most every GAUGE_TTL seconds.
        after = scrape(server)
        if (total(after, "hotline_calls_total") > total(before, "hotline_calls_total")
                and total(after, "hotline_sla_open_issues") > 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert value(after, "hotline_calls_total", disposition="abandoned") - \
        value(before, "hotline_calls_total", disposition="abandoned") == 1
    assert total(after, "hotline_calls_total") - total(before, "hotline_calls_total") == 1
    assert value(after, "hotline_ivr_choices_total", node="menu", choice="network") - \
        value(before, "hotline_ivr_choices_total", node="menu", choice="network") == 1
    assert total(after, "hotline_ivr_choices_total") - total(before, "hotline_ivr_choices_total") == 1
    assert value(after, "hotline_calls_arrived_total") - value(before, "hotline_calls_arrived_total") == 1
    # The SIP endpoint's own counters: our UAC's INVITE, ACK and BYE in, the 180 and 200 out.
    for method in ("INVITE", "ACK", "BYE"):
        assert value(after, "hotline_sip_requests_total", direction="in", method=method) >= 1, method
    for status in ("180", "200"):
        assert value(after, "hotline_sip_responses_total", direction="out", status=status) >= 1, status
    # The caller's RTP leg, from the call record: packets were expected, the jitter observed once.
    assert value(after, "hotline_rtp_packets_expected_total", leg="caller") > 0
    assert value(after, "hotline_rtp_jitter_milliseconds_count", leg="caller") == 1
    assert value(after, "hotline_rtp_loss_ratio_count", leg="caller") == 1
    assert value(after, "hotline_calls_active") == 0
    assert value(after, "hotline_outbox_backlog") >= 0 and ("hotline_outbox_dead", ()) in after
    assert total(after, "hotline_sla_open_issues") >= 1  # the call's own issue is open
    assert value(after, "hotline_http_request_duration_seconds_count",
                 method="GET", route="/metrics", status="200") >= 1

    # Only [web] metrics_allow may read the figures; the request still reaches the access log.
    status, body = get(server, "/metrics", source="127.0.0.2")
    assert status == 403, body
    secret = "0123456789abcdef-secret"
    status, _ = get(server, f"/recordings/1.wav?expires=1&sig={secret}")
    assert status in (403, 404)

    # A logged-in operator's requests carry their id.
    console = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://{LOOPBACK}:{server.web_port}"
    with console.open(base + "/login", timeout=10) as r:
        token = re.search(r'name="_csrf" value="([^"]+)"', r.read().decode())
    assert token is not None
    form = urllib.parse.urlencode({"_csrf": token.group(1), "user": "chenjing", "password": "operator-pass-123"})
    with console.open(base + "/login", data=form.encode(), timeout=10) as r:
        assert r.status == 200  # the redirect after login, followed to the console
    with console.open(base + "/home", timeout=10) as r:
        assert r.status == 200

    line = r'\S+ {addr} "GET {path}" {status} \d+B \d+\.\dms user={user}'
    deadline = time.monotonic() + 5
    while "GET /home" not in access.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.1)  # a line is written once its response has gone out
    lines = access.read_text(encoding="utf-8").splitlines()
    assert any(re.fullmatch(line.format(addr=r"127\.0\.0\.1", path="/metrics", status=200, user="-"), x) for x in lines), lines
    assert any(re.fullmatch(line.format(addr=r"127\.0\.0\.2", path="/metrics", status=403, user="-"), x) for x in lines), lines
    assert any(re.fullmatch(line.format(addr=r"127\.0\.0\.1", path=re.escape("/recordings/1.wav?expires=1&sig=***"),
                                        status=r"40[34]", user="-"), x) for x in lines), lines
    assert any(re.fullmatch(line.format(addr=r"127\.0\.0\.1", path="/home", status=200, user="chenjing"), x)
               for x in lines), lines
    assert secret not in access.read_text(encoding="utf-8")
    assert "operator-pass-123" not in access.read_text(encoding="utf-8")
    assert '"GET /metrics"' not in server.log()  # the file only, not the server's log


@pytest.mark.timeout(120)
def test_metrics_count_forwarding_outcomes_and_escalations_along_the_oncall_chain(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, stop_later: list[HotlineServer],
) -> None:
    # National Day night: the default flow rings the on-call chain (two engineers, then the
    # manager) through kamailio, where none of their mobiles is registered: three 404s.
    server = start_server(tmp_path / "hotline", free_ports, ServerOptions(
        clock="2026-10-01T23:00+08:00", proxy=f"sip:{LOOPBACK}:{kamailio.open_port}", rtp_ports=20))
    for person, mobile in zip(CHAIN, ("+8613900000001", "+8613900000002", "+8613900000003"), strict=True):
        server.set_mobile(person, mobile)
    stop_later.append(server)
    server.start()
    before = scrape(server)
    call = subprocess.run([sys.executable, "-m", "hotline", "call", "--config", str(server.config_path),
                           "--digits", "4", "--seconds", "12"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert call.returncode == 0, call.stdout + call.stderr
    (row,) = server.ended_calls(1)
    assert [(a["person"], a["outcome"], a.get("status")) for a in row["attempts"]] == [
        (p, "failed", 404) for p in CHAIN], row
    deadline = time.monotonic() + 10
    while True:
        after = scrape(server)
        if total(after, "hotline_calls_total") > total(before, "hotline_calls_total") or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    def gained(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert gained("hotline_forward_attempts_total", outcome="failed") == 3
    assert total(after, "hotline_forward_attempts_total") - total(before, "hotline_forward_attempts_total") == 3
    assert gained("hotline_escalations_total") == 2  # the secondary, then the manager
    assert gained("hotline_routes_total", route="oncall") == 1
    assert gained("hotline_calls_total", disposition=row["disposition"]) == 1
    assert gained("hotline_sip_requests_total", direction="out", method="INVITE") == 3
    assert gained("hotline_sip_responses_total", direction="in", status="404") == 3


# -- /healthz --------------------------------------------------------------------------------------


def launch(server: HotlineServer, *, clock: str | None = None, wait: float = 30.0) -> tuple[int, dict[str, Any]]:
    """Start ``hotline serve`` and return its first /healthz answer, whatever its status (the
    helper's ``start`` waits for a 200, which an unhealthy server never gives)."""
    argv = [sys.executable, "-m", "hotline", "serve", "--config", str(server.config_path)]
    if clock:
        argv += ["--clock", clock]
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait
    while True:
        try:
            return health(server)
        except OSError:
            assert server.process.poll() is None and time.monotonic() < deadline, server.log()
            time.sleep(0.2)


def registering(server: HotlineServer, kamailio: Kamailio, password: str) -> None:
    """Switch the server's configuration to register mode at kamailio's digest port."""
    text = server.config_path.read_text(encoding="utf-8").replace('mode = "trunk"', 'mode = "register"', 1)
    text += (f'\n[sip.register]\nregistrar = "sip:{LOOPBACK}:{kamailio.auth_port}"\nusername = "hotline"\n'
             f'password = "{password}"\nexpires = 600\n')
    server.config_path.write_text(text, encoding="utf-8")


@pytest.mark.timeout(120)
def test_healthz_reports_each_check_and_a_refused_flow_reload_stays_healthy(
    tmp_path: Path, free_ports: PortAllocator, stop_later: list[HotlineServer],
) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "ivr_flows", flows)
    server = start_server(tmp_path / "hotline", free_ports, ServerOptions(flows_dir=flows, rtp_ports=20))
    stop_later.append(server)
    server.start()
    status, body = health(server)
    assert status == 200, body
    assert (body["status"], body["failed"]) == ("ok", [])
    checks = body["checks"]
    assert set(checks) == {"database", "sip", "registration", "flows", "outbox", "calendar"}
    assert all(check["ok"] for check in checks.values()), checks
    port = server.sip_port
    assert checks["sip"]["listening"] == [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"]
    assert checks["registration"] == {"ok": True, "mode": "trunk"}
    assert "default" in checks["flows"]["flows"] and "last_reload" not in checks["flows"]
    assert {k: checks["outbox"][k] for k in ("backlog", "retrying", "dead")} == {"backlog": 0, "retrying": 0,
                                                                                 "dead": 0}
    assert {2024, 2025, 2026} <= set(checks["calendar"]["covered"])
    assert body["calls"] == {"active": 0, "refused": 0}
    assert body["loop"] == "uvloop"  # the default where uvloop is installed (a dependency here)

    # A flow file broken, then SIGHUP: the reload is refused, calls keep the old flows: healthy.
    broken = next(flows.glob("*.toml"))
    broken.write_text(broken.read_text(encoding="utf-8") + "\n[nodes.bad\n", encoding="utf-8")
    server.sighup()
    deadline = time.monotonic() + 10
    while True:
        status, body = health(server)
        if "last_reload" in body["checks"]["flows"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200, body
    assert body["checks"]["flows"]["last_reload"] == "refused"
    assert any(broken.name in p for p in body["checks"]["flows"]["reload_problems"]), body


@pytest.mark.timeout(120)
def test_healthz_is_503_naming_the_calendar_when_this_year_has_no_holidays(
    tmp_path: Path, free_ports: PortAllocator, stop_later: list[HotlineServer],
) -> None:
    # config/calendar holds no cn-2031.toml: on 2 March 2031 the holidays are unknown.
    server = start_server(tmp_path / "hotline", free_ports,
                          ServerOptions(clock="2031-03-02T10:00+08:00", rtp_ports=20))
    stop_later.append(server)
    status, body = launch(server, clock="2031-03-02T10:00+08:00")
    assert status == 503, body
    assert (body["status"], body["failed"]) == ("unhealthy", ["calendar"])
    calendar = body["checks"]["calendar"]
    assert calendar["ok"] is False and 2031 not in calendar["covered"]
    assert "NO HOLIDAY CALENDAR for 2031" in calendar["warning"]
    shifted = datetime.fromisoformat(body["clock"]) - datetime.fromisoformat("2031-03-02T10:00+08:00")
    assert timedelta(0) <= shifted < timedelta(minutes=1) and body["clock_shifted"] is True
    assert body["checks"]["database"]["ok"] and body["checks"]["sip"]["ok"]


@pytest.mark.timeout(150)
def test_healthz_follows_the_registration_in_register_mode(
    tmp_path: Path, free_ports: PortAllocator, kamailio: Kamailio, stop_later: list[HotlineServer],
) -> None:
    good = start_server(tmp_path / "good", free_ports, ServerOptions(rtp_ports=20))
    registering(good, kamailio, kamailio.users["hotline"])
    stop_later.append(good)
    launch(good)
    deadline = time.monotonic() + 15
    while True:  # the first REGISTER is challenged, then accepted
        status, body = health(good)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200, body
    registration = body["checks"]["registration"]
    assert (registration["state"], registration["registrar"]) == ("registered", f"sip:{LOOPBACK}:{kamailio.auth_port}")
    assert registration["expires"] > 0
    assert value(scrape(good), "hotline_sip_registered") == 1
    good.stop()

    bad = start_server(tmp_path / "bad", free_ports, ServerOptions(rtp_ports=20))
    registering(bad, kamailio, "not-the-password")
    stop_later.append(bad)
    launch(bad)
    deadline = time.monotonic() + 15
    while True:
        status, body = health(bad)
        if body["checks"]["registration"].get("state") == "failed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 503, body
    assert body["failed"] == ["registration"], body
    assert body["checks"]["registration"]["status"] in (401, 403, 407), body
    assert value(scrape(bad), "hotline_sip_registered") == 0


# -- backup under load, restore ----------------------------------------------------------------------


def run_hotline(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def call_rows(database: Path) -> dict[int, tuple[Any, ...]]:
    # Closed at once: an unclosed connection keeps its lock on the file until the garbage
    # collector finds it, and restore rightly refuses a database someone holds open.
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return {r[0]: tuple(r) for r in db.execute(
            "SELECT id, sip_call_id, started_at, caller_key FROM calls ORDER BY id")}


LOAD_CALLS = 120
LOAD_RATE = 12.0


@pytest.mark.timeout(180)
async def test_backup_under_load_restores_every_committed_call(
    tmp_path: Path, free_ports: PortAllocator, sipp: Sipp, stop_later: list[HotlineServer],
) -> None:
    # 200 RTP port pairs: enough that calls held 0.5 s and resting 10 s are answered, not refused.
    server = start_server(tmp_path / "hotline", free_ports, ServerOptions(rtp_ports=400))
    stop_later.append(server)
    server.start()
    config = str(server.config_path)
    load = sipp.start("uac_load.xml", server.address, service="8000", calls=LOAD_CALLS, rate=LOAD_RATE,
                      hold_ms=500, concurrent=20, timeout_s=60)
    deadline = time.monotonic() + 30
    while len(call_rows(server.database)) < 30:
        assert time.monotonic() < deadline and load.process.alive, server.log()[-4000:]
        time.sleep(0.1)
    committed = call_rows(server.database)  # each row here was committed before the backup began
    backup = tmp_path / "backup" / "hotline-backup.sqlite3"
    backup.parent.mkdir()
    result = run_hotline("backup", "--config", config, str(backup))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(rf"{re.escape(str(server.database))} backed up to {re.escape(str(backup))}: "
                        r"\d+\.\d MB \(\d+ bytes\) in \d+\.\d\d s, schema version \d+\n", result.stdout), result.stdout
    during = len(call_rows(server.database))

    # The server holds its database: a restore is refused and changes nothing.
    refused = run_hotline("restore", "--config", config, str(backup))
    assert refused.returncode == 1
    assert "in use by a running hotline server" in refused.stderr, refused.stderr
    assert load.process.alive or len(call_rows(server.database)) >= during

    outcome = await load.wait_async(90)
    final = call_rows(server.database)
    assert len(final) > len(committed), "the backup did not run while calls were being written"
    assert len(final) >= LOAD_CALLS * 0.9, outcome.describe()
    server.stop()

    # A damaged copy of the backup is refused too.
    damaged = tmp_path / "backup" / "damaged.sqlite3"
    data = bytearray(backup.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page // 2) * page
    data[middle:middle + page] = b"\xa5" * page
    damaged.write_bytes(bytes(data))
    refused = run_hotline("restore", "--config", config, str(damaged))
    assert refused.returncode == 1, refused.stdout
    assert re.search(r"integrity_check|not a usable SQLite database", refused.stderr), refused.stderr
    assert call_rows(server.database) == final

    restored = run_hotline("restore", "--config", config, str(backup))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    kept = re.search(r"kept as (\S+)", restored.stdout)
    assert kept is not None, restored.stdout
    assert call_rows(Path(kept.group(1))) == final  # the database it replaced, whole
    with contextlib.closing(sqlite3.connect(server.database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    back = call_rows(server.database)
    missing = {i: r for i, r in committed.items() if back.get(i) != r}
    assert not missing, f"{len(missing)} committed call(s) missing from the restored database"
    assert len(committed) <= len(back) <= during
    # Every call's issue came along with it (one transaction wrote both).
    with contextlib.closing(sqlite3.connect(server.database)) as db:
        orphans = db.execute("SELECT COUNT(*) FROM calls c WHERE NOT EXISTS"
                             " (SELECT 1 FROM issues i WHERE i.call_id = c.id)").fetchone()[0]
    assert orphans == 0

    server.start()  # the restored database serves again
    status, body = health(server)
    assert status == 200, body
