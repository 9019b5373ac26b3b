"""The codes with which the rules of the domain refuse a command, read from the deciders'
own source, so that the API's description lists every one of them with no second list to
keep: ``NotPermitted("not_a_party", ...)`` is a 403 with code ``not_a_party``,
``DomainError("proposal_closed", ...)`` a 409 with code ``proposal_closed``
(ledger/http/errors.py maps them).

Only refusals raised with their code written out are found; a rule whose code is not a
literal would go undocumented, and the fuzzer over the document (tests/fuzz) would say so.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from types import ModuleType

from ledger.errors import DomainError, NotPermitted


@dataclass(frozen=True)
class RuleCodes:
    """The codes of the refusals of one part of the domain, by status."""

    # A rule says this member may not do this (403).
    not_permitted: frozenset[str]
    # A rule refuses the command as it stands (409).
    refused: frozenset[str]

    def __or__(self, other: RuleCodes) -> RuleCodes:
        return RuleCodes(self.not_permitted | other.not_permitted, self.refused | other.refused)


def rule_codes(*modules: ModuleType) -> RuleCodes:
    not_permitted: set[str] = set()
    refused: set[str] = set()
    for module in modules:
        for call in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            code = call.args[0]
            if not isinstance(code, ast.Constant) or not isinstance(code.value, str):
                continue
            called = _name_of(call.func)
            if called == NotPermitted.__name__:
                not_permitted.add(code.value)
            elif called == DomainError.__name__:
                refused.add(code.value)
    return RuleCodes(frozenset(not_permitted), frozenset(refused))


def _name_of(function: ast.expr) -> str | None:
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None
