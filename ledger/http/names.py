"""Names as members see them: read from the read models (a decider's state holds no one's
words) and opened where they are shown."""

from __future__ import annotations

from uuid import UUID

from ledger.http.context import QueryContext
from projections.memberships import sealed_member_names, sealed_polycule_name

# Shown for someone the polycule's views do not name yet (its read side is behind).
UNNAMED = "a member"


async def member_names(context: QueryContext, polycule_id: UUID) -> dict[UUID, str]:
    """Everyone who ever joined the polycule, in the order they joined, by the name they
    last joined under ("[erased]" for someone erased)."""
    sealed = await sealed_member_names(context.pool, polycule_id)
    return {member: await context.keyring.open_sealed(name) for member, name in sealed.items()}


async def polycule_name(context: QueryContext, polycule_id: UUID) -> str:
    sealed = await sealed_polycule_name(context.pool, polycule_id)
    return "" if sealed is None else await context.keyring.open_sealed(sealed)
