"""(Being written in this session.)"""

from __future__ import annotations

from ledger.web.reading import Page

PAGES: tuple[Page, ...] = ()
