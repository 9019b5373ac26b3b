-- The mail fan-out follows each polycule's own stream, as the webhook fan-out does, on the
-- same runner (projections/runner.py): this row says up to which stream version it has
-- turned the polycule's events into mail notices. Nothing global orders it any more: no
-- consumer depends on one server's transaction order, which means nothing across the
-- workers of a distributed database (deploy/SCALING.md).
CREATE TABLE mail_fanout_positions (
    polycule_id uuid        PRIMARY KEY,
    -- The stream version whose events (and every one before it) have been applied.
    version     bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Until now the mail fan-out followed the whole log with one checkpoint. Each polycule
-- starts after the last event before the first one that checkpoint had not reached: nothing
-- it had not mailed is skipped, and any later event it had already reached is applied
-- again, where the outbox's unique key (member, event, kind) keeps each notice once. A
-- ledger whose mail fan-out never ran has no checkpoint, and its polycules start at 0, as
-- the fan-out did.
WITH checkpoint AS (
    SELECT transaction_id, position FROM projection_checkpoints WHERE name = 'mail_fanout'
)
INSERT INTO mail_fanout_positions (polycule_id, version)
SELECT e.stream_id,
       coalesce(min(e.stream_version) FILTER (
           WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
       ) - 1, max(e.stream_version))
  FROM events e CROSS JOIN checkpoint c
 GROUP BY e.stream_id;

-- It was the last consumer of the whole log: its checkpoints and the log's order go.
DROP TABLE projection_checkpoints;
DROP INDEX events_transaction_order;

-- A checkpoint's co-signatures are read with the devices that made them: on a distributed
-- database device_keys is copied to every worker (a reference table, deploy/SCALING.md), so
-- that read stays on the polycule's worker. A reference table cannot refer to a table of the
-- coordinator's alone without Citus drawing every table linked to it by foreign keys
-- (accounts, and from there sessions, tokens, webhooks, mail) into its own management; the
-- service makes a device key only for the account signed in, and no account is ever
-- deleted (erasure empties it and deletes its keys), so the key to accounts goes.
ALTER TABLE device_keys DROP CONSTRAINT device_keys_account_id_fkey;
