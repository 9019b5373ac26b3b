"""Data keys in PostgreSQL, and erasure: a destroyed key makes its words unreadable while
every hash chain still verifies."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pydantic import BaseModel

from ledger.database import connect
from ledger.events import DomainEvent, EventRegistry
from ledger.privacy import (
    ERASED,
    KEY_DESTROYED_CHANNEL,
    KeyOwner,
    KeyRing,
    MasterKey,
    MasterKeyError,
    OwnerErased,
    SealBroken,
    UnknownDataKey,
    decrypt_event_fields,
    encrypt_event_fields,
)
from ledger.store.events import EventStore
from ledger.store.records import NewEvent
from ledger.store.verify import verify
from ledger.text_marks import KeptUnder, PersonalText, SharedText

EVENTS = EventRegistry()


@EVENTS.register("CheckInRecorded")
class CheckInRecorded(DomainEvent):
    member_id: UUID
    trust: int
    note: PersonalText
    setback_note: PersonalText | None = None


class Definition(BaseModel):
    word: str
    meaning: SharedText


@EVENTS.register("AgreementProposed")
class AgreementProposed(DomainEvent):
    title: SharedText
    definitions: list[Definition]
    proposer_name: PersonalText


@EVENTS.register("ReviewRequested")
class ReviewRequested(DomainEvent):
    # Free-form plain data: the kind of field a copied ciphertext could be slipped into.
    context: dict[str, Any]


ALICE_NOTE = "Alice: I felt left out on Sunday"
ALICE_SETBACK = "Alice: the old fear came back"
ALICE_NAME = "Alice Wonderly"
BOB_NOTE = "Bob: trust is growing again"
TITLE = "Telling before overnights"
MEANING = "staying past midnight at someone's home"


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def keyring(pool: asyncpg.Pool, master: MasterKey) -> KeyRing:
    return KeyRing(pool, master)


def owner_of(member_id: UUID) -> KeyOwner:
    return KeyOwner("member", member_id)


async def append_sealed(
    store: EventStore,
    keyring: KeyRing,
    polycule: UUID,
    version: int,
    author: UUID,
    event: DomainEvent,
) -> None:
    data = await encrypt_event_fields(
        event, author_id=author, polycule_id=polycule, keyring=keyring
    )
    await store.append(polycule, version, [NewEvent(
        uuid.uuid4(), event.event_type, event.schema_version, data, {"actor": str(author)}
    )])


async def read_opened(store: EventStore, keyring: KeyRing, stream: UUID) -> list[Any]:
    """What the rest of the ledger sees: decoded events with their texts opened (typed Any:
    each test knows which events it wrote)."""
    return [
        EVENTS.decode(
            recorded.event_type,
            recorded.schema_version,
            await decrypt_event_fields(recorded.data, keyring),
        )
        for recorded in await store.read_stream(stream)
    ]


async def test_concurrent_first_uses_of_a_key_make_exactly_one(
    pool: asyncpg.Pool, master: MasterKey
) -> None:
    member = owner_of(uuid.uuid4())
    # Separate rings, like separate instances: none can answer from another's cache.
    rings = [KeyRing(pool, master) for _ in range(10)]

    keys = await asyncio.gather(*(ring.key_for(member) for ring in rings))

    assert len({key.key_id for key in keys}) == 1
    assert len({key.secret for key in keys}) == 1
    count = await pool.fetchval(
        "SELECT count(*) FROM data_keys WHERE owner_kind = 'member' AND owner_id = $1", member.id
    )
    assert count == 1


async def test_one_ring_gathering_first_uses_also_makes_one_key(keyring: KeyRing) -> None:
    member = owner_of(uuid.uuid4())

    keys = await asyncio.gather(*(keyring.key_for(member) for _ in range(10)))

    assert len({key.key_id for key in keys}) == 1


async def test_a_key_is_stored_wrapped_and_read_back_by_a_fresh_process(
    pool: asyncpg.Pool, master: MasterKey, keyring: KeyRing
) -> None:
    member = owner_of(uuid.uuid4())
    sealed = await keyring.seal(ALICE_NOTE, member)

    row = await pool.fetchrow("SELECT * FROM data_keys WHERE key_id = $1", UUID(sealed["key"]))
    assert row is not None
    assert KeyOwner(row["owner_kind"], row["owner_id"]) == member
    assert row["destroyed_at"] is None
    assert row["wrapped_by"] == master.fingerprint
    assert (await keyring.key_for(member)).secret not in bytes(row["wrapped_key"])
    assert await KeyRing(pool, master).open_sealed(sealed) == ALICE_NOTE


async def test_another_master_key_is_refused_at_start_and_on_reading(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    sealed = await keyring.seal(ALICE_NOTE, owner_of(uuid.uuid4()))
    await keyring.check_master_key()
    stranger = KeyRing(pool, MasterKey.generate())

    with pytest.raises(MasterKeyError, match="1 data keys were wrapped by another master key"):
        await stranger.check_master_key()
    with pytest.raises(MasterKeyError):
        await stranger.open_sealed(sealed)


async def test_a_swapped_or_unknown_key_id_does_not_open(keyring: KeyRing) -> None:
    alice, bob = owner_of(uuid.uuid4()), owner_of(uuid.uuid4())
    sealed = await keyring.seal(ALICE_NOTE, alice)
    bobs_key = await keyring.key_for(bob)

    with pytest.raises(SealBroken):
        await keyring.open_sealed({**sealed, "key": str(bobs_key.key_id)})
    with pytest.raises(UnknownDataKey):
        await keyring.open_sealed({**sealed, "key": str(uuid.uuid4())})


async def test_plain_fields_cannot_smuggle_a_sealed_text(keyring: KeyRing) -> None:
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    copied = await keyring.seal(ALICE_NOTE, owner_of(alice))
    # Stored as is, it would be opened on reading and show Alice's words as Mallory's.
    smuggled = ReviewRequested(context={"because": [copied]})

    with pytest.raises(ValueError, match="plain data cannot contain a sealed text"):
        await encrypt_event_fields(
            smuggled, author_id=mallory, polycule_id=uuid.uuid4(), keyring=keyring
        )


@pytest.fixture
async def erased_history(
    store: EventStore, keyring: KeyRing, pool: asyncpg.Pool
) -> AsyncIterator[dict[str, Any]]:
    """Two polycules where Alice and Bob wrote; then Alice is erased."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    home, other = uuid.uuid4(), uuid.uuid4()
    await append_sealed(store, keyring, home, 0, alice, AgreementProposed(
        title=TITLE, definitions=[Definition(word="overnight", meaning=MEANING)],
        proposer_name=ALICE_NAME,
    ))
    await append_sealed(store, keyring, home, 1, alice, CheckInRecorded(
        member_id=alice, trust=4, note=ALICE_NOTE, setback_note=ALICE_SETBACK
    ))
    await append_sealed(store, keyring, home, 2, bob, CheckInRecorded(
        member_id=bob, trust=7, note=BOB_NOTE
    ))
    await append_sealed(store, keyring, other, 0, alice, CheckInRecorded(
        member_id=alice, trust=5, note=ALICE_NOTE
    ))
    before = await read_opened(store, keyring, home)

    await keyring.destroy(owner_of(alice))

    yield {"alice": alice, "bob": bob, "home": home, "other": other, "before": before}


