"""Who a caller is and what they may do.

* accounts.py  — signing up and signing in (handles, display names, the rules for both)
* passwords.py — Argon2id hashing, off the event loop
* sessions.py  — server-side sessions behind the browser's cookie, and their CSRF token
* tokens.py    — personal API tokens for a member's own scripts and bots
* throttle.py  — slowing down and refusing repeated failed sign-ins
* identity.py  — the middleware that resolves the caller and guards against CSRF
* policy.py    — the one authorization module: who may call which route

Identity is mutable state (names change, passwords change, sessions end), so all of it
lives in ordinary tables (migration 0004_accounts.sql), never in the event log.
"""
