-- The conversation about a proposal (projections/agreements.py): every question and comment
-- a member made about it, in the order made, and the proposal not agreed that a proposal
-- asks again. Every member of the polycule reads them, as they read the proposal.
--
-- The words are the sealed JSON exactly as in the event, sealed under their author's key:
-- once the author is erased they read "[erased]", and the row stays (that someone spoke,
-- and when, is a fact of the record).

CREATE TABLE proposal_comments (
    comment_id   uuid        PRIMARY KEY,
    proposal_id  uuid        NOT NULL,
    polycule_id  uuid        NOT NULL,
    member_id    uuid        NOT NULL,
    -- The revision the member was reading when they wrote it.
    revision     integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('question', 'comment')),
    text         jsonb       NOT NULL,
    made_at      timestamptz NOT NULL,
    -- The event's place in the polycule's stream: the order they were made in.
    made_in      bigint      NOT NULL
);
-- A proposal's conversation, in order (PROPOSALS_WITH_ANSWERS, once per proposal read).
CREATE INDEX proposal_comments_of_proposal ON proposal_comments (proposal_id, made_in);
-- Forgetting a polycule's rows before its rebuild.
CREATE INDEX proposal_comments_of_polycule ON proposal_comments (polycule_id);

-- The closed proposal a proposal asks again (reworded or not), to show what changed since.
ALTER TABLE agreement_proposals ADD COLUMN asks_again uuid;
