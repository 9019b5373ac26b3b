-- The role the service works as: it may read and append events, never rewrite them.
--
-- Migrations run as the owner of the schema. The service connects as a login role that is
-- a member of `ledger_service` (ledger/database.py grants it, and creates it for the
-- embedded PostgreSQL): whoever holds the service's credentials can add to history but
-- not change it — no UPDATE, DELETE or TRUNCATE on `events`, and, not being its owner, no
-- ALTER TABLE, no DISABLE TRIGGER, no DROP; not being a superuser, no
-- session_replication_role either. On every other table it reads and writes rows, as the
-- read models, accounts, keys and webhooks need; it never owns, alters or truncates one.
--
-- A role belongs to the whole server, not to one database, so its name is fixed: every
-- ledger database on a server grants to the same `ledger_service` (see docs/operations.md).
DO $$
BEGIN
    CREATE ROLE ledger_service NOLOGIN;
EXCEPTION
    -- Made already, by an earlier database on this server or by another migration
    -- running at this moment (two racing CREATE ROLEs collide on the catalogue's index).
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
DECLARE
    ledger_schema text := quote_ident(current_schema());
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %s TO ledger_service', ledger_schema);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO ledger_service',
        ledger_schema);
    -- Sequences may be read and advanced, never set back.
    EXECUTE format(
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO ledger_service', ledger_schema);
    -- Tables and sequences that later migrations create (run by this same owner) likewise.
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %s '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ledger_service', ledger_schema);
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %s '
        'GRANT USAGE, SELECT ON SEQUENCES TO ledger_service', ledger_schema);
END
$$;

-- History is appended to and read, nothing else.
REVOKE ALL ON events FROM ledger_service;
GRANT SELECT, INSERT ON events TO ledger_service;

-- Which migrations are applied is the owner's to write; the service only reads it
-- (/readyz says when the schema is behind the code).
REVOKE ALL ON schema_migrations FROM ledger_service;
GRANT SELECT ON schema_migrations TO ledger_service;
