"""Conversions between stored column values and Python values."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hotline.store.db import utc_text

__all__ = ["from_json", "parse_time", "to_json", "utc_text"]


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
