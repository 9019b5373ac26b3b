-- Read models for disclosures (projections/disclosures.py) and for breaches and the repair
-- that follows each one (projections/repairs.py, read by projections/repair_queries.py):
-- what a member was told and has yet to acknowledge, the breaches a member may see, a
-- repair's whole history, and what a repair asks of its participants now.
--
-- Every text here (what was disclosed, what happened, accounts, words, notes) is the sealed
-- JSON exactly as it is in the event, opened only when shown to someone allowed to read it.
-- The *_in columns and stream_version hold the polycule stream's version of an event: they
-- order things as they happened, where moments cannot (every event of one command shares
-- its moment). Moments are when the event was recorded.

-- --- Disclosures -------------------------------------------------------------------------

CREATE TABLE disclosures (
    disclosure_id           uuid        PRIMARY KEY,
    polycule_id             uuid        NOT NULL,
    discloser               uuid        NOT NULL,
    kind                    text        NOT NULL,
    text                    jsonb       NOT NULL,
    audience                text        NOT NULL CHECK (audience IN ('chosen', 'polycule')),
    -- Who was told: the chosen members, or every other member when it was made (someone
    -- who joins later was not told).
    recipients              uuid[]      NOT NULL,
    fulfils_agreement_id    uuid,
    corrects_disclosure_id  uuid,
    made_at                 timestamptz NOT NULL,
    made_in                 bigint      NOT NULL
);
-- A polycule's disclosures, newest first, filtered on discloser and recipients (a polycule
-- has few enough that filtering them is cheap); the inbox, polycule by polycule.
CREATE INDEX disclosures_of_polycule ON disclosures (polycule_id, made_in);

CREATE TABLE disclosure_acknowledgements (
    disclosure_id    uuid        NOT NULL,
    member_id        uuid        NOT NULL,
    acknowledged_at  timestamptz NOT NULL,
    acknowledged_in  bigint      NOT NULL,
    PRIMARY KEY (disclosure_id, member_id)
);

-- --- Breaches ----------------------------------------------------------------------------

CREATE TABLE breaches (
    breach_id        uuid        PRIMARY KEY,
    polycule_id      uuid        NOT NULL,
    agreement_id     uuid        NOT NULL,
    -- The version in force when it happened, and that version's parties in their order.
    version          integer     NOT NULL,
    parties          uuid[]      NOT NULL,
    -- The parties other than the member who breached: the repair's harmed parties.
    harmed           uuid[]      NOT NULL,
    breached_by      uuid        NOT NULL,
    reported_by      uuid        NOT NULL,
    -- When it happened, as the reporter said; the other moments are the ledger's.
    happened_at      timestamptz NOT NULL,
    reported_at      timestamptz NOT NULL,
    reported_in      bigint      NOT NULL,
    what_happened    jsonb       NOT NULL,
    -- A self-reported breach is acknowledged by being reported (the decider's rule too).
    status           text        NOT NULL
                         CHECK (status IN ('reported', 'disputed', 'acknowledged')),
    -- The named member's own account when acknowledging (optional) and when disputing (the
    -- latest; repair_timeline keeps each one). Both stay once given.
    acknowledgement  jsonb,
    acknowledged_at  timestamptz,
    dispute          jsonb,
    disputed_at      timestamptz,
    -- Who may see it: the version's parties, then whoever the reporter added.
    audience         uuid[]      NOT NULL,
    -- Supporters who joined this repair (read access to it only).
    supporters       uuid[]      NOT NULL DEFAULT '{}',
    repair_status    text        NOT NULL DEFAULT 'open'
                         CHECK (repair_status IN ('open', 'restored', 'ended')),
    closed_at        timestamptz,
    -- Who ended it; NULL when it closed as restored with the last harmed party's choice.
    closed_by        uuid,
    close_note       jsonb,
    -- The harmed parties who chose restoration (forgiveness), in the order they did.
    restored_by      uuid[]      NOT NULL DEFAULT '{}'
);
-- A polycule's breaches, newest report first, filtered on the audience.
CREATE INDEX breaches_of_polycule ON breaches (polycule_id, reported_in);
-- Earlier breaches of the same agreement in the same polycule.
CREATE INDEX breaches_of_agreement ON breaches (polycule_id, agreement_id, happened_at);
-- The repair inbox, polycule by polycule: only open repairs ask anything of anyone.
CREATE INDEX breaches_open ON breaches (polycule_id, reported_in) WHERE repair_status = 'open';

