"""The main of a relay worker process (`hotline.media.relay_worker` does the work).

    python -m hotline.relay_worker LOOP FD

LOOP is the server's event loop ("uvloop" or "asyncio"), FD the worker's end
of its control socket pair. Ctrl-C meant for the server does not stop the
worker first: the server stops it by closing its end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

from hotline.event_loop import new_event_loop
from hotline.gc_tuning import tune_for_serving
from hotline.media.relay_worker import serve


def command(loop: str) -> list[str]:
    """How `hotline.media.relay.RelayWorkers` starts a worker on `loop` (it appends FD)."""
    return [sys.executable, "-m", "hotline.relay_worker", loop]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m hotline.relay_worker LOOP FD", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO,
                        format=f"relay-worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s")
    control = socket.socket(fileno=int(argv[1]))
    tune_for_serving()
    with asyncio.Runner(loop_factory=lambda: new_event_loop(argv[0])) as runner:
        runner.run(serve(control))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
