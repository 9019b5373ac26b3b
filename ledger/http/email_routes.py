"""The mail API: a member's address for notices, its confirmation, and their choices.

    GET    /api/account/email              my address and whether it is confirmed  → 200
    PUT    /api/account/email              set it: kept unconfirmed, a link mailed → 200
    DELETE /api/account/email              forget it                               → 204
    POST   /api/account/email/confirm      follow the mailed link's token          → 200
    GET    /api/account/notifications      each kind: now, digest or never          → 200
    PUT    /api/account/notifications      change some of them                      → 200

Like the webhook endpoints — the other place a member says where notices go — these take
a session or an API token: choosing how one is told gives nobody anything of the account,
and a new address is used only once the link mailed to it is followed. Confirming takes
the token alone (whoever reads the mail holds it), signed in or not; it is single-use and
expires. What the sender does: ledger/mail/.

Each answer is a typed query (``email_view``, ``notifications_view``) that the settings
page (ledger/web/email_pages.py) calls too, after the same policy rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from aiohttp import web
from pydantic import Field, StringConstraints

from ledger.errors import NotFound
from ledger.http.authorization import caller_of
from ledger.http.keys import CLOCK, KEYRING, POOL, SETTINGS
from ledger.http.parsing import parse_body
from ledger.http.shapes import Strict, json_of
from ledger.mail import addresses
from ledger.mail.kinds import DEFAULTS, KINDS, PLAIN_WORDS, Choice, NoticeKind, choice_of

# The HTML standard's rule for an e-mail address (what a browser's type=email accepts),
# with a dot in the domain: nothing that could break a mail header.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]


class EmailAddressBody(Strict):
    address: EmailAddress


class EmailView(Strict):
    # None until one is set.
    address: str | None
    confirmed: bool
    confirmed_at: datetime | None
    # A confirmation link was mailed and still works.
    awaiting_confirmation: bool
    # Whether this service sends mail at all (an SMTP server is configured); choices are
    # kept either way.
    mail_enabled: bool


class ConfirmationBody(Strict):
    token: str = Field(pattern=f"^{addresses.LINK_TOKEN.pattern}$")


class EmailConfirmed(Strict):
    confirmed: bool


class KindChoice(Strict):
    kind: NoticeKind
    # What a mail says of it.
    words: str
    choice: Choice
    default: Choice


class NotificationsView(Strict):
    choices: dict[NoticeKind, Choice]
    kinds: list[KindChoice]


class NotificationChoices(Strict):
    # The kinds to change; any other keeps its choice.
    choices: dict[NoticeKind, Choice] = Field(max_length=len(KINDS))


# -- typed queries (the page asks them too) ----------------------------------------------


async def email_view(app: web.Application, account_id: UUID) -> EmailView:
    state = await addresses.state_of(app[POOL], app[KEYRING], account_id, app[CLOCK].now())
    return EmailView(
        address=state.address if state else None,
        confirmed=bool(state and state.confirmed_at),
        confirmed_at=state.confirmed_at if state else None,
        awaiting_confirmation=bool(state and state.awaiting_confirmation),
        mail_enabled=app[SETTINGS].mail_enabled,
    )


async def notifications_view(app: web.Application, account_id: UUID) -> NotificationsView:
    chosen = await addresses.chosen(app[POOL], account_id)
    kinds = [
        KindChoice(kind=kind, words=PLAIN_WORDS[kind], choice=choice_of(kind, chosen),
                   default=DEFAULTS[kind])
        for kind in KINDS
    ]
    return NotificationsView(choices={k.kind: k.choice for k in kinds}, kinds=kinds)


# -- views -------------------------------------------------------------------------------


async def show_email(request: web.Request) -> web.Response:
    return json_of(await email_view(request.app, caller_of(request)))


async def set_email(request: web.Request) -> web.Response:
    body = await parse_body(request, EmailAddressBody)
    me = caller_of(request)
    await addresses.set_address(
        request.app[POOL], request.app[KEYRING], me, body.address, request.app[CLOCK].now()
    )
    return json_of(await email_view(request.app, me))


async def forget_email(request: web.Request) -> web.Response:
    await addresses.forget_address(request.app[POOL], caller_of(request))
    return web.Response(status=204)


async def confirm_email(request: web.Request) -> web.Response:
    body = await parse_body(request, ConfirmationBody)
    await confirm(request.app, body.token)
    return json_of(EmailConfirmed(confirmed=True))


async def confirm(app: web.Application, token: str) -> None:
    """Confirm the address the token was mailed to; NotFound if it names nothing."""
    if not await addresses.confirm(app[POOL], token, app[CLOCK].now()):
        raise NotFound(
            "this confirmation link does not work: it was used already, it expired, or a "
            "newer one was sent; set your address again for a new one"
        )


async def show_notifications(request: web.Request) -> web.Response:
    return json_of(await notifications_view(request.app, caller_of(request)))


async def set_notifications(request: web.Request) -> web.Response:
    body = await parse_body(request, NotificationChoices)
    me = caller_of(request)
    await addresses.set_choices(
        request.app[POOL], me, {str(kind): choice for kind, choice in body.choices.items()}
    )
    return json_of(await notifications_view(request.app, me))
