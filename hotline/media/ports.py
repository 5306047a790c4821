"""The RTP port pool: even ports from a range, RTCP on the next odd one, a quiet period.

A port released at the end of a call is not handed out again for
`quiet_period` seconds, so stray packets of the old call (a far end that has
not processed our BYE yet) do not land in a new one. Ports that turn out to
be taken by another program are set aside by the caller with `block()`.
Pure bookkeeping with `now` as an argument.
"""

from __future__ import annotations

from collections import deque


class PortsExhausted(RuntimeError):
    """No free RTP port pair: the range in the configuration is too small for the load."""


class PortPool:
    """Even RTP ports in [low, high], handed out least recently used first."""

    def __init__(self, low: int, high: int, *, quiet_period: float = 10.0) -> None:
        low += low % 2
        if high - low < 1:
            raise ValueError(f"RTP port range {low}–{high} holds no port pair")
        self.low = low
        self.high = high
        self.quiet_period = quiet_period
        self._free: deque[int] = deque(range(low, high, 2))
        self._resting: deque[tuple[float, int]] = deque()  # (free again at, port)
        self._in_use: set[int] = set()
        self.blocked: set[int] = set()

    @property
    def capacity(self) -> int:
        """Port pairs in the range."""
        return (self.high - self.low + 1) // 2

    @property
    def in_use(self) -> int:
        """Pairs currently allocated."""
        return len(self._in_use)

    def _wake(self, now: float) -> None:
        while self._resting and self._resting[0][0] <= now:
            self._free.append(self._resting.popleft()[1])

    def allocate(self, now: float) -> int:
        """An even RTP port (RTCP is port + 1); raises `PortsExhausted`."""
        self._wake(now)
        while self._free:
            port = self._free.popleft()
            if port not in self.blocked:
                self._in_use.add(port)
                return port
        raise PortsExhausted(
            f"all {self.capacity} RTP port pairs {self.low}–{self.high} are in use or resting"
        )

    def release(self, port: int, now: float) -> None:
        """Give a port back; it rests for the quiet period first."""
        if port not in self._in_use:
            raise ValueError(f"RTP port {port} was not allocated")  # a bug of ours
        self._in_use.discard(port)
        self._resting.append((now + self.quiet_period, port))

    def block(self, port: int) -> None:
        """Never hand out this port again (another program holds it)."""
        self.blocked.add(port)
        self._in_use.discard(port)
