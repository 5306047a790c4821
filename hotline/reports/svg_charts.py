"""Bar, line and horizontal bar charts for the service report, drawn on the server as SVG text.

Customer sites have no internet and the report is printed, so a chart here is
one self-contained ``<svg>`` string: no script, no animation, no web font, no
external reference.  Each function takes the figures and returns the markup;
the report page inlines it and the CSV export carries the same numbers.

Paper first
-----------
One user unit is a quarter of a millimetre (:data:`UNITS_PER_MM`): the
default chart is 170 mm wide, the text width of an A4 page with 20 mm margins,
and its text is set in units that print at 7–10 pt whatever the chart's width.
The ``width``/``height`` attributes are in millimetres for print; a screen
stylesheet may scale it (``max-width: 100%; height: auto``) through the
``viewBox``.

Series must stay apart on a greyscale printer, so each series has a colour of
its own lightness *and* a fill pattern (solid, hatching, dots…) in bar charts,
and a dash pattern and marker shape in line charts.  Bars have a thin dark
outline so a light bar is still seen on white paper.

Every chart is ``role="img"`` with an ``aria-label`` and a ``<title>``, a
``<desc>`` listing the figures for screen readers, and a ``<title>`` tooltip on
each bar or point.  Every text that came from data — category names, engineer
names, series names, the title — is escaped for XML, and characters XML cannot
hold at all are replaced, so the output is always well-formed.

Value axes start at zero and stop at round numbers (:mod:`hotline.reports.scale`).
No data at all gives a small chart that says so (``no_data_text``, English by
default: the console passes its translation).  Machine-readable attributes
(``class="bar"``, ``data-value``, ``data-tick``) let tests and the browser test
read the drawing back.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from hotline.reports.scale import Scale, format_value, nice_scale

__all__ = ["UNITS_PER_MM", "Series", "bar_chart", "horizontal_bar_chart", "line_chart"]

UNITS_PER_MM = 4
"""SVG user units per millimetre of paper."""

_FONT_FAMILY = ("'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei',"
                "'Microsoft YaHei','PingFang SC',sans-serif")
_FONT = 11  # ≈ 7.8 pt on paper
_TITLE_FONT = 15  # ≈ 10.6 pt
_SMALL_FONT = 9
_INK = "#222222"
_GRID = "#cccccc"
_AXIS = "#444444"
_MARGIN = 10

# Colours ordered so neighbours differ in lightness (greyscale ≈ 59, 188, 120, 215, 75, 139).
_PALETTE = ("#1f3d7a", "#f5b841", "#3c8d5a", "#c9d8ef", "#8b3a3a", "#d9795b")
_FILLS = ("solid", "diagonal", "dots", "cross", "horizontal", "backward")
_DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "1 2")
_MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle-down")

_Mapper = Callable[[float], float]
"""From a value to its coordinate along the value axis."""


@dataclass(frozen=True)
class Series:
    """One named row of figures, one value per category (None: no figure)."""

    name: str
    """Shown in the legend and the tooltips."""
    values: Sequence[float | None]
    """One value per category or day, in the same order; stored as a tuple."""

    def __post_init__(self) -> None:
        values = tuple(self.values)
        for v in values:
            if v is not None and not math.isfinite(v):
                raise ValueError(f"series {self.name!r}: cannot draw {v!r}")
        object.__setattr__(self, "values", values)


# ---------------------------------------------------------------------------
# Text


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(text: str) -> str:
    """``text`` safe inside an XML element or a double- or single-quoted attribute."""
    text = _NOT_XML.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _text_width(text: str, size: float) -> float:
    """Estimated rendered width: CJK characters are one em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.6 for c in text)


