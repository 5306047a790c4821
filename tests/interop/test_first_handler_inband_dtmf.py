"""DTMF sent as tones in the audio (old gateways without RFC 4733) reaches the call record.

``[media] inband_dtmf_peers`` names such peers; their calls' audio goes through the Goertzel
detector. The same tones from a peer not in the list are not taken for digits (nobody's speech
is scanned for tones unless configured). Real endpoint, media engine and SQLite file.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from hotline.media.codecs import PCMU
from tests.interop.endpoint_helpers import wait_for_end
from tests.interop.first_handler_helpers import answered_call
from tests.interop.peers import PortAllocator

# Row and column frequencies of the keypad (ITU-T Q.23).
KEYS = {"5": (770, 1336), "#": (941, 1477), "9": (852, 1477)}


def tone_frames(digit: str | None, ms: int) -> list[bytes]:
    """20 ms PCMU frames of a DTMF key (or silence), each tone at about -10 dBm0."""
    frames = []
    for f in range(ms // 20):
        samples = []
        for n in range(160):
            t = (f * 160 + n) / 8000
            value = 0.0
            if digit is not None:
                low, high = KEYS[digit]
                value = 6000 * (math.sin(2 * math.pi * low * t) + math.sin(2 * math.pi * high * t))
            samples.append(int(value))
        frames.append(PCMU.encode(struct.pack(f"<{len(samples)}h", *samples)))
    return frames


async def call_with_tones(tmp_path: Path, free_ports: PortAllocator, inband_peers: tuple[str, ...]) -> str:
    """The digits stored on the call record after a caller keyed 5, # and 9 as tones."""
    async with answered_call(tmp_path, free_ports, "tones@127.0.0.1",
                             inband_dtmf_peers=inband_peers) as call:
        await call.send_rtp(
            tone_frames(None, 200) + tone_frames("5", 120) + tone_frames(None, 120)
            + tone_frames("#", 120) + tone_frames(None, 120) + tone_frames("9", 120)
            + tone_frames(None, 300), ssrc=0x70E5)
        call.bye()
        record = await wait_for_end(call.store, "tones@127.0.0.1")
        return record.digits


async def test_inband_digits_from_a_configured_peer(tmp_path: Path, free_ports: PortAllocator) -> None:
    assert await call_with_tones(tmp_path, free_ports, ("127.0.0.0/8",)) == "5#9"


@pytest.mark.parametrize("peers", [(), ("192.0.2.0/24",)])
async def test_tones_from_other_peers_are_not_digits(
    tmp_path: Path, free_ports: PortAllocator, peers: tuple[str, ...]
) -> None:
    assert await call_with_tones(tmp_path, free_ports, peers) == ""
