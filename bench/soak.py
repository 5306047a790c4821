"""Soak: does ``hotline serve`` give back what thousands of calls took?

``hotline serve`` (the demo database and the config of ``bench/calls.py``: greeting, key 1, the
far end) takes ``--rounds`` rounds of ``--calls`` sipp callers placed at ``--rate`` per second.
Each caller presses 1 (SIP INFO) during the greeting and hangs up three seconds later; by then
the server has forwarded the call to the far end (a sipp UAS that answers and never presses 1,
so the whisper is still waiting for acceptance). So every call goes through the IVR, the store,
an outbound INVITE, two media streams and a hang-up in the middle of the forwarding. After each
round, once the server has had ``--settle`` seconds to finish the calls (40 s by default: a
finished non-INVITE server transaction lingers 32 s, RFC 3261 Timer J), it reads the server's
resident memory, open file descriptors and threads, the size of ``/metrics`` and the calls
recorded. Round 1 warms up (caches, pools, the allocator's high-water mark of the busiest
moment); growth from there on that scales with the calls is a leak. The callers of every round
are the same numbers, so from round 2 on each has open issues (the self-service offer path).

    .venv/bin/python bench/soak.py [--rounds 4] [--calls 300] [--rate 20] [--settle 40]

Everything runs on 127.0.0.1 (the server on CPU 0, sipp on CPU 1); every process is stopped
by PID and every sipp run is bounded by ``-timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calls import CLOCK, HOST, PEER_CPU, Server, free_port, pin
from idle import wait_healthy

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "interop" / "scenarios"


def status(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    fields["threads"] = len(os.listdir(f"/proc/{pid}/task"))
    return fields


def metrics_lines(web_port: int) -> int:
    with urllib.request.urlopen(f"http://{HOST}:{web_port}/metrics", timeout=10) as response:
        return sum(1 for line in response.read().decode().splitlines() if line and not line.startswith("#"))


def recorded(database: Path) -> tuple[int, int]:
    """(calls rows, calls still without an end)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        total, open_ = db.execute("SELECT COUNT(*), COUNT(*) - COUNT(ended_at) FROM calls").fetchone()
    return int(total), int(open_)


def callers(folder: Path, calls: int) -> Path:
    path = folder / "callers.csv"
    lines = "".join(f"138{i:08d};Soak {i}\n" for i in range(calls))
    path.write_text("SEQUENTIAL\n" + lines, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=300, help="calls per round")
    parser.add_argument("--rate", type=float, default=20.0, help="calls placed per second")
    parser.add_argument("--settle", type=float, default=40.0, help="seconds after a round before reading")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-soak-") as tmp_name:
        tmp = Path(tmp_name)
        farend_port = free_port()
        concurrent = int(args.rate * 6) + 10  # a call lasts about five seconds
        # Four ports a call (two streams), each resting 10 s after its call: ~20 s a call.
        server = Server(tmp, concurrent, farend_port, int(args.rate * 4 * 25) + 100)
        server.prepare()
        uas = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / "uas_answer.xml"), "-i", HOST, "-p", str(farend_port),
             "-mi", HOST, "-nostdin", "-timeout", f"{args.rounds * (args.calls / args.rate + 60):.0f}s"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: pin(PEER_CPU))
        log = server.log.open("ab")
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--config", str(server.config), "--clock", CLOCK],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: pin(0),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        try:
            wait_healthy(server)
            pid = server.proc.pid
            time.sleep(2)
            start = status(pid)
            print(f"{args.rounds} rounds of {args.calls} calls at {args.rate:g}/s "
                  f"(up to {concurrent} at once), {args.settle:g} s to settle after each")
            print("| after | calls recorded (not ended) | sipp failed | resident | anon | fds | threads "
                  "| /metrics samples |")
            print("|---|---|---|---|---|---|---|---|")
            print(f"| start | 0 | - | {row(start)} | {metrics_lines(server.web_port)} |", flush=True)
            inf = callers(tmp, args.calls)
            for n in range(1, args.rounds + 1):
                run = subprocess.run(
                    ["sipp", f"{HOST}:{server.sip_port}",
                     "-sf", str(SCENARIOS / "serve_uac_key_then_bye.xml"), "-i", HOST,
                     "-p", str(free_port()), "-mi", HOST, "-s", "8000", "-set", "digit", "1",
                     "-inf", str(inf), "-m", str(args.calls), "-r", f"{args.rate:g}", "-l", str(concurrent),
                     "-nostdin", "-timeout", f"{args.calls / args.rate + 60:.0f}s", "-timeout_error",
                     "-trace_stat", "-stf", str(tmp / f"stat{n}.csv"), "-fd", "3600"],
                    cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    preexec_fn=lambda: pin(PEER_CPU), timeout=args.calls / args.rate + 120)
                failed = failed_calls(tmp / f"stat{n}.csv")
                time.sleep(args.settle)
                now = status(pid)
                total, still_open = recorded(server.database)
                failures = failed if failed is not None else f"exit {run.returncode}"
                print(f"| round {n} | {total} ({still_open}) | {failures} | {row(now)} "
                      f"| {metrics_lines(server.web_port)} |", flush=True)
        finally:
            code = server.stop()
            uas.terminate()
            try:
                uas.wait(10)
            except subprocess.TimeoutExpired:
                uas.kill()
                uas.wait(5)
            if code not in (0, None):
                print(f"hotline serve exited with {code}:\n{server.log_tail()}")


def row(s: dict[str, float]) -> str:
    return f"{s['VmRSS']:.1f} MiB | {s['RssAnon']:.1f} MiB | {s['fds']:.0f} | {s['threads']:.0f}"


def failed_calls(stat: Path) -> int | None:
    """sipp's cumulative failed-call count from the last line of its statistics file."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = stat.read_text().splitlines()
        header = lines[0].split(";")
        return int(lines[-1].split(";")[header.index("FailedCall(C)")])
    return None


if __name__ == "__main__":
    main()
