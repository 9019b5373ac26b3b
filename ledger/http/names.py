"""Names as members see them: read from the read models (a decider's state holds no one's
words) and opened where they are shown."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from ledger.http.keys import KEYRING, POOL
from projections.memberships import sealed_member_names, sealed_polycule_name

# Shown for someone the polycule's views do not name yet (its read side is behind).
UNNAMED = "a member"


async def member_names(request: web.Request, polycule_id: UUID) -> dict[UUID, str]:
    """Everyone who ever joined the polycule, in the order they joined, by the name they
    last joined under ("[erased]" for someone erased)."""
    keyring = request.app[KEYRING]
    sealed = await sealed_member_names(request.app[POOL], polycule_id)
    return {member: await keyring.open_sealed(name) for member, name in sealed.items()}


async def polycule_name(request: web.Request, polycule_id: UUID) -> str:
    sealed = await sealed_polycule_name(request.app[POOL], polycule_id)
    return "" if sealed is None else await request.app[KEYRING].open_sealed(sealed)
