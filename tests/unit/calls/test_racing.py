"""unless(): the work's result, or Interrupted when a watched future finishes first."""

from __future__ import annotations

import asyncio

import pytest

from hotline.calls.racing import Interrupted, unless


async def test_the_work_that_finishes_first_gives_its_result() -> None:
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert await unless(asyncio.sleep(0, "done"), gone) == "done"
    assert not gone.done()


async def test_a_watched_future_cuts_the_work_short_and_cancels_it() -> None:
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    loop.call_soon(gone.set_result, None)
    with pytest.raises(Interrupted):
        await unless(work(), gone)
    assert cancelled.is_set()


async def test_the_works_own_error_is_raised_as_it_is() -> None:
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        raise LookupError("no such prompt")

    with pytest.raises(LookupError, match="no such prompt"):
        await unless(work(), gone)


async def test_cancelling_the_wait_cancels_the_work() -> None:
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.ensure_future(unless(work(), gone))
    await started.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    assert cancelled.is_set()
