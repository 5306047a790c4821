"""SIP call-setup benchmark: sipp callers at rising rates against hotline and against a sipp UAS.

Each call is INVITE -> 200 -> ACK -> BYE -> 200, no media.  For each target
the rate goes up step by step (``--seconds`` of calls per step) until a step
has a failed call; the report gives the highest rate with zero failed calls
and the p50/p99 call-setup time (INVITE to 200, sipp's response-time counter,
1 ms resolution) at that rate, and each rate as a fraction of the sipp UAS's.

Targets, each in its own process pinned to CPU 0 (the sipp caller gets CPU 1):
  * ``sipp-uas``       -- sipp answering at once (the yardstick);
  * ``hotline``        -- hotline's SipEndpoint with a trivial auto-answer handler;
  * ``hotline+store``  -- the first call handler: call + issue rows committed in
                          SQLite before the 180, answered at once (ring 0 s).

    .venv/bin/python bench/sip.py [--rates 100,200,400,600,800] [--seconds 3] [--gc-tuned]
                                  [--loop uvloop,asyncio] [--py-spy DIR]

Each step also gives the target's CPU time per call (user + system of all its threads, from
/proc): unlike the rates, it hardly moves when the machine is busy.  With ``--py-spy DIR``
each hotline target is sampled by py-spy (GIL holder only, raw collapsed stacks) for the
whole of its steps, into ``DIR/<target>.txt``.

Each hotline target runs once per event loop of ``--loop`` (``hotline@uvloop``, ``hotline@asyncio``).

Everything runs on 127.0.0.1; every process is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "interop" / "scenarios"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> None:
    """Run the calling process on one CPU only (when the machine has it)."""
    with contextlib.suppress(AttributeError, OSError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


# -- the hotline side (run in a child process) -----------------------------------------------


def serve(port: int, handler_kind: str, db_dir: str, gc_tuned: bool = False,
          loop_kind: str = "uvloop") -> None:
    """Run a hotline endpoint on 127.0.0.1:port until SIGTERM."""
    pin(0)
    sys.path.insert(0, str(ROOT))
    from hotline.calls.first_handler import FirstCallHandler
    from hotline.config import ListenAddress, load_config
    from hotline.event_loop import new_event_loop
    from hotline.gc_tuning import tune_for_serving
    from hotline.issues import IssueService
    from hotline.sip.call import IncomingCall
    from hotline.sip.endpoint import SipEndpoint
    from hotline.store import Store

    config = load_config(ROOT / "config" / "hotline.toml")
    sip = replace(
        config.sip,
        listen=(ListenAddress("udp", "127.0.0.1", port),),
        allowed_peers=(ipaddress.ip_network("127.0.0.0/8"),),
        ring_seconds=0.0,
        trace=False,
    )
    config = replace(config, sip=sip)

    async def trivial(call: IncomingCall) -> None:
        await call.answer(call.make_answer("127.0.0.1", 30000))
        await call.wait_ended()

    async def main() -> None:
        store = None
        if handler_kind == "store":
            store = Store(Path(db_dir) / "bench.sqlite3", synchronous=config.database.synchronous)
            await store.open()
            handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone))
            endpoint = SipEndpoint(sip, on_call=handler)
        else:
            endpoint = SipEndpoint(sip, on_call=trivial)
        await endpoint.start()
        if gc_tuned:
            tune_for_serving()  # as hotline serve does once started
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("READY", flush=True)
        await stop.wait()
        await endpoint.stop()
        if store is not None:
            print(f"CALLS {await store.issues.count()}", flush=True)
            await store.close()

    with asyncio.Runner(loop_factory=lambda: new_event_loop(loop_kind)) as runner:
        runner.run(main())


# -- the driver ------------------------------------------------------------------------------


@dataclass
class Step:
    rate: int
    calls: int
    ok: int
    failed: int
    p50: float
    p99: float
    cpu_ms: float = float("nan")  # the target's CPU time per successful call

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.ok == self.calls


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_step(target: tuple[str, int], rate: int, seconds: float, workdir: Path) -> Step:
    """One sipp caller run: ``rate`` calls/s for ``seconds``; collect failures and setup times."""
    calls = int(rate * seconds)
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        "sipp", f"{target[0]}:{target[1]}", "-sf", str(SCENARIOS / "endpoint_bench_uac.xml"),
        "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
        "-m", str(calls), "-r", str(rate), "-l", str(max(50, rate * 2)), "-nostdin",
        "-timeout", f"{seconds + 15:g}s", "-timeout_error", "-recv_timeout", "5000",
        "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: pin(1))
    try:
        proc.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stats: dict[str, str] = {}
    stat_file = workdir / "stat.csv"
    if stat_file.exists():
        rows = list(csv.reader(stat_file.read_text(errors="replace").splitlines(), delimiter=";"))
        if len(rows) >= 2:
            stats = dict(zip(rows[0], rows[-1], strict=False))
    setup: list[float] = []
    for rtt in workdir.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3 and parts[2].strip() == "1":
                setup.append(float(parts[1]))
    ok = int(stats.get("SuccessfulCall(C)", "0") or 0)
    failed = int(stats.get("FailedCall(C)", "0") or 0)
    if proc.returncode not in (0, 1) and failed == 0:
        failed = calls - ok
    return Step(rate, calls, ok, failed, percentile(setup, 50), percentile(setup, 99))


def start_target(kind: str, port: int, workdir: Path, gc_tuned: bool) -> tuple[subprocess.Popen[str], str]:
    if kind == "sipp-uas":
        argv = [
            "sipp", "-sf", str(SCENARIOS / "endpoint_bench_uas.xml"), "-i", "127.0.0.1", "-p", str(port),
            "-mi", "127.0.0.1", "-mp", str(free_port()), "-nostdin", "-timeout", "600s",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                text=True, preexec_fn=lambda: pin(0))
        time.sleep(0.5)
        return proc, ""
    kind, _, loop_kind = kind.partition("@")
    handler = "store" if kind == "hotline+store" else "trivial"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port), "--handler", handler,
         "--db", str(workdir), "--loop", loop_kind or "uvloop", *(["--gc-tuned"] if gc_tuned else [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        proc.kill()
        raise SystemExit(f"{kind} did not start: {line}{proc.stdout.read()}")
    return proc, ""


def stop_target(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and all its threads, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--gil", "--rate", "250", "--nonblocking",
                             "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench(kind: str, rates: list[int], seconds: float, workdir: Path, gc_tuned: bool,
          py_spy: Path | None = None) -> list[Step]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc, _ = start_target(kind, port, workdir, gc_tuned)
    spy = None
    if py_spy is not None and kind != "sipp-uas":
        py_spy.mkdir(parents=True, exist_ok=True)
        spy = start_py_spy(proc.pid, py_spy / f"{kind.replace('+', '_').replace('@', '_')}.txt")
    steps: list[Step] = []
    try:
        for rate in rates:
            cpu0 = cpu_seconds(proc.pid)
            step = run_step(("127.0.0.1", port), rate, seconds, workdir / f"{kind}-{rate}")
            step.cpu_ms = 1000 * (cpu_seconds(proc.pid) - cpu0) / max(step.ok, 1)
            steps.append(step)
            print(f"  {kind:22} {rate:5d}/s  ok {step.ok:5d}/{step.calls:<5d} failed {step.failed:4d}  "
                  f"setup p50 {step.p50:5.1f} ms  p99 {step.p99:5.1f} ms  CPU {step.cpu_ms:.2f} ms/call",
                  flush=True)
            if not step.clean or step.p99 > 1000:
                break  # saturated: the next step would only queue more
            time.sleep(1.0)  # let the previous step's dialogs drain
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        tail = stop_target(proc)
        if "CALLS" in tail:
            print(f"  {kind}: {tail.strip().splitlines()[-1]}")
    return steps


def best(steps: list[Step], p99_limit: float | None = None) -> Step | None:
    """The highest-rate step with zero failed calls (and p99 setup within ``p99_limit`` ms)."""
    clean = [s for s in steps if s.clean and (p99_limit is None or s.p99 <= p99_limit)]
    return max(clean, key=lambda s: s.rate) if clean else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="100,200,300,400,500,600,800,1000,1500,2000,3000")
    parser.add_argument("--p99", type=float, default=20.0, help="setup p99 goal in ms")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--targets", default="sipp-uas,hotline,hotline+store")
    parser.add_argument("--gc-tuned", action="store_true",
                        help="hotline: the collector as hotline serve sets it (hotline.gc_tuning)")
    parser.add_argument("--loop", default="uvloop,asyncio",
                        help="event loops to run each hotline target on, in turn (default: %(default)s)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                        help="record each hotline target with py-spy into DIR/<target>.txt")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--handler", default="trivial", help=argparse.SUPPRESS)
    parser.add_argument("--db", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.handler, args.db, args.gc_tuned, args.loop)
        return
    rates = [int(r) for r in args.rates.split(",")]
    loops = [x for x in args.loop.split(",") if x]
    targets = [kind if kind == "sipp-uas" else f"{kind}@{loop}"
               for kind in args.targets.split(",") for loop in ([None] if kind == "sipp-uas" else loops)]
    steps: dict[str, list[Step]] = {}
    with tempfile.TemporaryDirectory(prefix="hotline-bench-sip-") as tmp:
        for kind in targets:
            print(f"{kind}:", flush=True)
            workdir = Path(tmp) / kind.replace("+", "_").replace("@", "_")
            steps[kind] = bench(kind, rates, args.seconds, workdir, args.gc_tuned, args.py_spy)
    criteria = (("zero failed calls", None), (f"zero failed calls and p99 <= {args.p99:g} ms", args.p99))
    for title, limit in criteria:
        print(f"\nhighest rate with {title} (setup = INVITE to 200 at the caller):")
        yardstick = best(steps.get("sipp-uas", []), limit)
        for kind, kind_steps in steps.items():
            step = best(kind_steps, limit)
            if step is None:
                print(f"  {kind:22} no such step")
                continue
            ratio = f"{step.rate / yardstick.rate:.2f}x sipp-uas" if yardstick else ""
            top = " (highest rate tried)" if step.rate == rates[-1] else ""
            print(f"  {kind:22} {step.rate:5d} calls/s{top}  p50 {step.p50:.1f} ms  "
                  f"p99 {step.p99:.1f} ms  CPU {step.cpu_ms:.2f} ms/call  {ratio}")


if __name__ == "__main__":
    main()
