-- Times in the reader's own time zone, and secrets shown once after a redirect.
--
-- An account keeps the IANA name of its reader's time zone (the browser's, sent as they
-- sign in or open a page, or chosen on the account page); every page shows its times in it.
-- NULL until the browser has said, and shown as UTC meanwhile.
ALTER TABLE accounts ADD COLUMN time_zone text
    CHECK (time_zone IS NULL OR time_zone ~ '^[A-Za-z0-9_+/-]{1,64}$');

-- A secret made by a form (an invitation's link, a supporter's link, an API token, a
-- webhook signing secret) waits here for the one page that shows it: the form's answer is a
-- redirect to /shown/{id}, so reloading that page never makes a second secret. The API's
-- answer is sealed under the account's own data key; the row is deleted as it is shown, and
-- one never shown is of no use after expires_at (deleted as the next one is kept).
CREATE TABLE shown_once (
    id          uuid        PRIMARY KEY,
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    sealed      jsonb       NOT NULL,
    -- Where the page's "Done" goes back to: a path of this service, never a secret.
    return_to   text        NOT NULL,
    expires_at  timestamptz NOT NULL
);
-- Clearing out the ones never shown.
CREATE INDEX shown_once_expires_at ON shown_once (expires_at);
