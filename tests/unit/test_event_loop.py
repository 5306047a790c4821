"""The server's event loop choice (hotline.event_loop) and the suite's loop selection (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import os

import pytest

from hotline.event_loop import LOOPS, LoopError, default_loop, loop_name, new_event_loop


@pytest.mark.parametrize("name", LOOPS)
def test_new_event_loop_makes_the_named_kind(name: str) -> None:
    loop = new_event_loop(name)
    try:
        assert loop_name(loop) == name
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_uvloop_is_the_default_where_installed() -> None:
    # uvloop is a dependency on Linux and macOS, where the suite runs.
    assert default_loop() == "uvloop"


def test_an_unknown_loop_is_refused_with_the_choices() -> None:
    with pytest.raises(LoopError, match="uvloop, asyncio"):
        new_event_loop("trio")


@pytest.mark.both_loops
async def test_a_both_loops_test_runs_on_the_loop_its_id_names(request: pytest.FixtureRequest) -> None:
    running = loop_name(asyncio.get_running_loop())
    assert f"[{running}]" in request.node.name


async def test_an_async_test_runs_on_the_loop_hotline_test_loop_names() -> None:
    assert loop_name(asyncio.get_running_loop()) == (os.environ.get("HOTLINE_TEST_LOOP") or "asyncio")
