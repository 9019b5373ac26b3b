"""The answers members read again and again are kept per version of their polycule
(ledger/http/kept_answers.py): read again while nothing changed, an answer is given as it
was, without reading the read models; anything recorded, through any instance, is read at
once; and an answer with words in it is forgotten under the keyring's rule for opened
words — when this process hears of an erasure, and after the recheck interval."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from ledger.auth.policy import Rule, rule_for
from ledger.http.kept_answers import KeptAnswers, is_kept_per_version
from ledger.http.keys import KEYRING, POOL
from ledger.http.routes import ROUTES
from ledger.privacy import KeyRing, MasterKey
from projections import agreement_queries
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


def count_agreement_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every read of the agreements in force from the read model, from now on."""
    reads: list[object] = []
    read = agreement_queries.current_agreements

    async def watched(executor: Any, polycule_id: Any) -> Any:
        reads.append(polycule_id)
        return await read(executor, polycule_id)

    monkeypatch.setattr(agreement_queries, "current_agreements", watched)
    return reads


async def agreement_of_my_own(someone: Person, polycule_id: str, terms: str) -> None:
    """An agreement binding only its proposer: in force as it is proposed."""
    await someone.json("POST", f"/api/polycules/{polycule_id}/proposals", 201, json={
        "kind": "create", "title": "Evenings", "terms": terms,
        "parties": [str(someone.account_id)], "binds_only_me": True,
    })


async def in_force(client: Client, someone: Person, polycule_id: str) -> list[str]:
    async with someone.session.get(
        client.make_url(f"/api/polycules/{polycule_id}/agreements")
    ) as response:
        assert response.status == 200, await response.text()
        return [agreement["text"]["terms"] for agreement in await response.json()]


async def test_read_again_unchanged_the_answer_is_given_as_it_was_without_reading(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        await agreement_of_my_own(ana, polycule, "I keep Tuesdays for myself.")
        reads = count_agreement_reads(monkeypatch)
        path = f"/api/polycules/{polycule}/agreements"
        first = await ana.request("GET", path)
        first_body = await first.read()
        # Another member, the same polycule as it was: the same answer, read from nowhere.
        again = await ben.request("GET", path)
        assert again.status == 200
        assert await again.read() == first_body
        assert again.headers["Content-Type"] == first.headers["Content-Type"]
        assert len(reads) == 1
        # A query of its own is an answer of its own.
        between = await ana.request("GET", path, params={"between": str(ana.account_id)})
        assert between.status == 200
        assert len(reads) == 2


async def test_what_another_instance_records_is_read_at_once(
    client: Client, second_instance: Client
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        await agreement_of_my_own(ana, polycule, "I keep Tuesdays for myself.")
        assert await in_force(client, ben, polycule) == ["I keep Tuesdays for myself."]
        # Through the other instance, whose appends this one's kept answer has not seen.
        token = (await ben.json("POST", "/api/tokens", 201, json={
            "name": "phone", "password": PASSWORD,
        }))["token"]
        proposed = await second_instance.post(
            f"/api/polycules/{polycule}/proposals", cookies={},
            headers={"Authorization": f"Bearer {token}"},
            json={"kind": "create", "title": "Mornings", "terms": "I run alone at dawn.",
                  "parties": [str(ben.account_id)], "binds_only_me": True},
        )
        assert proposed.status == 201, await proposed.text()
        assert sorted(await in_force(client, ana, polycule)) == [
            "I keep Tuesdays for myself.", "I run alone at dawn.",
        ]


async def test_an_erasure_heard_of_forgets_every_kept_answer(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with person(client) as ana, person(client) as ben, person(client) as cy:
        polycule = await polycule_of(ana, ben)
        await agreement_of_my_own(ana, polycule, "I keep Tuesdays for myself.")
        reads = count_agreement_reads(monkeypatch)
        await in_force(client, ben, polycule)
        await in_force(client, ben, polycule)
        assert len(reads) == 1
        # Someone else entirely is erased: this process has heard of an erasure, and any
        # words it keeps opened may be someone's it must no longer show.
        erased = await cy.request(
            "DELETE", "/api/account", json={"handle": cy.handle, "password": PASSWORD}
        )
        assert erased.status == 200, await erased.text()
        assert await in_force(client, ben, polycule) == ["I keep Tuesdays for myself."]
        assert len(reads) == 2


async def test_a_kept_answer_lasts_no_longer_than_the_recheck_interval(
    client: Client,
) -> None:
    now = [1000.0]
    keyring = KeyRing(
        client.app[POOL], MasterKey.generate(), recheck_seconds=60, clock=lambda: now[0]
    )
    kept = KeptAnswers(keyring)
    key = ("/api/polycules/{polycule_id}/agreements", "a polycule", 3, 3, "")
    kept.keep(key, web.json_response(text="[]"), keyring.opened_now())
    now[0] += 59
    answer = kept.answer(key)
    assert answer is not None and answer.body == b"[]"
    now[0] += 2
    assert kept.answer(key) is None
    assert len(kept) == 0


async def test_an_instance_keeps_its_answers_within_their_bytes(client: Client) -> None:
    kept = KeptAnswers(client.app[KEYRING], capacity_bytes=16 * 100)
    opened = kept.opened_now()
    for number in range(40):
        key = ("/api/polycules/{polycule_id}", f"polycule {number}", 1, 1, "")
        kept.keep(key, web.json_response(text=" " * 98 + "{}"), opened)
    assert len(kept) == 16
    assert kept.answer(("/api/polycules/{polycule_id}", "polycule 39", 1, 1, "")) is not None
    assert kept.answer(("/api/polycules/{polycule_id}", "polycule 0", 1, 1, "")) is None


def test_only_views_every_member_reads_alike_are_kept() -> None:
    kept = [route for route in ROUTES if is_kept_per_version(route.handler)]
    assert {route.path.rpartition("/")[2] for route in kept} == {
        "{polycule_id}", "members", "agreements", "{agreement_id}", "history", "diff",
    }
    for route in kept:
        assert route.method == "GET", route.path
        assert rule_for(route.method, route.path) is Rule.POLYCULE_MEMBER, route.path
