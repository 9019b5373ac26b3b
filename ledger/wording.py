"""The word-level difference between two wordings of an agreement, for its history.

Built on the standard library's difflib.SequenceMatcher over words, whitespace and
punctuation as separate tokens, so that the pieces joined back give each text exactly.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")

Op = Literal["same", "removed", "added"]


@dataclass(frozen=True)
class Change:
    op: Op
    text: str


def word_diff(old: str, new: str) -> list[Change]:
    """Runs of text that stayed, were removed or were added, in reading order.

    Joining the "same" and "removed" runs gives ``old``; "same" and "added" give ``new``.
    """
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _add(changes, "same", "".join(before[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            _add(changes, "removed", "".join(before[i1:i2]))
        if tag in ("insert", "replace"):
            _add(changes, "added", "".join(after[j1:j2]))
    return changes


def _add(changes: list[Change], op: Op, text: str) -> None:
    if not text:
        return
    if changes and changes[-1].op == op:
        changes[-1] = Change(op, changes[-1].text + text)
    else:
        changes.append(Change(op, text))
