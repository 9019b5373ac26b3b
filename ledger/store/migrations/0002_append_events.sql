-- Append a batch of events to one stream, all or nothing, in a single round trip.
--
-- The expected version is checked before any row is inserted (and so before a position is
-- taken from the sequence). A concurrent append that passed the same check collides on
-- events_stream_version_key and fails whole: nothing is ever silently dropped.
--
-- The caller computes each event's digest (SHA-256 of its canonical encoding, see
-- ledger/store/chain.py); the chain link is made here, where the previous hash is known.
CREATE FUNCTION append_events(
    p_stream_id        uuid,
    p_expected_version bigint,
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_data             jsonb[],
    p_metadata         jsonb[],
    p_recorded_at      timestamptz,
    p_digests          bytea[]
) RETURNS TABLE (appended_version bigint, appended_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    current_version bigint;
    previous        bytea;
    link            bytea;
BEGIN
    SELECT e.stream_version, e.hash INTO current_version, previous
      FROM events e
     WHERE e.stream_id = p_stream_id
     ORDER BY e.stream_version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        current_version := 0;
        previous := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;

    IF current_version <> p_expected_version THEN
        RAISE EXCEPTION 'stream % is at version %, not %',
                        p_stream_id, current_version, p_expected_version
            USING ERRCODE = 'LV409', DETAIL = current_version::text;
    END IF;

    FOR i IN 1 .. cardinality(p_event_ids) LOOP
        link := sha256(previous || p_digests[i]);
        INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                            data, metadata, recorded_at, previous_hash, hash)
        VALUES (p_stream_id, current_version + i, p_event_ids[i], p_event_types[i],
                p_schema_versions[i], p_data[i], p_metadata[i], p_recorded_at, previous, link)
        RETURNING position INTO appended_position;
        appended_version := current_version + i;
        previous := link;
        RETURN NEXT;
    END LOOP;
END
$$;
