-- Claiming due webhook messages walks webhook_messages_due in order and stops after the
-- batch, however many messages wait and however many were delivered before
-- (ledger/webhooks/delivery.py).
--
-- A claim locks its rows (FOR UPDATE SKIP LOCKED) before its LIMIT, so the rows can only
-- come out in order from the index: any other plan reads and sorts every pending message
-- for each batch. The planner picks another plan whenever the table's statistics are
-- older than the queue — a backlog enqueued in seconds, long before autovacuum analyzes
-- the table — and it then also finds the claimed rows again by reading the whole table
-- (every message ever sent) rather than by their key. Each claim would cost time in
-- proportion to the backlog it drains, or to the table. Inside this function sorting and
-- whole-table reads are switched off, which leaves the index walks as the plans without
-- them; PL/pgSQL keeps the plan for the session.
CREATE FUNCTION webhook_messages_claim(
    due_at timestamptz, lease_until timestamptz, batch integer
) RETURNS TABLE (
    message_id text, endpoint_id uuid, attempts integer, earlier_attempts integer,
    url text, body text, sealed_secrets jsonb
) LANGUAGE plpgsql SET enable_sort = off SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    -- Only the message rows are locked: recording outcomes locks endpoints, and must not
    -- wait on claims.
    RETURN QUERY
    WITH due AS (
        SELECT m.message_id
          FROM webhook_messages m
          JOIN webhook_endpoints e ON e.endpoint_id = m.endpoint_id
         WHERE m.status = 'pending' AND m.next_attempt_at <= due_at
           AND (m.leased_until IS NULL OR m.leased_until < due_at)
           AND e.enabled
         ORDER BY m.next_attempt_at
         LIMIT batch
           FOR UPDATE OF m SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_messages m
           SET leased_until = lease_until, attempts = m.attempts + 1
          FROM due
         WHERE m.message_id = due.message_id
        RETURNING m.message_id, m.endpoint_id, m.attempts, m.earlier_attempts,
                  m.payload::text AS body
    )
    SELECT c.message_id, c.endpoint_id, c.attempts, c.earlier_attempts, e.url, c.body,
           (SELECT coalesce(jsonb_agg(s.sealed_secret ORDER BY s.created_at), '[]')
              FROM webhook_secrets s
             WHERE s.endpoint_id = c.endpoint_id
               AND (s.expires_at IS NULL OR s.expires_at > due_at))
      FROM claimed c
      JOIN webhook_endpoints e ON e.endpoint_id = c.endpoint_id;
END
$$;

-- A claim changes no indexed column of its message (its lease and attempt count): with
-- room left on each page, the new row version stays on the page and no index changes
-- (a HOT update). Pages written from now on keep that room.
ALTER TABLE webhook_messages SET (fillfactor = 70);
