"""The relay workers' control records: what goes over is what comes back, and nothing else."""

import os
import pickle
import socket

import pytest

from hotline.media import relay_messages as wire
from hotline.media.events import RtpTimedOut


def test_messages_survive_a_record() -> None:
    for message in (wire.Ready(7), wire.Lend(3, (20000, 20002), b"sessions"), wire.Return(3),
                    wire.Returned(3, None), wire.Returned(3, b"x", ((1, 2, 3), (4, 5, 6))),
                    wire.Refused(3, "no"), wire.Event(3, 1, RtpTimedOut(30.0, 12.5))):
        assert wire.decode(wire.encode(message)) == message


@pytest.mark.parametrize("record", [b"", b"garbage", pickle.dumps({"op": "lend"}), pickle.dumps(None)])
def test_anything_else_is_refused_by_name(record: bytes) -> None:
    with pytest.raises(ValueError, match="relay record"):
        wire.decode(record)


def test_descriptors_of_a_bad_record_are_closed_not_leaked() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    spare = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with ours, theirs, spare:
        before = len(os.listdir("/proc/self/fd"))
        socket.send_fds(theirs, [b"garbage"], [spare.fileno()])
        with pytest.raises(ValueError):
            wire.receive(ours)
        assert len(os.listdir("/proc/self/fd")) == before
        # Only the descriptor that came over was closed: ours still works.
        spare.bind(("127.0.0.1", 0))
        socket.send_fds(theirs, [wire.encode(wire.Return(1))], [spare.fileno()])
        message, fds = wire.receive(ours)
        assert message == wire.Return(1) and len(fds) == 1
        socket.close(fds[0])
        theirs.close()
        assert wire.receive(ours) is None
