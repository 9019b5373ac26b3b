-- A rebuild replaces a polycule's rows in every read model (projections/rebuild.py): it
-- deletes them by the polycule's id. The tables whose keys hold that id last (0023) had no
-- index that finds a polycule's rows, and each delete read the whole table: a rebuild took
-- time that grew with the square of the log. Each gets one, led by the polycule's id.
-- tests/integration/test_rebuild_in_memory.py checks that every read model's table has one.
CREATE INDEX agreement_proposals_of_polycule ON agreement_proposals (polycule_id);
CREATE INDEX proposal_revisions_of_polycule ON proposal_revisions (polycule_id);
CREATE INDEX proposal_responses_of_polycule ON proposal_responses (polycule_id);
CREATE INDEX agreements_of_polycule ON agreements (polycule_id);
CREATE INDEX disclosure_acknowledgements_of_polycule ON disclosure_acknowledgements (polycule_id);
CREATE INDEX check_ins_of_polycule ON check_ins (polycule_id);
CREATE INDEX commitments_of_polycule ON commitments (polycule_id);
CREATE INDEX commitment_marks_of_polycule ON commitment_marks (polycule_id);
CREATE INDEX repair_factors_of_polycule ON repair_factors (polycule_id);
CREATE INDEX repair_decisions_of_polycule ON repair_decisions (polycule_id);
CREATE INDEX repair_boundaries_of_polycule ON repair_boundaries (polycule_id);
