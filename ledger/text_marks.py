"""How the words in events are marked for sealing: which text fields hold a person's own
words (sealed under their key) and which hold words several members wrote together (sealed
under the polycule's key); and how a read model marks the fields where it keeps such words
as the events had them, sealed.

The domain declares its events with these markers and nothing more; sealing and opening
them is ``ledger/privacy.py``'s work, and showing a read model's rows with their words
opened is ``ledger/http/shapes.py``'s (``opened``). This module does no I/O and needs no
keys, so the domain, which must stay pure, can import it.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic.fields import FieldInfo

OwnerKind = Literal["member", "polycule"]


@dataclass(frozen=True)
class KeptUnder:
    """Marks a text field of an event: sealed under its author's or the polycule's key."""

    owner_kind: OwnerKind


# A person's own words or identity: display names, notes, disclosures, accounts, check-ins.
PersonalText = Annotated[str, KeptUnder("member")]
# Words several members wrote together, such as an agreement's terms.
SharedText = Annotated[str, KeptUnder("polycule")]


def kept_under(info: FieldInfo) -> KeptUnder | None:
    """The field's marker; pydantic lifts a top-level Annotated into ``metadata``, while
    ``PersonalText | None`` keeps it inside the union."""
    candidates = list(info.metadata)
    for argument in typing.get_args(info.annotation):
        if typing.get_origin(argument) is Annotated:
            candidates.extend(argument.__metadata__)
    return next((item for item in candidates if isinstance(item, KeptUnder)), None)


@dataclass(frozen=True)
class KeptSealed:
    """Marks a read model's field that keeps words as their event had them, sealed: one
    sealed text, or a document holding some (an agreement's wording)."""


# A read model's sealed words, exactly as stored in the event: whoever shows them opens them.
Sealed = Annotated[dict[str, Any], KeptSealed()]


def keeps_sealed(hint: object) -> bool:
    """Whether a row field's type hint (read with its extras) is ``Sealed`` or
    ``Sealed | None``."""
    candidates = [hint, *typing.get_args(hint)]
    return any(
        typing.get_origin(candidate) is Annotated
        and any(isinstance(item, KeptSealed) for item in candidate.__metadata__)
        for candidate in candidates
    )
