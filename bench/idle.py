"""An idle ``hotline serve``: CPU share and resident memory on each event loop.

For each loop of ``--loop``: a fresh demo database and config (as ``bench/calls.py`` writes
them, no calls placed), ``hotline serve --loop <loop>`` pinned to CPU 0, up once ``/healthz``
answers; after ``--settle`` seconds (start-up work such as the first calendar and rota checks
is over) the process's CPU time (user + system, from /proc) is read over ``--seconds`` and
its VmRSS at the end. The loop in use is read back from ``/healthz``. With ``--logins N``, N
console logins (unknown users, wrong passwords: each a full scrypt check in a worker thread)
follow, and VmRSS is read again a second later.

    .venv/bin/python bench/idle.py [--loop uvloop,asyncio] [--seconds 20] [--settle 10] [--rounds 1]
                                   [--logins 0]

Everything runs on 127.0.0.1; the server is stopped by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calls import HOST, SERVER_CPU, Server, free_port, pin

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid``'s live threads in seconds, to the nanosecond (schedstat; /proc's
    user/system ticks are 10 ms, a whole 0.05 % of a core over 20 s)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(loop: str, seconds: float, settle: float, logins: int = 0) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="hotline-bench-idle-") as tmp:
        server = Server(Path(tmp), 0, free_port(), 100)
        server.prepare()
        log = server.log.open("ab")
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--config", str(server.config), "--loop", loop],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: pin(SERVER_CPU),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        try:
            health = wait_healthy(server)
            time.sleep(settle)
            pid = server.proc.pid
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            rss = rss_mib(pid)
            threads = len(os.listdir(f"/proc/{pid}/task"))
            if logins:
                log_in(server.web_port, logins)
                time.sleep(1)
            rss_after = rss_mib(pid)
        finally:
            server.stop()
    return {"loop": loop, "healthz_loop": health.get("loop"), "cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
            "cpu_seconds": cpu1 - cpu0, "rss_mib": rss, "threads": threads, "rss_after_logins": rss_after}


def log_in(web_port: int, times: int) -> None:
    """`times` failed console logins, each with the login form's CSRF token and cookie."""
    base = f"http://{HOST}:{web_port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    for i in range(times):
        with opener.open(base + "/login", timeout=10) as response:
            token = re.search(r'name="_csrf" value="([^"]+)"', response.read().decode())
        assert token is not None, "no CSRF token on the login page"
        form = urllib.parse.urlencode({"_csrf": token.group(1), "user": f"bench{i}",
                                       "password": "not-the-password"}).encode()
        try:
            opener.open(base + "/login", data=form, timeout=30).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 401, exc.code


def wait_healthy(server: Server, wait: float = 60.0) -> dict[str, object]:
    assert server.proc is not None
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://{HOST}:{server.web_port}/healthz", timeout=2) as response:
            if response.status == 200:
                body = json.loads(response.read() or b"{}")
                return body if isinstance(body, dict) else {}
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"hotline serve did not come up:\n{server.log_tail()}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loop", default="uvloop,asyncio")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1, help="run every loop this many times, alternating")
    parser.add_argument("--logins", type=int, default=0, help="failed console logins after the idle window")
    args = parser.parse_args()
    loops = [x for x in args.loop.split(",") if x]
    print(f"| loop | CPU over {args.seconds:g} s | resident | threads "
          f"| resident after {args.logins} logins |")
    print("|---|---|---|---|---|")
    for _ in range(args.rounds):
        for loop in loops:
            r = measure(loop, args.seconds, args.settle, args.logins)
            print(f"| {r['loop']} (healthz: {r['healthz_loop']}) | {r['cpu_percent']:.3f} % of a core "
                  f"({r['cpu_seconds']:.2f} s) | {r['rss_mib']:.1f} MiB | {r['threads']} | "
                  f"{r['rss_after_logins']:.1f} MiB |", flush=True)


if __name__ == "__main__":
    main()
