"""Find the line a TOML key stands on, so configuration errors can say ``file:line``.

``tomllib`` gives values but no positions. Configuration errors must name the
line, so this module scans the text once and maps every dotted key path to the
line where it is written. It understands what a hand-written configuration
uses: ``[table]`` and ``[[array.of.tables]]`` headers (with their running
index), ``key = value`` and ``dotted.key = value`` lines, quoted keys, inline
tables one level deep, and skips the inside of multi-line strings and arrays.
It never decides whether the file is valid: ``tomllib`` does that first.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["KeyLines", "error_line"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_SIMPLE = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_SIMPLE}(?:\s*\.\s*{_SIMPLE})*)\s*=")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


_ERROR_AT = re.compile(r"\(at line (\d+), column \d+\)")


def error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    """The 1-based line a ``tomllib`` error points at, None when it names none (end of document).

    Python 3.14 gives it as ``exc.lineno``; before that it is only in the message.
    """
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    match = _ERROR_AT.search(str(exc))
    return int(match.group(1)) if match else None


def _split_key(text: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(text)]


class KeyLines:
    """Line numbers (1-based) of every key path in one TOML text.

    Paths are tuples of keys and array indexes, as ``("rota", 0, "members")``.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        self._build(text)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path``, or of its closest written ancestor, or None."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _build(self, text: str) -> None:
        table: tuple[str | int, ...] = ()
        array_counts: dict[tuple[str | int, ...], int] = {}
        in_multiline: str | None = None
        bracket_depth = 0
        for lineno, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if in_multiline in line:
                    in_multiline = None
                continue
            if bracket_depth > 0:
                bracket_depth += _bracket_balance(line)
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                keys: tuple[str | int, ...] = tuple(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(keys, -1) + 1
                    array_counts[keys] = index
                    table = (*self._resolve(keys, array_counts), index)
                else:
                    table = self._resolve(keys, array_counts)
                self._lines.setdefault(table, lineno)
                continue
            key = _KEY.match(line)
            if not key:
                continue
            path = (*table, *_split_key(key.group(1)))
            self._lines.setdefault(path, lineno)
            value = line[key.end():]
            for quote in ('"""', "'''"):
                if value.count(quote) == 1:
                    in_multiline = quote
            if in_multiline is None:
                bracket_depth = _bracket_balance(value)
                if value.strip().startswith("{"):
                    for inner in re.finditer(r"([A-Za-z0-9_-]+)\s*=", value):
                        self._lines.setdefault((*path, inner.group(1)), lineno)

    @staticmethod
    def _resolve(
        keys: tuple[str | int, ...], array_counts: dict[tuple[str | int, ...], int]
    ) -> tuple[str | int, ...]:
        # A [sub.table] under an [[array]] belongs to the array's last element.
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            prefix = tuple(k for k in out if isinstance(k, str))
            if prefix in array_counts and len(prefix) < len([k for k in keys if isinstance(k, str)]):
                out.append(array_counts[prefix])
        return tuple(out)


def _bracket_balance(text: str) -> int:
    """Open minus closed brackets outside strings and comments, for multi-line arrays."""
    depth = 0
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
    return depth
