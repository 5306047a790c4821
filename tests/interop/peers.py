"""Start, drive and stop the real SIP peers of the interop tests: sipp, kamailio, baresip, pyVoIP.

Everything here talks to 127.0.0.1 only, writes only under the directory it
is given (the test's ``tmp_path``), and is bounded: every process is started
with its own limits (sipp ``-m``/``-timeout``, kamailio and baresip stopped at
teardown) and stopped by PID -- SIGTERM, then SIGKILL after 3 s.  Ports come
from a :class:`PortAllocator` whose random base keeps parallel test runs on one
machine apart.

Versions these helpers were written against (Debian 12): sipp 3.6.1
(package sip-tester), kamailio 5.6.3 (+ kamailio-sqlite-modules), baresip
1.0.0 (baresip-core), pyVoIP 1.6.8.  Things those versions need that are not
obvious:

* sipp: ``-i 127.0.0.1 -mi 127.0.0.1`` or it puts the primary interface's
  address into Via/Contact/SDP; every sipp needs its own ``-mp`` (a taken
  media port is fatal); ``play_pcap_audio`` needs a raw socket (root or
  CAP_NET_RAW); scenario variables used only once are fatal.
* kamailio: the DB URL is rendered into the config; ``-Y`` needs a writable
  run directory; the SQLite DB must hold a ``version`` table row for
  ``subscriber`` (version 7) or auth_db refuses to start.
* baresip: ``net_interface 127.0.0.1`` (not ``lo``); no sound card, so the
  source is a WAV (``aufile``) -- and baresip hangs up when the file ends,
  hence the padded WAV; the stdio UI needs a TTY, so it is driven over
  ``ctrl_tcp`` (JSON in netstrings).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ports import PortAllocator, is_free

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
DATA = HERE / "data"
LOOPBACK = "127.0.0.1"

#: Users of kamailio's subscriber table: username -> password (domain 127.0.0.1).
KAMAILIO_USERS = {
    "oncall": "oncallpw",
    "+4915112345678": "mobilepw",
    "hotline": "hotlinepw",
    "alice": "alicepw",
}


#: Why a test that replays RTP pcaps with sipp cannot run here.
NO_RAW_SOCKET = "sipp's play_pcap_audio needs a raw socket (root or CAP_NET_RAW); CI runs as root"


class PeerError(RuntimeError):
    """A peer failed to start or misbehaved; the message says which and shows its log."""


# -- ports ------------------------------------------------------------------------------------


_free = is_free


# -- processes --------------------------------------------------------------------------------


def require_binary(name: str) -> str:
    """Absolute path of ``name`` or :class:`PeerError`."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if path is None:
        raise PeerError(f"{name} is not installed (scripts/install-test-deps.sh installs it)")
    return path


def can_play_pcap() -> bool:
    """Whether sipp's ``play_pcap_audio`` can open its raw socket (root or CAP_NET_RAW)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies (Linux PR_SET_PDEATHSIG).

    Teardown stops every peer by PID; this covers the test run itself being
    killed, so no kamailio or baresip outlives it.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Process:
    """A peer process started by these helpers and stopped only by its PID."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for the exit code; :class:`PeerError` (after stopping it) if it takes longer."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerError(f"{self.name} still running after {timeout} s\n{self.log_tail()}") from None

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        if not self._log.closed:
            self._log.close()
        return self.popen.returncode

    def log_text(self) -> str:
        """Everything it wrote to stdout/stderr so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of its output, for error messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])


def _wait_until(predicate: Any, timeout: float, what: str, process: Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if not process.alive():
            raise PeerError(f"{process.name} exited ({process.popen.returncode}) before {what}\n{process.log_tail()}")
        time.sleep(0.05)
    raise PeerError(f"{process.name}: no {what} after {timeout} s\n{process.log_tail()}")


def sip_ping(port: int, host: str = LOOPBACK, timeout: float = 0.3) -> str | None:
    """Send one OPTIONS to ``host:port`` over UDP; the status line of the answer or ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        tag = random.getrandbits(32)
        msg = (
            f"OPTIONS sip:ping@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{lport};branch=z9hG4bK-ping-{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{host}:{lport}>;tag={tag}\r\n"
            f"To: <sip:ping@{host}:{port}>\r\n"
            f"Call-ID: ping-{tag}@{host}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            s.sendto(msg.encode(), (host, port))
            data = s.recv(65535)
        except OSError:
            return None
        return data.split(b"\r\n", 1)[0].decode(errors="replace")


def udp_bound(port: int) -> bool:
    """Whether some socket on this host is bound to UDP ``port`` (read from /proc, no probing).

    Binding a probe socket instead would race with the program that is just
    starting to bind the port.
    """
    needle = f":{port:04X} "
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f, None)
            if any(line.split()[1].endswith(needle.strip()) for line in f if len(line.split()) > 1):
                return True
    return False


