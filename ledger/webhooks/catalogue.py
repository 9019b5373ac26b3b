"""What members are told by webhook, and whom each event concerns.

Each webhook type is named for people. A message carries only the type, ids, the polycule,
the time and a link to fetch the details with the member's own credentials — never
anyone's words. Whom an event concerns is decided here (the parties of a proposal, the
members told of a disclosure, the participants of a repair, …), and then every recipient
is checked against the one authorization module (ledger/auth/policy.py): a member is
never told of what they could not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ledger.auth.policy import may_read_event
from ledger.domain.polycules import Polycule

# The catalogue: every type, and what it means. docs/webhooks.md shows example payloads.
WEBHOOK_TYPES: dict[str, str] = {
    "proposal.awaiting_consent": "a proposal (or a new revision of one) waits for your answer",
    "proposal.closed": "a proposal you were party to was rejected, withdrawn, expired or lapsed",
    "agreement.ratified": "every party consented: a version of an agreement is in force",
    "agreement.ended": "an agreement you were party to ended (revoked, party left, agreed)",
    "agreement.review_due": "an agreement you are party to is due for review",
    "disclosure.shared_with_you": "a member disclosed something to you",
    "breach.reported": "a breach of an agreement you may see was reported",
    "breach.updated": "a breach you may see was acknowledged, disputed or shown to more members",
    "repair.step": "a step was taken in a repair you take part in",
    "commitment.due": "an occurrence of a repair commitment is due (to keep, or to mark)",
    "member.joined": "someone joined your polycule",
    "member.left": "someone left your polycule",
}


@dataclass(frozen=True)
class Notice:
    """One event, as one webhook type, for these members."""

    type: str
    recipients: frozenset[UUID]
    # Ids only, as strings; and the path to read the details.
    ids: Mapping[str, str] = field(default_factory=dict)
    link: str = ""


_PROPOSAL_CLOSED = {"ProposalRejected", "ProposalWithdrawn", "ProposalExpired", "ProposalLapsed"}
_BREACH_UPDATED = {"BreachAcknowledged", "BreachDisputed", "BreachAudienceWidened"}
_REPAIR_STEPS = {
    "ResponsibilityTaken", "ImpactShared", "ApologyMade", "RepairDecisionMade", "FactorNamed",
    "FactorAddressed", "BoundaryLinked", "CommitmentMade", "CommitmentMarked",
    "CheckInRecorded", "SupporterJoined", "RestorationChosen", "RepairClosed",
}


# Every event type that tells someone something.
HANDLED_EVENTS: frozenset[str] = frozenset({
    "AgreementProposed", "ProposalRevised", *_PROPOSAL_CLOSED, "AgreementRatified",
    "AgreementEnded", "ReviewBecameDue", "ReviewRequested", "DisclosureMade", "BreachReported",
    *_BREACH_UPDATED, *_REPAIR_STEPS, "CommitmentFellDue", "MemberJoined", "MemberLeft",
})


def notices_for(
    event_type: str,
    data: Mapping[str, Any],
    polycule_id: UUID,
    polycule: Polycule,
    actor: UUID | None,
) -> list[Notice]:
    """What ``event`` (its stored data: ids are plain) tells whom; nobody is told of what
    they did themselves, nor of what the policy would not let them read."""
    notice = _notice(event_type, data, f"/api/polycules/{polycule_id}", polycule)
    if notice is None:
        return []
    recipients = frozenset(
        member for member in notice.recipients
        if member != actor
        and polycule.is_member(member)
        and may_read_event(member, polycule, event_type, data)
    )
    if not recipients:
        return []
    return [Notice(notice.type, recipients, {"polycule_id": str(polycule_id), **notice.ids},
                   notice.link)]


def _notice(
    event_type: str, data: Mapping[str, Any], base: str, polycule: Polycule
) -> Notice | None:
    agreements = polycule.agreements
    if event_type in {"AgreementProposed", "ProposalRevised"} | _PROPOSAL_CLOSED:
        proposal = agreements.proposals.get(UUID(data["proposal_id"]))
        if proposal is None:
            return None
        kind = ("proposal.closed" if event_type in _PROPOSAL_CLOSED
                else "proposal.awaiting_consent")
        return Notice(
            kind, frozenset(proposal.parties),
            {"proposal_id": str(proposal.proposal_id),
             "agreement_id": str(proposal.agreement_id)},
            f"{base}/proposals/{proposal.proposal_id}",
        )
    if event_type in {"AgreementRatified", "AgreementEnded", "ReviewBecameDue",
                      "ReviewRequested"}:
        agreement = agreements.agreements.get(UUID(data["agreement_id"]))
        if agreement is None:
            return None
        named = {"AgreementRatified": "agreement.ratified", "AgreementEnded": "agreement.ended"}
        return Notice(
            named.get(event_type, "agreement.review_due"),
            frozenset(UUID(p) for p in data["parties"]) if "parties" in data
            else frozenset(agreement.parties),
            {"agreement_id": str(agreement.agreement_id), "version": str(data["version"])},
            f"{base}/agreements/{agreement.agreement_id}",
        )
    if event_type == "DisclosureMade":
        return Notice(
            "disclosure.shared_with_you", frozenset(UUID(m) for m in data["recipients"]),
            {"disclosure_id": data["disclosure_id"]},
            f"{base}/disclosures/{data['disclosure_id']}",
        )
    if event_type == "BreachReported" or event_type in _BREACH_UPDATED:
        breach = polycule.breaches.items.get(UUID(data["breach_id"]))
        if breach is None:
            return None
        kind = "breach.reported" if event_type == "BreachReported" else "breach.updated"
        return Notice(
            kind, breach.audience, {"breach_id": str(breach.breach_id)},
            f"{base}/breaches/{breach.breach_id}",
        )
    if event_type == "CommitmentFellDue":
        breach = polycule.breaches.items.get(UUID(data["breach_id"]))
        if breach is None:
            return None
        return Notice(
            "commitment.due", frozenset(breach.participants),
            {"breach_id": str(breach.breach_id), "commitment_id": data["commitment_id"],
             "occurrence": str(data["occurrence"])},
            f"{base}/breaches/{breach.breach_id}/repair",
        )
    if event_type in _REPAIR_STEPS:
        breach = polycule.breaches.items.get(UUID(data["breach_id"]))
        if breach is None:
            return None
        return Notice(
            "repair.step", frozenset(breach.participants),
            {"breach_id": str(breach.breach_id), "step": event_type},
            f"{base}/breaches/{breach.breach_id}/repair",
        )
    if event_type in {"MemberJoined", "MemberLeft"}:
        kind = "member.joined" if event_type == "MemberJoined" else "member.left"
        return Notice(
            kind, frozenset(polycule.members), {"member_id": data["member_id"]},
            f"{base}/members",
        )
    return None
