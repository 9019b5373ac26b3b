-- Every per-polycule table is keyed by its polycule, so the schema can be distributed by
-- polycule on Citus (deploy/SCALING.md), each polycule's rows on one shard with its
-- events. The rule, enforced from the catalogue by tests/integration/test_sharding_schema.py:
-- every primary key, unique key and index of a per-polycule table holds the polycule's id
-- (`polycule_id`, or `stream_id` for the tables of the event store). The global tables
-- (accounts, sessions, tokens, keys, webhooks, mail, …) are named in one list,
-- ledger/store/sharding.py, with why each is global.
--
-- Keys gain the polycule's id as their LAST column: every query that looked rows up by
-- their own id (a proposal, a breach, an agreement's version) still finds them through the
-- same index, with the same name, and a polycule's id costs 16 bytes an entry. An id that
-- is unique on its own (a uuid) stays unique with the polycule's id beside it.

-- --- The tables that hang off another by its id get their polycule's id ------------------

ALTER TABLE proposal_revisions ADD COLUMN polycule_id uuid;
UPDATE proposal_revisions r SET polycule_id = p.polycule_id
  FROM agreement_proposals p WHERE p.proposal_id = r.proposal_id;

ALTER TABLE proposal_responses ADD COLUMN polycule_id uuid;
UPDATE proposal_responses r SET polycule_id = p.polycule_id
  FROM agreement_proposals p WHERE p.proposal_id = r.proposal_id;

ALTER TABLE disclosure_acknowledgements ADD COLUMN polycule_id uuid;
UPDATE disclosure_acknowledgements a SET polycule_id = d.polycule_id
  FROM disclosures d WHERE d.disclosure_id = a.disclosure_id;

ALTER TABLE check_ins ADD COLUMN polycule_id uuid;
UPDATE check_ins c SET polycule_id = b.polycule_id FROM breaches b WHERE b.breach_id = c.breach_id;

ALTER TABLE commitments ADD COLUMN polycule_id uuid;
UPDATE commitments c SET polycule_id = b.polycule_id
  FROM breaches b WHERE b.breach_id = c.breach_id;

ALTER TABLE commitment_marks ADD COLUMN polycule_id uuid;
UPDATE commitment_marks m SET polycule_id = c.polycule_id
  FROM commitments c WHERE c.commitment_id = m.commitment_id;

ALTER TABLE repair_factors ADD COLUMN polycule_id uuid;
UPDATE repair_factors f SET polycule_id = b.polycule_id
  FROM breaches b WHERE b.breach_id = f.breach_id;

ALTER TABLE repair_decisions ADD COLUMN polycule_id uuid;
UPDATE repair_decisions d SET polycule_id = b.polycule_id
  FROM breaches b WHERE b.breach_id = d.breach_id;

ALTER TABLE repair_boundaries ADD COLUMN polycule_id uuid;
UPDATE repair_boundaries r SET polycule_id = b.polycule_id
  FROM breaches b WHERE b.breach_id = r.breach_id;

-- A row whose parent is gone would have no polycule: there are none (the read models write
-- parent and child in one transaction, and forget them together), and NOT NULL says so.
ALTER TABLE proposal_revisions ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE proposal_responses ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE disclosure_acknowledgements ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE check_ins ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE commitments ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE commitment_marks ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE repair_factors ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE repair_decisions ALTER COLUMN polycule_id SET NOT NULL;
ALTER TABLE repair_boundaries ALTER COLUMN polycule_id SET NOT NULL;

-- --- The event store ----------------------------------------------------------------------

-- An event id is unique within its stream (Citus cannot enforce uniqueness across shards).
-- Ids are made from the command's id (ledger/service.py), and a command id reused on another
-- polycule is refused by the service before anything is appended (IdempotencyKeyReused).
-- The name stays: ledger/store/events.py recognises a retried append by it.
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
ALTER TABLE events ADD CONSTRAINT events_event_id_key UNIQUE (event_id, stream_id);
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (stream_id, position);
-- events_transaction_order (transaction_id, position) stays as it is: it is the order of
-- the whole log, which the consumers that follow every polycule at once still read (the
-- webhook and mail fan-outs). ledger/store/sharding.py lists it as the one exception, to be
-- removed when they follow each polycule's stream instead.

-- --- Primary keys -------------------------------------------------------------------------

ALTER TABLE agreement_proposals DROP CONSTRAINT agreement_proposals_pkey,
    ADD CONSTRAINT agreement_proposals_pkey PRIMARY KEY (proposal_id, polycule_id);
ALTER TABLE agreements DROP CONSTRAINT agreements_pkey,
    ADD CONSTRAINT agreements_pkey PRIMARY KEY (agreement_id, polycule_id);
ALTER TABLE agreement_versions DROP CONSTRAINT agreement_versions_pkey,
    ADD CONSTRAINT agreement_versions_pkey PRIMARY KEY (agreement_id, version, polycule_id);
ALTER TABLE proposal_revisions DROP CONSTRAINT proposal_revisions_pkey,
    ADD CONSTRAINT proposal_revisions_pkey PRIMARY KEY (proposal_id, revision, polycule_id);
ALTER TABLE proposal_responses DROP CONSTRAINT proposal_responses_pkey,
    ADD CONSTRAINT proposal_responses_pkey PRIMARY KEY (proposal_id, responded_in, polycule_id);
ALTER TABLE proposal_comments DROP CONSTRAINT proposal_comments_pkey,
    ADD CONSTRAINT proposal_comments_pkey PRIMARY KEY (comment_id, polycule_id);
ALTER TABLE disclosures DROP CONSTRAINT disclosures_pkey,
    ADD CONSTRAINT disclosures_pkey PRIMARY KEY (disclosure_id, polycule_id);
ALTER TABLE disclosure_acknowledgements DROP CONSTRAINT disclosure_acknowledgements_pkey,
    ADD CONSTRAINT disclosure_acknowledgements_pkey
        PRIMARY KEY (disclosure_id, member_id, polycule_id);
ALTER TABLE breaches DROP CONSTRAINT breaches_pkey,
    ADD CONSTRAINT breaches_pkey PRIMARY KEY (breach_id, polycule_id);
ALTER TABLE check_ins DROP CONSTRAINT check_ins_pkey,
    ADD CONSTRAINT check_ins_pkey PRIMARY KEY (breach_id, stream_version, polycule_id);
ALTER TABLE commitments DROP CONSTRAINT commitments_pkey,
    ADD CONSTRAINT commitments_pkey PRIMARY KEY (commitment_id, polycule_id);
ALTER TABLE commitment_marks DROP CONSTRAINT commitment_marks_pkey,
    ADD CONSTRAINT commitment_marks_pkey PRIMARY KEY (commitment_id, occurrence, polycule_id);
ALTER TABLE repair_factors DROP CONSTRAINT repair_factors_pkey,
    ADD CONSTRAINT repair_factors_pkey PRIMARY KEY (factor_id, polycule_id);
ALTER TABLE repair_decisions DROP CONSTRAINT repair_decisions_pkey,
    ADD CONSTRAINT repair_decisions_pkey PRIMARY KEY (breach_id, stream_version, polycule_id);
ALTER TABLE repair_boundaries DROP CONSTRAINT repair_boundaries_pkey,
    ADD CONSTRAINT repair_boundaries_pkey PRIMARY KEY (breach_id, proposal_id, polycule_id);

-- --- Indexes ------------------------------------------------------------------------------
-- Each keeps its name, its columns in their order and its predicate; the polycule's id is
-- added last. The scheduler's and the keeper's (which look across polycules by a moment)
-- then also answer which polycule each row is in from the index itself.

DROP INDEX polycule_read_models_parked;
CREATE INDEX polycule_read_models_parked ON polycule_read_models (parked_at, polycule_id)
    WHERE parked_at IS NOT NULL;

DROP INDEX memberships_of_member;
CREATE INDEX memberships_of_member ON memberships (member_id, polycule_id)
    WHERE left_at IS NULL;

DROP INDEX agreement_proposals_of_agreement;
CREATE INDEX agreement_proposals_of_agreement
    ON agreement_proposals (agreement_id, opened_in, polycule_id);
DROP INDEX agreement_proposals_deadline;
CREATE INDEX agreement_proposals_deadline ON agreement_proposals (respond_by, polycule_id)
    WHERE status = 'open';

DROP INDEX agreements_review_clock;
CREATE INDEX agreements_review_clock ON agreements (next_review_at, polycule_id)
    WHERE status = 'active' AND NOT review_due;

DROP INDEX agreement_timeline_of_agreement;
CREATE INDEX agreement_timeline_of_agreement
    ON agreement_timeline (agreement_id, stream_version, polycule_id);

DROP INDEX proposal_responses_to_revision;
CREATE INDEX proposal_responses_to_revision
    ON proposal_responses (proposal_id, revision, member_id, responded_in, polycule_id);

DROP INDEX proposal_comments_of_proposal;
CREATE INDEX proposal_comments_of_proposal
    ON proposal_comments (proposal_id, made_in, polycule_id);

DROP INDEX repair_timeline_of_breach;
CREATE INDEX repair_timeline_of_breach ON repair_timeline (breach_id, stream_version, polycule_id);

DROP INDEX check_ins_of_member;
CREATE INDEX check_ins_of_member ON check_ins (breach_id, member_id, at, polycule_id);

DROP INDEX commitments_falling_due;
CREATE INDEX commitments_falling_due ON commitments (next_due_at, polycule_id)
    WHERE next_due_at IS NOT NULL;
DROP INDEX commitments_of_breach;
CREATE INDEX commitments_of_breach ON commitments (breach_id, made_in, polycule_id);

DROP INDEX repair_factors_of_breach;
CREATE INDEX repair_factors_of_breach ON repair_factors (breach_id, named_in, polycule_id);

-- breaches_supported_by (GIN over supporters) stays: "the repairs an account supports" looks
-- across polycules by a supporter, and a GIN index of uuid[] cannot hold a second column
-- without the btree_gin extension. On Citus it is one index per shard, like every other;
-- ledger/store/sharding.py lists it as an exception, with this reason.
