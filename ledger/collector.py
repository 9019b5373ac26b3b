"""Python's cycle collector, paused while many objects that hold no cycles are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

log = structlog.get_logger(__name__)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused for the block.

    Reading a polycule's state of years (ledger/snapshots.py), or folding thousands of
    polycules' rows for a rebuild (projections/rebuild.py), makes tens of thousands of
    objects at once (dataclasses, tuples, ids), and none of them can be garbage: they hold
    no cycles. The collector, woken every few hundred new objects, would walk them again
    and again while they are made, and once they outnumber a quarter of what the process
    already keeps, walk everything it keeps: measured, that was most of a first load after
    a restart, and a fifth of a rebuild. Paused, it walks the new objects once, after.
    Whatever else runs in the block (at an await) goes uncollected until it ends: in a
    service, a block is to await nothing; a command that does one thing (``projections
    rebuild``) may pause it throughout.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# When the collector runs in a serving process. Python's defaults (700, 10, 10) wake it
# every 700 new objects; a command makes thousands (its request, body, events, rows and
# answer), so several collections ran in every command, each walking whatever every other
# request in flight had made, and every few seconds a full one walked everything the
# process keeps. Most of a request's objects hold no cycles and are freed the moment it
# ends; waking the collector every 20 000 new objects instead leaves far less to walk.
SERVING_THRESHOLDS = (20_000, 50, 100)


def settle_for_serving() -> None:
    """Make the cycle collector fit a long-running server, once it has started.

    What exists by then — modules, routes, models, schemas, the pool — lives as long as
    the process, so it is collected once and then frozen (``gc.freeze``): no later
    collection walks it again. Then the collector is woken less often
    (``SERVING_THRESHOLDS``). Objects in cycles are still collected, a little later.
    Only for the process that serves: a test run making many applications in one process
    would freeze each one's leftovers for good.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    log.info("collector_settled", frozen=gc.get_freeze_count(), thresholds=gc.get_threshold())
