"""Every SOP 2 and SOP 3 event survives the trip through its protobuf message unchanged,
and names the store it is addressed to (its subject)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from storemesh.collab.events.v1 import events_pb2

from kernel.events import EventRegistry
from services.collab.domain.diversion_events import DIVERSION_EVENT_TYPES
from services.collab.domain.events import EVENT_TYPES
from services.collab.domain.support_events import SUPPORT_EVENT_TYPES

REGISTRY = EventRegistry(
    "collab", EVENT_TYPES + SUPPORT_EVENT_TYPES + DIVERSION_EVENT_TYPES, events_pb2
)
AT = datetime(2026, 11, 4, 1, 30, tzinfo=UTC)
SAMPLES: dict[str, Any] = {
    "str": "DG01",
    "int": 50_000,
    "bool": True,
    "float": 72.4,
    "datetime": AT,
    "tuple[str, ...]": ("DG01", "GZ01"),
    "tuple[float, ...]": (72.4, 105.0),
}


def sample(cls: type[Any]) -> Any:
    return cls(**{f.name: SAMPLES[str(f.type)] for f in dataclasses.fields(cls)})


@pytest.mark.parametrize(
    "cls", SUPPORT_EVENT_TYPES + DIVERSION_EVENT_TYPES, ids=lambda c: c.__name__
)
def test_the_event_round_trips_through_its_proto(cls: type[Any]) -> None:
    event = sample(cls)
    type_name, payload = REGISTRY.encode(event)
    assert type_name == f"storemesh.collab.events.v1.{cls.__name__}"
    assert REGISTRY.decode(type_name, payload) == event
    assert REGISTRY.subject("DG01", type_name) == f"collab.v1.DG01.{cls.__name__}"


def test_no_sop_event_carries_a_customer_name_or_phone() -> None:
    for cls in SUPPORT_EVENT_TYPES + DIVERSION_EVENT_TYPES:
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & {"customer_name", "name", "phone", "customer_phone", "mobile"}
