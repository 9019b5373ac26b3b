-- Signed checkpoints of each polycule's Merkle tree, members' device keys, and the
-- co-signatures their devices give checkpoints (ledger/transparency/).
--
-- Nothing here is written by an append: a checkpoint is computed and signed when one is
-- asked for, and kept so that the same tree is answered with the same signed checkpoint
-- (and its co-signatures) afterwards. The service only adds rows to `checkpoints` and
-- `checkpoint_cosignatures`, as it only adds events: what it signed stays what it signed.

CREATE TABLE checkpoints (
    checkpoint_id  bigint      GENERATED ALWAYS AS IDENTITY,
    polycule_id    uuid        NOT NULL,
    tree_size      bigint      NOT NULL CHECK (tree_size >= 0),
    root_hash      bytea       NOT NULL CHECK (octet_length(root_hash) = 32),
    issued_at      timestamptz NOT NULL,
    -- Which published key signed it (ledger/transparency/signing.py key_id_of).
    key_id         text        NOT NULL,
    signature      bytea       NOT NULL CHECK (octet_length(signature) = 64),
    -- The lookup of every request: this polycule's checkpoint of this tree. Two rows with
    -- one size and two roots would be the service contradicting itself: both are kept.
    CONSTRAINT checkpoints_tree_key UNIQUE (polycule_id, tree_size, root_hash),
    -- Every key of a polycule's table holds the polycule (ledger/store/sharding.py).
    PRIMARY KEY (checkpoint_id, polycule_id)
);

-- A member's devices that witness checkpoints: each holds an Ed25519 key whose private half
-- never leaves it. Revoked keys stay (their co-signatures still verify) but sign no more;
-- erasing the account deletes its keys.
CREATE TABLE device_keys (
    device_key_id  uuid        PRIMARY KEY,
    account_id     uuid        NOT NULL REFERENCES accounts (id),
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    public_key     bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    CONSTRAINT device_keys_public_key_key UNIQUE (public_key)
);
-- The account's own list, and erasure.
CREATE INDEX device_keys_of_account ON device_keys (account_id);

CREATE TABLE checkpoint_cosignatures (
    checkpoint_id  bigint      NOT NULL,
    polycule_id    uuid        NOT NULL,
    -- The key is copied here so that the co-signature verifies on its own. The device it
    -- came from is named, but not as a foreign key (device keys are global, co-signatures
    -- the polycule's: ledger/store/sharding.py): once the account is erased and its device
    -- keys deleted, the name leads to no device, and so to no member.
    public_key     bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    device_key_id  uuid,
    signature      bytea       NOT NULL CHECK (octet_length(signature) = 64),
    signed_at      timestamptz NOT NULL,
    PRIMARY KEY (checkpoint_id, public_key, polycule_id),
    FOREIGN KEY (checkpoint_id, polycule_id) REFERENCES checkpoints (checkpoint_id, polycule_id)
);

-- Added to, never changed.
REVOKE UPDATE, DELETE, TRUNCATE ON checkpoints FROM ledger_service;
REVOKE UPDATE, DELETE, TRUNCATE ON checkpoint_cosignatures FROM ledger_service;
