-- The event log: one row per event, never updated, never deleted.
--
-- One stream per polycule (stream_id = polycule id). A stream's current version is the
-- highest stream_version of its rows; there is deliberately no second counter that could
-- drift from the events themselves.
CREATE TABLE events (
    -- Global order of insertion. Gaps are normal (a failed append consumes a number);
    -- readers never rely on contiguity, see read_all in ledger/store/events.py.
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction: readers only pass events of transactions older than the
    -- oldest one still running, so a later commit with a lower position is never skipped.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    -- actor, command_id, correlation_id, request_id
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- SHA-256 chain per stream: hash = sha256(previous_hash || sha256(canonical event)).
    previous_hash   bytea       NOT NULL CHECK (octet_length(previous_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- read_all walks the log in (transaction_id, position) order.
CREATE INDEX events_transaction_order ON events (transaction_id, position);

-- Integrity guard, not a business rule: history is appended to, never rewritten.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
