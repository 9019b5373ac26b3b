"""The geometry of a repair's trust chart: where each check-in, line, setback and tick
falls in the SVG the breach page draws (templates/_trust_chart.html).

Each participant's line is their own feeling of trust over time, 0 to 10, as they recorded
it: a line per person, never a comparison or a score. Time runs left to right over every
check-in and setback; trust runs bottom (0) to top (10). Lines differ by marker shape and
dash pattern as well as colour, so nobody needs to tell colours apart to read them.

Two people who feel the same at the same time would draw one line over the other, hiding
one of them: each line is drawn a few pixels above or below its neighbours (``DODGE``), and
the trust scale leaves room for that at its top and bottom (``INSET``); each point's title
and the table below the chart give the exact numbers. A setback's label sits above the
plot, turned to stay inside the chart at its edges, and labels too close to share a row
are stacked, so none is cut off or written over another.

Pure: no I/O, no clock. The page passes names, moments and labels; this module passes back
numbers and SVG path data that the template writes out (Jinja escapes all of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

WIDTH = 600
HEIGHT = 300
# Room outside the plot: trust's ticks on the left, setback labels above, days below.
MARGIN_LEFT = 40
MARGIN_RIGHT = 20
MARGIN_TOP = 46
MARGIN_BOTTOM = 40
# Trust 0 and 10 sit this far inside the plot, so a line dodged up or down stays in it.
INSET = 8.0
# How far apart lines are drawn from their neighbours, in pixels.
DODGE = 3.0
# Setback labels: their font's size, a generous width per character, the rows above the
# plot they may take (row 0 nearest the plot), and the room between two in one row.
LABEL_FONT = 11
LABEL_CHAR_WIDTH = 6.5
LABEL_ROWS = 2
LABEL_ROW_HEIGHT = 14
LABEL_GAP = 6
# The days along the bottom: a generous width per character of their font (12).
DAY_CHAR_WIDTH = 7.0
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
    # Kept to its author, who alone is shown it: its title says so.
    private: bool = False


@dataclass(frozen=True)
class Line:
    """One participant's check-ins, in the order they recorded them."""

    name: str
    check_ins: Sequence[CheckIn]


SetbackKind = Literal["setback", "missed"]
# How each kind of setback is drawn and named in the legend: its colour, its dash pattern
# (so the two differ by more than colour) and its short label above the plot.
SETBACK_STYLES: dict[str, tuple[str, str, str]] = {
    "setback": ("#8a4a12", "3 2", "setback"),
    "missed": ("#a3213b", "7 3", "missed"),
}


@dataclass(frozen=True)
class Setback:
    """Something the repair names as a step back — a check-in marked as a setback, a
    commitment missed: a vertical marker at its moment, with a short label (its kind's) and
    a full title."""

    at: datetime
    kind: SetbackKind
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
    kind: SetbackKind
    title: str
    # Drawn in its kind's style: colour and dash.
    colour: str
    dash: str
    # Its short label, where the label's text sits (x, y) and which end of the text sits
    # there (start, middle, end); an empty label where no row had room (its title and
    # the list below the chart still say it).
    label: str
    label_x: float
    label_y: float
    anchor: Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    # Which end of the label sits at ``position``: a day's label at the chart's edge is
    # turned inwards so it is not cut off.
    anchor: Literal["start", "middle", "end"] = "middle"


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
    # The kinds of setback drawn, for the legend.
    setback_kinds: tuple[SetbackKind, ...] = ()


PLOT = Area(MARGIN_LEFT, MARGIN_TOP, WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM)


def trust_chart(lines: Sequence[Line], setbacks: Sequence[Setback] = ()) -> Chart:
    moments = [c.at for line in lines for c in line.check_ins] + [s.at for s in setbacks]
    if not moments:
        return Chart(WIDTH, HEIGHT, PLOT, (), (), (), _trust_ticks(), 0)
    scale = _TimeScale(min(moments), max(moments))
    drawn = [line for line in lines if line.check_ins]
    series = tuple(
        _series(line, _style(index), scale, _dodge(index, len(drawn)))
        for index, line in enumerate(drawn)
    )
    markers = _setback_markers(sorted(setbacks, key=lambda s: s.at), scale)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot=PLOT,
        series=series,
        setbacks=markers,
        day_ticks=scale.day_ticks(),
        trust_ticks=_trust_ticks(),
        check_ins=sum(len(s.points) for s in series),
        setback_kinds=tuple(k for k in ("setback", "missed") if any(s.kind == k for s in setbacks)),
    )


