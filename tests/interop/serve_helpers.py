"""``hotline serve`` as a real process for the call-control tests: config, database, start, stop.

:class:`HotlineServer` writes a configuration of its own under the test's tmp dir (free SIP,
web and RTP ports on 127.0.0.1, the repository's IVR flows, prompts and calendar, a rota of
two engineers and a manager whose shift starts on the day of ``--clock``), loads the demo
data with ``hotline init-db --demo``, lets the test change staff records (the engineers'
mobiles become the users the test's phones register at kamailio), then starts ``hotline
serve`` and waits for ``/healthz``. The server's output goes to a log file the test can read;
it is stopped by PID (SIGINT, then SIGKILL), or killed with SIGKILL on purpose.

Rows are read back with the standard ``sqlite3`` module, read-only, as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.interop.peers import LOOPBACK, Kamailio, PortAllocator, Sipp

ENGINEERS = ("zhangwei", "liuyang")
"""The rota's members, in order: the first is primary on the ``--clock`` day."""
MANAGER = "wangjun"
CALLER = "+8613412345678"
"""A caller number the demo directory does not hold."""


async def register_at_kamailio(sipp: Sipp, kamailio: Kamailio, user: str, contact_port: int,
                               workdir: Path) -> None:
    """Bind ``user`` at kamailio's open port to a phone on ``contact_port`` (e.g. a sipp UAS,
    which cannot register itself), as a PBX knows its extensions."""
    csv = workdir / f"register-{user}.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    csv.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password=x]\n")
    run = sipp.start("uac_register.xml", kamailio.open_address, calls=1, inf=str(csv),
                     variables={"expires": "600", "contact_hostport": f"{LOOPBACK}:{contact_port}"},
                     timeout_s=10)
    result = await run.wait_async(20)
    assert result.ok, result.describe()


