"""The trust chart's geometry: whatever the check-ins and setbacks, every check-in is drawn
inside the plot, time runs left to right, more trust sits higher, and a setback stands at
the moment it happened. Then a few examples of what the page relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from ledger.web.trust_chart import (
    DAY_CHAR_WIDTH,
    INSET,
    LABEL_CHAR_WIDTH,
    PLOT,
    WIDTH,
    CheckIn,
    Line,
    Setback,
    marker_path,
    trust_chart,
    trust_y,
)

START = datetime(2026, 11, 29, 19, tzinfo=UTC)

moments = st.integers(min_value=0, max_value=400 * 24 * 60).map(
    lambda minutes: START + timedelta(minutes=minutes)
)
check_ins = st.builds(
    CheckIn, at=moments, trust=st.integers(min_value=0, max_value=10), setback=st.booleans()
)
lines = st.lists(
    st.builds(Line, name=st.sampled_from(["Robin", "Sam", "Alex", "Kai"]),
              check_ins=st.lists(check_ins, min_size=1, max_size=12)),
    min_size=1, max_size=5,
)
setbacks = st.lists(
    st.builds(Setback, at=moments, kind=st.sampled_from(["missed", "setback"]),
              title=st.just("A missed call")),
    max_size=5,
)


@given(lines, setbacks)
def test_every_check_in_is_drawn_inside_the_plot(drawn: list[Line], back: list[Setback]) -> None:
    chart = trust_chart(drawn, back)

    points = [point for series in chart.series for point in series.points]
    assert chart.check_ins == len(points) == sum(len(line.check_ins) for line in drawn)
    assert all(chart.plot.holds(point.x, point.y) for point in points)
    assert all(chart.plot.left <= marker.x <= chart.plot.right for marker in chart.setbacks)


@given(lines, setbacks)
def test_time_runs_left_to_right(drawn: list[Line], back: list[Setback]) -> None:
    chart = trust_chart(drawn, back)

    points = sorted(
        (point for series in chart.series for point in series.points), key=lambda p: p.at
    )
    assert all(earlier.x <= later.x for earlier, later in pairwise(points))
    for series in chart.series:
        assert [point.at for point in series.points] == sorted(point.at for point in series.points)
    ticks = [tick.position for tick in chart.day_ticks]
    assert ticks == sorted(ticks)


@given(st.lists(moments, min_size=1, max_size=11, unique=True))
def test_more_trust_sits_higher_and_the_scale_is_whole(times: list[datetime]) -> None:
    levels = list(range(len(times)))
    chart = trust_chart([Line("Robin", [CheckIn(at, trust) for at, trust in zip(
        times, levels, strict=True
    )])])

    height_of = {point.trust: point.y for point in chart.series[0].points}
    heights = [height_of[trust] for trust in levels]
    assert all(lower > higher for lower, higher in pairwise(heights))
    assert (trust_y(0), trust_y(10)) == (PLOT.bottom - INSET, PLOT.top + INSET)
    assert [trust_y(t) for t in range(11)] == sorted((trust_y(t) for t in range(11)), reverse=True)


@given(lines, st.data())
def test_a_setback_stands_at_its_moment(drawn: list[Line], data: st.DataObject) -> None:
    points = [check_in for line in drawn for check_in in line.check_ins]
    chosen = data.draw(st.sampled_from(points))
    chart = trust_chart(drawn, [Setback(chosen.at, "setback", "Felt a step back")])

    [marker] = chart.setbacks
    assert marker.kind == "setback" and marker.label == "setback"
    at_that_moment = {
        point.x for series in chart.series for point in series.points if point.at == chosen.at
    }
    assert at_that_moment == {marker.x}


def test_each_point_is_titled_with_the_name_the_feeling_and_the_day() -> None:
    chart = trust_chart([
        Line("Sam", [CheckIn(datetime(2026, 12, 3, 20, tzinfo=UTC), 6)]),
        Line("Robin", [CheckIn(datetime(2026, 12, 5, 9, tzinfo=UTC), 3, setback=True)]),
    ])

    assert [point.title for series in chart.series for point in series.points] == [
        "Sam: 6 on 3 December", "Robin: 3 on 5 December, a setback",
    ]


def test_lines_differ_by_shape_and_dash_not_colour_alone() -> None:
    people = [Line(name, [CheckIn(START, 5)]) for name in ("Robin", "Sam", "Alex", "Kai", "Jo")]

    styles = [series.style for series in trust_chart(people).series]

    assert len({style.shape for style in styles}) == len({style.dash for style in styles}) == 5
    assert len({marker_path(style.shape, 0, 0) for style in styles}) == 5


def test_a_single_check_in_sits_in_the_middle_and_nothing_to_draw_draws_nothing() -> None:
    lonely = trust_chart([Line("Sam", [CheckIn(START, 7)])])
    empty = trust_chart([Line("Sam", [])], [])

    assert lonely.series[0].points[0].x == (PLOT.left + PLOT.right) / 2
    assert [tick.label for tick in lonely.day_ticks] == ["29 November"]
    assert (empty.series, empty.setbacks, empty.day_ticks, empty.check_ins) == ((), (), (), 0)


def _label_span(
    x: float, text: str, anchor: str, per_char: float = LABEL_CHAR_WIDTH
) -> tuple[float, float]:
    width = len(text) * per_char
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return left, left + width


@given(lines, setbacks)
def test_no_label_is_cut_off_or_written_over_another(
    drawn: list[Line], back: list[Setback]
) -> None:
    chart = trust_chart(drawn, back)

    labelled = [marker for marker in chart.setbacks if marker.label]
    spans = [
        (marker.label_y, _label_span(marker.label_x, marker.label, marker.anchor))
        for marker in labelled
    ]
    assert all(0 <= left and right <= WIDTH for _, (left, right) in spans)
    assert all(0 < marker.label_y < chart.plot.top for marker in labelled)
    for number, (row, (left, right)) in enumerate(spans):
        for other_row, (other_left, other_right) in spans[number + 1:]:
            assert row != other_row or right <= other_left or other_right <= left
    for tick in chart.day_ticks:
        left, right = _label_span(tick.position, tick.label, tick.anchor, DAY_CHAR_WIDTH)
        assert 0 <= left and right <= WIDTH


def test_a_setback_at_the_edge_turns_its_label_inwards() -> None:
    late = START + timedelta(days=9)
    chart = trust_chart(
        [Line("Sam", [CheckIn(START, 5), CheckIn(late, 6)])],
        [Setback(START, "missed", "Missed"), Setback(late, "setback", "Sam noted a setback")],
    )

    anchors = [(m.kind, m.anchor) for m in chart.setbacks]
    assert anchors == [("missed", "middle"), ("setback", "end")]
    assert chart.setback_kinds == ("setback", "missed")
    assert [tick.anchor for tick in chart.day_ticks][-1] == "end"


def test_setbacks_at_one_moment_are_labelled_one_above_the_other() -> None:
    chart = trust_chart(
        [Line("Sam", [CheckIn(START, 5), CheckIn(START + timedelta(days=20), 6)])],
        [Setback(START + timedelta(days=10), "missed", "Missed the call"),
         Setback(START + timedelta(days=10), "setback", "Sam noted a setback")],
    )

    first, second = chart.setbacks
    assert first.x == second.x and first.label and second.label
    assert first.label_y != second.label_y
    # A missed commitment and a noted setback are told apart by more than colour.
    assert first.dash != second.dash


def test_two_people_feeling_the_same_are_drawn_as_two_lines() -> None:
    same = [CheckIn(START, 5), CheckIn(START + timedelta(days=3), 7)]
    chart = trust_chart([Line("Sam", same), Line("Robin", same)])

    sam, robin = chart.series
    assert sam.polyline != robin.polyline
    assert all(
        0 < abs(mine.y - theirs.y) <= 2 * INSET
        for mine, theirs in zip(sam.points, robin.points, strict=True)
    )
    alone = trust_chart([Line("Sam", same)])
    assert [point.y for point in alone.series[0].points] == [trust_y(5), trust_y(7)]
