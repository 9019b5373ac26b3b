-- What the home, the repair pages and a supporter's own page ask that no index answered.

-- A check-in its author kept to themselves (CheckInRecorded.private): the policy decides
-- who reads it (ledger/auth/policy.py, may_read_check_in), and the repair's queries take
-- its answer. Every check-in recorded before this column existed was shared.
ALTER TABLE check_ins ADD COLUMN private boolean NOT NULL DEFAULT false;

-- A polycule's past agreements, the most recently ended first (the home), are read by
-- agreements_ended, and the repairs an account supports by breaches_supported_by: both
-- made by 0016 for the inbox, which asks the same.

-- A polycule's proposals that closed without taking effect, the most recent first (the
-- home): rejected, withdrawn, expired or lapsed. A ratified one is an agreement.
CREATE INDEX agreement_proposals_closed ON agreement_proposals (polycule_id, closed_at)
    WHERE status IN ('rejected', 'withdrawn', 'expired', 'lapsed');

