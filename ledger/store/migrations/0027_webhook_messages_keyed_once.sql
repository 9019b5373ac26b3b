-- A webhook message's id is made from its endpoint, event and type (message_id_for in
-- ledger/webhooks/fanout.py), and messages are made nowhere else: the primary key on the
-- id already keeps one message per endpoint, event and type, and the fan-out's
-- ON CONFLICT now names it. The second unique key on those three columns kept nothing
-- more, and cost every message an index entry when enqueued and another when delivered
-- (a delivery changes the message's status, which the due index's condition reads, so the
-- new row version is entered in every index).
ALTER TABLE webhook_messages DROP CONSTRAINT webhook_messages_endpoint_id_event_id_type_key;
