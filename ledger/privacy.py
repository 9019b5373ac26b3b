"""Personal text under its author's own key, so that erasing a person is destroying one key.

* The **master key** (32 bytes) comes from configuration: ``LEDGER_MASTER_KEY`` in base64,
  or, for the embedded database only, a file ``<data_dir>/master.key`` made on first start.
* Every member and every polycule gets a **data key** (AES-256) on first use, kept in the
  ``data_keys`` table wrapped by the master key.
* Event fields typed ``PersonalText`` are sealed under their author's key, ``SharedText``
  under the polycule's. The store keeps, and hash-chains, only the sealed form.
* ``KeyRing.destroy`` forgets a key: wherever it sealed text, that text reads ``ERASED``,
  and since the events themselves never change, every chain still verifies.

docs/privacy.md says the same for operators: supplying the key, rotation, what erasure does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import os
import tempfile
import time
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypedDict
from uuid import UUID

import asyncpg
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from ledger.config import ConfigurationError
from ledger.errors import DomainError
from ledger.events import DomainEvent, JsonObject
from ledger.text_marks import OwnerKind, kept_under

log = structlog.get_logger(__name__)

MASTER_KEY_VARIABLE = "LEDGER_MASTER_KEY"
MASTER_KEY_FILE = "master.key"
# What a sealed text reads as once its key is destroyed. A plain string, so that erased
# events still validate against their models and every screen can show them.
ERASED = "[erased]"
# Other instances hear of a destroyed key on this channel and drop it from their cache.
KEY_DESTROYED_CHANNEL = "ledger_data_key_destroyed"

_KEY_BYTES = 32
_NONCE_BYTES = 12  # 96 bits, the size GCM is specified for; random, never reused in practice
_GENERATE_HINT = (
    'generate one with: python -c "import os,base64;'
    'print(base64.b64encode(os.urandom(32)).decode())"'
)

class KeyOwner(NamedTuple):
    kind: OwnerKind
    id: UUID


class MasterKeyError(ConfigurationError):
    """The master key is missing, malformed or not the one that wrapped the data keys."""


class SealBroken(ValueError):
    """A sealed text does not open under its key: altered, or moved from another key."""


class UnknownDataKey(LookupError):
    """A sealed text names a key this database never had (an integrity problem)."""


class OwnerErased(DomainError):
    """Nothing new may be sealed for an owner whose key was destroyed."""

    def __init__(self, owner: KeyOwner) -> None:
        super().__init__(
            "owner_erased",
            f"{owner.kind} {owner.id} was erased; nothing more can be kept under their key",
            details={"owner_kind": owner.kind, "owner_id": str(owner.id)},
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# -- the master key ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MasterKey:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != _KEY_BYTES:
            raise ValueError(f"a master key is {_KEY_BYTES} bytes, not {len(self.secret)}")

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_base64(cls, text: str, *, source: str = MASTER_KEY_VARIABLE) -> MasterKey:
        """Parse the configured key; the error names ``source`` but never echoes the value."""
        try:
            raw = _unb64(text.strip())
        except (binascii.Error, ValueError):
            raise MasterKeyError(f"{source}: not valid base64; {_GENERATE_HINT}") from None
        if len(raw) != _KEY_BYTES:
            raise MasterKeyError(
                f"{source}: must be {_KEY_BYTES} bytes in base64, got {len(raw)} bytes; "
                f"{_GENERATE_HINT}"
            )
        return cls(raw)

    def to_base64(self) -> str:
        return _b64(self.secret)

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it (stored beside every key it wraps)."""
        digest = hashlib.sha256(b"ledger master key fingerprint v1\0" + self.secret)
        return digest.hexdigest()[:16]

    def wrap(self, data_key: bytes, key_id: UUID, owner: KeyOwner) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.secret).encrypt(nonce, data_key, _wrap_context(key_id, owner))

    def unwrap(self, wrapped: bytes, key_id: UUID, owner: KeyOwner) -> bytes:
        nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        try:
            return AESGCM(self.secret).decrypt(nonce, sealed, _wrap_context(key_id, owner))
        except InvalidTag:
            raise SealBroken(f"data key {key_id} does not unwrap: altered or moved") from None


def _wrap_context(key_id: UUID, owner: KeyOwner) -> bytes:
    # A wrapped key only unwraps in its own row: copying it onto another owner fails.
    return f"ledger data key v1/{key_id}/{owner.kind}/{owner.id}".encode()