def trust_y(trust: int) -> float:
    """0 near the plot's floor, 10 near its top (``INSET`` inside each)."""
    share = min(max(trust, 0), 10) / 10
    return round(PLOT.bottom - INSET - share * (PLOT.bottom - PLOT.top - 2 * INSET), 2)


def _dodge(index: int, lines: int) -> float:
    """How far the line ``index`` of ``lines`` is drawn from where its values fall: the
    lines spread evenly about it, the middle one (of an odd number) on it."""
    if lines <= 1:
        return 0.0
    # Many lines share the room INSET leaves; a few stand DODGE apart.
    step = min(DODGE, (2 * INSET - 2) / (lines - 1))
    return (index - (lines - 1) / 2) * step


def _setback_markers(
    setbacks: Sequence[Setback], scale: _TimeScale
) -> tuple[SetbackMarker, ...]:
    """A marker for each setback, in time order, its label in the first row above the plot
    where it overlaps no label already placed (none, if no row has room)."""
    rows: list[list[tuple[float, float]]] = [[] for _ in range(LABEL_ROWS)]
    markers = []
    for setback in setbacks:
        colour, dash, label = SETBACK_STYLES[setback.kind]
        x = scale.x(setback.at)
        width = len(label) * LABEL_CHAR_WIDTH
        anchor = _anchor(x, width)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        span = (left - LABEL_GAP, left + width + LABEL_GAP)
        row = next(
            (number for number, taken in enumerate(rows)
             if all(span[1] <= a or b <= span[0] for a, b in taken)),
            None,
        )
        if row is not None:
            rows[row].append(span)
        markers.append(SetbackMarker(
            x=x, at=setback.at, kind=setback.kind, title=setback.title, colour=colour,
            dash=dash, label=label if row is not None else "", label_x=x,
            label_y=PLOT.top - 6 - (row or 0) * LABEL_ROW_HEIGHT, anchor=anchor,
        ))
    return tuple(markers)


def _anchor(x: float, width: float) -> Literal["start", "middle", "end"]:
    """Which end of a label ``width`` wide to put at ``x`` so that all of it is inside the
    chart: its middle, unless that would cut it at an edge."""
    if x - width / 2 < 0:
        return "start"
    if x + width / 2 > WIDTH:
        return "end"
    return "middle"


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
                x = self.x(moment)
                ticks.append(Tick(x, label, _anchor(x, len(label) * DAY_CHAR_WIDTH)))
        return tuple(ticks)


def _style(index: int) -> Style:
    return Style(
        SHAPES[index % len(SHAPES)],
        DASHES[index % len(DASHES)],
        COLOURS[index % len(COLOURS)],
    )


def _series(line: Line, style: Style, scale: _TimeScale, dodge: float = 0.0) -> Series:
    points = tuple(
        _point(line.name, check_in, style, scale, dodge)
        for check_in in sorted(line.check_ins, key=lambda c: c.at)
    )
    return Series(
        name=line.name,
        style=style,
        points=points,
        polyline=" ".join(f"{p.x:g},{p.y:g}" for p in points),
        sample_marker=marker_path(style.shape, 20, 8),
    )


def _point(
    name: str, check_in: CheckIn, style: Style, scale: _TimeScale, dodge: float
) -> Point:
    x, y = scale.x(check_in.at), round(trust_y(check_in.trust) - dodge, 2)
    return Point(
        x=x, y=y, at=check_in.at, trust=check_in.trust, setback=check_in.setback,
        title=_title(name, check_in), marker=marker_path(style.shape, x, y),
    )


def _trust_ticks() -> tuple[Tick, ...]:
    return tuple(Tick(trust_y(trust), str(trust)) for trust in TRUST_TICKS)


def _title(name: str, check_in: CheckIn) -> str:
    title = f"{name}: {check_in.trust} on {day_label(check_in.at)}"
    if check_in.setback:
        title = f"{title}, a setback"
    return f"{title} (only you see this)" if check_in.private else title


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
