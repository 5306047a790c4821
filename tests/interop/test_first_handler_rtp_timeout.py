"""The first call handler hangs up a caller whose RTP stops (a phone that lost its network).

No BYE will ever come from such a caller; without this the call would hold a port and a
record open until ``max_call_seconds``. Real endpoint, real media engine, real SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hotline.sip.message import Request
from tests.interop.endpoint_helpers import wait_for_end
from tests.interop.first_handler_helpers import answered_call
from tests.interop.peers import PortAllocator

RTP_TIMEOUT = 1.5


async def test_silent_caller_is_hung_up_and_recorded(tmp_path: Path, free_ports: PortAllocator) -> None:
    async with answered_call(tmp_path, free_ports, "silent@127.0.0.1", rtp_timeout=RTP_TIMEOUT) as call:
        last = await call.send_rtp([b"\xff" * 160] * 50)  # 1 s of RTP, then the phone goes silent
        bye = await call.raw.recv_until(lambda m: isinstance(m, Request) and m.method == "BYE", 6)
        silent = asyncio.get_running_loop().time() - last
        assert isinstance(bye, Request)
        assert RTP_TIMEOUT - 0.2 <= silent <= RTP_TIMEOUT + 1.5, silent
        call.raw.send(
            f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
            f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
            "Content-Length: 0\r\n\r\n", call.to)
        record = await wait_for_end(call.store, "silent@127.0.0.1")
        assert record.disposition == "answered" and record.answered_at is not None
