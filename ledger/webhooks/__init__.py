"""Outgoing webhooks: members are told, at an address of their choosing, that something
concerns them. Payloads are thin (event type, ids, time and a link to fetch the details with
the member's own credentials, never private text) and signed per Standard Webhooks. Delivery
is at least once, retried on a schedule, so receivers de-duplicate on ``webhook-id``. An SSRF
guard checks every address actually connected to, so no endpoint can be aimed inward.
"""
