-- Accounts, sessions, personal API tokens and sign-in throttling (ledger/auth/).
--
-- Identity is mutable state, not history: names and passwords change, sessions end,
-- tokens are revoked. None of it is in the event log, which names a member only by the id
-- of their account. Secrets are never stored: tokens as SHA-256, passwords as Argon2id.

CREATE TABLE accounts (
    -- The member id every event uses.
    id             uuid        PRIMARY KEY,
    -- Kept lowercased: handles are case-insensitive (see accounts_handle_key).
    handle         text        NOT NULL CHECK (handle ~ '^[a-z0-9_.-]{3,32}$'),
    display_name   text        CHECK (char_length(display_name) BETWEEN 1 AND 80),
    -- Argon2id in PHC string form ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- An erased account authenticates nobody; its name and password hash may be dropped.
    erased_at      timestamptz,
    CONSTRAINT accounts_live_ones_can_sign_in
        CHECK (erased_at IS NOT NULL OR (display_name IS NOT NULL AND password_hash IS NOT NULL))
);

-- Sign-up's uniqueness (case-insensitive, race-safe) and sign-in's lookup by handle.
-- An erased account keeps its handle, so nobody else can take it and pass as them.
CREATE UNIQUE INDEX accounts_handle_key ON accounts (lower(handle));

CREATE TABLE sessions (
    -- SHA-256 of the cookie's token: the cookie's lookup.
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    -- Names the session in logs and in code without revealing its token.
    id          uuid        NOT NULL,
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Signed out. A session authenticates while ended_at IS NULL AND expires_at > now().
    ended_at    timestamptz,
    CONSTRAINT sessions_id_key UNIQUE (id)
);
-- Sign-in drops the account's ended and expired sessions; erasure ends all of them.
CREATE INDEX sessions_of_account ON sessions (account_id);

CREATE TABLE api_tokens (
    id            uuid        PRIMARY KEY,
    account_id    uuid        NOT NULL REFERENCES accounts (id),
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    -- SHA-256 of the token ("pal_…"), which is shown once and never stored.
    token_hash    bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Written at most once a minute per token (ledger/auth/tokens.py).
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    -- A Bearer request's lookup.
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
-- "My tokens", oldest first.
CREATE INDEX api_tokens_of_account ON api_tokens (account_id, created_at)
    WHERE revoked_at IS NULL;

-- Recent sign-in attempts that have not (yet) succeeded, per handle and per client
-- address, shared by every instance (ledger/auth/throttle.py). Unlogged: a crash may
-- forget the last minutes of failures, and in exchange recording them costs no WAL.
CREATE UNLOGGED TABLE sign_in_failures (
    attempt_id  uuid        NOT NULL,
    -- 'handle:<lowercased handle>' or 'address:<IP, or IPv6 /64>'
    key         text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attempt_id, key)
);
-- Counting a key's failures within the window.
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, failed_at);
-- Dropping failures that have left the window.
CREATE INDEX sign_in_failures_by_age ON sign_in_failures (failed_at);