def load_master_key(configured: str | None, *, data_dir: Path, allow_key_file: bool) -> MasterKey:
    """The master key from ``LEDGER_MASTER_KEY``, else (embedded database only) a key file.

    ``allow_key_file`` must be false when the service runs on a configured database: each
    instance would otherwise make its own master key, and none could read the others' keys.
    """
    if configured is not None and configured.strip():
        return MasterKey.from_base64(configured)
    if not allow_key_file:
        raise MasterKeyError(
            f"{MASTER_KEY_VARIABLE} is required when DATABASE_URL is set (every instance "
            f"must use the same key); {_GENERATE_HINT}"
        )
    path = data_dir / MASTER_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    if path.stat().st_mode & 0o077:
        raise MasterKeyError(f"{path} can be read by other users; run: chmod 600 {path}")
    text = path.read_bytes().decode("ascii", errors="replace")  # base64 rejects the rest
    return MasterKey.from_base64(text, source=str(path))


def _create_key_file(path: Path) -> None:
    """Write a new key so that two processes starting together end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".master.key.")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(MasterKey.generate().to_base64() + "\n")
            file.flush()
            os.fsync(file.fileno())  # losing this key loses every personal text
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another process made
        except FileExistsError:
            return
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        log.warning("master_key_generated", path=str(path), advice="back this file up")
    finally:
        os.unlink(temporary)


# -- data keys and sealed text ----------------------------------------------------------


class SealedText(TypedDict):
    """The stored form of a sealed text: JSON-ready, no floats, the key named by id."""

    sealed: Literal["v1"]
    key: str
    nonce: str
    ct: str


_SEALED_KEYS = frozenset(SealedText.__required_keys__)


def as_sealed(value: object) -> SealedText | None:
    """``value`` as a sealed text if it has exactly that shape, else None."""
    # Spelled out rather than looped: every text a view shows passes here, twice.
    if (
        isinstance(value, dict)
        and value.keys() == _SEALED_KEYS
        and value["sealed"] == "v1"
        and isinstance(value["key"], str)
        and isinstance(value["nonce"], str)
        and isinstance(value["ct"], str)
    ):
        return typing.cast(SealedText, value)
    return None


@dataclass(frozen=True, eq=False)
class DataKey:
    key_id: UUID
    owner: KeyOwner
    secret: bytes = field(repr=False)

    def seal(self, text: str) -> SealedText:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(self.secret).encrypt(nonce, text.encode(), self._context())
        return {
            "sealed": "v1", "key": str(self.key_id), "nonce": _b64(nonce), "ct": _b64(ciphertext)
        }

    def open(self, sealed: SealedText) -> str:
        if sealed["key"] != str(self.key_id):
            raise SealBroken(f"sealed under key {sealed['key']}, not {self.key_id}")
        try:
            plaintext = AESGCM(self.secret).decrypt(
                _unb64(sealed["nonce"]), _unb64(sealed["ct"]), self._context()
            )
        except (InvalidTag, binascii.Error, ValueError):
            raise SealBroken(f"a text sealed under key {self.key_id} was altered") from None
        return plaintext.decode()

    def _context(self) -> bytes:
        # The key id is authenticated with every text: relabelling a ciphertext with another
        # key's id, even one holding the same secret, makes it fail to open.
        return f"ledger sealed text v1/{self.key_id}".encode()


_KEY_COLUMNS = "key_id, owner_kind, owner_id, wrapped_key, wrapped_by"
_KEY_BY_OWNER = f"SELECT {_KEY_COLUMNS} FROM data_keys WHERE owner_kind = $1 AND owner_id = $2"
_KEY_BY_ID = f"SELECT {_KEY_COLUMNS} FROM data_keys WHERE key_id = $1"
_CREATE_KEY = f"""
INSERT INTO data_keys (key_id, owner_kind, owner_id, wrapped_key, wrapped_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT data_keys_one_per_owner DO NOTHING
RETURNING {_KEY_COLUMNS}
"""
# Also for an owner who never had a key: the tombstone keeps them from ever getting one.
_DESTROY_KEY = f"""
WITH destroyed AS (
    INSERT INTO data_keys AS k (key_id, owner_kind, owner_id, wrapped_by, destroyed_at)
    VALUES ($1, $2, $3, $4, now())
    ON CONFLICT ON CONSTRAINT data_keys_one_per_owner
    DO UPDATE SET wrapped_key = NULL, destroyed_at = coalesce(k.destroyed_at, now())
    RETURNING k.key_id
)
SELECT key_id, pg_notify('{KEY_DESTROYED_CHANNEL}', key_id::text) FROM destroyed
"""
_FOREIGN_WRAPPED_KEYS = """
SELECT count(*) FROM data_keys WHERE wrapped_key IS NOT NULL AND wrapped_by <> $1
"""


@dataclass(frozen=True)
class OpenedAt:
    """When words were opened: after how many erasures this process had heard of, and at
    which moment of its clock (``KeyRing.opened_now``)."""

    erasures_seen: int
    at: float


@dataclass(frozen=True)
class _Opened:
    key: str
    ciphertext: str
    text: str
    opened: OpenedAt

    def matches(self, sealed: SealedText, keyring: KeyRing) -> bool:
        return (
            sealed["key"] == self.key
            and sealed["ct"] == self.ciphertext
            and keyring.still_keeps(self.opened)
        )


class KeyRing:
    """Data keys, created on first use and unwrapped once per process.

    Unwrapped keys are cached. A destroyed key leaves this process's cache at once; other
    instances drop it when they hear ``KEY_DESTROYED_CHANNEL`` (``listen``), and in any
    case re-read a cached key's row after ``recheck_seconds``, so a lost notification
    cannot keep a destroyed key readable for longer than that.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        master: MasterKey,
        *,
        recheck_seconds: float = 60.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._master = master
        self._recheck_seconds = recheck_seconds
        self._capacity = capacity
        self._clock = clock
        self._live: OrderedDict[UUID, tuple[DataKey, float]] = OrderedDict()
        self._by_owner: dict[KeyOwner, UUID] = {}
        self._destroyed: set[UUID] = set()  # final, so safe to remember without rechecking
        self._erasures_seen = 0
        # Texts recently opened, by their nonce (random, 96 bits: one per sealed text).
        self._opened: OrderedDict[str, _Opened] = OrderedDict()
        # Reads of a key's row under way: whoever needs the same key meanwhile waits for
        # that read (a worker starting with 32 senders reads each key once, not 32 times).
        self._reading: dict[UUID, asyncio.Future[DataKey | None]] = {}

    @property
    def erasures_seen(self) -> int:
        """Grows whenever this process learns that a key was destroyed; texts kept opened
        are dropped when it does."""
        return self._erasures_seen

    @property
    def recheck_seconds(self) -> float:
        """The longest a notification lost between instances can leave a key usable."""
        return self._recheck_seconds

    def opened_now(self) -> OpenedAt:
        """When words opened now were opened, for ``still_keeps``: what keeps a text, or an
        answer made of opened texts (ledger/http/kept_answers.py), to the rule above."""
        return OpenedAt(self._erasures_seen, self._clock())

    def still_keeps(self, opened: OpenedAt) -> bool:
        """Whether words opened then may still be kept opened: no erasure heard of since,
        and no older than ``recheck_seconds``."""
        return (
            opened.erasures_seen == self._erasures_seen
            and self._clock() - opened.at < self._recheck_seconds
        )

    async def check_master_key(self) -> None:
        """At start: refuse a master key that did not wrap the keys already stored."""
        foreign = await self._pool.fetchval(_FOREIGN_WRAPPED_KEYS, self._master.fingerprint)
        if foreign:
            raise MasterKeyError(
                f"{MASTER_KEY_VARIABLE}: {foreign} data keys were wrapped by another master "
                f"key (this one's fingerprint is {self._master.fingerprint}); start with the "
                "key this database was set up with"
            )

    async def key_for(self, owner: KeyOwner) -> DataKey:
        """The owner's key, created on first use. Raises OwnerErased once it is destroyed."""
        known = self._by_owner.get(owner)
        key = self._cached(known) if known is not None else None
        if key is not None:
            return key
        row = await self._pool.fetchrow(_KEY_BY_OWNER, owner.kind, owner.id)
        if row is None:
            row = await self._create(owner)
        key = self._from_row(row)
        if key is None:
            raise OwnerErased(owner)
        return key

    async def destroy(self, owner: KeyOwner) -> None:
        """Erase the owner: their key is gone for good, here and (soon) everywhere."""
        key_id = await self._pool.fetchval(
            _DESTROY_KEY, uuid.uuid4(), owner.kind, owner.id, self._master.fingerprint
        )
        self._mark_destroyed(key_id)
        log.info("data_key_destroyed", owner_kind=owner.kind, owner_id=str(owner.id))

    async def listen(self, connection: asyncpg.Connection) -> None:
        """Hear of keys other instances destroy, on a dedicated (non-pooled) connection."""
        await connection.add_listener(KEY_DESTROYED_CHANNEL, self._on_destroyed)

    async def seal(self, text: str, owner: KeyOwner) -> SealedText:
        return (await self.key_for(owner)).seal(text)

    async def open_sealed(self, value: Mapping[str, Any]) -> str:
        """The text, or ERASED when its key was destroyed. Raises SealBroken if altered."""
        sealed = as_sealed(value)
        if sealed is None:
            raise ValueError("not a sealed text")
        remembered = self._opened.get(sealed["nonce"])
        if remembered is not None and remembered.matches(sealed, self):
            return remembered.text
        key = await self._key_by_id(UUID(sealed["key"]))
        if key is None:
            return ERASED
        text = key.open(sealed)
        self._remember_opened(sealed, text)
        return text

    def _remember_opened(self, sealed: SealedText, text: str) -> None:
        # Read views open the same texts again and again (every agreement on every visit);
        # a text is kept opened no longer than its key is kept unwrapped, and all are
        # forgotten the moment this process learns of any erasure.
        self._opened[sealed["nonce"]] = _Opened(
            sealed["key"], sealed["ct"], text, self.opened_now()
        )
        self._opened.move_to_end(sealed["nonce"])
        while len(self._opened) > self._capacity * 5:
            self._opened.popitem(last=False)

    async def _create(self, owner: KeyOwner) -> asyncpg.Record:
        key_id = uuid.uuid4()
        wrapped = self._master.wrap(AESGCM.generate_key(bit_length=256), key_id, owner)
        row = await self._pool.fetchrow(
            _CREATE_KEY, key_id, owner.kind, owner.id, wrapped, self._master.fingerprint
        )
        if row is None:  # another task or instance created it first: theirs is the key
            row = await self._pool.fetchrow(_KEY_BY_OWNER, owner.kind, owner.id)
        if row is None:
            raise RuntimeError(f"the data key of {owner.kind} {owner.id} could not be created")
        return row

    async def _key_by_id(self, key_id: UUID) -> DataKey | None:
        if key_id in self._destroyed:
            return None
        key = self._cached(key_id)
        if key is not None:
            return key
        reading = self._reading.get(key_id)
        if reading is None:
            reading = self._reading[key_id] = asyncio.ensure_future(self._read_key(key_id))
            reading.add_done_callback(functools.partial(self._read_ended, key_id))
        # Shielded: one reader going away (a request cancelled) leaves the read to the rest.
        return await asyncio.shield(reading)

    async def _read_key(self, key_id: UUID) -> DataKey | None:
        row = await self._pool.fetchrow(_KEY_BY_ID, key_id)
        if row is None:
            raise UnknownDataKey(f"no data key {key_id} in this database")
        return self._from_row(row)

    def _read_ended(self, key_id: UUID, reading: asyncio.Future[DataKey | None]) -> None:
        if self._reading.get(key_id) is reading:
            del self._reading[key_id]
        if not reading.cancelled():
            reading.exception()  # retrieved: each reader waiting was given it already

    def _cached(self, key_id: UUID) -> DataKey | None:
        entry = self._live.get(key_id)
        if entry is None or self._clock() - entry[1] >= self._recheck_seconds:
            return None
        self._live.move_to_end(key_id)
        return entry[0]

    def _from_row(self, row: asyncpg.Record) -> DataKey | None:
        key_id: UUID = row["key_id"]
        owner = KeyOwner(row["owner_kind"], row["owner_id"])
        # Also refuse a row read as live just before this process destroyed the key, so a
        # read racing the erasure cannot put the key back in the cache.
        if row["wrapped_key"] is None or key_id in self._destroyed:
            self._mark_destroyed(key_id)
            return None
        if row["wrapped_by"] != self._master.fingerprint:
            raise MasterKeyError(
                f"data key {key_id} was wrapped by another master key than {MASTER_KEY_VARIABLE}"
            )
        key = DataKey(key_id, owner, self._master.unwrap(bytes(row["wrapped_key"]), key_id, owner))
        self._live[key_id] = (key, self._clock())
        self._live.move_to_end(key_id)
        self._by_owner[owner] = key_id
        while len(self._live) > self._capacity:
            _, (evicted, _loaded_at) = self._live.popitem(last=False)
            self._by_owner.pop(evicted.owner, None)
        return key

    def _mark_destroyed(self, key_id: UUID) -> None:
        entry = self._live.pop(key_id, None)
        if entry is not None:
            self._by_owner.pop(entry[0].owner, None)
        if len(self._destroyed) >= self._capacity:
            self._destroyed.clear()  # only a cache: forgotten ids are looked up again
        if key_id not in self._destroyed:
            self._erasures_seen += 1
            self._opened.clear()
        self._destroyed.add(key_id)

    def _on_destroyed(
        self, _connection: object, _pid: int, _channel: str, payload: object
    ) -> None:
        try:
            self._mark_destroyed(UUID(str(payload)))
        except ValueError:
            log.warning("malformed_key_destroyed_notification")


# -- declaring and sealing the personal fields of events --------------------------------


async def encrypt_event_fields(
    event: DomainEvent, *, author_id: UUID, polycule_id: UUID, keyring: KeyRing
) -> JsonObject:
    """The event's JSON data for the store, its marked fields sealed."""
    data = event.model_dump(mode="json")
    if _holds_sealed(data):
        # Only this function may put sealed texts into events: a copied ciphertext in a
        # plain field would otherwise be opened on reading, under its real owner's key.
        raise ValueError(f"{event.event_type}: plain data cannot contain a sealed text")
    owners: dict[OwnerKind, KeyOwner] = {
        "member": KeyOwner("member", author_id),
        "polycule": KeyOwner("polycule", polycule_id),
    }
    await _seal_fields(event, data, owners, keyring)
    return data


async def _seal_fields(
    model: BaseModel, data: JsonObject, owners: Mapping[OwnerKind, KeyOwner], keyring: KeyRing
) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        marker = kept_under(info)
        if marker is not None:
            if isinstance(value, str):
                data[name] = await keyring.seal(value, owners[marker.owner_kind])
            elif value is not None:
                raise TypeError(f"{type(model).__name__}.{name}: only text can be sealed")
        elif isinstance(value, BaseModel):
            await _seal_fields(value, data[name], owners, keyring)
        elif isinstance(value, list | tuple):
            for item, item_data in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel):
                    await _seal_fields(item, item_data, owners, keyring)


