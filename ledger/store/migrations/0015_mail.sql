-- Mail notices (ledger/mail/, docs/email.md): a member's address, what they want to be
-- told by mail and how soon, and the outbox the mail fan-out fills and the sender empties.
--
-- An address is personal data: it is kept sealed under its member's own data key, so
-- erasing the member (destroying the key) makes it unreadable; erasure deletes these rows
-- too. Tokens are never stored as they are: a confirmation link's token and the
-- unsubscribe link's token are kept as SHA-256 (for the look-up), and the unsubscribe
-- token also sealed under the member's key, since every mail carries it.

CREATE TABLE mail_addresses (
    account_id              uuid        PRIMARY KEY REFERENCES accounts (id),
    sealed_address          jsonb       NOT NULL,
    -- NULL until the member follows the link mailed to the address: nothing else is sent
    -- to an address before that.
    confirmed_at            timestamptz,
    -- The single-use confirmation token's SHA-256; NULL once used.
    confirmation_hash       bytea       CHECK (octet_length(confirmation_hash) = 32),
    confirmation_expires_at timestamptz,
    unsubscribe_hash        bytea       NOT NULL CHECK (octet_length(unsubscribe_hash) = 32),
    sealed_unsubscribe      jsonb       NOT NULL,
    updated_at              timestamptz NOT NULL,
    -- Following a confirmation link, and the one-click unsubscribe link.
    CONSTRAINT mail_addresses_confirmation_key UNIQUE (confirmation_hash),
    CONSTRAINT mail_addresses_unsubscribe_key UNIQUE (unsubscribe_hash)
);

-- A member's choice for one kind of notice; a kind without a row has its default
-- (ledger/mail/kinds.py).
CREATE TABLE mail_choices (
    account_id  uuid NOT NULL REFERENCES accounts (id),
    kind        text NOT NULL,
    choice      text NOT NULL CHECK (choice IN ('now', 'digest', 'never')),
    PRIMARY KEY (account_id, kind)
);

CREATE TABLE mail_outbox (
    -- The Message-ID is made from it: the same on every attempt, so a mail sent again
    -- after a crash is recognisable as the same mail.
    mail_id         uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL REFERENCES accounts (id),
    what            text        NOT NULL CHECK (what IN ('confirmation', 'notice', 'digest')),
    -- A notice's kind and the page it links to (ids only, never words); the event it tells of.
    kind            text,
    link            text,
    event_id        uuid,
    -- A confirmation's token, sealed under the member's key.
    sealed_token    jsonb,
    -- for_digest: a notice waiting for the member's next digest; in_digest: gathered into
    -- the digest ``digest_id``; pending: to send; sent; failed (refused for good, or
    -- undeliverable for days); dropped (no longer wanted when its turn came).
    status          text        NOT NULL CHECK (status IN (
                        'for_digest', 'in_digest', 'pending', 'sent', 'failed', 'dropped')),
    digest_id       uuid        REFERENCES mail_outbox (mail_id),
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    leased_until    timestamptz,
    sent_at         timestamptz,
    -- The kind of the last failure (never the server's words about an address).
    last_error      text,
    -- The fan-out inserts each notice once, whatever happens (ON CONFLICT DO NOTHING).
    CONSTRAINT mail_outbox_one_per_event UNIQUE (account_id, event_id, kind)
);
-- What the sender claims: pending mail whose time has come.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'pending';
-- What a day's digests gather.
CREATE INDEX mail_outbox_for_digest ON mail_outbox (account_id, created_at)
    WHERE status = 'for_digest';
-- A member's mail: dropped when the address changes, deleted when the member is erased.
CREATE INDEX mail_outbox_of_account ON mail_outbox (account_id);
-- What one digest holds.
CREATE INDEX mail_outbox_of_digest ON mail_outbox (digest_id) WHERE digest_id IS NOT NULL;

-- The days whose digests were made: the first instance to insert a day makes them, once.
CREATE TABLE mail_digest_days (
    day      date        PRIMARY KEY,
    made_at  timestamptz NOT NULL
);

-- The service's role reads and writes these tables by the default privileges that
-- 0013_service_role.sql set for every later table; a day's digests, once made, stay made.
REVOKE UPDATE, DELETE ON mail_digest_days FROM ledger_service;
