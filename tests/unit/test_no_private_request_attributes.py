"""No module reaches into aiohttp's private request attributes.

A page asks the same typed query as the API's view (ledger/http/*_routes.py), with what the
policy found; nothing copies a request and rewrites its insides (``_cache``, ``_rel_url``,
``_match_info``…) to make it ask something else. Such code breaks silently with any aiohttp
release, and hides what a page really reads.

Every Python file under ledger/ and projections/ is parsed, and these are refused:

* reading or writing one of a request's private attributes (``PRIVATE_REQUEST_ATTRIBUTES``)
  on anything but ``self``/``cls``;
* any private attribute (``_x``) of something named like a request (``request``,
  ``asked``, ``req``, ``…_request``);
* ``getattr``/``setattr``/``delattr``/``object.__setattr__`` naming a private attribute of
  a request in a string.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "projections")

# What aiohttp keeps inside a request, by names that mean nothing else in our code (those
# as plain as ``_version`` or ``_loop`` are caught on a request by REQUEST_NAMES below).
PRIVATE_REQUEST_ATTRIBUTES = frozenset({
    "_cache", "_rel_url", "_match_info", "_message", "_payload", "_payload_writer",
    "_headers", "_read_bytes", "_post", "_state", "_protocol", "_client_max_size",
    "_transport_peername", "_transport_sockname", "_transport_sslcontext",
    "_content_type", "_content_dict", "_stored_content_type",
})
# Names a request goes by in our code (and in the copied request this test first caught).
REQUEST_NAMES = re.compile(r"(?:\w*_)?(?:request|req|asked)")
OWN_NAMES = frozenset({"self", "cls"})
ATTRIBUTE_CALLS = frozenset({"getattr", "setattr", "delattr", "__setattr__", "__getattribute__"})


def private_request_accesses(source: str, filename: str = "<source>") -> list[str]:
    """Each place ``source`` touches a request's private attribute: "line: what"."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if owner in OWN_NAMES:
                continue
            if node.attr in PRIVATE_REQUEST_ATTRIBUTES or (
                private and owner is not None and REQUEST_NAMES.fullmatch(owner)
            ):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call):
            called = node.func
            name = called.id if isinstance(called, ast.Name) else (
                called.attr if isinstance(called, ast.Attribute) else None
            )
            if name not in ATTRIBUTE_CALLS:
                continue
            for argument in node.args:
                if (
                    isinstance(argument, ast.Constant)
                    and argument.value in PRIVATE_REQUEST_ATTRIBUTES
                ):
                    found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def python_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_module_touches_a_requests_private_attributes() -> None:
    offenders = {
        str(path.relative_to(ROOT)): places
        for path in python_files()
        if (places := private_request_accesses(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}


def test_the_scan_reads_every_module() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in python_files()}
    assert {"ledger/web/reading.py", "ledger/http/routes.py", "projections/runner.py"} <= files


@pytest.mark.parametrize("source", [
    # How a page used to ask the API's view with another query string and path.
    "asked = copy.copy(request)\nasked._cache = {}\nasked._rel_url = url\n",
    "named = request._match_info\n",
    "clone._message = message\n",
    "setattr(request, '_rel_url', url)\n",
    "object.__setattr__(copied, '_cache', {})\n",
    "body = request._read_bytes\n",
    "request._anything_new = 1\n",
    "self.request._payload.feed_eof()\n",
])
def test_the_scan_finds_a_private_request_attribute(source: str) -> None:
    assert private_request_accesses(source)


@pytest.mark.parametrize("source", [
    "self._cache = {}\nself._state = state\n",
    "cls._registry = {}\n",
    "url = request.rel_url.with_query(query)\n",
    "names = request.match_info\n",
    "value = request.__class__\n",
    "setattr(model, 'name', value)\n",
])
def test_the_scan_leaves_everything_else_alone(source: str) -> None:
    assert private_request_accesses(source) == []
