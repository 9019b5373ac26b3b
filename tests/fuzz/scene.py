"""A polycule lived in a little, over the API, so that the fuzzer's requests name real
things: every kind of id a path may hold, and a token to send them with.

Robin (the account the fuzzer acts as) and Sam share a polycule with an agreement in force
that Sam broke; the repair has a commitment with an occurrence due and a factor named; Sam
has proposed a change Robin has not answered and disclosed something to Robin. Robin also
has an invitation nobody accepted, a supporter's invitation, and two webhook endpoints (one
to delete) with a message in the log.

The operations that would take Robin's own access away (erasing the account, revoking a
token, leaving the polycule) are sent as other accounts of their own, each with what it
may lose: the fuzzer finds the values it needs in earlier answers (Robin's handle, a
token's id) and would otherwise end the run for every operation after them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from tests.http.conftest import TravellingClock

PASSWORD = "correct horse battery staple"
# The fan-out writes webhook messages after the request that caused them; the scene looks
# for the first one this many times, this far apart (it is usually there at the first look).
LOOKS_FOR_A_MESSAGE = 400
BETWEEN_LOOKS_SECONDS = 0.05


class Browser:
    """Someone signed in with a session cookie (and its CSRF token) at ``url``."""

    def __init__(self, url: str, handle: str) -> None:
        self.url = url
        self.handle = handle
        self.session = requests.Session()
        # The service is on this machine: never through a proxy the environment names.
        self.session.trust_env = False
        created = self.session.post(f"{url}/api/accounts", json={
            "handle": handle, "display_name": handle.capitalize(), "password": PASSWORD,
        })
        assert created.status_code == 201, created.text
        self.account_id: str = created.json()["id"]
        signed_in = self.session.post(f"{url}/api/session", json={
            "handle": handle, "password": PASSWORD,
        })
        assert signed_in.status_code == 200, signed_in.text
        self.session.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]

    def send(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}{path}", **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None


@dataclass
class Scene:
    # What the fuzzer signs in with: Robin's API token, and the tokens of the accounts the
    # operations that take access away act as, by "METHOD path template".
    token: str = ""
    own_tokens: dict[str, str] = field(default_factory=dict)
    # A real value for each path parameter, by name.
    ids: dict[str, str] = field(default_factory=dict)
    # For the operations that would undo the scene for the others (leaving the polycule,
    # deleting the endpoint) or that need another kind of the same parameter: values of
    # their own, keyed by "METHOD path template".
    own_ids: dict[str, dict[str, str]] = field(default_factory=dict)


def set_scene(url: str, clock: TravellingClock) -> Scene:
    robin, sam = Browser(url, "robin"), Browser(url, "sam")
    scene = Scene()
    ids = scene.ids
    scene.token = _token_of(robin)
    ids["token_id"] = _mint(robin, "spare")["id"]
    erasable, revoker, leaver = (Browser(url, handle) for handle in ("erin", "rory", "lee"))
    scene.own_tokens["DELETE /api/account"] = _token_of(erasable)
    scene.own_tokens["DELETE /api/tokens/{token_id}"] = _token_of(revoker)
    scene.own_ids["DELETE /api/tokens/{token_id}"] = {
        "token_id": _mint(revoker, "spare")["id"]
    }

    ids["endpoint_id"] = robin.send("POST", "/api/webhooks/endpoints", 201, json={
        "url": "https://hooks.invalid/robin", "description": "mine",
    })["endpoint_id"]
    deleted = robin.send("POST", "/api/webhooks/endpoints", 201, json={
        "url": "https://hooks.invalid/deleted",
    })["endpoint_id"]
    scene.own_ids["DELETE /api/webhooks/endpoints/{endpoint_id}"] = {"endpoint_id": deleted}

    polycule_id = robin.send("POST", "/api/polycules", 201, json={"name": "Pancakes"})["id"]
    ids["polycule_id"] = polycule_id
    polycule = f"/api/polycules/{polycule_id}"
    joining = robin.send("POST", f"{polycule}/invitations", 201, json={})
    sam.send("POST", f"/api/invitations/{joining['token']}/accept", json={})
    ids["token"] = robin.send("POST", f"{polycule}/invitations", 201, json={})["token"]
    leaving = "POST /api/polycules/{polycule_id}/leave"
    scene.own_tokens[leaving] = _token_of(leaver)
    scene.own_ids[leaving] = {
        "polycule_id": leaver.send("POST", "/api/polycules", 201, json={"name": "Alone"})["id"]
    }

    parties = [robin.account_id, sam.account_id]
    proposed = robin.send("POST", f"{polycule}/proposals", 201, json={
        "kind": "create", "title": "Tell first", "terms": "We tell each other first.",
        "parties": parties, "review_every_days": 30,
    })
    sam.send("POST", f"{polycule}/proposals/{proposed['proposal_id']}/consent",
             json={"revision": 1})
    ids["agreement_id"] = agreement = proposed["agreement_id"]
    ids["proposal_id"] = sam.send("POST", f"{polycule}/proposals", 201, json={
        "kind": "amend", "agreement_id": agreement, "title": "Tell first, by phone",
        "terms": "We tell each other first, on the phone.",
    })["proposal_id"]
    ids["disclosure_id"] = sam.send("POST", f"{polycule}/disclosures", 201, json={
        "kind": "feelings", "text": "I am nervous about this.",
        "recipients": [robin.account_id],
    })["disclosure_id"]

    clock.advance(days=1)
    ids["breach_id"] = breach = robin.send("POST", f"{polycule}/breaches", 201, json={
        "agreement_id": agreement, "breached_by": sam.account_id,
        "happened_at": _iso(clock.now() - timedelta(hours=1)),
        "what_happened": "I heard it from a friend.",
    })["breach_id"]
    repair = f"{polycule}/breaches/{breach}/repair"
    committed = sam.send("POST", f"{repair}/commitments", 201, json={
        "what": "A call every Sunday.", "first_due_at": _iso(clock.now()), "every_days": 7,
    })
    ids["commitment_id"] = committed["commitments"][0]["commitment_id"]
    ids["occurrence"] = "1"
    named = robin.send("POST", f"{repair}/factors", 201, json={"factor": "communication_or_fear"})
    ids["factor_id"] = named["factors"][0]["factor_id"]
    supporting = robin.send("POST", f"{repair}/supporters", 201, json={})["token"]
    scene.own_ids["POST /api/supporter-invitations/{token}/accept"] = {"token": supporting}
    clock.advance(days=1)
    ids["message_id"] = _first_message(robin, ids["endpoint_id"])
    return scene


def _mint(someone: Browser, name: str) -> Any:
    """A new API token, minted in the browser's session with the password typed again."""
    return someone.send("POST", "/api/tokens", 201, json={"name": name, "password": PASSWORD})


def _token_of(someone: Browser) -> str:
    return str(_mint(someone, "fuzzer")["token"])


def _first_message(robin: Browser, endpoint_id: str) -> str:
    for _ in range(LOOKS_FOR_A_MESSAGE):
        messages = robin.send("GET", f"/api/webhooks/endpoints/{endpoint_id}/messages")
        if messages:
            return str(messages[0]["message_id"])
        time.sleep(BETWEEN_LOOKS_SECONDS)
    raise AssertionError("the fan-out wrote no webhook message for Robin's endpoint")


def _iso(moment: datetime) -> str:
    return moment.isoformat()
