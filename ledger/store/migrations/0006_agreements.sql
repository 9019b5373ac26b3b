-- Read model for agreements and the proposals that make, change and end them
-- (projections/agreements.py): what is in force now and at any past moment, what waits for
-- a member's answer, and each agreement's complete history.
--
-- Every text here (titles, terms, definitions, if_broken, reasons, notes) is the sealed JSON
-- exactly as it is in the event, opened only when shown to a member. The *_in columns hold
-- the polycule stream's version of an event: they order things as they happened, where
-- moments cannot (every event of one command shares its moment).

CREATE TABLE agreement_proposals (
    proposal_id   uuid        PRIMARY KEY,
    polycule_id   uuid        NOT NULL,
    agreement_id  uuid        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('create', 'amend', 'end')),
    proposed_by   uuid        NOT NULL,
    -- Parties, revision and text are those of the current (or, once closed, the last)
    -- revision; proposal_revisions keeps every one.
    parties       uuid[]      NOT NULL,
    revision      integer     NOT NULL,
    -- NULL for a proposal to end an agreement: it has no wording of its own.
    text          jsonb,
    -- Why the proposer wants an ending.
    note          jsonb,
    -- The version an amendment or ending would replace.
    base_version  integer,
    respond_by    timestamptz,
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN
                      ('open', 'ratified', 'rejected', 'withdrawn', 'expired', 'lapsed')),
    opened_at     timestamptz NOT NULL,
    opened_in     bigint      NOT NULL,
    closed_at     timestamptz
);
-- A polycule's open proposals in the order they were made; the inbox, polycule by polycule.
CREATE INDEX agreement_proposals_open ON agreement_proposals (polycule_id, opened_in)
    WHERE status = 'open';
-- An agreement's history: every proposal about it.
CREATE INDEX agreement_proposals_of_agreement ON agreement_proposals (agreement_id, opened_in);
-- The scheduler: open proposals whose deadline has passed.
CREATE INDEX agreement_proposals_deadline ON agreement_proposals (respond_by)
    WHERE status = 'open';

-- Every revision of a proposal, the first included: consent is given to one of them.
CREATE TABLE proposal_revisions (
    proposal_id  uuid        NOT NULL,
    revision     integer     NOT NULL,
    parties      uuid[]      NOT NULL,
    text         jsonb,
    revised_at   timestamptz NOT NULL,
    PRIMARY KEY (proposal_id, revision)
);

-- Every consent and objection, to the revision it answered. A revision's responses stay
-- when the proposal is revised: they are history, not current consent.
CREATE TABLE proposal_responses (
    proposal_id   uuid        NOT NULL,
    revision      integer     NOT NULL,
    member_id     uuid        NOT NULL,
    response      text        NOT NULL CHECK (response IN ('consented', 'objected')),
    -- An objection's reason; NULL for a consent.
    reason        jsonb,
    responded_at  timestamptz NOT NULL,
    responded_in  bigint      NOT NULL,
    PRIMARY KEY (proposal_id, revision, member_id)
);

-- One row per agreement ever ratified: the version in force, or the last one once ended.
CREATE TABLE agreements (
    agreement_id      uuid        PRIMARY KEY,
    polycule_id       uuid        NOT NULL,
    version           integer     NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'ended')),
    parties           uuid[]      NOT NULL,
    category          text        NOT NULL,
    text              jsonb       NOT NULL,
    -- The proposal, and its revision, that every party consented to.
    proposal_id       uuid        NOT NULL,
    revision          integer     NOT NULL,
    in_force_since    timestamptz NOT NULL,
    -- Its first ratification: a polycule's agreements are listed oldest first.
    established_in    bigint      NOT NULL,
    next_review_at    timestamptz,
    review_due        boolean     NOT NULL DEFAULT false,
    -- When the review under way began; a request for review starts it again.
    review_due_since  timestamptz,
    -- Parties who reaffirmed it since the review under way began.
    reaffirmed_by     uuid[]      NOT NULL DEFAULT '{}',
    -- The one open proposal to amend or end it.
    open_proposal_id  uuid,
    ended_at          timestamptz,
    end_reason        text CHECK (end_reason IN ('revoked', 'party_left', 'ended_by_proposal')),
    -- Who revoked, or who left; NULL when the parties ended it together by a proposal.
    ended_by          uuid
);
-- A polycule's agreements in force, oldest first; the inbox's reviews, polycule by polycule.
CREATE INDEX agreements_active ON agreements (polycule_id, established_in)
    WHERE status = 'active';
-- The scheduler: agreements in force whose review date has come.
CREATE INDEX agreements_review_clock ON agreements (next_review_at)
    WHERE status = 'active' AND NOT review_due;

-- Every version that was ever in force, over the half-open interval
-- [in_force_from, in_force_until): "what was in force at that moment?".
CREATE TABLE agreement_versions (
    agreement_id    uuid        NOT NULL,
    version         integer     NOT NULL,
    polycule_id     uuid        NOT NULL,
    proposal_id     uuid        NOT NULL,
    revision        integer     NOT NULL,
    parties         uuid[]      NOT NULL,
    category        text        NOT NULL,
    text            jsonb       NOT NULL,
    in_force_from   timestamptz NOT NULL,
    -- NULL while it is in force.
    in_force_until  timestamptz,
    ended_how       text CHECK (ended_how IN
                        ('amended', 'revoked', 'party_left', 'ended_by_proposal')),
    ended_by        uuid,
    end_note        jsonb,
    PRIMARY KEY (agreement_id, version)
);
-- What was in force in a polycule at a moment: the versions that began by then (a
-- polycule has few enough that filtering those on in_force_until is cheap).
CREATE INDEX agreement_versions_in_force ON agreement_versions (polycule_id, in_force_from);

-- One row per agreement or proposal event: the story of an agreement, as it happened,
-- including the proposal that created it, before the agreement existed.
CREATE TABLE agreement_timeline (
    polycule_id     uuid        NOT NULL,
    stream_version  bigint      NOT NULL,
    agreement_id    uuid        NOT NULL,
    at              timestamptz NOT NULL,
    -- The event type: AgreementProposed, ConsentGiven, AgreementEnded, …
    what            text        NOT NULL,
    member_id       uuid,
    proposal_id     uuid,
    revision        integer,
    version         integer,
    -- An objection's reason, or the note of an ending or of a request for review.
    note            jsonb,
    -- A proposal's kind, or why an agreement ended or a proposal lapsed.
    detail          text,
    PRIMARY KEY (polycule_id, stream_version)
);
-- An agreement's history.
CREATE INDEX agreement_timeline_of_agreement ON agreement_timeline (agreement_id, stream_version);
