"""Every event analytics records has its protobuf message, field for field."""

from __future__ import annotations

import dataclasses
from enum import IntEnum
from typing import Any

import pytest
from storemesh.analytics.events.v1 import events_pb2

from services.analytics import domain
from services.analytics.domain.operating_figures import Role
from services.analytics.domain.periods import PeriodKind
from services.analytics.domain.warnings import Light, Rule


@pytest.mark.parametrize("event_type", domain.EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_has_a_message_with_every_field(event_type: type) -> None:
    message = getattr(events_pb2, event_type.__name__)
    proto_fields = set(message.DESCRIPTOR.fields_by_name)
    for field in dataclasses.fields(event_type):
        assert field.name in proto_fields, f"{event_type.__name__}.{field.name}"
    assert "occurred_at" in proto_fields


@pytest.mark.parametrize("event_type", domain.EVENT_TYPES, ids=lambda t: t.__name__)
def test_no_message_field_is_missing_from_the_domain_event(event_type: type) -> None:
    message = getattr(events_pb2, event_type.__name__)
    names = {field.name for field in dataclasses.fields(event_type)}
    assert set(message.DESCRIPTOR.fields_by_name) == names


@pytest.mark.parametrize(
    ("domain_enum", "proto_enum", "prefix"),
    [
        (PeriodKind, events_pb2.PeriodKind, "PERIOD_KIND_"),
        (Light, events_pb2.WarningLevel, "WARNING_LEVEL_"),
        (Rule, events_pb2.WarningRule, "WARNING_RULE_"),
        (Role, events_pb2.Role, "ROLE_"),
    ],
)
def test_domain_enums_and_proto_enums_have_the_same_numbers(
    domain_enum: type[IntEnum], proto_enum: Any, prefix: str
) -> None:
    assert {m.name: int(m) for m in domain_enum} == {
        name.removeprefix(prefix): number
        for name, number in proto_enum.items()
        if not name.endswith("_UNSPECIFIED")
    }
