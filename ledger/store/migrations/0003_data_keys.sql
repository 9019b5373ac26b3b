-- Data keys: one AES-256 key per member and per polycule, for the personal text of events
-- (see ledger/privacy.py and docs/privacy.md).
--
-- Keys are mutable state, not events: destroying a key is the one place the ledger
-- forgets. The events keep their ciphertext, so every hash chain still verifies, but
-- nothing can read that text again once the wrapped key below is gone.
CREATE TABLE data_keys (
    key_id          uuid        PRIMARY KEY,
    owner_kind      text        NOT NULL CHECK (owner_kind IN ('member', 'polycule')),
    owner_id        uuid        NOT NULL,
    -- nonce (12 bytes) || AES-256-GCM ciphertext of the 32-byte key with its 16-byte tag,
    -- under the master key from configuration. NULL once destroyed.
    wrapped_key     bytea       CHECK (octet_length(wrapped_key) = 12 + 32 + 16),
    -- Which master key wrapped it, so a service started with another master key says so
    -- at start instead of failing on the first read.
    wrapped_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    destroyed_at    timestamptz,
    CONSTRAINT data_keys_destroyed_key_is_gone
        CHECK ((destroyed_at IS NULL) = (wrapped_key IS NOT NULL)),
    -- One key per owner, ever: a destroyed key's row stays as a tombstone, so an erased
    -- member never gets a fresh key under which new text of theirs would be readable.
    -- KeyRing.key_for inserts with ON CONFLICT on this constraint (race-safe first use).
    CONSTRAINT data_keys_one_per_owner UNIQUE (owner_kind, owner_id)
);
