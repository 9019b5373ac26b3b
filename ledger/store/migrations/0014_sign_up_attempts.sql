-- Recent sign-ups per client address (ledger/auth/throttle.py): each one costs an Argon2id
-- hash, so an address may make only so many in a window. Shared by every instance;
-- unlogged, like sign_in_failures: a crash may forget the last hour, and recording costs
-- no WAL.
CREATE UNLOGGED TABLE sign_up_attempts (
    attempt_id    uuid        PRIMARY KEY,
    -- 'address:<IP, or IPv6 /64>', as sign_in_failures counts addresses.
    address       text        NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
-- Counting an address's sign-ups within the window.
CREATE INDEX sign_up_attempts_by_address ON sign_up_attempts (address, attempted_at);
-- Dropping sign-ups that have left the window.
CREATE INDEX sign_up_attempts_by_age ON sign_up_attempts (attempted_at);

-- sign_in_failures (0004) now also counts a handle from one address, under the key
-- 'handle-at-address:<lowercased handle>@<address>'; its table is unchanged.
