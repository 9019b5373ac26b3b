"""What a page shows is what the API answers: a page asks the API's own view, within the
same request, and renders its answer.

So a page can show nothing the API would not give the same member: the authorization
middleware has already decided the page's route by the same rule as the API's, and the
view opens sealed texts exactly as it does for a program.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from ledger.http import polycule_routes
from ledger.http.authorization import polycule_of

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, path, handler): a row of the page table (ledger/web/pages.py).
Page = tuple[str, str, View]


async def api_data(
    request: web.Request,
    view: View,
    query: Mapping[str, str] | None = None,
    *,
    path: Mapping[str, str] | None = None,
) -> Any:
    """The JSON the API's ``view`` answers to this request; with ``query`` as its query
    string and ``path`` naming more of what its path would (an agreement's id), if given."""
    if query is not None or path is not None:
        request = _asking(request, query, path)
    response = await view(request)
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    return orjson.loads(response.body)


def _asking(
    request: web.Request, query: Mapping[str, str] | None, path: Mapping[str, str] | None
) -> web.Request:
    """The same request (its caller, what the policy found), asking with another query
    string or naming more in its path. aiohttp offers ``clone`` for this, but not once the
    body was read (a page answering its own form has), so: a shallow copy, with its own
    cache of derived values (``query``, ``match_info``…), recomputed from what is set here.
    """
    asked = copy.copy(request)
    asked._cache = {}
    if query is not None:
        asked._rel_url = request.rel_url.with_query(dict(query))
    if path is not None:
        named = copy.copy(request.match_info)
        named.update(path)
        asked._match_info = named
    return asked


async def polycule_context(request: web.Request) -> dict[str, Any]:
    """What every page of a polycule shows: its name, its members, and who is looking."""
    found = polycule_of(request)
    polycule = await api_data(request, polycule_routes.show_polycule)
    members = await api_data(request, polycule_routes.list_members)
    names = {member["member_id"]: member["display_name"] for member in members}
    return {
        "polycule": polycule,
        "members": members,
        "names": names,
        "me_id": str(found.member_id),
    }


async def everyone_named(request: web.Request) -> dict[str, str]:
    """Names of the polycule's members past and present: a page of its history keeps
    naming whoever acted or was told, after they leave."""
    members = await api_data(request, polycule_routes.list_members, {"former": "true"})
    return {member["member_id"]: member["display_name"] for member in members}
