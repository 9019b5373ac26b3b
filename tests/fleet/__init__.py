"""The fleet tier: the service on the engines operators run it on (HAProxy, pg_auto_failover,
PgBouncer), each a real process on loopback. Run by ``.ci/run`` (``pytest -m fleet``)."""
