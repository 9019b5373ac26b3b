-- The read side is cut by polycule, like everything else (projections/read_side.py).
--
-- The member-facing read models (stream summaries, memberships, agreements, disclosures,
-- repairs) are written in the same transaction as the events they show, and this row says
-- how far they have got in the polycule's own stream. A command locks its polycule's row
-- (never anyone else's), so the writers of one polycule, and a rebuild of that polycule,
-- take turns; other polycules never wait.
CREATE TABLE polycule_read_models (
    polycule_id      uuid        PRIMARY KEY,
    -- The stream version every member-facing read model has applied.
    version          bigint      NOT NULL DEFAULT 0,
    -- Set when an event of this polycule could not be applied: its read models stay at
    -- `version` (the event before it) until it applies, and nothing else is affected.
    parked_version   bigint,
    parked_event_id  uuid,
    parked_type      text,
    parked_error     text,
    parked_at        timestamptz,
    -- When the keeper tries a parked polycule again (backing off each time).
    retry_at         timestamptz,
    retries          integer     NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- /status, `projections status` and the keeper: the parked polycules, oldest first.
CREATE INDEX polycule_read_models_parked ON polycule_read_models (parked_at)
    WHERE parked_at IS NOT NULL;

-- Until now the read models followed the global log with one checkpoint each. Each
-- polycule starts from the events every one of them had applied; a polycule with events
-- that some had applied and others had not is marked for a rebuild of its own (version
-- -1), which the keeper does at start (or that polycule's next command, first).
WITH checkpoints AS (
    SELECT coalesce(c.transaction_id, '0') AS transaction_id, coalesce(c.position, 0) AS position
      FROM (VALUES ('stream_summaries'), ('memberships'), ('agreements'), ('disclosures'),
                   ('repairs')) AS read_model(name)
      LEFT JOIN projection_checkpoints c USING (name)
), low AS (
    SELECT transaction_id, position FROM checkpoints ORDER BY transaction_id, position LIMIT 1
), high AS (
    SELECT transaction_id, position FROM checkpoints
     ORDER BY transaction_id DESC, position DESC LIMIT 1
), per_polycule AS (
    SELECT e.stream_id,
           coalesce(max(e.stream_version) FILTER (
               WHERE (e.transaction_id, e.position) <= (low.transaction_id, low.position)
           ), 0) AS applied,
           coalesce(bool_or(
               (e.transaction_id, e.position) > (low.transaction_id, low.position)
               AND (e.transaction_id, e.position) <= (high.transaction_id, high.position)
           ), false) AS uneven
      FROM events e CROSS JOIN low CROSS JOIN high
     GROUP BY e.stream_id
)
INSERT INTO polycule_read_models (polycule_id, version)
SELECT stream_id, CASE WHEN uneven THEN -1 ELSE applied END FROM per_polycule;

-- The global checkpoints of those read models mean nothing any more.
DELETE FROM projection_checkpoints
 WHERE name IN ('stream_summaries', 'memberships', 'agreements', 'disclosures', 'repairs');
