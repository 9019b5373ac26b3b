-- A snapshot is read whole and never queried inside (ledger/snapshots.py), so it is kept as
-- the bytes it is written as (JSON, UTF-8), stored and returned by PostgreSQL as they are.
-- As jsonb it was parsed on every write and written out again as text on every read: for
-- a polycule of years, most of the time its snapshot took to fetch.
ALTER TABLE decider_snapshots
    ALTER COLUMN state TYPE bytea USING convert_to(state::text, 'UTF8');
