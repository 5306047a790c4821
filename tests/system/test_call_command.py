"""`hotline call` against a real `hotline serve`: the test call a user makes without a phone.

The server runs as its own process (``init-db --demo`` then ``serve``) on a
free SIP port and an RTP block of its own; the command runs as another
process, and its outcome is read back from the server's database.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import io
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from hotline.calls.testcall import TEST_CALLER, add_arguments, run_test_call
from hotline.config import load_config
from hotline.sip.message import Request, build_response, parse_message
from tests.conftest import ROOT
from tests.ports import PORTS
from tests.system.test_serve import free_port, make_config

CALL = [sys.executable, "-m", "hotline", "call"]
RTP_BLOCK = 100


@dataclass(frozen=True)
class Server:
    config: Path
    database: Path
    sip_port: int


def free_udp_port() -> int:
    return PORTS.one()


def free_rtp_block() -> int:
    """An even port starting a block free for UDP (the server's range, then the command's)."""
    return PORTS.block(2 * RTP_BLOCK)


def write_config(tmp: Path, sip_port: int) -> Path:
    path = make_config(tmp, free_port(), sip_port)
    base = free_rtp_block()
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"rtp_port_min = \d+", f"rtp_port_min = {base}", text)
    text = re.sub(r"rtp_port_max = \d+", f"rtp_port_max = {base + RTP_BLOCK - 1}", text)
    path.write_text(text, encoding="utf-8")
    return path


def web_port_of(config: Path) -> int:
    match = re.search(r"^port = (\d+)", config.read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("call-command")
    sip_port = free_port()
    config = write_config(tmp, sip_port)
    init = subprocess.run([sys.executable, "-m", "hotline", "init-db", "--config", str(config), "--demo"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert init.returncode == 0, init.stderr
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "serve", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port_of(config)}/healthz",
                                            timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not come up: {proc.communicate(timeout=5)[0]}")
                time.sleep(0.2)
        yield Server(config, tmp / "h.sqlite3", sip_port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out


def hotline_call(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CALL, "--config", str(config), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def call_row(database: Path, caller_key: str, timeout: float = 5.0) -> sqlite3.Row:
    """The server's latest call row for `caller_key`, once its end is written."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM calls WHERE caller_key = ? ORDER BY id DESC LIMIT 1",
                             (caller_key,)).fetchone()
        if row is not None and row["ended_at"] is not None:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"no finished call from {caller_key} in the database: {row}")
        time.sleep(0.1)


def issues_of(database: Path, call_id: int) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM issues WHERE call_id = ?", (call_id,)).fetchall()


def steps(stdout: str) -> list[str]:
    """The printed steps without their time stamps."""
    return [line.split(None, 1)[1] for line in stdout.splitlines() if line.strip()]


