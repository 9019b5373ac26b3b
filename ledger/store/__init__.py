"""The event store on PostgreSQL: append, read, verify, migrate, and wake-ups."""