def _fit(text: str, width: float, size: float) -> str:
    """``text`` on one line, shortened with an ellipsis to fit ``width``."""
    text = _one_line(text)
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _n(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _attrs(attrs: dict[str, str | float]) -> str:
    return "".join(f' {k}="{_n(v) if isinstance(v, int | float) else _esc(v)}"' for k, v in attrs.items())


def _text(x: float, y: float, content: str, *, size: int = _FONT, anchor: str = "start",
          extra: dict[str, str | float] | None = None) -> str:
    attrs: dict[str, str | float] = {"x": x, "y": y, "font-size": size, "fill": _INK}
    if anchor != "start":
        attrs["text-anchor"] = anchor
    attrs.update(extra or {})
    return f"<text{_attrs(attrs)}>{_esc(content)}</text>"


# ---------------------------------------------------------------------------
# The frame every chart shares


def _chart_id(kind: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    key = repr((kind, title, tuple(labels), [(s.name, s.values) for s in series]))
    return "chart-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _frame(chart_id: str, title: str, summary: str, width: float, height: float, body: list[str]) -> str:
    title = _one_line(title)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="hotline-chart" id="{chart_id}"'
            f' width="{_n(width / UNITS_PER_MM)}mm" height="{_n(height / UNITS_PER_MM)}mm"'
            f' viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{_esc(title)}"'
            f' font-family="{_FONT_FAMILY}">')
    return "\n".join([
        head,
        f'<title id="{chart_id}-title">{_esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{_esc(summary)}</desc>',
        f'<rect width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>',
        _text(_MARGIN, _MARGIN + _TITLE_FONT, _fit(title, width - 2 * _MARGIN, _TITLE_FONT),
              size=_TITLE_FONT, extra={"font-weight": "bold", "class": "chart-title"}),
        *(part for part in body if part),
        "</svg>",
    ]) + "\n"


def _no_data(chart_id: str, title: str, width: float, text: str) -> str:
    height = 30 * UNITS_PER_MM
    top = _MARGIN + _TITLE_FONT + 8
    body = [
        f'<rect class="no-data" x="{_n(_MARGIN)}" y="{_n(top)}" width="{_n(width - 2 * _MARGIN)}"'
        f' height="{_n(height - top - _MARGIN)}" fill="none" stroke="{_GRID}" stroke-dasharray="4 3"/>',
        _text(width / 2, (top + height - _MARGIN) / 2 + _FONT / 3, text, anchor="middle",
              extra={"class": "no-data-text"}),
    ]
    return _frame(chart_id, title, text, width, height, body)


def _summary(labels: Sequence[str], series: Sequence[Series], unit: str, limit: int = 60) -> str:
    """The figures as text for screen readers: ``label: series value, …; …``."""
    parts = []
    for i, label in enumerate(labels[:limit]):
        figures = ", ".join(f"{s.name} {format_value(v)}{unit}" if len(series) > 1 else
                            f"{format_value(v)}{unit}"
                            for s in series if (v := s.values[i]) is not None)
        parts.append(f"{_one_line(label)}: {figures or '-'}")
    if len(labels) > limit:
        parts.append(f"… {len(labels) - limit} more")
    return "; ".join(parts)


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} categories")


def _has_data(labels: Sequence[str], series: Sequence[Series]) -> bool:
    return bool(labels) and any(v is not None for s in series for v in s.values)


def _is_integral(series: Sequence[Series]) -> bool:
    return all(float(v).is_integer() for s in series for v in s.values if v is not None)


# ---------------------------------------------------------------------------
# Series styles: colour + pattern (bars), colour + dash + marker (lines)


