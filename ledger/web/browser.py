"""How the service answers a browser, where the API answers a program.

``browser_middleware`` (set by ledger/app.py, inside the protective headers of
ledger/http/protection.py) sits outside the error middleware and turns its JSON answers
into what a person in a browser needs:
- a page (``GET`` outside ``/api``) that would be a 401 becomes a redirect to sign in,
  and any other error a page that says, in plain words, what happened;
- a form posted to an API route (the web client's forms post to the API itself, see
  ledger/http/parsing.py) becomes a 303 to the form's ``return_to`` on success, or a
  page saying what did not go through. The page's script sends the same form with
  ``Accept: application/json`` and gets ``{"location": ...}`` or the API's error with
  ``plain``: the same refusal in plain words, a sentence for each field
  (ledger/web/plain_words.py), so it can keep the person's words in the form and show
  each sentence beside its field;
- a form that makes a secret (``answer=shown-once``) is answered with a redirect to the one
  page that shows it (ledger/web/shown_once.py).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote
from uuid import UUID

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from ledger.http import errors
from ledger.http.middleware import current_request_id
from ledger.http.parsing import ANSWER_FIELD, RETURN_TO_FIELD, is_form_post
from ledger.web import shown_once
from ledger.web.plain_words import plain
from ledger.web.rendering import render

log = structlog.get_logger(__name__)

# A form's ``answer`` asking for its secret to be shown once, on a page of its own
# (ledger/web/shown_once.py) reached by redirect.
SHOWN_ONCE = "shown-once"

_PROBES = frozenset({"/healthz", "/readyz", "/status"})
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\s\x00-\x1f]*$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def is_page(request: web.Request) -> bool:
    """A page of the web client; an address that is nothing at all is answered as a page
    only to a browser (a program asking it gets the API's JSON 404)."""
    path = request.path
    if (
        request.method not in {"GET", "HEAD"}
        or path.startswith(("/api/", "/static/"))
        or path in _PROBES
    ):
        return False
    return (
        request.match_info.http_exception is None
        or "text/html" in request.headers.get("Accept", "")
    )


def local_path(offered: Any, default: str = "/polycules") -> str:
    """Where a form may send the browser next: a path of this service, nothing else."""
    if isinstance(offered, str) and _LOCAL_PATH.fullmatch(offered):
        return offered
    return default


def sign_in_location(next_path: str) -> str:
    return f"/sign-in?next={quote(next_path, safe='')}"


@web.middleware
async def browser_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if is_form_post(request):
            return await _answer_form(request, handler)
        if is_page(request):
            return await _answer_page(request, handler)
    except web.HTTPException:
        raise  # a redirect
    except Exception:
        # Drawing the answer failed (the view's own errors were answered inside): the
        # same policy as the error middleware, the traceback to the log only.
        log.exception("page_failed", method=request.method, path=request.path)
        return errors.unexpected_error_response(current_request_id())
    return await handler(request)


async def _answer_page(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if response.status == 401:
        raise web.HTTPSeeOther(sign_in_location(request.path_qs))
    if (
        response.status >= 400 and isinstance(response, web.Response)
        and response.content_type == "application/json"  # not a page that says it itself
    ):
        error = _error_of(response)
        page = await render(
            request, "error.html", {"error": error, "status": response.status},
            status=response.status,
        )
        _keep_retry_after(response, page)
        return page
    return response


def _keep_retry_after(answer: web.StreamResponse, page: web.StreamResponse) -> None:
    """A page saying "not now" (503, 429) says when to try again, as the API's answer did."""
    if "Retry-After" in answer.headers:
        page.headers["Retry-After"] = answer.headers["Retry-After"]


async def _answer_form(request: web.Request, handler: Handler) -> web.StreamResponse:
    form = await request.post()
    return_to = local_path(form.get(RETURN_TO_FIELD))
    wants_json = "application/json" in request.headers.get("Accept", "")
    response = await handler(request)
    if not isinstance(response, web.Response):
        return response
    if response.status == 401 and _error_of(response)["code"] != "invalid_credentials":
        # Signed out meanwhile (a wrong password is answered below, as any refusal is).
        location = sign_in_location(return_to)
        if wants_json:
            return web.json_response({"location": location}, status=401)
        raise web.HTTPSeeOther(location)
    if response.status >= 400:
        if wants_json:
            return _in_plain_words(response)
        page = await render(
            request,
            "form_error.html",
            {"error": _error_of(response), "return_to": return_to},
            status=response.status,
        )
        _keep_retry_after(response, page)
        return page
    if response.content_type == "text/html":
        return response  # a page that answers its own form (a preview; nothing changed)
    body = _json_of(response)
    if isinstance(body, dict) and body.get("views_behind") is True and not wants_json:
        # Recorded, but the pages it would go back to do not show it yet: say so plainly
        # rather than send the person to a page that looks as if nothing happened.
        polycule_id = body.get("polycule_id")
        return await render(request, "views_behind.html", {
            "polycule_id": polycule_id if _is_uuid(polycule_id) else "",
        }, status=202)
    if form.get(ANSWER_FIELD) == SHOWN_ONCE:
        # Post/redirect/get: the secret waits for the one page that shows it, so a reload
        # of that page shows it no more and never posts the form again.
        location = await shown_once.keep(request, body, _filled(return_to, body))
    else:
        location = _filled(return_to, body)
    answer = (
        web.json_response({"location": location})
        if wants_json
        else web.Response(status=303, headers={"Location": location})
    )
    for name, morsel in response.cookies.items():  # signing in or out sets the cookie
        answer.cookies[name] = morsel
    return answer


def _json_of(response: web.Response) -> Any:
    if response.content_type != "application/json" or not response.body:
        return {}
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)


def _filled(return_to: str, body: Any) -> str:
    """``return_to`` with ``{id}`` or ``{…_id}`` replaced by that id in the answer (where a
    new thing is). Only ids: an address must never carry a member's words or a secret,
    whatever a crafted ``return_to`` asks for."""
    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        value = body.get(name) if isinstance(body, dict) else None
        if (name == "id" or name.endswith("_id")) and _is_uuid(value):
            return str(value)
        return match.group(0)

    return local_path(_PLACEHOLDER.sub(field, return_to))


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _error_of(response: web.Response) -> dict[str, Any]:
    """The API's refusal, and what the person is told of it (ledger/web/plain_words.py)."""
    document = _json_of(response)
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        error = {"message": response.reason or "something went wrong"}
    details = error.get("details") or {}
    problems = details.get("errors") or []
    code = str(error.get("code", "error"))
    message = str(error.get("message", ""))
    return {
        "code": code,
        "message": message,
        "request_id": details.get("request_id"),
        "plain": plain(code, message, problems if isinstance(problems, list) else []),
    }


def _in_plain_words(response: web.Response) -> web.Response:
    """The API's refusal for the page's script, with what to tell the person beside it."""
    document = _json_of(response)
    if not isinstance(document, dict):
        document = {}
    document["plain"] = _error_of(response)["plain"].as_json()
    answer = web.json_response(document, status=response.status)
    _keep_retry_after(response, answer)
    return answer