@pytest.mark.timeout(90)
def test_call_answered_digit_recorded(server: Server, tmp_path: Path) -> None:
    heard = tmp_path / "heard.wav"
    result = hotline_call(server.config, "--digits", "2", "--seconds", "3", "--record", str(heard))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = steps(result.stdout)
    assert lines[0] == f"calling sip:8000@127.0.0.1:{server.sip_port} from {TEST_CALLER}"
    assert "ringing (180)" in lines
    assert "answered (200, PCMU)" in lines
    assert "sent digit 2" in lines
    assert "hung up by us after 3.0 s" in lines
    assert lines.index("ringing (180)") < lines.index("answered (200, PCMU)") < lines.index("sent digit 2")
    assert any(re.fullmatch(r"first audio after \d+\.\d\d s", line) for line in lines)
    assert any(re.fullmatch(r"RTP: \d+ packets received, 0 lost .*", line) for line in lines), lines
    assert f"saved to {heard}" in result.stdout

    with wave.open(str(heard)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() >= 2 * 8000
        samples = array.array("h", wav.readframes(wav.getnframes()))
    assert max(abs(s) for s in samples) > 1000  # the greeting, before key 2 cut it short

    row = call_row(server.database, TEST_CALLER)
    assert "2" in row["digits"]
    assert TEST_CALLER in row["caller_raw"]
    assert row["caller_key"] == TEST_CALLER
    # The IVR took key 2 as the network category; we hung up before anyone answered.
    assert json.loads(row["menu"])[0] == {"node": "menu", "digit": "2", "choice": "network"}
    assert row["disposition"] == "abandoned"
    (issue,) = issues_of(server.database, row["id"])
    assert issue["category"] == "network"


@pytest.mark.timeout(60)
def test_ctrl_c_hangs_up(server: Server) -> None:
    caller = "13412345679"  # national form: the server keys it +86…
    proc = subprocess.Popen([*CALL, "--config", str(server.config), "--from", caller, "--seconds", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while "first audio" not in seen:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                pytest.fail(f"no answer from the server: {seen}")
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"hotline call ended early: {seen}{proc.communicate()[1]}")
            seen += line
        os.kill(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, seen + rest + err
    lines = steps(seen + rest)
    assert "interrupted" in lines
    assert any(line.startswith("hung up by us after") for line in lines), lines
    row = call_row(server.database, "+86" + caller)
    assert row["disposition"] == "abandoned"  # hung up in the IVR, before any person answered


@pytest.mark.timeout(30)
def test_ring_timeout_cancels(server: Server) -> None:
    # The server rings for sip.ring_seconds (1 s) before it answers.
    result = hotline_call(server.config, "--timeout", "0.5", "--from", "13412345670")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = steps(result.stdout)
    assert lines[-2:] == ["ringing (180)", "no answer within 0.5 s; cancelled (487 Request Terminated)"]
    assert call_row(server.database, "+8613412345670")["disposition"] == "abandoned"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("option", "value", "message"), [
    ("--to", "sip:@@bad", "--to: empty user part in 'sip:@@bad': give a SIP URI"),
    ("--to", "https://example.com/", "--to: not a SIP URI"),
    ("--digits", "9x", "--digits: only 0-9 * # and , (a pause) can be sent, got 'x'"),
    ("--from", "anonymous", "--from: expected a number"),
])
def test_bad_arguments_exit_2(tmp_path: Path, option: str, value: str, message: str) -> None:
    config = write_config(tmp_path, free_udp_port())
    result = hotline_call(config, option, value)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("far_end", ["closed port", "silent socket"])
def test_nobody_answers_exit_1(tmp_path: Path, far_end: str) -> None:
    config = write_config(tmp_path, free_udp_port())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = int(silent.getsockname()[1]) if far_end == "silent socket" else free_udp_port()
        started = time.monotonic()
        result = hotline_call(config, "--to", f"sip:8000@127.0.0.1:{port}", "--timeout", "3")
        took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert took < 40
    last = steps(result.stdout)[-1]
    if far_end == "closed port":  # the ICMP port unreachable fails the INVITE at once
        assert last == f"no answer: nothing listens at 127.0.0.1:{port} (transport error)"
    else:  # no 100 Trying, so no CANCEL to send: given up at --timeout, not after Timer B
        assert last == f"no answer: no response from 127.0.0.1:{port} within 3 s"
        assert took < 15


class _Rejecter(asyncio.DatagramProtocol):
    """A far end that answers every INVITE with 100 Trying, then 503 with Retry-After."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport in 3.11
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_message(data)
        if isinstance(request, Request) and request.method == "INVITE":
            for status, headers in ((100, []), (503, [("Retry-After", "30")])):
                response = build_response(request, status, to_tag="rejecter" if status > 100 else None,
                                          headers=headers)
                self.transport.sendto(response.serialize(), addr)


@pytest.mark.timeout(30)
async def test_rejection_shows_reason_and_retry_after(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, free_udp_port()))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Rejecter, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(["--to", f"sip:8000@127.0.0.1:{port}", "--timeout", "5"])
        out = io.StringIO()
        code = await run_test_call(config, args, out=out)
    finally:
        transport.close()
    assert code == 1
    assert steps(out.getvalue()) == [
        f"calling sip:8000@127.0.0.1:{port} from {TEST_CALLER}",
        "trying (100)",
        "rejected: 503 Service Unavailable (Retry-After: 30)",
    ]
