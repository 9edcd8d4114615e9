"""Which capacity events change the store directory: store events do, the stream's other
events (walk-ins, appointments) are passed over, and only an undecodable store event is
poison."""

from __future__ import annotations

import pytest
from storemesh.capacity.events.v1 import events_pb2

from kernel.messaging import InboundEvent
from kernel.store_directory import store_change
from kernel.subscriptions import PoisonMessage

TYPES = "storemesh.capacity.events.v1"


def inbound(event_type: str, payload: bytes, version: str = "3") -> InboundEvent:
    return InboundEvent(
        event_id="e-1",
        event_type=f"{TYPES}.{event_type}",
        source="/storemesh/capacity",
        subject=f"capacity.v1.SZ01.{event_type}",
        store_id="SZ01",
        payload=payload,
        headers={"ce-streamversion": version},
    )


def test_a_registration_is_an_open_store_at_its_stream_version() -> None:
    registered = events_pb2.StoreRegistered(store_id="SZ01")
    registered.profile.name = "Futian"
    change = store_change(inbound("StoreRegistered", registered.SerializeToString()))
    assert change is not None
    assert (change.store_id, change.closed, change.version) == ("SZ01", False, 3)


def test_a_close_is_final_whatever_its_version() -> None:
    closed = events_pb2.StoreClosed(store_id="SZ01")
    change = store_change(inbound("StoreClosed", closed.SerializeToString()))
    assert change is not None and (change.closed, change.version) == (True, 0)


def test_capacitys_other_events_change_nothing_and_are_not_poison() -> None:
    walk_in = events_pb2.WalkInArrived(store_id="SZ01", visit_id="V-1")
    assert store_change(inbound("WalkInArrived", walk_in.SerializeToString())) is None
    assert store_change(inbound("SomethingNew", b"\xff\xff")) is None


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b""])
def test_an_undecodable_or_storeless_store_event_is_poison(payload: bytes) -> None:
    with pytest.raises(PoisonMessage):
        store_change(inbound("StoreUpdated", payload))
