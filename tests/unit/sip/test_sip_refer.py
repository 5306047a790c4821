"""The REFER recipient's NOTIFYs (RFC 3515), with a fake dialog that records what is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from hotline.sip.call_events import Refer
from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import Response
from hotline.sip.refer import notify_headers, sipfrag
from hotline.sip.refer_notifier import ReferNotifier

pytestmark = pytest.mark.both_loops


class FakeDialog:
    """Answers each NOTIFY after ``delays`` (in order), recording headers and bodies."""

    def __init__(self, *delays: float, fail_at: int | None = None) -> None:
        self.delays = list(delays)
        self.fail_at = fail_at
        self.sent: list[tuple[dict[str, str], bytes, str]] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def send(self, headers: list[tuple[str, str]], body: bytes, content_type: str) -> Response:
        index = len(self.sent)
        self.sent.append((dict(headers), body, content_type))
        await asyncio.sleep(self.delays[index] if index < len(self.delays) else 0)
        if index == self.fail_at:
            raise LocalProtocolError("dialog already terminated")
        return Response(status=200)

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task


def test_sipfrag_and_headers() -> None:
    assert sipfrag(100) == b"SIP/2.0 100 Trying\r\n"
    assert sipfrag(603) == b"SIP/2.0 603 Decline\r\n"
    assert sipfrag(480, "Gone\r\nX: y") == b"SIP/2.0 480 Gone  X: y\r\n"  # no header injection
    with pytest.raises(LocalProtocolError):
        sipfrag(99)
    assert notify_headers(7, final=False) == [("Event", "refer;id=7"), ("Subscription-State", "active;expires=60")]
    assert notify_headers(7, final=True)[1] == ("Subscription-State", "terminated;reason=noresource")


async def test_notifies_go_out_in_order_one_at_a_time() -> None:
    dialog = FakeDialog(0.05, 0.0, 0.0)  # the 100 Trying is answered slowly
    notifier = ReferNotifier(dialog.send, dialog.spawn, refer_cseq=2)
    notifier.start()
    refer = Refer("sip:+4915112345678@192.0.2.1", notifier)
    progress = asyncio.ensure_future(refer.progress(180))
    await asyncio.sleep(0.01)
    assert len(dialog.sent) == 1  # the 180 waits for the 100's answer
    assert await refer.finish(200) == 200
    assert await progress == 200
    assert [body for _, body, _ in dialog.sent] == [
        b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 180 Ringing\r\n", b"SIP/2.0 200 OK\r\n"
    ]
    states = [h["Subscription-State"] for h, _, _ in dialog.sent]
    assert states == ["active;expires=60", "active;expires=60", "terminated;reason=noresource"]
    assert {ct for _, _, ct in dialog.sent} == {"message/sipfrag;version=2.0"}
    assert notifier.finished and notifier.final_status == 200
    with pytest.raises(LocalProtocolError, match="already terminated"):
        await refer.finish(486)


async def test_a_failed_notify_does_not_stop_the_next() -> None:
    dialog = FakeDialog(fail_at=0)
    notifier = ReferNotifier(dialog.send, dialog.spawn, refer_cseq=5)
    notifier.start()
    assert await notifier.finish(486) == 200
    assert len(dialog.sent) == 2


async def test_bad_statuses_and_a_refer_without_subscription() -> None:
    dialog = FakeDialog()
    notifier = ReferNotifier(dialog.send, dialog.spawn, refer_cseq=2)
    with pytest.raises(LocalProtocolError):
        await notifier.progress(200)
    with pytest.raises(LocalProtocolError):
        await notifier.finish(180)
    with pytest.raises(LocalProtocolError, match="no subscription"):
        await Refer("sip:x@192.0.2.1").finish(200)
    assert dialog.sent == []
