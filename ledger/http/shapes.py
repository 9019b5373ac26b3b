"""What every view shares for the shapes it reads and writes: strict pydantic models in,
JSON out."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A request or response body: unknown fields are refused, nothing is mutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Nothing(Strict):
    """An empty JSON object: the body of an action that needs no words."""


def json_of(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def json_of_many(models: Sequence[BaseModel]) -> web.Response:
    # Each model writes its own JSON (pydantic's serializer, as json_of uses): no detour
    # through Python dicts and the standard library's encoder.
    return web.json_response(
        text="[" + ",".join(model.model_dump_json() for model in models) + "]"
    )