-- One row per breach or repair event: a repair's story as it happened. Supporter
-- invitations live only here, and without their secret's hash: that hash is the
-- supporter's key to the repair and belongs in the stream alone, never in a read model.
CREATE TABLE repair_timeline (
    polycule_id     uuid        NOT NULL,
    stream_version  bigint      NOT NULL,
    breach_id       uuid        NOT NULL,
    at              timestamptz NOT NULL,
    -- The event type: BreachReported, ImpactShared, CheckInRecorded, RepairClosed, …
    what            text        NOT NULL,
    -- Who took the step (the supporter, for SupporterJoined); NULL for a repair that
    -- closed as restored by itself.
    member_id       uuid,
    -- Their words, sealed: what happened, an account, responsibility, impact, an apology,
    -- a commitment, or the note of any other step.
    words           jsonb,
    -- The plain facts of the step: a decision, a factor, a trust level, a mark, an outcome.
    detail          jsonb,
    PRIMARY KEY (polycule_id, stream_version)
);
-- A repair's history.
CREATE INDEX repair_timeline_of_breach ON repair_timeline (breach_id, stream_version);

-- --- The repair's steps ------------------------------------------------------------------

-- How trust feels to each participant over time: their own feeling, never a score of
-- anyone else.
CREATE TABLE check_ins (
    breach_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL,
    member_id       uuid        NOT NULL,
    at              timestamptz NOT NULL,
    trust           smallint    NOT NULL CHECK (trust BETWEEN 0 AND 10),
    setback         boolean     NOT NULL,
    note            jsonb,
    PRIMARY KEY (breach_id, stream_version)
);
-- A participant's latest check-in (the inbox: is one due?).
CREATE INDEX check_ins_of_member ON check_ins (breach_id, member_id, at);

CREATE TABLE commitments (
    commitment_id  uuid        PRIMARY KEY,
    breach_id      uuid        NOT NULL,
    made_by        uuid        NOT NULL,
    what           jsonb       NOT NULL,
    first_due_at   timestamptz NOT NULL,
    -- NULL for a commitment due once.
    every_days     integer,
    made_at        timestamptz NOT NULL,
    made_in        bigint      NOT NULL
);
-- A repair's commitments in the order they were made; the inbox, repair by repair.
CREATE INDEX commitments_of_breach ON commitments (breach_id, made_in);

-- Each occurrence of a commitment as a harmed party marked it. Unmarked occurrences have
-- no row: what is due or overdue is worked out from the commitment's cadence and the
-- moment of asking (ledger/domain/commitments.py).
CREATE TABLE commitment_marks (
    commitment_id  uuid        NOT NULL,
    occurrence     integer     NOT NULL,
    due_at         timestamptz NOT NULL,
    mark           text        NOT NULL CHECK (mark IN ('kept', 'missed')),
    marked_by      uuid        NOT NULL,
    marked_at      timestamptz NOT NULL,
    note           jsonb,
    PRIMARY KEY (commitment_id, occurrence)
);

CREATE TABLE repair_factors (
    factor_id       uuid        PRIMARY KEY,
    breach_id       uuid        NOT NULL,
    factor          text        NOT NULL,
    named_by        uuid        NOT NULL,
    named_at        timestamptz NOT NULL,
    named_in        bigint      NOT NULL,
    note            jsonb,
    -- NULL while the factor is open.
    addressed_at    timestamptz,
    addressed_by    uuid,
    addressed_note  jsonb
);
CREATE INDEX repair_factors_of_breach ON repair_factors (breach_id, named_in);

-- Every decision a harmed party made, in order: a later one replaces theirs, and the
-- earlier ones stay as the story of how they got there.
CREATE TABLE repair_decisions (
    breach_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL,
    member_id       uuid        NOT NULL,
    decision        text        NOT NULL
                        CHECK (decision IN ('rebuild', 'take_space', 'end_relationship')),
    note            jsonb,
    at              timestamptz NOT NULL,
    PRIMARY KEY (breach_id, stream_version)
);

-- New boundaries: proposals made during the repair. Their wording and status are the
-- agreements read model's (agreement_proposals), joined when read.
CREATE TABLE repair_boundaries (
    breach_id    uuid        NOT NULL,
    proposal_id  uuid        NOT NULL,
    linked_by    uuid        NOT NULL,
    linked_at    timestamptz NOT NULL,
    linked_in    bigint      NOT NULL,
    PRIMARY KEY (breach_id, proposal_id)
);
