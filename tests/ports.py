"""The one source of test ports: loopback ports below the kernel's ephemeral range.

Ports the kernel hands out for outgoing connections (``ip_local_port_range``, 32768-60999 by
default) may be taken at any moment by a client socket of anything on the machine, so a port
chosen there and "checked free" can be gone a millisecond later. Tests take theirs from
10000 up to just below that range instead, from a random base (parallel test sessions on one
machine rarely even try the same port), and every port is checked free for UDP and TCP
before it is handed out. RTP ranges are blocks of it, never hard-coded.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

__all__ = ["PORTS", "PortAllocator", "free_port", "is_free"]

LOOPBACK = "127.0.0.1"


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def is_free(port: int, host: str = LOOPBACK) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


class PortAllocator:
    """Hands out loopback ports free for both UDP and TCP, below the ephemeral range."""

    LOW = 10000
    HIGH = min(_ephemeral_low(), 65536) - 1

    def __init__(self, seed: int | None = None) -> None:
        rng = random.Random(seed)
        self._next = rng.randrange(self.LOW, self.HIGH - 4000)
        self._lock = threading.Lock()

    def take(self, count: int = 1) -> list[int]:
        """``count`` free ports (not necessarily contiguous)."""
        return [self.block(1) for _ in range(count)]

    def one(self) -> int:
        """One free port."""
        return self.block(1)

    def block(self, size: int) -> int:
        """The first of ``size`` contiguous free ports (RTP ranges, sipp ``-mp``); even."""
        with self._lock:
            for _ in range(4000):
                base = self._next + (self._next % 2)
                if base + size > self.HIGH:
                    base = self.LOW
                self._next = base + size
                if all(is_free(p) for p in range(base, base + size)):
                    return base
        raise RuntimeError(f"no {size} free contiguous loopback ports in {self.LOW}-{self.HIGH}")


PORTS = PortAllocator()
"""The session's allocator, shared by every test module."""


def free_port() -> int:
    return PORTS.one()
