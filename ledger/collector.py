"""Python's cycle collector, paused while many objects that hold no cycles are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