def tcp_listening(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


# -- sipp -----------------------------------------------------------------------------------


@dataclass
class SippResult:
    """What a finished sipp run left behind."""

    returncode: int
    """0: every call succeeded; 1: at least one failed; other: sipp itself failed."""
    log: list[str]
    """Lines the scenario wrote with ``<log>`` (``-trace_logs``), in order."""
    errors: str
    """Unexpected messages and failures (``-trace_err``)."""
    stats: dict[str, str]
    """Last row of the statistics CSV (``-trace_stat``), e.g. ``SuccessfulCall(C)``."""
    output: str
    """sipp's own stdout/stderr."""
    messages: str = ""
    """Every message sent and received (``-trace_msg``)."""

    @property
    def ok(self) -> bool:
        """Every call succeeded."""
        return self.returncode == 0

    def counter(self, name: str) -> int:
        """A cumulative counter of the statistics, e.g. ``counter("SuccessfulCall")``."""
        return int(self.stats.get(f"{name}(C)", "0") or 0)

    def headers(self, name: str) -> list[str]:
        """Values of every ``name`` header in the traced messages (both directions)."""
        pattern = re.compile(rf"^{re.escape(name)}:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
        return pattern.findall(self.messages)

    def lines(self, prefix: str) -> list[str]:
        """Log lines starting with ``prefix``."""
        return [line for line in self.log if line.startswith(prefix)]

    def describe(self) -> str:
        """A summary for assertion messages."""
        return (
            f"sipp exit {self.returncode}\n--- log\n" + "\n".join(self.log[-20:])
            + f"\n--- errors\n{self.errors[-3000:]}\n--- output\n{self.output[-2000:]}"
        )


def check_digest(header: str, method: str, password: str) -> bool:
    """Whether a Digest ``Authorization``/``Proxy-Authorization`` value is right for ``password``.

    MD5, with or without ``qop=auth`` (RFC 2617 §3.2.2) -- what sipp's
    verifyauth would do, for the Proxy-Authorization header it cannot read.
    """
    import hashlib

    fields = re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', header.split(" ", 1)[-1])
    params = {key: quoted or bare for key, quoted, bare in fields}

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{params['uri']}")
    if params.get("qop"):
        expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:{params['qop']}:{ha2}")
    else:
        expected = md5(f"{ha1}:{params['nonce']}:{ha2}")
    return expected == params.get("response")


class SippRun:
    """One running sipp: a UAC placing calls or a UAS waiting for them."""

    def __init__(self, process: Process, workdir: Path, port: int, media_port: int) -> None:
        self.process = process
        self.workdir = workdir
        self.port = port
        self.media_port = media_port

    @property
    def address(self) -> tuple[str, int]:
        """Its SIP address (127.0.0.1, port)."""
        return LOOPBACK, self.port

    def wait(self, timeout: float = 60.0) -> SippResult:
        """Wait until sipp exits (it does once ``-m`` calls are done or ``-timeout`` passes)."""
        code = self.process.wait(timeout)
        return self.result(code)

    async def wait_async(self, timeout: float = 60.0) -> SippResult:
        """:meth:`wait` without blocking the event loop (for tests that run hotline in it)."""
        import asyncio

        return await asyncio.to_thread(self.wait, timeout)

    def stop(self) -> SippResult:
        """Stop it now (TERM, KILL after 3 s) and collect what it wrote."""
        code = self.process.stop()
        return self.result(code if code is not None else -1)

    def result(self, code: int) -> SippResult:
        """Collect the log, error and statistics files."""
        self.process.stop()
        log_file = self.workdir / "calls.log"
        err_file = self.workdir / "errors.log"
        stats: dict[str, str] = {}
        stat_file = self.workdir / "stat.csv"
        msg_file = self.workdir / "messages.log"
        if stat_file.exists():
            rows = list(csv.reader(stat_file.read_text(errors="replace").splitlines(), delimiter=";"))
            if len(rows) >= 2:
                stats = dict(zip(rows[0], rows[-1], strict=False))
        return SippResult(
            returncode=code,
            log=log_file.read_text(errors="replace").splitlines() if log_file.exists() else [],
            errors=err_file.read_text(errors="replace") if err_file.exists() else "",
            stats=stats,
            output=self.process.log_text(),
            messages=msg_file.read_text(errors="replace") if msg_file.exists() else "",
        )


def render_scenario(name: str, dest_dir: Path, *, media: bool) -> Path:
    """Copy scenario ``name`` into ``dest_dir`` with ``@DATA@`` made absolute.

    With ``media=False`` the block between ``<!-- media:begin -->`` and
    ``<!-- media:end -->`` (the pcap replays) is removed.
    """
    text = (SCENARIOS / name).read_text(encoding="iso-8859-1")
    if not media:
        text = re.sub(r"<!-- media:begin -->.*?<!-- media:end -->", "", text, flags=re.DOTALL)
    text = text.replace("@DATA@", str(DATA))
    dest = dest_dir / name
    dest.write_text(text, encoding="iso-8859-1")
    return dest


class Sipp:
    """Runs sipp scenarios from ``tests/interop/scenarios`` with everything written under ``workdir``."""

    def __init__(self, workdir: Path, ports: PortAllocator) -> None:
        self.binary = require_binary("sipp")
        self.workdir = workdir
        self.ports = ports
        self.runs: list[SippRun] = []
        self._count = 0

    def start(
        self,
        scenario: str,
        remote: tuple[str, int] | None = None,
        *,
        service: str = "hotline",
        calls: int = 1,
        rate: float = 10.0,
        concurrent: int | None = None,
        hold_ms: int = 0,
        port: int | None = None,
        transport: str = "u1",
        inf: str | Path | None = "callers.csv",
        variables: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        media: bool = False,
        timeout_s: float = 30.0,
        extra: Sequence[str] = (),
    ) -> SippRun:
        """Start a UAC (``remote`` given) or a UAS (``remote=None``) running ``scenario``.

        ``calls`` bounds the run (``-m``); ``timeout_s`` stops it regardless
        (``-timeout``).  ``inf`` is a CSV from ``tests/interop/data`` (or a
        path); ``variables`` are ``-set`` globals; ``auth`` is the digest
        username/password (``-au``/``-ap``); ``media`` keeps the pcap replays
        (needs :func:`can_play_pcap`); ``transport`` is sipp's ``-t``
        (``u1`` UDP, ``t1`` TCP).
        """
        if media and not can_play_pcap():
            from tests.gate import require

            require(False, NO_RAW_SOCKET)
        self._count += 1
        stem = Path(scenario).stem
        workdir = self.workdir / f"sipp{self._count}-{stem}"
        workdir.mkdir(parents=True)
        sip_port = port or self.ports.one()
        media_port = self.ports.block(max(8, 4 * calls if calls < 16 else 64))
        argv = [self.binary]
        if remote is not None:
            argv.append(f"{remote[0]}:{remote[1]}")
        argv += [
            "-sf", str(render_scenario(scenario, workdir, media=media)),
            "-i", LOOPBACK, "-p", str(sip_port), "-mi", LOOPBACK, "-mp", str(media_port),
            "-t", transport, "-s", service, "-m", str(calls), "-r", f"{rate:g}",
            "-d", str(hold_ms), "-nostdin", "-timeout", f"{timeout_s:g}s", "-timeout_error",
            "-trace_logs", "-log_file", str(workdir / "calls.log"),
            "-trace_err", "-error_file", str(workdir / "errors.log"),
            "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
            "-trace_msg", "-message_file", str(workdir / "messages.log"),
        ]  # fmt: skip
        if concurrent is not None:
            argv += ["-l", str(concurrent)]
        if inf is not None:
            argv += ["-inf", str(inf if Path(inf).is_absolute() else DATA / inf)]
        for key, value in (variables or {}).items():
            argv += ["-set", key, value]
        if auth is not None:
            argv += ["-au", auth[0], "-ap", auth[1]]
            if remote is not None:
                # sipp's default digest uri is remote_ip:remote_port; RFC 3261 wants the Request-URI
                argv += ["-auth_uri", f"{service}@{remote[0]}:{remote[1]}"]
        argv += list(extra)
        process = Process(f"sipp {stem}", argv, workdir / "sipp.out", cwd=workdir)
        run = SippRun(process, workdir, sip_port, media_port)
        self.runs.append(run)
        if remote is None:
            # a UAS is ready once its port is bound
            ready = (lambda: udp_bound(sip_port)) if transport.startswith("u") else (lambda: tcp_listening(sip_port))
            _wait_until(ready, 5.0, f"SIP socket on {sip_port}", process)
        return run

    def run(self, scenario: str, remote: tuple[str, int], **options: Any) -> SippResult:
        """Start a UAC and wait for it (blocking; use ``start(...).wait_async()`` inside async tests)."""
        timeout = float(options.get("timeout_s", 30.0))
        return self.start(scenario, remote, **options).wait(timeout + 10)

    def stop_all(self) -> None:
        """Stop every run still going (teardown)."""
        for run in self.runs:
            run.process.stop()


# -- kamailio ---------------------------------------------------------------------------------


def make_kamailio_db(path: Path, users: dict[str, str], domain: str = LOOPBACK) -> None:
    """Create the SQLite DB kamailio's auth_db reads: ``version`` + ``subscriber``.

    Same schema as kamailio 5.6's db_sqlite standard-create.sql and
    auth_db-create.sql; auth_db checks the ``subscriber`` table version (7).
    Passwords are stored in plain text (the config sets ``calculate_ha1``).
    """
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(
            """
            CREATE TABLE version (
                id INTEGER PRIMARY KEY NOT NULL,
                table_name VARCHAR(32) NOT NULL,
                table_version INTEGER DEFAULT 0 NOT NULL,
                CONSTRAINT version_table_name_idx UNIQUE (table_name));
            INSERT INTO version (table_name, table_version) VALUES ('version', 1);
            CREATE TABLE subscriber (
                id INTEGER PRIMARY KEY NOT NULL,
                username VARCHAR(64) DEFAULT '' NOT NULL,
                domain VARCHAR(64) DEFAULT '' NOT NULL,
                password VARCHAR(64) DEFAULT '' NOT NULL,
                ha1 VARCHAR(128) DEFAULT '' NOT NULL,
                ha1b VARCHAR(128) DEFAULT '' NOT NULL,
                CONSTRAINT subscriber_account_idx UNIQUE (username, domain));
            CREATE INDEX subscriber_username_idx ON subscriber (username);
            INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);
            """
        )
        db.executemany(
            "INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
            [(user, domain, password) for user, password in users.items()],
        )
        db.commit()
    finally:
        db.close()


@dataclass
class Kamailio:
    """A running kamailio registrar/proxy on 127.0.0.1 (UDP and TCP on both ports)."""

    process: Process
    open_port: int
    """REGISTER accepted without authentication."""
    auth_port: int
    """REGISTER challenged with digest (401), checked against :attr:`users`."""
    users: dict[str, str] = field(default_factory=dict)
    """username -> password of the subscriber table (domain 127.0.0.1)."""

    @property
    def open_address(self) -> tuple[str, int]:
        """(127.0.0.1, open_port)."""
        return LOOPBACK, self.open_port

    @property
    def auth_address(self) -> tuple[str, int]:
        """(127.0.0.1, auth_port)."""
        return LOOPBACK, self.auth_port

    def log_text(self) -> str:
        """kamailio's log so far (it logs to stderr with -E)."""
        return self.process.log_text()

    def script_log(self) -> list[str]:
        """The lines the routing script wrote with xlog (``RX ...``, ``REGISTER ...``, ``routed ...``)."""
        return [line.split("<script>: ", 1)[1] for line in self.log_text().splitlines() if "<script>: " in line]

    def stop(self) -> None:
        """Stop it (TERM, KILL after 3 s)."""
        self.process.stop()


def start_kamailio(workdir: Path, ports: PortAllocator, users: dict[str, str] | None = None) -> Kamailio:
    """Render ``data/kamailio.cfg``, create its DB, start kamailio in the foreground, wait until it answers."""
    binary = require_binary("kamailio")
    users = dict(KAMAILIO_USERS if users is None else users)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "kamailio.sqlite"
    make_kamailio_db(db, users)
    open_port, auth_port = ports.one(), ports.one()
    cfg = (DATA / "kamailio.cfg").read_text()
    for key, value in {
        "@OPEN_PORT@": str(open_port),
        "@AUTH_PORT@": str(auth_port),
        "@DBURL@": f"sqlite://{db}",
    }.items():
        cfg = cfg.replace(key, value)
    cfg_path = workdir / "kamailio.cfg"
    cfg_path.write_text(cfg)
    rundir = workdir / "run"
    rundir.mkdir(exist_ok=True)
    argv = [binary, "-f", str(cfg_path), "-DD", "-E", "-m", "32", "-M", "8", "-Y", str(rundir)]
    process = Process("kamailio", argv, workdir / "kamailio.log", cwd=workdir)
    kam = Kamailio(process, open_port, auth_port, users)
    try:
        _wait_until(lambda: sip_ping(open_port) is not None, 10.0, f"answer to OPTIONS on {open_port}", process)
        _wait_until(lambda: sip_ping(auth_port) is not None, 5.0, f"answer to OPTIONS on {auth_port}", process)
        _wait_until(lambda: tcp_listening(open_port), 5.0, f"TCP listener on {open_port}", process)
    except BaseException:
        process.stop()
        raise
    return kam


# -- baresip ----------------------------------------------------------------------------------


def write_wav(path: Path, seconds: float, *, source: Path | None = None, rate: int = 8000) -> Path:
    """A mono 16-bit WAV of ``seconds``: ``source`` padded with silence, or a quiet 400 Hz tone.

    baresip 1.0.0 hangs up a call when its ``aufile`` source ends, so the file
    must outlast the longest call a test holds.
    """
    frames = b""
    if source is not None:
        with wave.open(str(source), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise PeerError(f"{source}: need mono 16-bit PCM")
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
    else:
        import math

        period = [int(3000 * math.sin(2 * math.pi * 400 * n / rate)) for n in range(rate // 400 * 10)]
        one = b"".join(v.to_bytes(2, "little", signed=True) for v in period)
        frames = one * int(seconds * rate / len(period))
    total = int(seconds * rate) * 2
    frames = frames[:total] + b"\x00" * max(0, total - len(frames))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


class BaresipControl:
    """Client of baresip's ``ctrl_tcp``: commands out, events in (JSON in netstrings).

    A reader thread collects every message; commands wait for the response
    with their token, events are kept in :attr:`events` in arrival order.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((LOOPBACK, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise PeerError(f"baresip ctrl_tcp on {port} not reachable") from None
                time.sleep(0.05)
        self.sock.settimeout(0.2)
        self.events: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._token = 0
        self._closed = False
        self._thread = threading.Thread(target=self._reader, name=f"baresip-ctrl-{port}", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        buf = b""
        while not self._closed:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while True:
                m = re.match(rb"(\d+):", buf)
                if not m or len(buf) < m.end() + int(m.group(1)) + 1:
                    break
                n = int(m.group(1))
                payload = buf[m.end() : m.end() + n]
                buf = buf[m.end() + n + 1 :]
                try:
                    msg = json.loads(payload)
                except ValueError:
                    msg = {"raw": payload.decode(errors="replace")}
                with self._cond:
                    if msg.get("response") and "token" in msg:
                        self._responses[str(msg["token"])] = msg
                    else:
                        msg["t"] = time.monotonic()
                        self.events.append(msg)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Run a menu command (``dial``, ``hangup``, ``sndcode``, ``listcalls``...); its response."""
        with self._cond:
            self._token += 1
            token = f"t{self._token}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise PeerError(f"baresip: no response to {command!r} within {timeout} s")
                self._cond.wait(left)
            return self._responses.pop(token)

    def wait_event(self, type_: str, timeout: float = 10.0, *, after: int = 0) -> dict[str, Any]:
        """The first event of ``type_`` (e.g. ``CALL_ESTABLISHED``) at index >= ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.get("type") == type_:
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    seen = [e.get("type") for e in self.events]
                    raise PeerError(f"baresip: no {type_} within {timeout} s; events: {seen}")
                self._cond.wait(left)

    async def wait_event_async(self, type_: str, timeout: float = 10.0, *, after: int = 0) -> dict[str, Any]:
        """:meth:`wait_event` without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.wait_event, type_, timeout, after=after)

    def types(self) -> list[str]:
        """The types of all events so far."""
        with self._cond:
            return [str(e.get("type")) for e in self.events]

    def close(self) -> None:
        """Close the control connection and join the reader thread."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        self._thread.join(2)


@dataclass
class Baresip:
    """A running headless baresip user agent."""

    process: Process
    ctrl: BaresipControl
    sip_port: int
    ctrl_port: int
    aor: str
    """Its address of record, e.g. ``sip:oncall@127.0.0.1:PORT``."""
    workdir: Path

    @property
    def address(self) -> tuple[str, int]:
        """(127.0.0.1, sip_port)."""
        return LOOPBACK, self.sip_port

    @property
    def uri(self) -> str:
        """A URI that reaches it directly."""
        user = self.aor.split(":", 1)[1].split("@", 1)[0]
        return f"sip:{user}@{LOOPBACK}:{self.sip_port}"

    def dial(self, uri: str) -> dict[str, Any]:
        """Place a call (loopback URIs only)."""
        if not re.match(r"^sips?:([^@]+@)?(127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?([;?].*)?$", uri):
            raise PeerError(f"refusing to dial non-loopback {uri!r}")
        return self.ctrl.command("dial", uri)

    def hangup(self) -> dict[str, Any]:
        """Hang up the current call."""
        return self.ctrl.command("hangup")

    def send_dtmf(self, digits: str) -> dict[str, Any]:
        """Send RFC 2833 digits on the current call."""
        return self.ctrl.command("sndcode", digits)

    def registered(self) -> bool:
        """Whether its registrar answered a REGISTER with 200 (from its log)."""
        return bool(re.search(r"\{\d+/\w+/v[46]\} 200 OK", self.process.log_text()))

    def recordings(self) -> list[Path]:
        """WAV files the ``sndfile`` module recorded (both directions of each call)."""
        return sorted((self.workdir / "rec").glob("*.wav"))

    def stop(self) -> None:
        """Close the control link and stop the process (TERM, KILL after 3 s)."""
        self.ctrl.close()
        self.process.stop()


def start_baresip(
    workdir: Path,
    ports: PortAllocator,
    *,
    user: str = "oncall",
    display: str | None = None,
    auto_answer: bool = True,
    registrar: tuple[int, str] | None = None,
    audio_seconds: float = 120.0,
    audio_source: Path | None = None,
    codecs: str = "PCMU,PCMA",
) -> Baresip:
    """Start baresip with a config rendered from ``data/baresip.conf.template``.

    ``registrar=(port, password)`` registers ``user`` at kamailio on that
    127.0.0.1 port with digest (and waits for REGISTER_OK); otherwise it
    only listens.  ``auto_answer`` answers every call at once.  ``codecs``
    limits the account's audio codecs (e.g. ``"PCMA"`` to force transcoding).
    """
    binary = require_binary("baresip")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "rec").mkdir(exist_ok=True)
    sip_port = ports.block(2)  # baresip also opens SIP over TLS on sip_port + 1
    ctrl_port = ports.one()
    rtp_base = ports.block(20)
    wav = write_wav(workdir / "source.wav", audio_seconds, source=audio_source)
    config = (DATA / "baresip.conf.template").read_text()
    for key, value in {
        "@SIP_PORT@": str(sip_port),
        "@CTRL_PORT@": str(ctrl_port),
        "@RTP_PORTS@": f"{rtp_base}-{rtp_base + 19}",
        "@AUDIO_SOURCE@": str(wav),
        "@REC_DIR@": str(workdir / "rec"),
    }.items():
        config = config.replace(key, value)
    (workdir / "config").write_text(config)
    name = f'"{display}" ' if display else ""
    if registrar is not None:
        reg_port, password = registrar
        aor = f"sip:{user}@{LOOPBACK}:{reg_port}"
        params = f";auth_pass={password};regint=60"
    else:
        aor = f"sip:{user}@{LOOPBACK}:{sip_port}"
        params = ";regint=0"
    params += ";answermode=auto" if auto_answer else ";answermode=manual"
    (workdir / "accounts").write_text(f"{name}<{aor}>{params};audio_codecs={codecs}\n")
    (workdir / "contacts").write_text("")
    process = Process(f"baresip {user}", [binary, "-f", str(workdir)], workdir / "baresip.log", cwd=workdir)
    try:
        _wait_until(lambda: tcp_listening(ctrl_port), 10.0, f"ctrl_tcp on {ctrl_port}", process)
        ctrl = BaresipControl(ctrl_port)
    except BaseException:
        process.stop()
        raise
    ua = Baresip(process, ctrl, sip_port, ctrl_port, aor, workdir)
    if registrar is not None:
        # The REGISTER_OK event may fire before the control link is up, so ask instead.
        try:
            _wait_until(lambda: ua.registered(), 10.0, "successful registration", process)
        except PeerError:
            ua.stop()
            raise
    return ua


@contextlib.contextmanager
def stopping(*peers: Any) -> Iterator[None]:
    """Stop the given peers (anything with ``stop()``) when the block ends, whatever happens."""
    try:
        yield
    finally:
        for peer in reversed(peers):
            with contextlib.suppress(Exception):
                peer.stop()
