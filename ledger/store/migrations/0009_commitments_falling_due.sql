-- When each commitment's next occurrence falls due, for the scheduler to announce it
-- (CommitmentFellDue) with one indexed query; NULL once nothing more will fall due (a
-- one-off already announced, or its repair closed).

ALTER TABLE commitments
    ADD COLUMN announced_through integer NOT NULL DEFAULT 0,
    ADD COLUMN next_due_at       timestamptz;

UPDATE commitments c SET next_due_at = first_due_at
  FROM breaches b
 WHERE b.breach_id = c.breach_id AND b.repair_status = 'open';

CREATE INDEX commitments_falling_due ON commitments (next_due_at)
    WHERE next_due_at IS NOT NULL;
