"""The disclosures API: tell chosen members (or the whole polycule), see who has
acknowledged, acknowledge what you were told, and preview who would see a disclosure.

Only the discloser and the members told can read a disclosure or learn that it exists
(ledger/auth/policy.py, Rule.DISCLOSURE_AUDIENCE); everyone else gets 404. The list shows
only the disclosures the policy lets the caller read: it hands the read model their ids.
What a view reads is a typed query beside it (``readable_disclosures``, ``one_disclosure``),
which the web client's pages ask too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.auth import policy
from ledger.domain.disclosures import AcknowledgeDisclosure, Audience, Disclose, DisclosureKind
from ledger.errors import InvalidInput, NotFound
from ledger.http.authorization import PolyculeInView, polycule_of
from ledger.http.commands import send, stamp
from ledger.http.context import QueryContext, query_context
from ledger.http.names import UNNAMED, member_names
from ledger.http.parsing import parse_body, path_id
from ledger.http.shapes import Nothing, Strict, json_of, json_of_many
from ledger.privacy import KeyRing
from projections import disclosures as read_model


class NewDisclosure(Strict):
    kind: DisclosureKind
    text: str = Field(min_length=1, max_length=10_000)
    # Private by default: only the members chosen in ``recipients``.
    audience: Audience = "chosen"
    recipients: list[UUID] = Field(default_factory=list, max_length=100)
    fulfils_agreement_id: UUID | None = None
    corrects_disclosure_id: UUID | None = None


class AudienceQuestion(Strict):
    audience: Audience = "chosen"
    recipients: list[UUID] = Field(default_factory=list, max_length=100)


class Person(Strict):
    member_id: UUID
    display_name: str


class AudiencePreview(Strict):
    # Exactly who would be able to read it, you included.
    who_will_see: list[Person]


class AcknowledgementView(Strict):
    member_id: UUID
    at: datetime


class DisclosureView(Strict):
    polycule_id: UUID
    disclosure_id: UUID
    discloser: UUID
    kind: DisclosureKind
    text: str
    audience: Audience
    recipients: list[UUID]
    fulfils_agreement_id: UUID | None
    corrects_disclosure_id: UUID | None
    made_at: datetime
    acknowledgements: list[AcknowledgementView]
    # Members told who have not acknowledged it yet.
    awaiting_acknowledgement: list[UUID]


async def opened_disclosure(row: read_model.DisclosureRow, keyring: KeyRing) -> DisclosureView:
    acknowledged = {item.member_id for item in row.acknowledgements}
    return DisclosureView(
        polycule_id=row.polycule_id,
        disclosure_id=row.disclosure_id,
        discloser=row.discloser,
        kind=row.kind,
        text=await keyring.open_sealed(row.text),
        audience=row.audience,
        recipients=list(row.recipients),
        fulfils_agreement_id=row.fulfils_agreement_id,
        corrects_disclosure_id=row.corrects_disclosure_id,
        made_at=row.made_at,
        acknowledgements=[
            AcknowledgementView(member_id=item.member_id, at=item.at)
            for item in row.acknowledgements
        ],
        awaiting_acknowledgement=[m for m in row.recipients if m not in acknowledged],
    )


async def readable_disclosures(
    context: QueryContext, found: PolyculeInView
) -> list[DisclosureView]:
    """The disclosures the caller made and those they were told, newest first."""
    readable = policy.readable_by(found.member_id, found.state)
    rows = await read_model.disclosures_for(context.pool, found.polycule_id, readable.disclosures)
    return [await opened_disclosure(row, context.keyring) for row in rows]


async def list_disclosures(request: web.Request) -> web.Response:
    """The disclosures I made and those I was told, newest first."""
    return json_of_many(await readable_disclosures(query_context(request), polycule_of(request)))


async def disclose(request: web.Request) -> web.Response:
    found = polycule_of(request)
    body = await parse_body(request, NewDisclosure)
    if body.audience == "chosen" and not body.recipients:
        raise InvalidInput(
            "choose who to tell, or tell the whole polycule", details={"field": "recipients"}
        )
    stamped = stamp(request)
    disclosure_id = uuid.uuid5(stamped["command_id"], "disclosure")
    await send(request, found.polycule_id, Disclose(
        **stamped,
        disclosure_id=disclosure_id,
        kind=body.kind,
        text=body.text,
        audience=body.audience,
        recipients=tuple(body.recipients) if body.audience == "chosen" else (),
        fulfils_agreement_id=body.fulfils_agreement_id,
        corrects_disclosure_id=body.corrects_disclosure_id,
    ))
    return await _answer(request, disclosure_id, status=201)


async def preview_audience(request: web.Request) -> web.Response:
    """Who would see a disclosure with this audience, before it is sent."""
    question = await parse_body(request, AudienceQuestion)
    found = polycule_of(request)
    names = await member_names(query_context(request), found.polycule_id)
    return json_of(audience_preview(found, question, names))


def audience_preview(
    found: PolyculeInView, question: AudienceQuestion, names: Mapping[UUID, str]
) -> AudiencePreview:
    """Exactly who would read a disclosure by the caller with this audience: the caller and
    the members chosen (or every member), by ``names``; a recipient who is not a member is
    refused."""
    state = found.state
    if question.audience == "polycule":
        chosen = [member for member in state.members if member != found.member_id]
    else:
        chosen = list(dict.fromkeys(question.recipients))
        outsiders = [str(member) for member in chosen if not state.is_member(member)]
        if outsiders:
            raise InvalidInput(
                "a disclosure can be shared only with current members",
                details={"not_members": outsiders},
            )
    who = [found.member_id, *(member for member in chosen if member != found.member_id)]
    return AudiencePreview(who_will_see=[
        Person(member_id=member, display_name=names.get(member, UNNAMED)) for member in who
    ])


async def show_disclosure(request: web.Request) -> web.Response:
    return await _answer(request, _disclosure_id(request))


async def acknowledge(request: web.Request) -> web.Response:
    await parse_body(request, Nothing)
    disclosure_id = _disclosure_id(request)
    await send(request, polycule_of(request).polycule_id, AcknowledgeDisclosure(
        **stamp(request), disclosure_id=disclosure_id
    ))
    return await _answer(request, disclosure_id)


async def one_disclosure(
    context: QueryContext, polycule_id: UUID, disclosure_id: UUID
) -> DisclosureView:
    row = await read_model.disclosure(context.pool, polycule_id, disclosure_id)
    if row is None:
        raise NotFound("no such disclosure")
    return await opened_disclosure(row, context.keyring)


async def _answer(request: web.Request, disclosure_id: UUID, status: int = 200) -> web.Response:
    shown = await one_disclosure(
        query_context(request), polycule_of(request).polycule_id, disclosure_id
    )
    return json_of(shown, status=status)


def _disclosure_id(request: web.Request) -> UUID:
    return path_id(request, "disclosure_id", "disclosure")
