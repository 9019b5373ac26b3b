"""What a page shows is what the API answers: a page asks the API's own typed queries
(``(context, ids) -> view model``, beside each view in ledger/http/) and renders the models
they answer.

So a page can show nothing the API would not give the same member: the authorization
middleware has already decided the page's route by the same rule as the API's, the page
hands the query what that rule found (``polycule_of``, ``caller_of``, ``endpoint_of``),
and the query opens sealed texts exactly as it does for a program.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web

from ledger.http import polycule_routes
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.http.polycule_routes import Member, PolyculeDetail

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, path, handler): a row of the page table (ledger/web/pages.py).
Page = tuple[str, str, View]


@dataclass(frozen=True)
class PolyculeShown:
    """What every page of a polycule shows: its name, its members, and who is looking."""

    polycule: PolyculeDetail
    members: list[Member]
    # The current members' names, by member.
    names: dict[UUID, str]
    me_id: UUID

    def template_values(self) -> dict[str, Any]:
        """As the templates read it."""
        return {
            "polycule": self.polycule,
            "members": self.members,
            "names": self.names,
            "me_id": self.me_id,
        }


async def polycule_context(request: web.Request) -> PolyculeShown:
    found = polycule_of(request)
    context = query_context(request)
    polycule = await polycule_routes.polycule_detail(context, found)
    members = await polycule_routes.members_of(context, found)
    return PolyculeShown(
        polycule=polycule,
        members=members,
        names={member.member_id: member.display_name for member in members},
        me_id=found.member_id,
    )


async def everyone_named(request: web.Request) -> dict[UUID, str]:
    """Names of the polycule's members past and present: a page of its history keeps
    naming whoever acted or was told, after they leave."""
    members = await polycule_routes.members_of(
        query_context(request), polycule_of(request), former=True
    )
    return {member.member_id: member.display_name for member in members}
