"""The webhook fan-out's runner: the one every consumer that tells people of events runs
on (projections/runner.py), following each polycule's stream on its own, with its
positions in ``webhook_fanout_positions``."""

from __future__ import annotations

from projections.runner import ProjectionRunner


class FanoutRunner(ProjectionRunner):
    """``ProjectionRunner`` over the webhook fan-out (its own type, so the application
    keeps it apart from the mail fan-out's)."""

