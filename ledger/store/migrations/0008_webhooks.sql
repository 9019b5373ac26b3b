-- Webhooks: the endpoints members register for themselves, and every message and attempt.
--
-- Messages are enqueued by the webhook fan-out (ledger/webhooks/fanout.py), a checkpointed
-- subscription to the event log that inserts them in the same transaction as it advances
-- its checkpoint: nothing is lost, and the unique (endpoint, event, type) key means
-- nothing is enqueued twice. Delivery workers claim due messages with FOR UPDATE SKIP
-- LOCKED and a lease longer than the request timeout (ledger/webhooks/delivery.py).

CREATE TABLE webhook_endpoints (
    endpoint_id     uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL REFERENCES accounts (id),
    url             text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    -- The webhook types wanted (ledger/webhooks/catalogue.py); empty: every type.
    event_types     text[]      NOT NULL DEFAULT '{}',
    enabled         boolean     NOT NULL DEFAULT true,
    -- Why the ledger disabled it (410 Gone, failing for days); NULL when the owner did.
    disabled_reason text,
    -- The first failure of the current run of failures; NULL after any success.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- An owner's endpoints, and the fan-out's lookup of who wants events.
CREATE INDEX webhook_endpoints_of_account ON webhook_endpoints (account_id, created_at);

-- Signing secrets, sealed under the owner's data key. During a rotation the old secret
-- keeps signing until expires_at; the current one has no expiry.
CREATE TABLE webhook_secrets (
    secret_id     uuid        PRIMARY KEY,
    endpoint_id   uuid        NOT NULL REFERENCES webhook_endpoints (endpoint_id)
                              ON DELETE CASCADE,
    sealed_secret jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz
);
CREATE INDEX webhook_secrets_of_endpoint ON webhook_secrets (endpoint_id, created_at);

CREATE TABLE webhook_messages (
    -- The webhook-id header: the same on every attempt, the receiver's idempotency key.
    message_id      text        PRIMARY KEY,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (endpoint_id)
                                ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    polycule_id     uuid        NOT NULL,
    type            text        NOT NULL,
    -- The thin payload: type, ids, time and a link; never anyone's words.
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- Attempts made before the current round of the retry schedule: sending a message
    -- again (or a replay) starts the schedule anew, while the attempt log keeps numbering.
    earlier_attempts integer    NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    leased_until    timestamptz,
    UNIQUE (endpoint_id, event_id, type)
);
-- What the workers claim: pending messages whose time has come.
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at)
    WHERE status = 'pending';
-- An endpoint's delivery log, newest first; replays since a moment.
CREATE INDEX webhook_messages_of_endpoint ON webhook_messages (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    message_id       text        NOT NULL REFERENCES webhook_messages (message_id)
                                 ON DELETE CASCADE,
    attempt          integer     NOT NULL,
    attempted_at     timestamptz NOT NULL,
    status_code      integer,
    duration_ms      integer     NOT NULL,
    error            text,
    response_snippet text,
    PRIMARY KEY (message_id, attempt)
);
