"""Protective headers on every answer — API, page, redirect or error — that a browser
heeds: a Content-Security-Policy that allows no inline script and no framing, no Referer
sent onward (an address may name a polycule), no sniffing of content types."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@web.middleware
async def security_headers_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as answer:  # a redirect, raised the aiohttp way
        answer.headers.update(SECURITY_HEADERS)
        raise
    # A streamed answer (live updates) set them itself before sending its headers.
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response
