-- The inbox (ledger/http/inbox_routes.py, projections/inbox.py): which of its entries each
-- member has opened or marked read, and the indexes its news are read by.
--
-- An entry's key names what it is about by kind, ids and numbers only (never anyone's
-- words): "agreement_ended:<agreement id>:<version>", "proposal:<proposal id>:<revision>",
-- … An entry is unread while its member has no row for its key; a new revision, a new
-- occurrence or a new review is a new key, so it is unread again. Rows of entries that are
-- gone stay, harmlessly: the inbox only ever asks about the keys it shows.
CREATE TABLE inbox_reads (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    entry       text        NOT NULL CHECK (length(entry) BETWEEN 1 AND 200),
    read_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, entry)
);

-- The agreements that ended, polycule by polycule: the inbox tells each other party.
CREATE INDEX agreements_ended ON agreements (polycule_id, ended_at) WHERE status = 'ended';
-- The repairs an account supports (a supporter need not be a member of the polycule).
CREATE INDEX breaches_supported_by ON breaches USING gin (supporters);
