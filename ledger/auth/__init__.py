"""Who a caller is and what they may do.

* accounts.py       — signing up and in, confirming and changing the password, signing out
                      everywhere (handles, display names, the rules for both)
* password_rules.py — which new passwords are refused, and why (NIST SP 800-63B)
* passwords.py      — Argon2id hashing, off the event loop
* sessions.py       — server-side sessions behind the browser's cookie, and their CSRF token
* tokens.py         — personal API tokens for a member's own scripts and bots
* throttle.py       — keeping password guessing and sign-ups expensive, locking nobody out
* erasure.py        — erasing an account
* identity.py       — the middleware that resolves the caller and guards against CSRF
* policy.py         — the one authorization module: who may call which route

Identity is mutable state (names change, passwords change, sessions end), so all of it
lives in ordinary tables (migrations 0004_accounts.sql, 0014_sign_up_attempts.sql), never
in the event log.
"""