@dataclass
class ServerOptions:
    clock: str | None = None
    """``--clock`` instant, e.g. "2026-10-01T23:00+08:00"; None: the real time."""
    desk: tuple[str, ...] = ()
    desk_strategy: str = "order"
    desk_ring_seconds: float = 6.0
    oncall_ring_seconds: float = 6.0
    accept_seconds: float = 4.0
    proxy: str | None = None
    """sip.outbound.proxy (kamailio), for dialling the engineers' mobiles."""
    ring_seconds: float = 0.2
    max_calls: int | None = None
    max_calls_per_caller: int | None = None
    record: bool = False
    notify_url: str | None = None
    """A webhook channel (delivery may fail: the outbox rows are what the tests read)."""
    flows_dir: Path | None = None
    rtp_ports: int = 40
    relay_workers: int = 0
    mode: str = "bridge"
    """[routing] mode: "bridge", "redirect" or "refer"."""
    rate: str = ""
    extra: str = ""
    """More TOML appended to the file."""


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def run_all(argvs: list[list[str]], timeout: float = 90) -> None:
    """``hotline`` commands run side by side; each must succeed (its output is the message)."""
    procs = [subprocess.Popen([sys.executable, "-m", "hotline", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for argv in argvs]
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out + err


@dataclass
class HotlineServer:
    tmp: Path
    ports: PortAllocator
    options: ServerOptions = field(default_factory=ServerOptions)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.sip_port = self.ports.one()
        self.web_port = self.ports.one()
        self.rtp_base = self.ports.block(self.options.rtp_ports)
        self.database = self.tmp / "hotline.sqlite3"
        self.recordings = self.tmp / "recordings"
        self.config_path = self.tmp / "hotline.toml"
        self.log_path = self.tmp / "serve.log"
        self.write_config()

    # -- set-up ----------------------------------------------------------------------------

    def anchor(self) -> str:
        """The rota's anchor: the ``--clock`` day (its 08:30 handover has passed by the clock's
        time when that is later; else the day before), so the first engineer is primary."""
        if self.options.clock is None:
            day = datetime.now().astimezone().date()
            return day.isoformat()
        instant = datetime.fromisoformat(self.options.clock)
        day = instant.date()
        if (instant.hour, instant.minute) < (8, 30):
            day = day.fromordinal(day.toordinal() - 1)
        return day.isoformat()

    def write_config(self) -> None:
        o = self.options
        lines = [
            "[site]", 'name = "测试石化 信息中心"', 'timezone = "Asia/Shanghai"', 'area_code = "0571"', "",
            "[database]", f'path = "{self.database}"', 'synchronous = "normal"', "",
            "[sip]", 'mode = "trunk"',
            f'listen = ["udp:{LOOPBACK}:{self.sip_port}", "tcp:{LOOPBACK}:{self.sip_port}"]',
            'hotline_number = "8000"', 'allowed_peers = ["127.0.0.0/8"]',
            f"ring_seconds = {o.ring_seconds}",
        ]
        if o.max_calls is not None:
            lines.append(f"max_calls = {o.max_calls}")
        if o.max_calls_per_caller is not None:
            lines.append(f"max_calls_per_caller = {o.max_calls_per_caller}")
        lines += ["", "[sip.outbound]"]
        if o.proxy:
            lines.append(f'proxy = "{o.proxy}"')
        lines += ['caller_id = "pai"', ""]
        if o.rate:
            lines += ["[sip.rate_limits]", o.rate, ""]
        lines += [
            "[media]", f"rtp_port_min = {self.rtp_base}", f"rtp_port_max = {self.rtp_base + o.rtp_ports - 1}",
            f'prompts_dir = "{ROOT / "hotline" / "media" / "prompts"}"',
            f'recordings_dir = "{self.recordings}"', "rtp_timeout = 20",
            f"relay_workers = {o.relay_workers}", "",
            "[web]", f'bind = "{LOOPBACK}"', f"port = {self.web_port}",
            'secret = "test-secret-0123456789abcdef0123456789"', "",
            "[calendar]", f'folder = "{ROOT / "config" / "calendar"}"', "",
            "[[rota]]", 'name = "it-oncall"', 'period = "daily"', 'handover = "08:30"',
            f"anchor = {self.anchor()}", f"members = {_toml_list(ENGINEERS)}", f'manager = "{MANAGER}"', "",
            "[ivr]", f'flows_dir = "{o.flows_dir or ROOT / "ivr_flows"}"', "",
            "[routing]", f"desk = {_toml_list(o.desk)}", f'desk_strategy = "{o.desk_strategy}"',
            f"desk_ring_seconds = {o.desk_ring_seconds}", f"oncall_ring_seconds = {o.oncall_ring_seconds}",
            f"accept_seconds = {o.accept_seconds}", f"record = {'true' if o.record else 'false'}",
            f'mode = "{o.mode}"', "",
        ]
        if o.notify_url:
            lines += ["[[desk.channel]]", 'name = "robot"', 'kind = "webhook"', f'url = "{o.notify_url}"',
                      'template = "generic_sms.json.j2"', ""]
        lines.append(o.extra)
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def hotline(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)

    def init_db(self) -> None:
        result = self.hotline("init-db", "--config", str(self.config_path), "--demo")
        assert result.returncode == 0, result.stderr

    def add_users(self, users: Mapping[str, str | Sequence[str]], password: str) -> None:
        """Console accounts with ``hotline add-user`` (user -> role or roles), all with ``password``,
        made side by side."""
        secret = self.tmp / "add-user-password"
        secret.write_text(password + "\n", encoding="utf-8")
        run_all([["add-user", "--config", str(self.config_path), user,
                  *(f"--role={r}" for r in ([roles] if isinstance(roles, str) else roles)),
                  "--password-file", str(secret)] for user, roles in users.items()])

    def set_mobile(self, person: str, mobile: str) -> None:
        """Give a staff member the mobile number the test's phone answers (before start)."""
        with sqlite3.connect(self.database) as db:
            assert db.execute("UPDATE people SET mobile = ? WHERE id = ?", (mobile, person)).rowcount == 1

    # -- running ---------------------------------------------------------------------------

    def start(self, *, wait: float = 30.0) -> None:
        argv = [sys.executable, "-m", "hotline", "serve", "--config", str(self.config_path)]
        if self.options.clock:
            argv += ["--clock", self.options.clock]
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{self.web_port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hotline serve did not come up:\n{self.log()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT, then SIGKILL: the return code (None if it was not running)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(5)
        self.process = None

    def sighup(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def uri(self) -> str:
        return f"sip:8000@{LOOPBACK}:{self.sip_port}"

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.sip_port

    # -- reading the record ----------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, params)]

    def calls(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM calls ORDER BY id")
        for row in rows:
            row["attempts"] = json.loads(row["attempts"])
            row["menu"] = json.loads(row["menu"])
        return rows

    def issue_of(self, call_id: int) -> dict[str, Any]:
        (row,) = self.query("SELECT * FROM issues WHERE call_id = ?", (call_id,))
        return row

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; calls: {self.calls()}\n"
                                     f"server log:\n{self.log()[-6000:]}")
            time.sleep(0.1)

    def ended_calls(self, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``count`` calls have ended; all calls."""
        return self.wait_for(
            f"{count} ended call(s)",
            lambda: (lambda c: c if len([r for r in c if r["ended_at"]]) >= count else None)(self.calls()),
            timeout)
