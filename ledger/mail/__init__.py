"""Mail notices: a member's confirmed address, their choice for each kind of notice (at
once, in a daily digest, never), and the outbox that a fan-out from the event log fills and
a sending worker empties through the configured SMTP server. docs/email.md tells the whole.

    kinds.py      the kinds of notice, in plain words, and each one's default
    addresses.py  the address (sealed), confirmation and unsubscribe tokens, the choices
    outbox.py     the outbox's statements: enqueue, claim, settle, gather digests
    fanout.py     events → notices in the outbox, as the member chose
    digests.py    a day's digests, at the configured hour
    composing.py  what a mail says: never anyone's words
    sending.py    the worker that sends what is due, with retries
"""