async def test_before_erasure_every_text_reads(erased_history: dict[str, Any]) -> None:
    proposed, alices, bobs = erased_history["before"]

    assert proposed.proposer_name == ALICE_NAME
    assert proposed.title == TITLE
    assert proposed.definitions == [Definition(word="overnight", meaning=MEANING)]
    assert (alices.note, alices.setback_note, bobs.note) == (ALICE_NOTE, ALICE_SETBACK, BOB_NOTE)


async def test_erased_words_read_as_erased_and_everyone_elses_still_read(
    erased_history: dict[str, Any], store: EventStore, keyring: KeyRing
) -> None:
    proposed, alices, bobs = await read_opened(store, keyring, erased_history["home"])
    [elsewhere] = await read_opened(store, keyring, erased_history["other"])

    assert proposed.proposer_name == ERASED
    assert (alices.note, alices.setback_note) == (ERASED, ERASED)
    assert elsewhere.note == ERASED
    # Facts that are not her words stay; so do Bob's words and the polycule's shared text.
    assert (alices.member_id, alices.trust) == (erased_history["alice"], 4)
    assert bobs.note == BOB_NOTE
    assert proposed.title == TITLE
    assert proposed.definitions == [Definition(word="overnight", meaning=MEANING)]


async def test_a_fresh_process_reads_the_same_erasure(
    erased_history: dict[str, Any], store: EventStore, pool: asyncpg.Pool, master: MasterKey
) -> None:
    _, alices, bobs = await read_opened(store, KeyRing(pool, master), erased_history["home"])

    assert (alices.note, bobs.note) == (ERASED, BOB_NOTE)