def _lightness(colour: str) -> float:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _fill_defs(chart_id: str, count: int) -> tuple[str, list[str]]:
    """``<defs>`` with one fill per series, and the ``fill`` value of each."""
    defs: list[str] = []
    fills: list[str] = []
    for i in range(count):
        colour = _PALETTE[i % len(_PALETTE)]
        kind = _FILLS[(i + i // len(_FILLS)) % len(_FILLS)]
        if kind == "solid":
            fills.append(colour)
            continue
        ink = "#ffffff" if _lightness(colour) < 128 else "#1a1a1a"
        pid = f"{chart_id}-fill{i}"
        turn = {"diagonal": 45, "cross": 45, "backward": -45}.get(kind, 0)
        marks = {
            "diagonal": f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ink}" stroke-width="2"/>',
            "backward": f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ink}" stroke-width="2"/>',
            "horizontal": f'<line x1="0" y1="3" x2="6" y2="3" stroke="{ink}" stroke-width="1.6"/>',
            "cross": (f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ink}" stroke-width="1.4"/>'
                      f'<line x1="0" y1="0" x2="6" y2="0" stroke="{ink}" stroke-width="1.4"/>'),
            "dots": f'<circle cx="3" cy="3" r="1.3" fill="{ink}"/>',
        }[kind]
        rotate = f' patternTransform="rotate({turn})"' if turn else ""
        defs.append(f'<pattern id="{pid}" patternUnits="userSpaceOnUse" width="6" height="6"{rotate}>'
                    f'<rect width="6" height="6" fill="{colour}"/>{marks}</pattern>')
        fills.append(f"url(#{pid})")
    return (f"<defs>{''.join(defs)}</defs>" if defs else ""), fills


def _marker(kind: str, x: float, y: float, colour: str, tooltip: str = "") -> str:
    r = 3.5
    inner = f"<title>{_esc(tooltip)}</title>" if tooltip else ""
    common = f' fill="{colour}" stroke="{_INK}" stroke-width="0.6" class="point"'
    if kind == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}"{common}>{inner}</circle>'
    if kind == "square":
        return (f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}"'
                f'{common}>{inner}</rect>')
    shapes = {
        "triangle": [(0, -r * 1.2), (r * 1.1, r * 0.8), (-r * 1.1, r * 0.8)],
        "triangle-down": [(0, r * 1.2), (r * 1.1, -r * 0.8), (-r * 1.1, -r * 0.8)],
        "diamond": [(0, -r * 1.3), (r * 1.1, 0), (0, r * 1.3), (-r * 1.1, 0)],
        "cross": [(-r, -r / 3), (-r / 3, -r / 3), (-r / 3, -r), (r / 3, -r), (r / 3, -r / 3), (r, -r / 3),
                  (r, r / 3), (r / 3, r / 3), (r / 3, r), (-r / 3, r), (-r / 3, r / 3), (-r, r / 3)],
    }
    points = " ".join(f"{_n(x + dx)},{_n(y + dy)}" for dx, dy in shapes[kind])
    return f'<polygon points="{points}"{common}>{inner}</polygon>'


def _legend(
    names: Sequence[str], swatches: Sequence[str], top: float, width: float
) -> tuple[list[str], float]:
    """Legend entries wrapped into rows under the title; returns the markup and its height.

    ``swatches[i]`` is markup drawn in a 16 x 10 box whose top-left corner is
    translated to the entry's position.
    """
    if len(names) < 2:
        return [], 0.0
    out = ['<g class="legend">']
    x: float = _MARGIN
    y, row = top, _FONT + 6
    for name, swatch in zip(names, swatches, strict=True):
        label = _fit(name, width / 2, _FONT)
        entry = 16 + 5 + _text_width(label, _FONT) + 14
        if x > _MARGIN and x + entry > width - _MARGIN:
            x, y = _MARGIN, y + row
        out.append(f'<g transform="translate({_n(x)},{_n(y)})">{swatch}</g>')
        out.append(_text(x + 21, y + 9, label))
        x += entry
    out.append("</g>")
    return out, y + row - top


# ---------------------------------------------------------------------------
# Bar charts, both orientations


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    unit: str = "",
    width_mm: float = 170,
    height_mm: float = 85,
    no_data_text: str = "No data",
) -> str:
    """Vertical bars, one group (or stack, with ``stacked``) per category.

    ``unit`` is appended to the figures in tooltips and written over the value
    axis (e.g. ``"calls"``).  Negative values go below the zero line; in a stack
    they pile downwards.
    """
    return _bars("bar", title, categories, series, stacked, unit, width_mm, height_mm, no_data_text)


def horizontal_bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    unit: str = "",
    width_mm: float = 170,
    no_data_text: str = "No data",
) -> str:
    """Horizontal bars, one row per label (e.g. points per engineer); the height grows with the rows.

    Each bar's figure is written at its end, so the chart reads without the axis.
    """
    return _bars("hbar", title, labels, series, stacked, unit, width_mm, 0, no_data_text)


