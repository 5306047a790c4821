"""Media benchmark: prompt playback and bridged calls through MediaEngine on loopback.

Measures, in one run, on the engine's single event loop:
  * N playback streams (looping prompt, 20 ms PCMU): per-tick sending lateness (deadline to
    the last packet of the tick handed to the kernel) p50/p99/max, loss seen by a receiver
    process, engine CPU, memory per stream;
  * N bridged calls (2N legs, PCMU pass-through): relay round-trip latency as seen by a peer
    process that sends into both legs and time-stamps the payload, loss, CPU, memory per call;
and, as baselines in the same run, a bare asyncio UDP send loop (pre-built packets, one
timer on absolute deadlines) and a bare asyncio relay (datagram_received -> sendto).
Only 127.0.0.1 is used. The peers run in a child process so they do not share the engine's core.
Each size runs on each event loop of --loop in turn (alternating, so a noisy neighbour hits
both alike); lateness is measured on time.perf_counter_ns, whatever the loop's own clock.

    .venv/bin/python bench/media.py [--playback 100,300,1000] [--bridged 100,300,500]
                                    [--seconds 5] [--port-min 30000] [--loop uvloop,asyncio]
                                    [--udp auto,reader,transport] [--gc serve,default]

``--gc serve`` (the default) sets the garbage collector as ``hotline serve`` does
(``hotline.gc_tuning``); ``default`` leaves Python's thresholds, under which a full collection
walks every stream's objects every few seconds. The collections that
ran in each measured window are reported (count, longest pause).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from hotline.event_loop import LOOPS, loop_name, new_event_loop
from hotline.gc_tuning import tune_for_serving
from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.player import PromptItem
from hotline.media.prompt import Prompt
from hotline.media.relay import RelayWorkers
from hotline.media.rtp import RtpPacket
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.relay_worker import command as relay_worker_command

PROMPT = Path(__file__).resolve().parents[1] / "tests" / "unit" / "media" / "data" / "welcome.wav"
HOST = "127.0.0.1"
TICK_MS = 2

# The peer process: "sink" counts RTP per SSRC; "bridge" sends into both legs of every call
# (spread over the 20 ms period) and measures the round trip of its own time stamps.
PEER = textwrap.dedent(
    r"""
    import json, os, selectors, socket, struct, sys, time
    mode = sys.argv[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    print(s.getsockname()[1], flush=True)
    line = b""
    while not line.endswith(b"\n"):  # stdin is read unbuffered throughout (see below)
        line += os.read(0, 1 << 20)
    targets = json.loads(line)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    streams = {}
    lat = []
    received = sent = 0
    since, until = 0, None  # only packets stamped between "reset" and "freeze" are counted
    buf = bytearray(2048)
    def drain():
        global received
        now = time.perf_counter_ns()
        while True:
            try:
                n = s.recv_into(buf)
            except BlockingIOError:
                return
            received += 1
            seq, ssrc = struct.unpack_from("!H4xI", buf, 2)
            if mode == "sink":
                st = streams.get(ssrc)
                if st is None:
                    streams[ssrc] = [seq, seq, 0]  # first, max, cycles
                elif 0 < (seq - st[1]) & 0xFFFF < 30000:  # newer (RFC 3550 A.1 style)
                    if seq < st[1]:
                        st[2] += 65536
                    st[1] = seq
            elif n >= 20:
                sent_ns = struct.unpack_from("!q", buf, 12)[0]
                if 0 < now - sent_ns < 60_000_000_000 and since <= sent_ns < (until or now):
                    lat.append((now - sent_ns) / 1e6)
    stop = False
    period = 0.020
    slots = 10
    nxt = time.perf_counter()
    k = 0
    seqs = [0] * len(targets)
    filler = b"\xff" * 152
    while not stop:
        timeout = max(0.0, nxt - time.perf_counter()) if mode == "bridge" else 0.2
        for key, _ in sel.select(timeout):
            if key.fileobj is s:
                drain()
            else:
                # Unbuffered: two commands may come in one read ("freeze" then "stop").
                commands = os.read(0, 4096).decode().split() or ["stop"]
                for command in commands:
                    if command == "reset":  # the measured window starts
                        lat.clear()
                        received = sent = 0
                        since = time.perf_counter_ns()
                    elif command == "freeze":  # ... and ends; the traffic goes on
                        until = time.perf_counter_ns()
                    else:
                        stop = True
        if mode == "bridge" and time.perf_counter() >= nxt:
            slot = k % slots
            stamp = struct.pack("!q", time.perf_counter_ns()) + filler  # one per batch
            for i in range(slot, len(targets), slots):
                seqs[i] = (seqs[i] + 1) & 0xFFFF
                hdr = struct.pack("!BBHII", 0x80, 0, seqs[i], seqs[i] * 160, 0x1000 + i)
                s.sendto(hdr + stamp, ("127.0.0.1", targets[i]))
                sent += until is None
            k += 1
            nxt += period / slots
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        sel.select(0.05)
        drain()
    out = {"received": received if mode == "sink" else len(lat), "sent": sent}
    if mode == "sink":
        out["expected"] = sum(st[2] + st[1] - st[0] + 1 for st in streams.values())
        out["streams"] = len(streams)
    else:
        lat.sort()
        pick = lambda p: lat[min(len(lat) - 1, round(p / 100 * (len(lat) - 1)))] if lat else None
        out.update(p50=pick(50), p99=pick(99), max=lat[-1] if lat else None, samples=len(lat))
    print(json.dumps(out), flush=True)
    """
)


class Peer:
    """The child process, its UDP port, and its final report."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PEER, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.port = int(self.proc.stdout.readline())

    def start(self, targets: list[int]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(targets) + "\n")
        self.proc.stdin.flush()

    def reset(self) -> None:
        """Count from now on: what came before (warm-up, hand-overs) is not measured."""
        self._say("reset")

    def freeze(self) -> None:
        """Count nothing sent from now on (the traffic goes on until `finish`)."""
        self._say("freeze")

    def _say(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def finish(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        report = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=10)
        return report


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_gc_pauses: list[tuple[int, int]] = []  # (start, duration) in perf_counter_ns, every collection
_gc_started = [0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter_ns()
    else:
        _gc_pauses.append((_gc_started[0], time.perf_counter_ns() - _gc_started[0]))


gc.callbacks.append(_on_gc)


class Window:
    """CPU share of this process, wall time and collector pauses over a measured window."""

    def __enter__(self) -> Window:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        self.ns0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = (time.process_time() - self.cpu0) / (time.perf_counter() - self.wall0)
        pauses = [d for t, d in _gc_pauses if t >= self.ns0]
        self.gc = f"{len(pauses)}, {max(pauses, default=0) / 1e6:.1f} ms"


async def bare_send_loop(n: int, seconds: float, sink: int) -> dict[str, float]:
    """Baseline: n datagram transports, one absolute-deadline timer, pre-built packets."""
    loop = asyncio.get_running_loop()
    transports = []
    for _ in range(n):
        t, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                   local_addr=(HOST, 0))
        transports.append(t)
    packets = [RtpPacket(0, 0, 0, i, PCMU.silence(160)).serialize() for i in range(n)]
    clock = MediaEngine.now
    start, lateness, done = clock(), [], loop.create_future()
    pairs = [(transports[i], packets[i]) for i in range(n)]
    phases = max(1, 20 // TICK_MS)  # the same spreading over ticks as the engine
    groups = [pairs[i::phases] for i in range(phases)]
    period = TICK_MS / 1000

    def tick(k: int) -> None:
        for t, p in groups[k % phases]:
            t.sendto(p, (HOST, sink))
        lateness.append(clock() - (start + k * period))
        if clock() - start < seconds:
            loop.call_later(start + (k + 1) * period - clock(), tick, k + 1)
        else:
            done.set_result(None)

    with Window() as w:
        loop.call_soon(tick, 0)
        await done
    for t in transports:
        t.close()
    return {"p50": pct(lateness, 50), "p99": pct(lateness, 99), "max": max(lateness),
            "cpu": w.cpu}


async def playback(n: int, seconds: float, port_min: int, udp: bool | None = None) -> dict[str, Any]:
    base_sink = Peer("sink")
    base_sink.start([])
    base = await bare_send_loop(n, seconds, base_sink.port)
    base_sink.finish()
    sink = Peer("sink")
    sink.start([])
    engine = MediaEngine(bind_host=HOST, port_min=port_min, port_max=port_min + 2 * n + 99,
                         tick_ms=TICK_MS, udp_transport=udp)
    await engine.start()
    prompt = Prompt.load(PROMPT, PCMU, 20)
    rss0 = rss_kib()
    streams = [await engine.open_stream(StreamConfig(PCMU, (HOST, sink.port), rtcp=False))
               for _ in range(n)]
    for s in streams:
        s.play([PromptItem(prompt, loop=True)])
    await asyncio.sleep(0.5)
    per_stream = (rss_kib() - rss0) * 1024 / n
    engine.clock.lateness.clear()
    engine.clock.wake_lateness.clear()
    skipped0 = engine.clock.skipped
    with Window() as w:
        await asyncio.sleep(seconds)
    late = list(engine.clock.lateness)
    wake = list(engine.clock.wake_lateness)
    skipped = engine.clock.skipped - skipped0
    for s in streams:
        await s.close()
    await engine.close()
    got = sink.finish()
    lost = got["expected"] - got["received"]
    return {
        "n": n, "p50": pct(late, 50), "p99": pct(late, 99), "max": max(late), "cpu": w.cpu,
        "skipped": skipped, "lost": lost, "expected": got["expected"], "bytes": per_stream,
        "base": base, "wake50": pct(wake, 50), "wake99": pct(wake, 99), "gc": w.gc,
    }


class _Relay(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.other: _Relay | None = None
        self.remote: tuple[str, int] | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.remote = addr
        other = self.other
        if other is not None and other.remote is not None and other.transport is not None:
            other.transport.sendto(data, other.remote)


async def bare_relay(n: int, seconds: float) -> dict[str, float]:
    """Baseline: a bare asyncio relay between socket pairs."""
    loop = asyncio.get_running_loop()
    ports, protos = [], []
    for _ in range(n):
        pair = []
        for _ in range(2):
            t, p = await loop.create_datagram_endpoint(_Relay, local_addr=(HOST, 0))
            pair.append(p)
            ports.append(t.get_extra_info("sockname")[1])
            protos.append(p)
        pair[0].other, pair[1].other = pair[1], pair[0]
    peer = Peer("bridge")
    peer.start(ports)
    with Window() as w:
        await asyncio.sleep(seconds)
    got = peer.finish()
    for p in protos:
        assert p.transport is not None
        p.transport.close()
    return {"p50": got["p50"], "p99": got["p99"], "max": got["max"], "cpu": w.cpu}


async def open_bridged(engine: MediaEngine, calls: int, peer_port: int) -> list[RtpStream]:
    """Two legs per call, both sending to the peer, bridged in pairs (0-1, 2-3, ...)."""
    legs = [await engine.open_stream(StreamConfig(PCMU, (HOST, peer_port), rtcp=False))
            for _ in range(2 * calls)]
    for i in range(calls):
        engine.bridge(legs[2 * i], legs[2 * i + 1])
    return legs


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bridged(n: int, seconds: float, port_min: int, udp: bool | None = None,
                  relay_workers: int = 0) -> dict[str, Any]:
    base = await bare_relay(n, seconds)
    peer = Peer("bridge")
    relay = None
    if relay_workers:
        relay = RelayWorkers(relay_workers, relay_worker_command(loop_name(asyncio.get_running_loop())))
    engine = MediaEngine(bind_host=HOST, port_min=port_min, port_max=port_min + 4 * n + 99,
                         tick_ms=TICK_MS, udp_transport=udp, relay=relay, lend_after=0.2)
    await engine.start()
    pids: list[int] = []
    if relay is not None:
        deadline = time.monotonic() + 30
        while not all(w.ready for w in relay.workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        pids = [w.proc.pid for w in relay.workers]
    workers_rss0 = sum(rss_kib(pid) for pid in pids)
    rss0 = rss_kib()
    legs = await open_bridged(engine, n, peer.port)
    peer.start([s.port for s in legs])
    await asyncio.sleep(0.5)
    per_call = (rss_kib() - rss0) * 1024 / n
    if relay is not None:  # every pair lent before the window opens
        deadline = time.monotonic() + 60
        while relay.lent_pairs < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert relay.lent_pairs == n, f"{relay.lent_pairs}/{n} pairs lent"
        await asyncio.sleep(0.5)
    per_call_workers = (sum(rss_kib(pid) for pid in pids) - workers_rss0) * 1024 / n
    worker_cpu0 = [cpu_seconds(pid) for pid in pids]
    peer.reset()
    with Window() as w:
        await asyncio.sleep(seconds)
    wall = time.perf_counter() - w.wall0
    workers_cpu = [(cpu_seconds(pid) - c0) / wall for pid, c0 in zip(pids, worker_cpu0, strict=True)]
    peer.freeze()
    reclaims: list[float] = []
    if relay is not None:
        # What taking a pair back costs the server's loop (it blocks for the worker's reply), while
        # the worker still carries the others: up to 50 pairs, 20 ms apart, traffic still flowing.
        for leg in legs[: 2 * min(n, 50) : 2]:
            began = time.perf_counter()
            engine.settle(leg)
            reclaims.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
    got = peer.finish()
    for s in legs:
        await s.close()
    await engine.close()
    return {"n": n, "p50": got["p50"], "p99": got["p99"], "max": got["max"], "cpu": w.cpu,
            "sent": got["sent"], "received": got["received"], "bytes": per_call, "base": base,
            "gc": w.gc, "workers_cpu": workers_cpu, "reclaims": reclaims,
            "bytes_workers": per_call_workers}


# -- the media-worker prototype (bench/RESULTS.md, "a media worker process per core") ---------


def _worker_main(conn: Any, kind: str, calls: int, port_min: int, peer_port: int,
                 cpu: int | None, udp: bool | None, tick_ms: int) -> None:
    """One worker process: its own event loop and MediaEngine relaying `calls` bridged calls,
    driven over a pipe: -> the legs' ports; "begin" / "end" -> the CPU share in between."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    tune_for_serving()

    async def main() -> None:
        engine = MediaEngine(bind_host=HOST, port_min=port_min, port_max=port_min + 4 * calls + 99,
                             tick_ms=tick_ms, udp_transport=udp)
        await engine.start()
        legs = await open_bridged(engine, calls, peer_port)
        conn.send([s.port for s in legs])
        assert await asyncio.to_thread(conn.recv) == "begin"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        assert await asyncio.to_thread(conn.recv) == "end"
        conn.send((time.process_time() - cpu0) / (time.perf_counter() - wall0))
        for s in legs:
            await s.close()
        await engine.close()

    with asyncio.Runner(loop_factory=lambda: new_event_loop(kind)) as runner:
        runner.run(main())


async def bridged_workers(n: int, workers: int, kind: str, seconds: float, port_min: int,
                          udp: bool | None = None) -> dict[str, Any]:
    """`bridged`, the calls spread over `workers` processes (worker i pinned to CPU i)."""
    import multiprocessing

    base = await bare_relay(n, seconds)
    peer = Peer("bridge")
    ctx = multiprocessing.get_context("spawn")
    pipes, procs, ports = [], [], []
    share = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    cpus = os.cpu_count() or 1
    for i, calls in enumerate(share):
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(
            theirs, kind, calls, port_min + i * (4 * calls + 100), peer.port, i % cpus, udp, TICK_MS))
        proc.start()
        pipes.append(ours)
        procs.append(proc)
    for pipe in pipes:
        ports.extend(await asyncio.to_thread(pipe.recv))
    peer.start(ports)
    await asyncio.sleep(0.5)
    for pipe in pipes:
        pipe.send("begin")
    await asyncio.sleep(seconds)
    for pipe in pipes:
        pipe.send("end")
    cpu = [await asyncio.to_thread(pipe.recv) for pipe in pipes]
    got = peer.finish()
    for proc in procs:
        proc.join(timeout=30)
    return {"n": n, "p50": got["p50"], "p99": got["p99"], "max": got["max"], "cpu": cpu,
            "sent": got["sent"], "received": got["received"], "base": base}


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--playback", default="100,300,1000")
    ap.add_argument("--bridged", default="100,300,500")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--port-min", type=int, default=30000)
    ap.add_argument("--tick-ms", type=int, default=2)
    ap.add_argument("--loop", default=",".join(LOOPS),
                    help="event loops to run each size on, in turn (default: %(default)s)")
    ap.add_argument("--udp", default="auto",
                    help="the engine's RTP socket paths to compare, in turn: auto (the loop's "
                         "transport on uvloop, add_reader else), reader, transport "
                         "(default: %(default)s)")
    ap.add_argument("--workers", default="",
                    help="the media-worker prototype: bridged calls spread over W worker processes "
                         "for each W listed, e.g. 1,2 (default: not run)")
    ap.add_argument("--relay-workers", default="",
                    help="bridged calls lent to W relay workers ([media] relay_workers) for each W "
                         "listed, e.g. 1,2 (default: not run)")
    ap.add_argument("--gc", default="serve",
                    help="collector settings to compare, in turn: serve (as hotline serve sets "
                         "them), default (Python's) (default: %(default)s)")
    args = ap.parse_args()
    global TICK_MS
    TICK_MS = args.tick_ms
    paths = {"auto": None, "reader": False, "transport": True}
    runs = [(kind, path, collector) for kind in args.loop.split(",") if kind
            for path in args.udp.split(",") if path for collector in args.gc.split(",") if collector]

    def run(kind: str, collector: str, coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        default = gc.get_threshold()
        gc.collect()
        if collector == "serve":  # what hotline.app does once started
            tune_for_serving()
        try:
            with asyncio.Runner(loop_factory=lambda: new_event_loop(kind)) as runner:
                assert loop_name(runner.get_loop()) == kind
                return runner.run(coro)
        finally:
            gc.unfreeze()
            gc.set_threshold(*default)

    print(f"# media benchmark, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"{args.seconds:.0f} s per run")
    print(f"\n## playback (20 ms PCMU, one engine tick every {TICK_MS} ms)")
    print("| streams | loop | udp | gc | lateness p50 | p99 | max | wake-up p50/p99 | lost/expected | "
          "skipped | CPU | collections, longest | bare loop p99 | bare CPU | CPU ratio | bytes/stream "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, (kind, path, collector) in [(int(x), r) for x in args.playback.split(",") if x for r in runs]:
        r = run(kind, collector, playback(n, args.seconds, args.port_min, paths[path]))
        b = r["base"]
        print(f"| {n} | {kind} | {path} | {collector} | {ms(r['p50'] * 1e3)} | {ms(r['p99'] * 1e3)} | "
              f"{ms(r['max'] * 1e3)} | "
              f"{r['wake50'] * 1e3:.2f}/{r['wake99'] * 1e3:.2f} ms | "
              f"{r['lost']}/{r['expected']} | {r['skipped']} | {r['cpu']:.0%} | {r['gc']} | "
              f"{ms(b['p99'] * 1e3)} | {b['cpu']:.0%} | {r['cpu'] / max(b['cpu'], 1e-3):.1f}× | "
              f"{r['bytes']:.0f} | {os.getloadavg()[0]:.2f} |", flush=True)
    print("\n## bridged calls (2 legs each, PCMU pass-through, peer round trip)")
    print("| calls | loop | udp | gc | relay RTT p50 | p99 | max | received/sent | CPU | "
          "collections, longest | bare relay p99 | bare CPU | CPU ratio | bytes/call | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, (kind, path, collector) in [(int(x), r) for x in args.bridged.split(",") if x for r in runs]:
        r = run(kind, collector, bridged(n, args.seconds, args.port_min, paths[path]))
        b = r["base"]
        print(f"| {n} | {kind} | {path} | {collector} | {ms(r['p50'])} | {ms(r['p99'])} | "
              f"{ms(r['max'])} | {r['received']}/{r['sent']} | {r['cpu']:.0%} | {r['gc']} | "
              f"{ms(b['p99'])} | "
              f"{b['cpu']:.0%} | {r['cpu'] / max(b['cpu'], 1e-3):.1f}× | {r['bytes']:.0f} | "
              f"{os.getloadavg()[0]:.2f} |", flush=True)

    if args.relay_workers:
        print("\n## bridged calls lent to relay workers ([media] relay_workers)")
        print("| calls | workers | loop | relay RTT p50 | p99 | max | received/sent | server CPU | "
              "worker CPU | taking a pair back p50/max | bytes/call server + workers | bare relay p99 | "
              "bare CPU | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, workers, kind in [(int(x), int(w), k) for x in args.bridged.split(",") if x
                                 for w in args.relay_workers.split(",") if w
                                 for k in args.loop.split(",") if k]:
            r = run(kind, "serve", bridged(n, args.seconds, args.port_min, None, workers))
            b = r["base"]
            print(f"| {n} | {workers} | {kind} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['max'])} | "
                  f"{r['received']}/{r['sent']} | {r['cpu']:.0%} | "
                  f"{' + '.join(f'{c:.0%}' for c in r['workers_cpu'])} | "
                  f"{pct(r['reclaims'], 50) * 1e3:.2f}/{max(r['reclaims']) * 1e3:.2f} ms | "
                  f"{r['bytes']:.0f} + {r['bytes_workers']:.0f} | {ms(b['p99'])} | "
                  f"{b['cpu']:.0%} | {os.getloadavg()[0]:.2f} |", flush=True)
    if not args.workers:
        return
    print("\n## bridged calls over worker processes (the prototype; worker i pinned to CPU i)")
    print("| calls | workers | loop | relay RTT p50 | p99 | max | received/sent | CPU per worker | "
          "bare relay p99 | bare CPU | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    pairs = list(dict.fromkeys((kind, path) for kind, path, _ in runs))
    for n, workers, (kind, path) in [(int(x), int(w), r) for x in args.bridged.split(",") if x
                                     for w in args.workers.split(",") if w for r in pairs]:
        r = run(kind, "serve", bridged_workers(n, workers, kind, args.seconds, args.port_min, paths[path]))
        b = r["base"]
        print(f"| {n} | {workers} | {kind} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['max'])} | "
              f"{r['received']}/{r['sent']} | {' + '.join(f'{c:.0%}' for c in r['cpu'])} | "
              f"{ms(b['p99'])} | {b['cpu']:.0%} | {os.getloadavg()[0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
