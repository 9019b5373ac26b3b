-- The webhook fan-out follows each polycule's own stream, like the read side
-- (ledger/webhooks/fanout_runner.py): this row says how far it has turned the polycule's
-- events into messages. Nothing global orders it, so no transaction left open elsewhere
-- on the server holds it back, and its workers share the polycules out with
-- FOR UPDATE SKIP LOCKED.
CREATE TABLE webhook_fanout_positions (
    polycule_id uuid        PRIMARY KEY,
    -- The stream version whose events (and every one before it) have been fanned out.
    version     bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Until now the fan-out followed the global log with one checkpoint. Each polycule starts
-- after the last event before the first one that checkpoint had not reached (any later
-- event it had reached is fanned out again, and its messages' unique key keeps them once).
WITH checkpoint AS (
    SELECT transaction_id, position FROM projection_checkpoints WHERE name = 'webhook_fanout'
)
INSERT INTO webhook_fanout_positions (polycule_id, version)
SELECT e.stream_id,
       coalesce(min(e.stream_version) FILTER (
           WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
       ) - 1, max(e.stream_version))
  FROM events e CROSS JOIN checkpoint c
 GROUP BY e.stream_id;

DELETE FROM projection_checkpoints WHERE name = 'webhook_fanout';