@dataclass(frozen=True)
class _Bar:
    category: int
    series: int
    value: float
    low: float
    high: float


def _segments(count: int, series: Sequence[Series], stacked: bool) -> list[_Bar]:
    bars: list[_Bar] = []
    for i in range(count):
        up = down = 0.0
        for j, s in enumerate(series):
            v = s.values[i]
            if v is None:
                continue
            if not stacked:
                bars.append(_Bar(i, j, v, min(0.0, v), max(0.0, v)))
            elif v >= 0:
                bars.append(_Bar(i, j, v, up, up + v))
                up += v
            else:
                bars.append(_Bar(i, j, v, down + v, down))
                down += v
    return bars


def _bars(kind: Literal["bar", "hbar"], title: str, labels: Sequence[str], series: Sequence[Series],
          stacked: bool, unit: str, width_mm: float, height_mm: float, no_data_text: str) -> str:
    _check(labels, series)
    chart_id = _chart_id(kind, title, labels, series)
    width = width_mm * UNITS_PER_MM
    if not _has_data(labels, series):
        return _no_data(chart_id, title, width, no_data_text)
    horizontal = kind == "hbar"
    bars = _segments(len(labels), series, stacked)
    scale = nice_scale([b.low for b in bars] + [b.high for b in bars], integer=_is_integral(series))
    defs, fills = _fill_defs(chart_id, len(series))
    legend, legend_height = _legend(
        [s.name for s in series],
        [f'<rect width="16" height="10" fill="{f}" stroke="{_INK}" stroke-width="0.6"/>' for f in fills],
        _MARGIN + _TITLE_FONT + 8, width)
    top = _MARGIN + _TITLE_FONT + 8 + legend_height + (_FONT + 8 if unit else 4)
    groups = len(series) if not stacked else 1
    tick_width = max(_text_width(scale.label(t), _FONT) for t in scale.ticks)
    body = [defs, *legend]

    if horizontal:
        label_room = min(max(_text_width(_one_line(x), _FONT) for x in labels), width * 0.35)
        shown = _totals(bars, len(labels)) if stacked else [b.value for b in bars]
        value_room = max(_text_width(format_value(v), _FONT) for v in shown)
        left = _MARGIN + label_room + 8
        right = width - _MARGIN - value_room - 6
        band = max(20.0, groups * 10.0 + 8)
        height = top + band * len(labels) + _FONT + 14
        value_at = _axis(scale, left, right)
        body += _value_grid(scale, value_at, top, top + band * len(labels), vertical=False)
        for i, label in enumerate(labels):
            body.append(_text(left - 6, top + band * (i + 0.5) + _FONT / 3, _fit(label, label_room, _FONT),
                              anchor="end", extra={"class": "category"}))
    else:
        height = max(height_mm * UNITS_PER_MM, top + 160)
        left = _MARGIN + tick_width + 8
        right = width - _MARGIN
        slot = (right - left) / len(labels)
        widest = max(_text_width(_one_line(x), _FONT) for x in labels)
        turned = widest > slot - 4
        label_room = min(widest, 110.0) if turned else widest
        bottom = height - _MARGIN - (label_room * 0.71 + _FONT if turned else _FONT + 4)
        band = slot
        value_at = _axis(scale, bottom, top)
        body += _value_grid(scale, value_at, left, right, vertical=True)
        every = max(1, math.ceil((_FONT + 2) / slot)) if turned else 1
        for i, label in enumerate(labels):
            if i % every:
                continue
            x = left + slot * (i + 0.5)
            if turned:
                y = bottom + 10
                body.append(_text(x, y, _fit(label, label_room, _FONT), anchor="end",
                                  extra={"class": "category", "transform": f"rotate(-45 {_n(x)} {_n(y)})"}))
            else:
                body.append(_text(x, bottom + _FONT + 4, _one_line(label), anchor="middle",
                                  extra={"class": "category"}))
    if unit:
        body.append(_text(left, top - 6, unit, size=_SMALL_FONT, extra={"class": "unit"}))

    group = min(band * 0.72, 90.0 if not horizontal else band - 6)
    thickness = group / groups
    start = top if horizontal else left  # where the category axis starts
    body.append('<g class="bars">')
    for b in bars:
        offset = start + band * b.category + (band - group) / 2 + (0 if stacked else thickness * b.series)
        a, z = value_at(b.low), value_at(b.high)
        if horizontal:
            x, y, w, h = min(a, z), offset, abs(z - a), thickness
        else:
            x, y, w, h = offset, min(a, z), thickness, abs(z - a)
        tip = f"{_one_line(labels[b.category])} · {series[b.series].name}: {format_value(b.value)}{unit}"
        body.append(f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}"'
                    f' fill="{fills[b.series]}" stroke="{_INK}" stroke-width="0.6"'
                    f' data-category="{b.category}" data-series="{b.series}" data-value="{b.value!r}">'
                    f"<title>{_esc(tip)}</title></rect>")
    body.append("</g>")
    body += _value_labels(bars, labels, stacked, horizontal, value_at, start, band, group, thickness)
    return _frame(chart_id, title, _summary(labels, series, unit), width, height, body)


