-- Answers may change: while a proposal is open, a party who consented to its current
-- revision may object to it instead (a yes that becomes a no rejects it), and the history
-- keeps every answer, in order. proposal_responses kept one answer per member and revision,
-- so the read model could not apply a changed answer at all; now it keeps one row per
-- ConsentGiven or ObjectionRaised event, named by the proposal and the event's place in the
-- polycule's stream (responded_in: unique within a polycule, hence within its proposals).
--
-- A member's current answer to a revision is their latest row for it (the readers in
-- projections/agreement_queries.py pick it); earlier rows are history, never removed.
-- The rows already here stay as they are: each was one answer of its own.

ALTER TABLE proposal_responses DROP CONSTRAINT proposal_responses_pkey;

-- Every answer to a proposal, whatever the revision, in the order given: a proposal's own
-- history (ANSWERS_TO_PROPOSALS) and an agreement's, proposal by proposal
-- (RESPONSES_OF_AGREEMENT). Also the projection's guard: an event is one answer.
ALTER TABLE proposal_responses ADD PRIMARY KEY (proposal_id, responded_in);

-- The answers to one revision, member by member, each member's in order: the consents that
-- made a version (RESPONSES_TO) and "has this member answered the current revision yet?"
-- (the inbox's AWAITING_RESPONSE).
CREATE INDEX proposal_responses_to_revision
    ON proposal_responses (proposal_id, revision, member_id, responded_in);
