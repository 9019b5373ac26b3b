-- Deciders' folded states hold no one's words (ledger/service.py, decode_for_deciding), so
-- they can be kept as snapshots, and the names views show come from read models.

-- Members' display names, sealed under each member's own key as in the events; filled
-- here from each member's latest joining.
ALTER TABLE memberships ADD COLUMN sealed_display_name jsonb;

UPDATE memberships m
   SET sealed_display_name = joined.display_name
  FROM (
      SELECT DISTINCT ON (stream_id, data ->> 'member_id')
             stream_id, (data ->> 'member_id')::uuid AS member_id,
             data -> 'display_name' AS display_name
        FROM events
       WHERE event_type = 'MemberJoined'
       ORDER BY stream_id, data ->> 'member_id', stream_version DESC
  ) AS joined
 WHERE m.polycule_id = joined.stream_id AND m.member_id = joined.member_id;

-- A decider's state of one stream at one version, so that no request folds a stream from
-- its first event (ledger/snapshots.py). Only a cache: deleting a row costs one fold.
-- ``shape`` names the state's schema and fold; a snapshot of another shape is ignored and
-- replaced.
CREATE TABLE decider_snapshots (
    stream_id  uuid        NOT NULL,
    decider    text        NOT NULL,
    shape      text        NOT NULL,
    version    bigint      NOT NULL CHECK (version > 0),
    state      jsonb       NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, decider)
);
