"""A relay worker: a process that carries bridged pairs the server lends it.

`serve` runs in the worker process (`hotline.relay_worker` is its main) on its
end of a `SOCK_SEQPACKET` socket pair with the server, which started it
(`hotline.media.relay.RelayWorkers`). The worker runs the same `MediaEngine`
code as the server for the pairs it holds: receiving, relaying, the quiet
relay's keep-alive silence, RTCP reports and the RTP timeout; their events
(digits, timeouts) go back to the server. A `Return` gives a pair back: the
worker stops reading its sockets, closes its copies of them (the server kept
its own) and sends the sessions as it left them. The worker ends when the
server's end of the pair closes -- also when the server dies, so a worker is
never left behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import pickle
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from hotline.media import relay_messages as wire
from hotline.media.engine import MediaEngine
from hotline.media.session import Address, MediaEvent
from hotline.media.stream import RtpStream
from hotline.media.udp import UdpSocket

log = logging.getLogger("hotline.media.relay_worker")


class RelayWorker:
    """The pairs one worker holds, and its side of the conversation with the server."""

    def __init__(self, control: socket.socket, engine: MediaEngine) -> None:
        self.control = control
        self.engine = engine
        self.pairs: dict[int, tuple[RtpStream, RtpStream]] = {}
        self._adopting: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._outbox: deque[bytes] = deque()
        self._waiting = False
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, message: wire.Message) -> None:
        """Send now, or after what waits: a socket pair queues only a few records (Linux's
        net.unix.max_dgram_qlen, 10 by default) and a burst of events must not be lost."""
        self._outbox.append(wire.encode(message))
        if len(self._outbox) == 1:
            self._flush()

    def _flush(self) -> None:
        outbox = self._outbox
        try:
            while outbox:
                self.control.send(outbox[0])
                outbox.popleft()
        except (BlockingIOError, InterruptedError):
            if not self._waiting:
                asyncio.get_running_loop().add_writer(self.control.fileno(), self._flush)
                self._waiting = True
            return
        except OSError as exc:  # the server is gone: nothing to tell any more
            log.warning("relay worker: cannot reach the server (%s)", exc)
            outbox.clear()
            self._end()
        if self._waiting:
            asyncio.get_running_loop().remove_writer(self.control.fileno())
            self._waiting = False

    def stop_writing(self) -> None:
        """Give up what was not sent (the server is gone)."""
        self._outbox.clear()
        if self._waiting:
            asyncio.get_running_loop().remove_writer(self.control.fileno())
            self._waiting = False

    def readable(self) -> None:
        """Every record waiting on the control socket."""
        while not self.ended.done():
            try:
                got = wire.receive(self.control)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, ValueError) as exc:
                log.error("relay worker: bad record from the server (%s); stopping", exc)
                self._end()
                return
            if got is None:
                self._end()
                return
            message, fds = got
            if isinstance(message, wire.Lend) and len(fds) == 4:
                self._adopting[message.pair] = self._spawn(self._adopt(message, fds))
            elif isinstance(message, wire.Return):
                if message.pair in self._adopting:
                    self._spawn(self._give_back_when_adopted(message.pair))
                else:  # at once: the server's loop is blocked until it has the pair back
                    self._give_back(message.pair)
            else:
                for fd in fds:
                    os.close(fd)
                log.error("relay worker: unexpected %s from the server", type(message).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _adopt(self, message: wire.Lend, fds: list[int]) -> None:
        loop = asyncio.get_running_loop()
        socks = [socket.socket(fileno=fd) for fd in fds]
        udp: list[UdpSocket] = []
        # What arrives while the four transports are made is kept, then handed to the streams:
        # the server stopped reading these sockets, so nobody else will.
        early: list[tuple[int, bytes, Address]] = []
        try:
            for i, sock in enumerate(socks):
                sock.setblocking(False)
                udp.append(await UdpSocket.adopt(loop, sock, on_datagram=functools.partial(
                    lambda i, data, addr: early.append((i, data, addr)), i)))
            session_a, session_b = pickle.loads(message.sessions)
            a = self.engine.adopt(session_a, message.ports[0], udp[0], udp[1])
            b = self.engine.adopt(session_b, message.ports[1], udp[2], udp[3])
        except Exception as exc:
            log.exception("relay worker: pair %d could not be taken on", message.pair)
            for u in udp:
                u.close()
            for sock in socks[len(udp):]:
                sock.close()
            self.send(wire.Refused(message.pair, str(exc) or type(exc).__name__))
            return
        finally:
            self._adopting.pop(message.pair, None)
        a.peer, b.peer = b, a
        a.on_event = self._forwarder(message.pair, 0)
        b.on_event = self._forwarder(message.pair, 1)
        self.pairs[message.pair] = (a, b)
        for i, data, addr in early:
            udp[i].deliver(data, addr)

    def _forwarder(self, pair: int, side: int) -> Callable[[MediaEvent], None]:
        def forward(event: MediaEvent) -> None:
            self.send(wire.Event(pair, side, event))
        return forward

    async def _give_back_when_adopted(self, pair: int) -> None:
        adopting = self._adopting.get(pair)
        if adopting is not None:
            await adopting
        self._give_back(pair)

    def _give_back(self, pair: int) -> None:
        streams = self.pairs.pop(pair, None)
        if streams is None:  # refused, or never arrived: the server's sessions are current
            self.send(wire.Returned(pair, None))
            return
        a, b = streams
        counters = (a.socket_counters(), b.socket_counters())
        for stream in streams:
            self.engine.release(stream)
        sessions = pickle.dumps((a.session, b.session), protocol=pickle.HIGHEST_PROTOCOL)
        self.send(wire.Returned(pair, sessions, counters))

    def _end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


async def serve(control: socket.socket) -> None:
    """Carry what the server lends until it closes its end."""
    loop = asyncio.get_running_loop()
    control.setblocking(False)
    engine = MediaEngine()  # it adopts what it is lent; its port pool goes unused
    await engine.start()
    worker = RelayWorker(control, engine)
    loop.add_reader(control.fileno(), worker.readable)
    worker.send(wire.Ready(os.getpid()))
    try:
        await worker.ended
    finally:
        loop.remove_reader(control.fileno())
        worker.stop_writing()
        control.close()
    log.debug("relay worker %d: the server closed; %d pairs dropped", os.getpid(), len(worker.pairs))
