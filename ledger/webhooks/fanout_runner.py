"""The webhook fan-out's runner: the one every consumer that tells people of events runs
on (projections/runner.py), following each polycule's stream on its own, with its
positions in ``webhook_fanout_positions``."""

from __future__ import annotations

import asyncpg

from ledger.webhooks.fanout import WebhookFanout
from projections import runner
from projections.runner import ProjectionRunner


class FanoutRunner(ProjectionRunner):
    """``ProjectionRunner`` over the webhook fan-out (its own type, so the application
    keeps it apart from the mail fan-out's)."""


async def polycules_behind(pool: asyncpg.Pool) -> int:
    """How many polycules have events not yet fanned out (for /status and the CLI)."""
    return await runner.polycules_behind(pool, WebhookFanout.name)
