"""Every statement the event store runs, named and kept together.

Indexes each one uses (see migrations/0001_events.sql):
  events_stream_version_key (stream_id, stream_version) — append, STREAM_HEAD, read_stream,
                                                          verify
  events_event_id_key (event_id)                        — idempotent retries
"""

EVENT_COLUMNS = """
    position, transaction_id, stream_id, stream_version, event_id, event_type,
    schema_version, data, metadata, recorded_at, previous_hash, hash
"""

# --- Appending -------------------------------------------------------------------------
#
# An append is one INSERT: one round trip and one short transaction, answering only its
# row count (no RETURNING: appends are the hot path, and the caller knows the versions it
# wrote).
#
# The expected version is checked before any row is inserted, against the stream's head:
# the head this instance last read or wrote (EventStore's StreamHeads), or else the head
# read with STREAM_HEAD. A writer whose expected version is not that head is refused without
# touching the table or the sequence. Whoever slips past that check because another writer
# got there in between collides on events_stream_version_key, and its whole statement
# fails: nothing is silently dropped (no ON CONFLICT DO NOTHING), no table lock serialises
# unrelated polycules, and the one authoritative check is the unique key itself. Such a
# loser has taken a position from the sequence, which leaves a gap in positions; nothing
# relies on positions being contiguous (streams are read by their versions), so a gap is
# only a gap.
#
# (A NOT EXISTS probe in front of the INSERT would also refuse writers whose rival has
# already committed, but it cannot see rivals still in flight, and it cost 3-5 % of append
# throughput in bench/append.py.)

# Also the head's recorded time: a stream's events are recorded in the order of their
# times (see "Recorded time" in ledger/store/events.py).
STREAM_HEAD = """
SELECT stream_version, hash, recorded_at FROM events
 WHERE stream_id = $1
 ORDER BY stream_version DESC
 LIMIT 1
"""

_INSERT = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                    data, metadata, recorded_at, previous_hash, hash)
"""

APPEND_ONE = f"""
{_INSERT}
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb, $8, $9, $10)
"""

APPEND_MANY = f"""
{_INSERT}
SELECT $1, batch.stream_version, batch.event_id, batch.event_type, batch.schema_version,
       batch.data::jsonb, batch.metadata::jsonb, $8, batch.previous_hash, batch.hash
  FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[],
              $9::bytea[], $10::bytea[])
       AS batch(stream_version, event_id, event_type, schema_version, data, metadata,
                previous_hash, hash)
 ORDER BY batch.stream_version
"""

# The same, for an append whose transaction also writes the polycule's read models
# (projections/read_side.py): they are handed the events as recorded, global places
# included, without reading them back.
_PLACES = "RETURNING stream_version, position, transaction_id"
APPEND_ONE_RETURNING = f"{APPEND_ONE}{_PLACES}"
APPEND_MANY_RETURNING = f"{APPEND_MANY}{_PLACES}"

# Several streams' appends in one statement (ledger/store/together.py: the commands of
# several polycules committed together). Each stream's events are contiguous and in
# order, in the order the appends were handed in, so each takes its positions in order.
APPEND_TOGETHER_RETURNING = f"""
{_INSERT}
SELECT batch.stream_id, batch.stream_version, batch.event_id, batch.event_type,
       batch.schema_version, batch.data::jsonb, batch.metadata::jsonb, batch.recorded_at,
       batch.previous_hash, batch.hash
  FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[],
              $7::text[], $8::timestamptz[], $9::bytea[], $10::bytea[])
       WITH ORDINALITY
       AS batch(stream_id, stream_version, event_id, event_type, schema_version, data,
                metadata, recorded_at, previous_hash, hash, place)
 ORDER BY batch.place
RETURNING stream_id, stream_version, position, transaction_id
"""

FIND_BY_EVENT_IDS = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::uuid[]) ORDER BY position
"""

# A command's events are contiguous in its stream and carry its id in their metadata. The
# first is found by its id ($3, through events_event_id_key); the scan starts there. Only
# a retried command takes this path.
EVENTS_OF_COMMAND = f"""
SELECT {EVENT_COLUMNS} FROM events
 WHERE stream_id = $1
   AND stream_version >= (SELECT stream_version FROM events WHERE event_id = $3)
   AND metadata ->> 'command_id' = $2
 ORDER BY stream_version
"""

# --- Reading ---------------------------------------------------------------------------

# A stream's version as a subquery of another statement (``{stream}``: its parameter),
# through events_stream_version_key: a request's credentials are looked up with it in one
# round trip (ledger/auth/tokens.py, sessions.py).
STREAM_VERSION_OF = (
    "(SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = {stream})"
)
STREAM_VERSION = f"SELECT {STREAM_VERSION_OF.format(stream='$1')}"
# Where a polycule stands, as two columns of another statement (``{stream}``: its
# parameter): its stream's version (STREAM_VERSION_OF) and the version its read models
# have applied (projections/read_side.py's ``polycule_read_models``, by its primary key; 0
# before its first event). A request's credentials are looked up with both; the second
# says which answers of its read views an instance may keep (ledger/http/kept_answers.py).
POLYCULE_POSITION = (
    STREAM_VERSION_OF + " AS stream_version, "
    "(SELECT coalesce(max(version), 0) FROM polycule_read_models"
    " WHERE polycule_id = {stream}) AS views_version"
)

READ_STREAM = f"""
SELECT {EVENT_COLUMNS} FROM events
 WHERE stream_id = $1 AND stream_version > $2
 ORDER BY stream_version
"""

READ_STREAM_PAGE = f"""
SELECT {EVENT_COLUMNS} FROM events
 WHERE stream_id = $1 AND stream_version > $2
 ORDER BY stream_version
 LIMIT $3
"""

# The age of the oldest running transaction that has a transaction id, or 0 (/status shows
# it: a transaction left open holds back vacuum, and it held back the readers of the whole
# log while there were any).
HORIZON_LAG = """
SELECT greatest(coalesce(extract(epoch FROM clock_timestamp() - min(xact_start)), 0), 0)::float8
  FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL
"""

# --- Verifying -------------------------------------------------------------------------

ALL_STREAMS_IN_ORDER = f"""
SELECT {EVENT_COLUMNS} FROM events ORDER BY stream_id, stream_version
"""

ONE_STREAM_IN_ORDER = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_version
"""
