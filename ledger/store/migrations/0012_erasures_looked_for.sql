-- Every instance looks, once per key recheck interval, for data keys destroyed by other
-- instances whose notification it may have missed (ledger/privacy.py,
-- KeyRing.learn_of_erasures): a partial index keeps that look a few rows deep however
-- many keys there are.
CREATE INDEX data_keys_destroyed_at ON data_keys (destroyed_at) WHERE destroyed_at IS NOT NULL;
