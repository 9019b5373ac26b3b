"""A message's webhook-id never changes: receivers de-duplicate on it, and the queue's
unique key is built on the same three things."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from ledger.webhooks.catalogue import WEBHOOK_TYPES
from ledger.webhooks.fanout import MESSAGE_ID, message_id_for


@given(
    endpoint_id=st.uuids(),
    event_id=st.uuids(),
    type_=st.sampled_from(sorted(WEBHOOK_TYPES)) | st.text(max_size=40),
)
def test_a_webhook_id_is_the_version_5_uuid_of_the_event_and_type_in_the_endpoints_namespace(
    endpoint_id: uuid.UUID, event_id: uuid.UUID, type_: str
) -> None:
    made = message_id_for(endpoint_id, event_id, type_)

    assert made == f"msg_{uuid.uuid5(endpoint_id, f'{event_id}/{type_}').hex}"
    assert MESSAGE_ID.fullmatch(made)
    assert uuid.UUID(made.removeprefix("msg_")).version == 5
