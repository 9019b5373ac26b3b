-- Distribute the ledger's per-polycule tables by polycule, co-located with the events
-- (deploy/SCALING.md). Run on the Citus coordinator, as the schema's owner, after
-- `python -m ledger migrate`, and again after any later migration: each call is made only
-- for a table not distributed yet. The global tables stay on the coordinator.
--
-- The tables, and which column names each one's polycule, are ledger/store/sharding.py's
-- PER_POLYCULE; tests/integration/test_sharding_schema.py checks that this file and
-- deploy/SCALING.md name exactly those.

-- events refuses UPDATE, DELETE and TRUNCATE by trigger as well as by the service role's
-- grants; Citus copies such triggers to the shards only when told to.
SET citus.enable_unsafe_triggers TO on;

-- device_keys stays global (ledger/store/sharding.py), but as a reference table: a copy on
-- every worker, so a checkpoint's co-signatures find their devices by key on the polycule's
-- own worker, rather than the coordinator copying every device key there for each read.
SELECT create_reference_table('device_keys')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'device_keys'::regclass);

SELECT create_distributed_table('events', 'stream_id')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'events'::regclass);
SELECT create_distributed_table('stream_summaries', 'stream_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'stream_summaries'::regclass);
SELECT create_distributed_table('decider_snapshots', 'stream_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'decider_snapshots'::regclass);
SELECT create_distributed_table('polycule_read_models', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'polycule_read_models'::regclass);
SELECT create_distributed_table('polycule_directory', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'polycule_directory'::regclass);
SELECT create_distributed_table('memberships', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'memberships'::regclass);
SELECT create_distributed_table('agreement_proposals', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'agreement_proposals'::regclass);
SELECT create_distributed_table('proposal_revisions', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'proposal_revisions'::regclass);
SELECT create_distributed_table('proposal_responses', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'proposal_responses'::regclass);
SELECT create_distributed_table('proposal_comments', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'proposal_comments'::regclass);
SELECT create_distributed_table('agreements', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'agreements'::regclass);
SELECT create_distributed_table('agreement_versions', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'agreement_versions'::regclass);
SELECT create_distributed_table('agreement_timeline', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'agreement_timeline'::regclass);
SELECT create_distributed_table('disclosures', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'disclosures'::regclass);
SELECT create_distributed_table('disclosure_acknowledgements', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'disclosure_acknowledgements'::regclass);
SELECT create_distributed_table('breaches', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'breaches'::regclass);
SELECT create_distributed_table('repair_timeline', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'repair_timeline'::regclass);
SELECT create_distributed_table('check_ins', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'check_ins'::regclass);
SELECT create_distributed_table('commitments', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'commitments'::regclass);
SELECT create_distributed_table('commitment_marks', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'commitment_marks'::regclass);
SELECT create_distributed_table('repair_factors', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'repair_factors'::regclass);
SELECT create_distributed_table('repair_decisions', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'repair_decisions'::regclass);
SELECT create_distributed_table('repair_boundaries', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'repair_boundaries'::regclass);
SELECT create_distributed_table('webhook_fanout_positions', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'webhook_fanout_positions'::regclass);
SELECT create_distributed_table('mail_fanout_positions', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'mail_fanout_positions'::regclass);
SELECT create_distributed_table('checkpoints', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'checkpoints'::regclass);
SELECT create_distributed_table('checkpoint_cosignatures', 'polycule_id', colocate_with => 'events')
 WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'checkpoint_cosignatures'::regclass);