def _totals(bars: Sequence[_Bar], count: int) -> list[float]:
    totals = [0.0] * count
    for b in bars:
        totals[b.category] += b.value
    return totals


def _axis(scale: Scale, at_low: float, at_high: float) -> _Mapper:
    span = at_high - at_low

    def value_at(v: float) -> float:
        return at_low + span * scale.fraction(v)
    return value_at


def _value_grid(scale: Scale, value_at: _Mapper, start: float, end: float, *, vertical: bool) -> list[str]:
    """Grid lines with their tick labels; the zero line darker."""
    out = ['<g class="value-axis">']
    for t in scale.ticks:
        p = value_at(t)
        colour, dash = (_AXIS, "") if t == 0 else (_GRID, ' stroke-dasharray="3 2"')
        if vertical:
            line = f'x1="{_n(start)}" y1="{_n(p)}" x2="{_n(end)}" y2="{_n(p)}"'
            label = _text(start - 5, p + _FONT / 3, scale.label(t), anchor="end", extra={"class": "tick"})
        else:
            line = f'x1="{_n(p)}" y1="{_n(start)}" x2="{_n(p)}" y2="{_n(end)}"'
            label = _text(p, end + _FONT + 4, scale.label(t), anchor="middle", extra={"class": "tick"})
        out.append(f'<line class="grid" {line} stroke="{colour}" stroke-width="0.7"{dash}'
                   f' data-tick="{t!r}"/>')
        out.append(label)
    out.append("</g>")
    return out


def _value_labels(bars: Sequence[_Bar], labels: Sequence[str], stacked: bool, horizontal: bool,
                  value_at: _Mapper, start: float, band: float, group: float, thickness: float) -> list[str]:
    """Each bar's figure (each stack's total) at its end, where it fits."""
    out = ['<g class="values">']
    items: list[tuple[float, float, float]] = []  # (centre across the bar, figure, value it reaches)
    if stacked:
        reach_up = [0.0] * len(labels)
        reach_down = [0.0] * len(labels)
        for b in bars:
            reach_up[b.category] = max(reach_up[b.category], b.high)
            reach_down[b.category] = min(reach_down[b.category], b.low)
        drawn = {b.category for b in bars}
        for i, total in enumerate(_totals(bars, len(labels))):
            if i in drawn:
                items.append((start + band * (i + 0.5), total, reach_up[i] if total >= 0 else reach_down[i]))
        size = _FONT
    elif not horizontal and thickness < 20 and any(b.series for b in bars):
        return []  # thin bars side by side: their figures would run into each other
    else:
        items = [(start + band * b.category + (band - group) / 2 + thickness * (b.series + 0.5),
                  b.value, b.value) for b in bars]
        size = _FONT if thickness >= 14 or horizontal else _SMALL_FONT
    for centre, value, reach in items:
        text = format_value(value)
        p = value_at(reach)
        if horizontal:
            if thickness < size - 2:
                continue
            x = p + 4 if value >= 0 else p - 4
            out.append(_text(x, centre + size / 3, text, size=size, anchor="start" if value >= 0 else "end"))
        else:
            if _text_width(text, size) > (band if stacked else thickness) + 2:
                continue
            y = p - 3 if value >= 0 else p + size + 2
            out.append(_text(centre, y, text, size=size, anchor="middle"))
    out.append("</g>")
    return out


