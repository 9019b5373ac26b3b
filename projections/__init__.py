"""Read models built from the event log, each a small fold kept up to date by the runner."""

from __future__ import annotations

from projections.agreements import Agreements
from projections.disclosures import Disclosures
from projections.memberships import Memberships
from projections.repairs import Repairs
from projections.runner import Projection
from projections.stream_summaries import StreamSummaries


def default_projections() -> list[Projection]:
    """Every projection the service keeps current (and `projections rebuild` knows by name)."""
    return [StreamSummaries(), Memberships(), Agreements(), Disclosures(), Repairs()]
