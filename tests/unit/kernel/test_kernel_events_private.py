"""EventRegistry's private fields: kept in the stored payload, cleared in the published one."""

from __future__ import annotations

import pytest
from storemesh.collab.events.v1 import events_pb2

from kernel.events import EventBinding, EventRegistry
from services.collab.domain.events import EVENT_TYPES, TransferApproved, TransferRequested


def _name(domain_type: type) -> str:
    return EventBinding(domain_type, getattr(events_pb2, domain_type.__name__)).type_name


def _registry() -> EventRegistry:
    return EventRegistry(
        "collab",
        EVENT_TYPES,
        events_pb2,
        private_fields={TransferRequested: ("customer_name", "customer_phone")},
    )


def test_private_fields_are_cleared_only_in_what_is_published() -> None:
    registry = _registry()
    message = events_pb2.TransferRequested(
        transfer_id="T-1", customer_ref="CRM-42", customer_name="sealed.v1.n", customer_phone="p"
    )
    stored = message.SerializeToString()
    type_name = _name(TransferRequested)
    published = events_pb2.TransferRequested.FromString(
        registry.published_payload(type_name, stored)
    )
    assert (published.transfer_id, published.customer_ref) == ("T-1", "CRM-42")
    assert (published.customer_name, published.customer_phone) == ("", "")
    assert registry.private_fields(type_name) == ("customer_name", "customer_phone")


def test_an_event_with_no_private_fields_is_published_byte_for_byte() -> None:
    registry = _registry()
    payload = events_pb2.TransferApproved(transfer_id="T-1", store_id="SZ01").SerializeToString()
    type_name = _name(TransferApproved)
    assert registry.published_payload(type_name, payload) is payload


def test_a_private_field_the_message_lacks_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="no fields"):
        EventRegistry("collab", EVENT_TYPES, events_pb2, private_fields={TransferApproved: ("x",)})
