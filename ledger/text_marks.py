"""How the words in events are marked for sealing: which text fields hold a person's own
words (sealed under their key) and which hold words several members wrote together (sealed
under the polycule's key).

The domain declares its events with these markers and nothing more; sealing and opening
them is ``ledger/privacy.py``'s work. This module does no I/O and needs no keys, so the
domain, which must stay pure, can import it.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Literal

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
