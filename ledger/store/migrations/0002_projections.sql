-- Where each projection has got to in the log. Advanced in the same transaction as the
-- rows a batch wrote, so a crash never applies an event twice nor skips one.
CREATE TABLE projection_checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Read model: one row per polycule stream.
CREATE TABLE stream_summaries (
    stream_id       uuid        PRIMARY KEY,
    version         bigint      NOT NULL,
    event_count     bigint      NOT NULL,
    last_event_at   timestamptz NOT NULL
);
