"""Read models built from the event log, each a small fold.

The member-facing ones are kept per polycule, inline with the commands that change them
(``read_side.py``); the fan-outs, which tell people of events, follow each polycule's
stream a little behind, with positions of their own (``runner.py``). Nothing follows the
whole log.
"""

from __future__ import annotations

import asyncpg

# Every event type is declared into the registry the read models read through (upcasters
# included) before any of them reads an event.
import ledger.domain.polycules  # noqa: F401
from projections.agreements import Agreements
from projections.disclosures import Disclosures
from projections.memberships import Memberships
from projections.read_side import PolyculeProjection, ReadSide
from projections.repairs import Repairs
from projections.stream_summaries import StreamSummaries


def member_read_models() -> list[PolyculeProjection]:
    """Every read model members read (and `projections rebuild` knows by name)."""
    return [StreamSummaries(), Memberships(), Agreements(), Disclosures(), Repairs()]


def read_side(pool: asyncpg.Pool) -> ReadSide:
    return ReadSide(pool, member_read_models())
