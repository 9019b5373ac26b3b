"""Schemathesis hooks (loaded by the fuzzer's process, see test_api_contract.py).

Every request is signed in with the scene's API token (tests/fuzz/scene.py), or, for an
operation that takes access away, with a token of an account of its own. A path's
parameters are, about half the time, the real ids of the scene and otherwise what was
generated, so that operations reach their views and not only the 404 of a polycule nobody
has.

The scene comes in ``LEDGER_FUZZ_SCENE`` as JSON: ``token`` and ``own_tokens``, ``ids`` by
parameter name, and ``own_ids``; the "own" ones by "METHOD path template".
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

SCENE_VARIABLE = "LEDGER_FUZZ_SCENE"

_scene: dict[str, Any] = json.loads(os.environ.get(SCENE_VARIABLE, "{}"))


@schemathesis.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    operation = context.operation
    if operation is None or not path_parameters:
        return st.just(path_parameters)
    real: dict[str, str] = {
        **_scene.get("ids", {}), **_scene.get("own_ids", {}).get(_key(operation), {}),
    }
    named = {name: real.get(name, value) for name, value in path_parameters.items()}
    return st.sampled_from([named, path_parameters])


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]
) -> None:
    token = _scene.get("own_tokens", {}).get(_key(case.operation), _scene.get("token", ""))
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


def _key(operation: schemathesis.APIOperation) -> str:
    return f"{operation.method.upper()} {operation.path}"
