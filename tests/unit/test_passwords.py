"""Argon2id password hashing with argon2-cffi's default (RFC 9106) parameters."""

from __future__ import annotations

import dataclasses

from argon2.profiles import RFC_9106_LOW_MEMORY

from ledger.auth.passwords import Passwords

PASSWORD = "correct horse battery staple"


async def test_passwords_are_hashed_with_argon2id_at_the_recommended_cost() -> None:
    stored = await Passwords().hash(PASSWORD)

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored


async def test_only_the_right_password_verifies() -> None:
    passwords = Passwords()
    stored = await passwords.hash(PASSWORD)

    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD.upper())
    assert not await passwords.verify("not a hash", PASSWORD)
    assert not await passwords.verify(None, PASSWORD)  # no account: checked, never matches


async def test_a_hash_made_with_older_parameters_needs_rehashing() -> None:
    cheaper = Passwords(dataclasses.replace(RFC_9106_LOW_MEMORY, time_cost=1))
    stored = await cheaper.hash(PASSWORD)

    assert Passwords().needs_rehash(stored)
    assert not cheaper.needs_rehash(stored)
    assert await Passwords().verify(stored, PASSWORD)  # still verifies until it is rehashed