async def test_no_plaintext_of_the_erased_member_is_left_in_the_database(
    erased_history: dict[str, Any], pool: asyncpg.Pool
) -> None:
    # Whole rows, so no column (data, metadata, …) can hide the words.
    events_text = await pool.fetchval("SELECT string_agg(e::text, ' ') FROM events AS e")
    events_data = await pool.fetchval("SELECT string_agg(data::text, ' ') FROM events")
    keys_text = await pool.fetchval("SELECT string_agg(k::text, ' ') FROM data_keys AS k")
    alices_key = await pool.fetchrow(
        "SELECT * FROM data_keys WHERE owner_id = $1", erased_history["alice"]
    )

    for words in (ALICE_NOTE, ALICE_SETBACK, ALICE_NAME, BOB_NOTE, TITLE, MEANING):
        assert words not in events_text
        assert words not in keys_text
    assert alices_key is not None
    assert alices_key["wrapped_key"] is None
    assert alices_key["destroyed_at"] is not None
    # The sealed texts are still there, unchanged: the events were never rewritten.
    assert events_data.count('"sealed": "v1"') == 7


async def test_every_chain_still_verifies_after_erasure(
    erased_history: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as connection:
        report = await verify(connection)

    assert report.ok, [b.describe() for b in report.breaks]
    assert (report.streams_checked, report.events_checked) == (2, 4)


async def test_an_erased_member_can_never_seal_again(
    erased_history: dict[str, Any], keyring: KeyRing, pool: asyncpg.Pool, master: MasterKey
) -> None:
    alice = owner_of(erased_history["alice"])

    for ring in (keyring, KeyRing(pool, master)):
        with pytest.raises(OwnerErased) as raised:
            await ring.seal("written after erasure", alice)
        assert raised.value.code == "owner_erased"
    assert await pool.fetchval(
        "SELECT count(*) FROM data_keys WHERE owner_id = $1", alice.id
    ) == 1


async def test_erasing_a_member_who_never_wrote_keeps_them_from_ever_getting_a_key(
    keyring: KeyRing,
) -> None:
    silent = owner_of(uuid.uuid4())

    await keyring.destroy(silent)
    await keyring.destroy(silent)  # erasure is idempotent

    with pytest.raises(OwnerErased):
        await keyring.key_for(silent)


async def test_other_instances_forget_a_destroyed_key_when_told(
    database_url: str, pool: asyncpg.Pool, master: MasterKey
) -> None:
    alice = owner_of(uuid.uuid4())
    erasing, listening, unaware = (KeyRing(pool, master) for _ in range(3))
    sealed = await erasing.seal(ALICE_NOTE, alice)
    for ring in (listening, unaware):
        assert await ring.open_sealed(sealed) == ALICE_NOTE  # now cached there
    connection = await connect(database_url)
    heard = asyncio.Event()
    try:
        await listening.listen(connection)
        # asyncpg calls both listeners of one notification before this task resumes.
        await connection.add_listener(KEY_DESTROYED_CHANNEL, lambda *_: heard.set())

        await erasing.destroy(alice)

        async with asyncio.timeout(5):
            await heard.wait()
    finally:
        await connection.close()
    assert await listening.open_sealed(sealed) == ERASED
    # Without the notification, the cache is the only thing still holding the key.
    assert await unaware.open_sealed(sealed) == ALICE_NOTE


async def test_a_cached_key_is_rechecked_so_a_lost_notification_cannot_keep_it_alive(
    pool: asyncpg.Pool, master: MasterKey
) -> None:
    now = [0.0]
    alice = owner_of(uuid.uuid4())
    erasing = KeyRing(pool, master)
    unaware = KeyRing(pool, master, recheck_seconds=60, clock=lambda: now[0])
    sealed = await erasing.seal(ALICE_NOTE, alice)
    assert await unaware.open_sealed(sealed) == ALICE_NOTE

    await erasing.destroy(alice)
    now[0] = 59.0
    still_cached = await unaware.open_sealed(sealed)
    now[0] = 60.0

    assert still_cached == ALICE_NOTE
    assert await unaware.open_sealed(sealed) == ERASED


async def test_keys_evicted_from_a_small_cache_are_read_again(
    pool: asyncpg.Pool, master: MasterKey
) -> None:
    ring = KeyRing(pool, master, capacity=2)
    members = [owner_of(uuid.uuid4()) for _ in range(5)]
    sealed = [await ring.seal(f"note {index}", member) for index, member in enumerate(members)]

    opened = [await ring.open_sealed(value) for value in sealed]

    assert opened == [f"note {index}" for index in range(5)]
    assert [(await ring.key_for(m)).key_id for m in members] == [UUID(s["key"]) for s in sealed]



class CountingReads(KeyRing):
    """A ring that counts how often it reads a key's row from the database."""

    reads = 0

    async def _read_key(self, key_id: UUID) -> Any:
        self.reads += 1
        return await super()._read_key(key_id)


async def test_many_texts_opened_at_once_under_a_cold_key_read_it_once(
    pool: asyncpg.Pool, master: MasterKey, keyring: KeyRing
) -> None:
    """A worker starting with 32 senders, each opening an endpoint's secret under the same
    key: one read of the key's row, not 32."""
    alice = owner_of(uuid.uuid4())
    sealed = [await keyring.seal(f"secret {index}", alice) for index in range(32)]
    starting = CountingReads(pool, master)

    opened = await asyncio.gather(*(starting.open_sealed(value) for value in sealed))

    assert opened == [f"secret {index}" for index in range(32)]
    assert starting.reads == 1


async def test_a_reader_cancelled_while_a_key_is_read_leaves_the_read_to_the_others(
    pool: asyncpg.Pool, master: MasterKey, keyring: KeyRing
) -> None:
    alice = owner_of(uuid.uuid4())
    first, second = [await keyring.seal(note, alice) for note in ("one", "two")]
    starting = CountingReads(pool, master)

    leaving = asyncio.ensure_future(starting.open_sealed(first))
    staying = asyncio.ensure_future(starting.open_sealed(second))
    await asyncio.sleep(0)  # both wait for the one read now
    leaving.cancel()

    assert await staying == "two"
    assert leaving.cancelled()
    assert starting.reads == 1

def test_the_markers_are_what_the_fields_declare() -> None:
    note = CheckInRecorded.model_fields["note"]
    meaning = Definition.model_fields["meaning"]

    assert KeptUnder("member") in note.metadata
    assert KeptUnder("polycule") in meaning.metadata
    assert json.loads(CheckInRecorded(
        member_id=uuid.uuid4(), trust=1, note="x"
    ).model_dump_json())["note"] == "x"  # the model itself only ever holds plain text


async def test_a_text_opened_before_an_erasure_is_not_served_from_memory_after_it(
    pool: asyncpg.Pool, master: MasterKey
) -> None:
    alice = owner_of(uuid.uuid4())
    ring = KeyRing(pool, master)
    sealed = await ring.seal(ALICE_NOTE, alice)
    assert await ring.open_sealed(sealed) == ALICE_NOTE
    assert await ring.open_sealed(sealed) == ALICE_NOTE  # now remembered opened

    await ring.destroy(alice)

    assert await ring.open_sealed(sealed) == ERASED
