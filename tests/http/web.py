"""Using the web client as a browser without script would: pages fetched, forms posted
form-encoded with the hidden CSRF field (no header), redirects followed or inspected."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.http.people import Person


async def page(someone: Person, path: str, status: int = 200) -> str:
    """A page's HTML, as ``someone`` sees it."""
    response = await someone.session.get(someone.client.make_url(path), allow_redirects=False)
    assert response.status == status, (response.status, await response.text())
    return await response.text()


async def submit(
    someone: Person, action: str, fields: dict[str, Any] | list[tuple[str, str]],
    *, return_to: str = "/polycules",
) -> aiohttp.ClientResponse:
    """Post a form as the page would: form-encoded, the CSRF token in its hidden field.
    The answer is not followed (a 303 on success; its Location says where to)."""
    items = list(fields.items()) if isinstance(fields, dict) else list(fields)
    items += [("csrf_token", someone.csrf_token), ("return_to", return_to)]
    return await someone.session.post(
        someone.client.make_url(action), data=items, allow_redirects=False
    )


async def submitted(
    someone: Person, action: str, fields: dict[str, Any] | list[tuple[str, str]],
    *, return_to: str = "/polycules",
) -> str:
    """Post a form that must go through: where the browser is sent next."""
    response = await submit(someone, action, fields, return_to=return_to)
    assert response.status == 303, (response.status, await response.text())
    return response.headers["Location"]


def text_of(html: str) -> str:
    """The page's words without markup, spaces collapsed (for asserting what it says)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


async def shown_after(someone: Person, response: aiohttp.ClientResponse) -> str:
    """The page a form that made a secret sends the browser to (post/redirect/get): the
    form's answer is a redirect to it, and it is opened as the browser would."""
    assert response.status == 303, (response.status, await response.text())
    location = response.headers["Location"]
    assert location.startswith("/shown/"), location
    return await page(someone, location)
