"""How the schema is cut by polycule: the one list of which table is whose.

Every stream is one polycule and no command spans two, so the polycule's id is the shard
key of a fleet that outgrows one primary (Citus: deploy/SCALING.md, deploy/citus/). Each
table is either

* **per polycule**: every row belongs to one polycule, named by the column given here.
  Distributed by that column and co-located with ``events``, so a command's events and
  every read-model row it writes are on one shard, in one local transaction. Every
  primary key, unique key and index holds that column (so each shard can enforce its
  keys alone, and a row is found on its shard); or
* **global**: about an account or the whole service, not about one polycule. These stay
  together on the coordinator, each for the reason given here.

``tests/integration/test_sharding_schema.py`` reads the schema from the catalogue and holds
it to this: a table in neither list, a per-polycule key or index without the polycule's id,
a foreign key across the cut, a join of two polycules' tables that does not match their
polycules, or an update or delete of a polycule's rows that does not name it fails it.
``deploy/SCALING.md`` mirrors these lists, and the same test compares them.
"""

from __future__ import annotations

from typing import Final

# Table → the column naming its polycule (the event store's tables name it as the stream).
PER_POLYCULE: Final[dict[str, str]] = {
    "events": "stream_id",
    "stream_summaries": "stream_id",
    "decider_snapshots": "stream_id",
    "polycule_read_models": "polycule_id",
    "polycule_directory": "polycule_id",
    "memberships": "polycule_id",
    "agreement_proposals": "polycule_id",
    "proposal_revisions": "polycule_id",
    "proposal_responses": "polycule_id",
    "proposal_comments": "polycule_id",
    "agreements": "polycule_id",
    "agreement_versions": "polycule_id",
    "agreement_timeline": "polycule_id",
    "disclosures": "polycule_id",
    "disclosure_acknowledgements": "polycule_id",
    "breaches": "polycule_id",
    "repair_timeline": "polycule_id",
    "check_ins": "polycule_id",
    "commitments": "polycule_id",
    "commitment_marks": "polycule_id",
    "repair_factors": "polycule_id",
    "repair_decisions": "polycule_id",
    "repair_boundaries": "polycule_id",
    "webhook_fanout_positions": "polycule_id",
    "mail_fanout_positions": "polycule_id",
    "checkpoints": "polycule_id",
    "checkpoint_cosignatures": "polycule_id",
}

# Table → why it is global.
GLOBAL_TABLES: Final[dict[str, str]] = {
    "schema_migrations": "which migrations the whole database has applied",
    "accounts": "a person, in every polycule they belong to; sign-in finds them by handle "
                "before any polycule is known",
    "sessions": "a browser's sign-in, found by its token before any polycule is known",
    "api_tokens": "a personal API token, found by its hash before any polycule is known",
    "sign_in_failures": "throttling sign-in by handle and by client address",
    "sign_up_attempts": "throttling sign-up by client address",
    "data_keys": "a member's key seals their words in every polycule they belong to "
                 "(polycules' keys are kept beside them, found the same way: by owner)",
    "webhook_endpoints": "an account's endpoints hear from every polycule of that account",
    "webhook_secrets": "an endpoint's signing secrets",
    "webhook_messages": "an endpoint's deliveries, claimed by workers across endpoints",
    "webhook_attempts": "a delivery's attempts",
    "mail_addresses": "an account's address for mail notices",
    "mail_choices": "an account's choices of how soon to be told",
    "mail_outbox": "an account's mail, gathered across polycules into digests",
    "mail_digest_days": "the days whose digests were made, for every account at once",
    "inbox_reads": "what an account has read of its inbox, which spans its polycules",
    "shown_once": "a secret waiting for the one page of its account that shows it",
    "device_keys": "a member's devices, which co-sign checkpoints of every polycule they "
                   "belong to",
}

# Indexes of per-polycule tables that do not hold the polycule's id, each with why, until
# it can go. Nothing else may join this list.
EXCEPTIONS: Final[dict[str, str]] = {
    "breaches_supported_by": "the repairs an account supports, across polycules: a GIN "
                             "index of uuid[] cannot hold a second column without the "
                             "btree_gin extension; non-unique, so each shard keeps its own",
}
