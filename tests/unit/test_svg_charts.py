"""Server-side SVG charts: well-formed, proportional, round axes, escaped labels, empty data.

Every chart is parsed back with ``xml.etree.ElementTree`` and measured: the
geometry is checked against the input figures, not against stored output.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.reports.scale import format_number, nice_scale
from hotline.reports.svg_charts import Series, bar_chart, horizontal_bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", "R&D 研发部", 'say "hi"', "O'Brien", "网络故障", "tab\tand\x00nul",
           "]]><x/>"]
ACTIVE = {"script", "foreignObject", "animate", "animateTransform", "animateMotion", "set", "iframe"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def elements(root: ET.Element, tag: str, cls: str | None = None) -> Iterator[ET.Element]:
    for e in root.iter(SVG + tag):
        if cls is None or cls in e.get("class", "").split():
            yield e


def fl(e: ET.Element, attr: str) -> float:
    return float(e.get(attr, "nan"))


def ticks(root: ET.Element) -> dict[float, float]:
    """Tick value -> its coordinate along the value axis (y for vertical charts, x for horizontal)."""
    out = {}
    for line in elements(root, "line", "grid"):
        value = float(line.get("data-tick", "nan"))
        out[value] = fl(line, "y1") if line.get("y1") == line.get("y2") else fl(line, "x1")
    return out


def units_per_value(root: ET.Element) -> tuple[float, float]:
    """(coordinate of zero, length per unit of value) read from the grid lines."""
    grid = ticks(root)
    top = max(grid)
    low = min(grid)
    return grid[0.0], (grid[top] - grid[low]) / (top - low)


def tick_labels(root: ET.Element) -> list[float]:
    return [float((t.text or "").replace(",", "")) for t in elements(root, "text", "tick")]


def assert_round(values: list[float]) -> None:
    step = values[1] - values[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), values
    for a, b in itertools.pairwise(values):
        assert math.isclose(b - a, step, rel_tol=1e-9), values
    for v in values:
        assert math.isclose(v / step, round(v / step), abs_tol=1e-9), values


# -- bar charts ------------------------------------------------------------------------


def test_bar_heights_are_proportional_and_stand_on_zero() -> None:
    values = [10, 25, 3, 0, 17]
    root = parse(bar_chart("Calls by category", ["网络", "打印机", "VPN", "邮件", "其他"],
                           [Series("calls", values)], unit=" calls"))
    zero, per_value = units_per_value(root)
    assert per_value < 0  # SVG's y grows downwards
    bars = list(elements(root, "rect", "bar"))
    assert len(bars) == len(values)
    for bar, v in zip(bars, values, strict=True):
        assert fl(bar, "height") == pytest.approx(-v * per_value, abs=0.02)
        assert fl(bar, "y") + fl(bar, "height") == pytest.approx(zero, abs=0.02)
    heights = [fl(b, "height") for b in bars]
    assert heights[1] == pytest.approx(heights[0] * 2.5, rel=1e-3)


def test_tick_labels_are_round_and_cover_the_maximum() -> None:
    root = parse(bar_chart("Volume", ["a", "b"], [Series("n", [137, 12])]))
    labels = tick_labels(root)
    assert labels[0] == 0 and labels[-1] >= 137
    assert_round(labels)
    assert len(labels) <= 7
    assert sorted(ticks(root)) == labels  # every label has its grid line


def test_stacked_bars_pile_up_in_series_order() -> None:
    answered, missed = [40, 12, 0], [5, 30, 7]
    root = parse(bar_chart("Calls", ["Mon", "Tue", "Wed"],
                           [Series("answered", answered), Series("missed", missed)], stacked=True))
    zero, per_value = units_per_value(root)
    bars = list(elements(root, "rect", "bar"))
    assert len(bars) == 6
    by_category: dict[str, list[ET.Element]] = {}
    for b in bars:
        by_category.setdefault(b.get("data-category", ""), []).append(b)
    for i, (low, high) in enumerate(zip(by_category["0"], by_category["0"][1:], strict=False)):
        assert fl(low, "y") == pytest.approx(fl(high, "y") + fl(high, "height"), abs=0.02), i
    for i in range(3):
        first, second = by_category[str(i)]
        assert fl(first, "height") == pytest.approx(-answered[i] * per_value, abs=0.02)
        assert fl(second, "height") == pytest.approx(-missed[i] * per_value, abs=0.02)
        assert fl(second, "y") == pytest.approx(zero + (answered[i] + missed[i]) * per_value, abs=0.02)
    assert max(tick_labels(root)) >= max(a + m for a, m in zip(answered, missed, strict=True))
    legend = [t.text for g in elements(root, "g", "legend") for t in elements(g, "text")]
    assert legend == ["answered", "missed"]


def test_grouped_series_have_distinct_fills_that_exist() -> None:
    series = [Series(f"s{i}", [i + 1, 2 * i + 1]) for i in range(7)]
    root = parse(bar_chart("Seven series", ["x", "y"], series))
    fills = {}
    for b in elements(root, "rect", "bar"):
        fills.setdefault(b.get("data-series"), set()).add(b.get("fill"))
    assert all(len(f) == 1 for f in fills.values())
    distinct = {next(iter(f)) for f in fills.values()}
    assert len(distinct) == 7
    patterns = {p.get("id") for p in elements(root, "pattern")}
    for fill in distinct:
        assert fill is not None
        if fill.startswith("url(#"):
            assert fill[5:-1] in patterns


def test_one_category_zero_and_all_zero() -> None:
    root = parse(bar_chart("Only one", ["网络"], [Series("calls", [4])]))
    (bar,) = elements(root, "rect", "bar")
    _, per_value = units_per_value(root)
    assert fl(bar, "height") == pytest.approx(-4 * per_value, abs=0.02)
    root = parse(bar_chart("Nothing happened", ["a", "b"], [Series("calls", [0, 0])]))
    assert [fl(b, "height") for b in elements(root, "rect", "bar")] == [0, 0]
    assert tick_labels(root) == [0, 1]


def test_huge_values_stay_proportional_with_readable_ticks() -> None:
    values = [3.2e12, 1.1e12, 7]
    root = parse(bar_chart("Huge", ["a", "b", "c"], [Series("bytes", values)]))
    _, per_value = units_per_value(root)
    for bar, v in zip(elements(root, "rect", "bar"), values, strict=True):
        assert fl(bar, "height") == pytest.approx(-v * per_value, abs=0.02)
    labels = tick_labels(root)
    assert labels[-1] >= 3.2e12
    assert_round(labels)
    root = parse(bar_chart("Absurd", ["a"], [Series("n", [2.5e18])]))
    assert tick_labels(root)[-1] >= 2.5e18


def test_negative_values_go_below_zero() -> None:
    root = parse(bar_chart("Balance", ["a", "b"], [Series("points", [30, -12])]))
    zero, per_value = units_per_value(root)
    up, down = elements(root, "rect", "bar")
    assert fl(up, "y") + fl(up, "height") == pytest.approx(zero, abs=0.02)
    assert fl(down, "y") == pytest.approx(zero, abs=0.02)
    assert fl(down, "height") == pytest.approx(12 * -per_value, abs=0.02)
    assert min(tick_labels(root)) <= -12


def test_counts_get_whole_number_ticks() -> None:
    root = parse(bar_chart("Few", ["a", "b"], [Series("n", [1, 3])]))
    assert all(v.is_integer() for v in tick_labels(root))


def test_many_long_category_names_are_turned_and_shortened() -> None:
    names = [f"第{i}类：非常非常长的问题类别名称 with English too" for i in range(31)]
    svg = bar_chart("Many", names, [Series("n", list(range(31)))])
    root = parse(svg)
    labels = list(elements(root, "text", "category"))
    assert labels and all("rotate(-45" in (t.get("transform") or "") for t in labels)
    assert all((t.text or "").endswith("…") for t in labels)
    # The full names stay in the tooltips.
    assert names[30] in [t.text for t in root.iter(SVG + "title")][-1]


# -- horizontal bars ---------------------------------------------------------------------


def test_horizontal_bars_widths_are_proportional() -> None:
    points = [120, 85.5, 0, 42]
    engineers = ["张三", "李四", "王五", "Zhao Liu"]
    root = parse(horizontal_bar_chart("Points per engineer", engineers, [Series("points", points)]))
    zero, per_value = units_per_value(root)
    assert per_value > 0
    bars = list(elements(root, "rect", "bar"))
    for bar, v in zip(bars, points, strict=True):
        assert fl(bar, "width") == pytest.approx(v * per_value, abs=0.02)
        assert fl(bar, "x") == pytest.approx(zero, abs=0.02)
    rows = [fl(b, "y") for b in bars]
    assert rows == sorted(rows) and len(set(rows)) == 4  # one row each, in the given order
    assert [t.text for t in elements(root, "text", "category")] == engineers
    assert max(tick_labels(root)) >= 120
    written = [t.text for g in elements(root, "g", "values") for t in elements(g, "text")]
    assert written == ["120", "85.5", "0", "42"]


def test_horizontal_chart_grows_with_its_rows() -> None:
    def height(n: int) -> float:
        root = parse(horizontal_bar_chart("P", [f"e{i}" for i in range(n)], [Series("p", [1] * n)]))
        return float(root.get("viewBox", "").split()[3])
    assert height(20) > height(2) * 3


def test_horizontal_stacked_points_and_deductions() -> None:
    root = parse(horizontal_bar_chart("Points", ["A", "B"], [Series("earned", [50, 20]),
                                                            Series("deducted", [-10, -5])], stacked=True))
    zero, per_value = units_per_value(root)
    bars = list(elements(root, "rect", "bar"))
    assert fl(bars[1], "x") + fl(bars[1], "width") == pytest.approx(zero, abs=0.02)
    assert fl(bars[1], "width") == pytest.approx(10 * per_value, abs=0.02)
    assert min(tick_labels(root)) <= -10


# -- line chart --------------------------------------------------------------------------


def test_line_points_follow_the_values_and_gaps_break_the_line() -> None:
    days = [f"{d}日" for d in range(1, 11)]
    calls = [3, 8, None, None, 5, 9, 12, 0, 4, 6]
    issues = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    root = parse(line_chart("Daily volume", days, [Series("calls", calls), Series("issues", issues)],
                            unit="件"))
    zero, per_value = units_per_value(root)
    groups = list(elements(root, "g", "series"))
    assert len(groups) == 2
    (path,) = elements(groups[0], "path", "line")
    d = path.get("d", "")
    assert d.count("M") == 2  # the two missing days break the line
    coords = _path_points(d)
    present = [v for v in calls if v is not None]
    assert len(coords) == len(present)
    for (_, y), v in zip(coords, present, strict=True):
        assert y == pytest.approx(zero + v * per_value, abs=0.02)
    xs = [x for x, _ in coords]
    assert xs == sorted(xs)
    markers = [e for e in groups[1] if e.get("class") == "point"]
    assert len(markers) == 10
    assert {groups[0][1].tag, groups[1][1].tag} != {groups[0][1].tag}  # different marker shapes
    dashes = {next(elements(g, "path")).get("stroke-dasharray") for g in groups}
    assert len(dashes) == 2


def _path_points(d: str) -> list[tuple[float, float]]:
    tokens = d.replace("M", " M ").replace("L", " L ").split()
    out = []
    i = 0
    while i < len(tokens):
        if tokens[i] in "ML":
            out.append((float(tokens[i + 1]), float(tokens[i + 2])))
            i += 3
        else:
            i += 1
    return out


def test_single_month_line_chart() -> None:
    root = parse(line_chart("One month", ["2026-11"], [Series("calls", [1234])]))
    assert len([e for e in root.iter() if e.get("class") == "point"]) == 1
    assert max(tick_labels(root)) >= 1234


# -- safety, accessibility, print -------------------------------------------------------


@pytest.mark.parametrize("kind", ["bar", "stacked", "hbar", "line"])
def test_hostile_labels_are_escaped(kind: str) -> None:
    title = 'Report <script>alert("x")</script> & more'
    series = [Series("<img src=x onerror=alert(1)>", [1] * len(HOSTILE)), Series("B&B", [2] * len(HOSTILE))]
    svg = {
        "bar": lambda: bar_chart(title, HOSTILE, series),
        "stacked": lambda: bar_chart(title, HOSTILE, series, stacked=True),
        "hbar": lambda: horizontal_bar_chart(title, HOSTILE, series),
        "line": lambda: line_chart(title, HOSTILE, series),
    }[kind]()
    root = parse(svg)
    tags = {e.tag.removeprefix(SVG) for e in root.iter()}
    assert not tags & ACTIVE
    assert all(e.tag.startswith(SVG) for e in root.iter())  # nothing outside the SVG vocabulary
    assert "<script" not in svg and "<img" not in svg
    assert root.get("aria-label") == title
    texts = [t.text or "" for t in root.iter(SVG + "text")]
    assert title in texts
    legend = [t.text for g in elements(root, "g", "legend") for t in elements(g, "text")]
    assert legend == ["<img src=x onerror=alert(1)>", "B&B"]
    tooltips = " ".join(t.text or "" for t in root.iter(SVG + "title"))
    for label in HOSTILE:
        assert label.replace("\x00", "\ufffd").replace("\t", " ") in tooltips
    assert not any(k.endswith("href") or k.startswith("on") for e in root.iter() for k in e.attrib)


def test_accessible_and_print_friendly() -> None:
    svg = bar_chart("月度来电量", ["网络", "打印机"], [Series("来电", [5, 9])])
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "月度来电量"
    assert root[0].tag == SVG + "title" and root[0].text == "月度来电量"
    desc = root.find(SVG + "desc")
    assert desc is not None and "网络: 5" in (desc.text or "") and "打印机: 9" in (desc.text or "")
    assert root.get("width") == "170mm"
    assert root.get("viewBox", "").split()[2] == "680"
    assert "@keyframes" not in svg and "animation" not in svg
    assert not list(elements(root, "g", "legend"))  # one series: the title names it
    narrow = parse(bar_chart("Narrow", ["a"], [Series("n", [1])], width_mm=80))
    assert narrow.get("width") == "80mm" and narrow.get("viewBox", "").split()[2] == "320"


def test_two_different_charts_do_not_share_ids() -> None:
    a = parse(bar_chart("A", ["x"], [Series("s", [1]), Series("t", [2])]))
    b = parse(bar_chart("B", ["x"], [Series("s", [1]), Series("t", [2])]))
    ids_a = {e.get("id") for e in a.iter() if e.get("id")}
    ids_b = {e.get("id") for e in b.iter() if e.get("id")}
    assert ids_a and not ids_a & ids_b


# -- empty data and bad input ------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: bar_chart("Empty", [], []),
    lambda: bar_chart("Empty", ["a", "b"], [Series("n", [None, None])]),
    lambda: bar_chart("Empty", ["a"], []),
    lambda: horizontal_bar_chart("Empty", [], [Series("n", [])]),
    lambda: line_chart("Empty", [], []),
    lambda: line_chart("Empty", ["1日"], [Series("n", [None])]),
])
def test_empty_data_says_so(make: object) -> None:
    assert callable(make)
    root = parse(make())
    assert not list(elements(root, "rect", "bar"))
    assert [t.text for t in elements(root, "text", "no-data-text")] == ["No data"]
    assert root.get("role") == "img"


def test_no_data_text_is_translatable() -> None:
    root = parse(bar_chart("空", [], [], no_data_text="暂无数据"))
    assert [t.text for t in elements(root, "text", "no-data-text")] == ["暂无数据"]


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="series 'n' has 1 values for 2 categories"):
        bar_chart("x", ["a", "b"], [Series("n", [1])])
    with pytest.raises(ValueError, match="cannot draw nan"):
        Series("n", [float("nan")])
    with pytest.raises(ValueError, match="cannot draw inf"):
        Series("n", [math.inf])


# -- the scale itself --------------------------------------------------------------------


@given(st.lists(st.floats(min_value=-1e14, max_value=1e14, allow_nan=False), min_size=1, max_size=20),
       st.booleans())
def test_nice_scale_is_round_and_covers(values: list[float], integer: bool) -> None:
    if integer:
        values = [float(round(v)) for v in values]
    scale = nice_scale(values, integer=integer)
    assert scale.low <= min([0.0, *values]) and scale.high >= max([0.0, *values])
    assert 0.0 in scale.ticks
    assert 2 <= len(scale.ticks) <= 7
    assert_round(list(scale.ticks))
    if integer:
        assert scale.step >= 1


def test_format_number() -> None:
    assert format_number(1250) == "1,250"
    assert format_number(0.5, 0.1) == "0.5"
    assert format_number(0.05, 0.05) == "0.05"
    assert format_number(2.5e18) == "2.5e+18"