def _holds_sealed(value: Any) -> bool:
    if as_sealed(value) is not None:
        return True
    if isinstance(value, dict):
        return any(_holds_sealed(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_sealed(item) for item in value)
    return False


# What a decider folds in place of every sealed text: it decides on ids, parties, dates and
# numbers, never on words, so its states hold none and need no keys.
UNOPENED = "[sealed]"


def with_texts_unopened(data: Any) -> Any:
    """``data`` (an event's, as stored) with every sealed text replaced by ``UNOPENED``."""
    if isinstance(data, dict):
        if as_sealed(data) is not None:
            return UNOPENED
        return {name: with_texts_unopened(value) for name, value in data.items()}
    if isinstance(data, list):
        return [with_texts_unopened(item) for item in data]
    return data


async def decrypt_event_fields(data: JsonObject, keyring: KeyRing) -> JsonObject:
    """Stored event data with every sealed text opened (or ERASED), ready to decode.

    Works on the stored shape, before upcasting, whatever version the event was written
    in: the sealed texts name their own keys.
    """
    opened: JsonObject = await _open_all(data, keyring)
    return opened


async def opened_words(value: Any, keyring: KeyRing) -> Any:
    """``value`` as a read model keeps it (``Sealed``, ledger/text_marks.py) with its words
    opened (or ERASED): one sealed text becomes its words; a document, a copy with each of
    its sealed texts opened; anything else (None) stays as it is."""
    return await _open_all(value, keyring)


async def _open_all(value: Any, keyring: KeyRing) -> Any:
    if isinstance(value, dict):
        sealed = as_sealed(value)
        if sealed is not None:
            return await keyring.open_sealed(sealed)
        return {name: await _open_all(item, keyring) for name, item in value.items()}
    if isinstance(value, list):
        return [await _open_all(item, keyring) for item in value]
    return value
