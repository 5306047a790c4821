"""Shared fixtures: real SQLite files under tmp_path, the example configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "hotline.sqlite3")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
