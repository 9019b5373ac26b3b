"""The geometry of a repair's trust chart: where each check-in, line, setback and tick
falls in the SVG the breach page draws (templates/_trust_chart.html).

Each participant's line is their own feeling of trust over time, 0 to 10, as they recorded
it: a line per person, never a comparison or a score. Time runs left to right over every
check-in and setback; trust runs bottom (0) to top (10). Lines differ by marker shape and
dash pattern as well as colour, so nobody needs to tell colours apart to read them.

Pure: no I/O, no clock. The page passes names, moments and labels; this module passes back
numbers and SVG path data that the template writes out (Jinja escapes all of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH = 600
HEIGHT = 300
# Room outside the plot: trust's ticks on the left, setback labels above, days below.
MARGIN_LEFT = 40
MARGIN_RIGHT = 20
MARGIN_TOP = 30
MARGIN_BOTTOM = 40
TRUST_TICKS = (0, 2, 4, 6, 8, 10)
MOST_DAY_TICKS = 5
MARKER_RADIUS = 5.0

SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down")
DASHES = ("none", "8 4", "2 4", "10 4 2 4", "4 2")
# Dark enough to meet WCAG AA against the chart's white, and apart from one another.
COLOURS = ("#6a3f8f", "#1f6f5c", "#a3501b", "#1a5fb4", "#6b5d00")


@dataclass(frozen=True)
class CheckIn:
    at: datetime
    trust: int
    setback: bool = False


@dataclass(frozen=True)
class Line:
    """One participant's check-ins, in the order they recorded them."""

    name: str
    check_ins: Sequence[CheckIn]


@dataclass(frozen=True)
class Setback:
    """Something the repair names as a step back (a missed commitment, a check-in marked
    as a setback): a vertical marker at its moment, with a short label and a full title."""

    at: datetime
    label: str
    title: str


@dataclass(frozen=True)
class Area:
    left: float
    top: float
    right: float
    bottom: float

    def holds(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom


@dataclass(frozen=True)
class Style:
    shape: str
    dash: str
    colour: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    at: datetime
    trust: int
    setback: bool
    # "Sam: 6 on 3 December", the point's tooltip and its name for anyone hovering.
    title: str
    # The marker's SVG path data, in the line's shape.
    marker: str


@dataclass(frozen=True)
class Series:
    name: str
    style: Style
    points: tuple[Point, ...]
    # The ``points`` attribute of the line's <polyline>.
    polyline: str
    # The legend's sample: the same marker, centred in a box 40 wide and 16 high.
    sample_marker: str


@dataclass(frozen=True)
class SetbackMarker:
    x: float
    at: datetime
    label: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot: Area
    series: tuple[Series, ...]
    setbacks: tuple[SetbackMarker, ...]
    # Along the bottom (x positions) and up the side (y positions).
    day_ticks: tuple[Tick, ...]
    trust_ticks: tuple[Tick, ...]
    check_ins: int


PLOT = Area(MARGIN_LEFT, MARGIN_TOP, WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM)


def trust_chart(lines: Sequence[Line], setbacks: Sequence[Setback] = ()) -> Chart:
    moments = [c.at for line in lines for c in line.check_ins] + [s.at for s in setbacks]
    if not moments:
        return Chart(WIDTH, HEIGHT, PLOT, (), (), (), _trust_ticks(), 0)
    scale = _TimeScale(min(moments), max(moments))
    series = tuple(
        _series(line, _style(index), scale)
        for index, line in enumerate(lines) if line.check_ins
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot=PLOT,
        series=series,
        setbacks=tuple(
            SetbackMarker(scale.x(s.at), s.at, s.label, s.title)
            for s in sorted(setbacks, key=lambda s: s.at)
        ),
        day_ticks=scale.day_ticks(),
        trust_ticks=_trust_ticks(),
        check_ins=sum(len(s.points) for s in series),
    )


def trust_y(trust: int) -> float:
    """0 on the plot's floor, 10 at its top."""
    share = min(max(trust, 0), 10) / 10
    return round(PLOT.bottom - share * (PLOT.bottom - PLOT.top), 2)


def day_label(moment: datetime) -> str:
    """3 December: the day, as the chart's points and ticks say it."""
    return f"{moment.day} {moment:%B}"


class _TimeScale:
    """Moments between ``start`` and ``end`` across the plot; a single moment in its middle."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        if span <= 0:
            return round((PLOT.left + PLOT.right) / 2, 2)
        share = (moment - self.start).total_seconds() / span
        return round(PLOT.left + share * (PLOT.right - PLOT.left), 2)

    def day_ticks(self) -> tuple[Tick, ...]:
        if self.start == self.end:
            return (Tick(self.x(self.start), day_label(self.start)),)
        step = (self.end - self.start) / (MOST_DAY_TICKS - 1)
        ticks: list[Tick] = []
        for number in range(MOST_DAY_TICKS):
            moment = self.start + step * number
            label = day_label(moment)
            if not ticks or ticks[-1].label != label:
                ticks.append(Tick(self.x(moment), label))
        return tuple(ticks)


def _style(index: int) -> Style:
    return Style(
        SHAPES[index % len(SHAPES)],
        DASHES[index % len(DASHES)],
        COLOURS[index % len(COLOURS)],
    )


def _series(line: Line, style: Style, scale: _TimeScale) -> Series:
    points = tuple(
        _point(line.name, check_in, style, scale)
        for check_in in sorted(line.check_ins, key=lambda c: c.at)
    )
    return Series(
        name=line.name,
        style=style,
        points=points,
        polyline=" ".join(f"{p.x:g},{p.y:g}" for p in points),
        sample_marker=marker_path(style.shape, 20, 8),
    )


def _point(name: str, check_in: CheckIn, style: Style, scale: _TimeScale) -> Point:
    x, y = scale.x(check_in.at), trust_y(check_in.trust)
    return Point(
        x=x, y=y, at=check_in.at, trust=check_in.trust, setback=check_in.setback,
        title=_title(name, check_in), marker=marker_path(style.shape, x, y),
    )


def _trust_ticks() -> tuple[Tick, ...]:
    return tuple(Tick(trust_y(trust), str(trust)) for trust in TRUST_TICKS)


def _title(name: str, check_in: CheckIn) -> str:
    title = f"{name}: {check_in.trust} on {day_label(check_in.at)}"
    return f"{title}, a setback" if check_in.setback else title


def marker_path(shape: str, x: float, y: float, r: float = MARKER_RADIUS) -> str:
    """SVG path data for a marker of ``shape`` centred on (x, y)."""
    if shape == "square":
        r *= 0.9
        return f"M{x - r:g},{y - r:g}h{2 * r:g}v{2 * r:g}h{-2 * r:g}Z"
    if shape == "triangle":
        return f"M{x:g},{y - r:g}L{x + r:g},{y + r:g}L{x - r:g},{y + r:g}Z"
    if shape == "triangle-down":
        return f"M{x:g},{y + r:g}L{x + r:g},{y - r:g}L{x - r:g},{y - r:g}Z"
    if shape == "diamond":
        return f"M{x:g},{y - r:g}L{x + r:g},{y:g}L{x:g},{y + r:g}L{x - r:g},{y:g}Z"
    return f"M{x - r:g},{y:g}a{r:g},{r:g} 0 1,0 {2 * r:g},0a{r:g},{r:g} 0 1,0 {-2 * r:g},0Z"
