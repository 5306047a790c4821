"""Shared fixtures: real SQLite files under tmp_path, the example configuration.

And the event loop the async tests run on: ``HOTLINE_TEST_LOOP=uvloop`` (or ``asyncio``, the
default) picks it for every async test; a test marked ``both_loops`` runs once on each, so that
``make test`` exercises the server's default loop (uvloop) and the standard one without running
everything twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from hotline.event_loop import LOOPS, new_event_loop
from hotline.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _factory(name: str) -> LoopFactory:
    return lambda: new_event_loop(name)


def selected_loop() -> str:
    """The loop named by $HOTLINE_TEST_LOOP (default asyncio); a typo is an error, not a fallback."""
    name = os.environ.get("HOTLINE_TEST_LOOP") or "asyncio"
    if name not in LOOPS:
        raise pytest.UsageError(f"HOTLINE_TEST_LOOP={name!r}: one of {', '.join(LOOPS)}")
    return name


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_loops: run this async test on uvloop and on asyncio")


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {selected_loop()} (HOTLINE_TEST_LOOP); both_loops tests run on {' and '.join(LOOPS)}"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, LoopFactory]:
    """pytest-asyncio's hook: more than one factory parametrises the test over them."""
    names = LOOPS if item.get_closest_marker("both_loops") else (selected_loop(),)
    return {name: _factory(name) for name in names}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "hotline.sqlite3")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
