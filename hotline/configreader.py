"""Typed reading of a parsed TOML document that collects every error with its line.

``config.py`` describes *what* the configuration is (dataclasses with a
docstring per field); this module is the *how*: a :class:`Section` wraps one
TOML table, hands out typed values (``section.integer("port", 1, 65535, 5060)``)
and records a :class:`ConfigProblem` instead of raising, so that one run of
``hotline check-config`` reports every mistake at once. Unknown keys are
problems too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar

from hotline.tomlsource import KeyLines, error_line

__all__ = ["ConfigError", "ConfigProblem", "Document", "Section", "read_document"]

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MISSING: Any = object()
"""Default meaning "required"."""
_ABSENT: Any = object()
"""What a required key that is missing reads as; accessors turn it into a typed placeholder."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a configuration file."""

    file: str
    """The file, as the user named it."""
    line: int | None
    """1-based line of the key (or of its table), None if the key is absent."""
    key: str
    """Dotted key path, e.g. ``sip.port`` or ``rota[0].members``."""
    message: str
    """What was expected and what was found."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    """A configuration that must not be used. Carries every problem found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def read_document(path: Path, shown: str | None = None) -> Document:
    """Read and parse one TOML file; a file that cannot be used raises :class:`ConfigError`.

    ``shown`` is the file as problems name it (default: ``path``). Problems with the
    file as a whole have the key ``-``; an invalid TOML one names its line.
    """
    name = str(path) if shown is None else shown
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "-", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(name, None, "-", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, "-", f"cannot read ({exc.strerror or exc})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(name, error_line(exc), "-", f"not valid TOML: {exc}")]) from None
    return Document(name, text, data)


class Document:
    """One parsed TOML file plus the line of every key, collecting problems."""

    def __init__(self, file: str, text: str, data: dict[str, Any]) -> None:
        self.file = file
        self.data = data
        self.lines = KeyLines(text)
        self.problems: list[ConfigProblem] = []

    def root(self) -> Section:
        return Section(self, (), self.data)

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(
            ConfigProblem(self.file, self.lines.line_of(path), _dotted(path), message)
        )


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class Section:
    """A TOML table being read; every accessor marks its key as known."""

    def __init__(self, doc: Document, path: tuple[str | int, ...], data: dict[str, Any]) -> None:
        self.doc = doc
        self.where = path
        self.data = data
        self._seen: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------
    def _get(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.doc.problem((*self.where, key), "is required")
            return _ABSENT
        return default

    def bad(self, key: str, expected: str, got: object) -> None:
        self.doc.problem((*self.where, key), f"expected {expected}, got {_show(got)}")

    def problem(self, key: str, message: str) -> None:
        self.doc.problem((*self.where, key), message)

    def finish(self, *, also: Iterable[str] = (), hint: bool = False) -> None:
        """Report keys that no accessor asked for (typos, misplaced keys).

        ``also`` are keys allowed without being asked for (read from ``data``, or
        informational); with ``hint`` each message lists the keys that are known.
        """
        known = self._seen.union(also)
        message = "unknown key"
        if hint:
            message += f" (expected one of {', '.join(sorted(known))})"
        for key in self.data:
            if key not in known:
                self.doc.problem((*self.where, key), message)

    # -- typed accessors --------------------------------------------------------------------
    def table(self, key: str, required: bool = False) -> Section:
        value = self._get(key, _MISSING if required else {})
        if value is _ABSENT:
            value = {}
        elif not isinstance(value, dict):
            self.bad(key, "a table", value)
            value = {}
        return Section(self.doc, (*self.where, key), value)

    def tables(self, key: str) -> Iterator[Section]:
        """The elements of an array of tables (``[[key]]``)."""
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.bad(key, "an array of tables", value)
            return
        for index, item in enumerate(value):
            yield Section(self.doc, (*self.where, key, index), item)

    def string(self, key: str, default: Any = _MISSING, *, nonempty: bool = True,
               choices: tuple[str, ...] | None = None, pattern: str | None = None) -> str:
        value = self._get(key, default)
        if value is _ABSENT:
            return ""
        if value is None:
            return value  # type: ignore[return-value]  # a default of None means "optional"
        if not isinstance(value, str):
            self.bad(key, "a string", value)
            return default if isinstance(default, str) else ""
        if nonempty and not value.strip():
            self.bad(key, "a non-empty string", value)
        if choices and value not in choices:
            self.bad(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
        if pattern and not re.fullmatch(pattern, value):
            self.bad(key, f"a string matching {pattern}", value)
        return value

    def optional_string(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.bad(key, "a non-empty string", value)
            return None
        return value

    def integer(self, key: str, low: int, high: int, default: Any = _MISSING) -> int:
        value = self._get(key, default)
        if value is _ABSENT:
            return low
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.bad(key, f"an integer {low}–{high}", value)
            return default if isinstance(default, int) else low
        return value

    def number(self, key: str, low: float, high: float, default: Any = _MISSING) -> float:
        value = self._get(key, default)
        if value is _ABSENT:
            return low
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.bad(key, f"a number {low:g}–{high:g}", value)
            return float(default) if isinstance(default, int | float) else low
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if value is _ABSENT:
            return False
        if not isinstance(value, bool):
            self.bad(key, "true or false", value)
            return bool(default) if isinstance(default, bool) else False
        return value

    def string_list(self, key: str, default: Any = _MISSING, *, nonempty: bool = False) -> list[str]:
        value = self._get(key, default)
        if value is _ABSENT:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.bad(key, "an array of non-empty strings", value)
            return list(default) if isinstance(default, list | tuple) else []
        if nonempty and not value:
            self.bad(key, "at least one entry", value)
        return list(value)

    def path(self, key: str, base: Path, default: Any = _MISSING) -> Path:
        """A filesystem path; relative paths are taken from the configuration file's folder."""
        value = self.string(key, default)
        return (base / value).resolve() if value else base

    def clock_time(self, key: str, default: Any = _MISSING) -> time:
        value = self._get(key, default)
        if value is _ABSENT:
            return time(0, 0)
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            parsed = parse_clock(value)
            if parsed is not None:
                return parsed
        self.bad(key, 'a time of day like "08:30"', value)
        return time(0, 0)

    def day(self, key: str, default: Any = _MISSING) -> date:
        value = self._get(key, default)
        if value is _ABSENT:
            return date(1970, 1, 1)
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        self.bad(key, "a date like 2026-01-05", value)
        return date(1970, 1, 1)

    def networks(self, key: str, default: Any = _MISSING) -> list[Network]:
        out: list[Network] = []
        for item in self.string_list(key, default):
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.bad(key, "IP addresses or networks like 192.0.2.10 or 10.1.0.0/16", item)
        return out


def parse_span(text: str) -> tuple[time, time] | None:
    """``"08:00-12:00"`` → ``(time(8), time(12))``; None unless both ends are clock times and
    the end is after the start (``"24:00"`` ends the day)."""
    start_text, dash, end_text = text.partition("-")
    start, end = parse_clock(start_text), parse_clock(end_text)
    if not dash or start is None or end is None or end <= start:
        return None
    return start, end


def parse_clock(text: str) -> time | None:
    """``"08:30"`` → ``time(8, 30)``; ``"24:00"`` is the end of the day (23:59:59.999999)."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if (hour, minute) == (24, 0):
        return time.max
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)