# ---------------------------------------------------------------------------
# Line chart


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    width_mm: float = 170,
    height_mm: float = 85,
    no_data_text: str = "No data",
) -> str:
    """One line per series over ``x_labels`` (days, months); a None value breaks the line.

    Points carry markers (a different shape per series) while there are few
    enough to tell apart; an isolated point always has one.
    """
    _check(x_labels, series)
    chart_id = _chart_id("line", title, x_labels, series)
    width = width_mm * UNITS_PER_MM
    if not _has_data(x_labels, series):
        return _no_data(chart_id, title, width, no_data_text)
    values = [v for s in series for v in s.values if v is not None]
    scale = nice_scale(values, integer=_is_integral(series))
    styles = [(_PALETTE[i % len(_PALETTE)], _DASHES[i % len(_DASHES)], _MARKERS[i % len(_MARKERS)])
              for i in range(len(series))]
    legend, legend_height = _legend(
        [s.name for s in series],
        [f'<line x1="0" y1="5" x2="16" y2="5" stroke="{c}" stroke-width="2"'
         f'{f" stroke-dasharray={chr(34)}{d}{chr(34)}" if d else ""}/>' + _marker(m, 8, 5, c)
         for c, d, m in styles],
        _MARGIN + _TITLE_FONT + 8, width)
    top = _MARGIN + _TITLE_FONT + 8 + legend_height + (_FONT + 8 if unit else 4)
    height = max(height_mm * UNITS_PER_MM, top + 160)
    left = _MARGIN + max(_text_width(scale.label(t), _FONT) for t in scale.ticks) + 8
    right = width - _MARGIN
    slot = (right - left) / len(x_labels)
    widest = max(_text_width(_one_line(x), _FONT) for x in x_labels)
    every = max(1, math.ceil((widest + 6) / slot))
    bottom = height - _MARGIN - _FONT - 4
    value_at = _axis(scale, bottom, top)
    body = [*legend, *_value_grid(scale, value_at, left, right, vertical=True)]
    if unit:
        body.append(_text(left, top - 6, unit, size=_SMALL_FONT, extra={"class": "unit"}))
    for i, label in enumerate(x_labels):
        if i % every == 0:
            body.append(_text(left + slot * (i + 0.5), bottom + _FONT + 4, _one_line(label),
                              anchor="middle", extra={"class": "category"}))
    show_markers = len(x_labels) <= 40
    for j, (s, (colour, dash, marker)) in enumerate(zip(series, styles, strict=True)):
        body.append(f'<g class="series" data-series="{j}">')
        path: list[str] = []
        points: list[str] = []
        for i, v in enumerate(s.values):
            if v is None:
                continue
            x, y = left + slot * (i + 0.5), value_at(v)
            joined = i > 0 and s.values[i - 1] is not None
            path.append(f"{'L' if joined else 'M'}{_n(x)} {_n(y)}")
            alone = not joined and (i + 1 >= len(s.values) or s.values[i + 1] is None)
            if show_markers or alone:
                tip = f"{_one_line(x_labels[i])} · {s.name}: {format_value(v)}{unit}"
                points.append(_marker(marker, x, y, colour, tip))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(f'<path class="line" d="{" ".join(path)}" fill="none" stroke="{colour}"'
                    f' stroke-width="2" stroke-linejoin="round"{dash_attr}/>')
        body += points
        body.append("</g>")
    return _frame(chart_id, title, _summary(x_labels, series, unit), width, height, body)

