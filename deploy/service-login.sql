-- The login role the ledger service connects as (DATABASE_URL in compose.yaml). It is
-- given its privileges, and nothing more, by the ledger's migrations: read and append
-- events, never rewrite them (docs/operations.md). Change the password for anything but
-- a try-out.
CREATE ROLE ledger_app LOGIN PASSWORD 'ledger-app';
