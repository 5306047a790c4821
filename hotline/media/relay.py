"""Relay workers: processes that carry bridged pairs while the server runs SIP and the rest.

Why. A bridged call costs the engine a few microseconds of Python per packet
in each direction; five hundred of them fill a core, and that core is the one
SIP, the store and the console run on. `[media] relay_workers = N` starts N
worker processes (`hotline.media.relay_worker`, started by `hotline.relay_worker`), and a pair that has stayed
bridged for `MediaEngine.lend_after` seconds, with nothing played, recorded
or keyed on it, is lent to the least busy one: the two legs' sessions go over
pickled with a duplicate of each of their four sockets; the server stops
reading its own copies. The worker relays, keeps the quiet relay alive, sends
RTCP and reports digits and RTP timeouts, which the server delivers to the
legs as if they had happened here.

Anything the call layer does to a lent leg -- unbridge, hang up, play, send a
key, read its statistics -- first takes the pair back (`reclaim`): the server
asks for it and waits, blocking, for the sessions as the worker left them
(a millisecond or two; `reply_timeout` at most), then reads its sockets again.
Those calls are synchronous in the call layer, and a reclaim happens once or
twice per call, so a short block is the price of keeping them so.

A worker that dies, stops answering or sends garbage is killed; its pairs
come back with the sessions the server lent (their counters since then are
lost) and a fresh SSRC towards each far end, so nobody's audio repeats
sequence numbers already used. Calls carry on here; a new worker is started
for the next pair, at most once per `restart_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import random
import select
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hotline.media import relay_messages as wire
from hotline.media.stream import RtpStream

__all__ = ["RelayWorkers"]

log = logging.getLogger(__name__)

_BUFFER = 1 << 20
"""Socket buffer of each end of a control pair: room for a burst of lends and returns."""


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen[bytes]
    control: socket.socket
    pairs: dict[int, tuple[RtpStream, RtpStream]] = field(default_factory=dict)
    alive: bool = True
    ready: bool = False
    """Started and listening (its imports take a few hundred milliseconds): pairs lent
    before would go unrelayed meanwhile."""


class RelayWorkers:
    """The server's side of its relay workers (an `engine.RelayLender`)."""

    def __init__(self, count: int, command: Sequence[str], *, reply_timeout: float = 1.0,
                 restart_interval: float = 10.0) -> None:
        """`count` workers, each started as `command` + [the descriptor of its control socket]
        (``hotline.relay_worker.command`` makes one: this layer does not start processes of
        the layers above by name)."""
        if count < 1:
            raise ValueError("relay workers: at least one")
        self.count = count
        self.command = list(command)
        self.reply_timeout = reply_timeout
        self.restart_interval = restart_interval
        self.workers: list[_Worker] = []
        self._pair_of: dict[RtpStream, tuple[_Worker, int]] = {}
        self._next_pair = 1
        self._last_start = -1e9
        self.lent_total = 0
        self.lost = 0
        """Workers that died or stopped answering."""
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(self.count):
            self._start_worker()

    def _start_worker(self) -> _Worker | None:
        assert self._loop is not None
        self._last_start = time.monotonic()
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as exc:  # a system without sequenced-packet Unix sockets
            log.error("relay workers need a Unix socket pair (%s); bridged calls stay here", exc)
            return None
        try:
            for end in (ours, theirs):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
            proc = subprocess.Popen([*self.command, str(theirs.fileno())],
                                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except OSError as exc:
            log.error("relay worker could not be started (%s); bridged calls stay here", exc)
            ours.close()
            return None
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = _Worker(proc, ours)
        self._loop.add_reader(ours.fileno(), self._readable, worker)
        self.workers.append(worker)
        log.info("relay worker %d started", proc.pid)
        return worker

    async def close(self) -> None:
        """Take every pair back, then stop the workers (closing their sockets ends them)."""
        for stream in list(self._pair_of):
            if stream in self._pair_of:
                self.reclaim(stream)
        for worker in self.workers:
            self._drop(worker)
        for worker in self.workers:
            try:
                await asyncio.to_thread(worker.proc.wait, 5.0)
            except subprocess.TimeoutExpired:
                log.warning("relay worker %d did not stop; killing it", worker.proc.pid)
                worker.proc.kill()
                await asyncio.to_thread(worker.proc.wait)
        self.workers.clear()

    @property
    def lent_pairs(self) -> int:
        """Pairs the workers carry now."""
        return sum(len(w.pairs) for w in self.workers if w.alive)

    def status(self) -> dict[str, int]:
        """For /healthz: workers running and ready, pairs lent now and since start, workers lost."""
        return {"configured": self.count, "running": sum(w.alive and w.ready for w in self.workers),
                "lent_now": self.lent_pairs, "lent_total": self.lent_total, "lost": self.lost}

    # -- lending -------------------------------------------------------------------------

    def lend(self, a: RtpStream, b: RtpStream) -> bool:
        worker = self._pick()
        if worker is None:
            return False
        pair, self._next_pair = self._next_pair, self._next_pair + 1
        record = wire.encode(wire.Lend(pair, (a.port, b.port), pickle.dumps(
            (a.session, b.session), protocol=pickle.HIGHEST_PROTOCOL)))
        fds = a.lend_sockets() + b.lend_sockets()
        try:
            socket.send_fds(worker.control, [record], fds)
        except OSError as exc:
            a.take_back(None)
            b.take_back(None)
            if not isinstance(exc, BlockingIOError):
                self._lose(worker, f"lending failed: {exc}")
            # else: its queue is full (a burst of lends); the engine tries again later.
            return False
        worker.pairs[pair] = (a, b)
        self._pair_of[a] = self._pair_of[b] = (worker, pair)
        self.lent_total += 1
        return True

    def _pick(self) -> _Worker | None:
        alive = [w for w in self.workers if w.alive]
        if len(alive) < self.count and time.monotonic() - self._last_start >= self.restart_interval:
            # Lost workers were killed; forget them once reaped.
            self.workers = [w for w in self.workers if w.alive or w.proc.poll() is None]
            started = self._start_worker()
            if started is not None:
                alive.append(started)
        return min((w for w in alive if w.ready), key=lambda w: len(w.pairs), default=None)

    def reclaim(self, stream: RtpStream) -> tuple[RtpStream, RtpStream]:
        where = self._pair_of.get(stream)
        if where is None:
            raise KeyError(f"{stream!r} is not lent")
        worker, pair = where
        a, b = worker.pairs[pair]
        deadline = time.monotonic() + self.reply_timeout
        waiting = select.poll()  # not select(): the server has thousands of descriptors
        waiting.register(worker.control.fileno(), select.POLLIN | select.POLLOUT)
        record: bytes | None = wire.encode(wire.Return(pair))
        try:
            while pair in worker.pairs:
                left = deadline - time.monotonic()
                ready = waiting.poll(left * 1000) if left > 0 else []
                if not ready:
                    raise TimeoutError(f"no reply in {self.reply_timeout:g} s")
                events = ready[0][1]
                if events & select.POLLIN:  # what it says first (events, other replies), then ours
                    try:
                        if not self._read_one(worker):
                            raise ConnectionError("it closed its socket")
                    except (BlockingIOError, InterruptedError):
                        pass
                elif events & (select.POLLHUP | select.POLLERR):
                    raise ConnectionError("it closed its socket")
                if record is not None and events & select.POLLOUT:
                    try:
                        worker.control.send(record)
                    except (BlockingIOError, InterruptedError):
                        continue  # its queue is full: poll again
                    record = None
                    waiting.modify(worker.control.fileno(), select.POLLIN)
        except (OSError, ValueError) as exc:
            self._lose(worker, str(exc))
        return a, b

    # -- what the workers say ------------------------------------------------------------

    def _readable(self, worker: _Worker) -> None:
        try:
            while worker.alive and self._read_one(worker):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except (OSError, ValueError) as exc:
            self._lose(worker, str(exc))
            return
        if worker.alive:
            self._lose(worker, "it closed its socket")

    def _read_one(self, worker: _Worker) -> bool:
        """Handle one record; False at the end of the stream (BlockingIOError if none waits)."""
        got = wire.receive(worker.control)
        if got is None:
            return False
        message, fds = got
        for fd in fds:  # a worker never sends descriptors
            socket.close(fd)
        if isinstance(message, wire.Ready):
            worker.ready = True
        elif isinstance(message, wire.Event):
            streams = worker.pairs.get(message.pair)
            if streams is not None:
                streams[message.side].deliver(message.event)
        elif isinstance(message, wire.Returned):
            self._returned(worker, message)
        elif isinstance(message, wire.Refused):
            log.warning("relay worker %d refused a pair: %s", worker.proc.pid, message.reason)
            self._returned(worker, wire.Returned(message.pair, None))
        else:
            raise ValueError(f"unexpected {type(message).__name__}")
        return True

    def _returned(self, worker: _Worker, message: wire.Returned) -> None:
        streams = worker.pairs.pop(message.pair, None)
        if streams is None:
            return
        sessions = pickle.loads(message.sessions) if message.sessions is not None else (None, None)
        for stream, session, counters in zip(streams, sessions, message.counters, strict=True):
            self._pair_of.pop(stream, None)
            stream.take_back(session, counters)

    def _lose(self, worker: _Worker, why: str) -> None:
        """A worker died or misbehaved: kill it; its pairs carry on here."""
        if not worker.alive:
            return
        self.lost += 1
        log.error("relay worker %d lost (%s); its %d bridged calls carry on in the server",
                  worker.proc.pid, why, len(worker.pairs))
        self._drop(worker)
        if worker.proc.poll() is None:
            worker.proc.kill()
        for pair in list(worker.pairs):
            for stream in worker.pairs.pop(pair):
                self._pair_of.pop(stream, None)
                stream.take_back(None)
                stream.session.sender.ssrc = random.getrandbits(32)  # its numbers were used meanwhile
                stream.session.sender.mark_gap()

    def _drop(self, worker: _Worker) -> None:
        if worker.alive:
            worker.alive = False
            if self._loop is not None:
                self._loop.remove_reader(worker.control.fileno())
            worker.control.close()

