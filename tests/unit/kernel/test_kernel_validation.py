"""Edge validation names every faulty field at once, and lets good input through."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kernel import validation
from kernel.errors import InvalidArgument, Violations


def faults(check: Callable[..., None], *args: Any, **kwargs: Any) -> list[str]:
    v = Violations()
    check(v, "f", *args, **kwargs)
    return [item.description for item in v.items]


@pytest.mark.parametrize("good", ["SZ01", "a", "gz-01_b", "9" * 32])
def test_store_code_accepts(good: str) -> None:
    assert faults(validation.store_code, good) == []


@pytest.mark.parametrize("bad", ["-SZ", "_SZ", "SZ 01", "SZ01!", "深圳01", "S" * 33, "SZ/01"])
def test_store_code_refuses(bad: str) -> None:
    assert len(faults(validation.store_code, bad)) == 1


def test_store_code_is_required() -> None:
    assert faults(validation.store_code, "") == ["is required"]


@pytest.mark.parametrize("good", ["P-100", "a", "RO:2026/11.3_x-y", "x" * 128])
def test_identifier_accepts(good: str) -> None:
    assert faults(validation.identifier, good) == []


@pytest.mark.parametrize("bad", ["bad part!", " P-1", "/P", "x" * 129, "P\n1", ""])
def test_identifier_refuses(bad: str) -> None:
    assert len(faults(validation.identifier, bad)) == 1


@pytest.mark.parametrize("good", ["0b9e7c2a-5d4f-4e31-9a8c-2f6b1d3e7a90", "retry-7", "client:42"])
def test_request_id_accepts_a_uuid_or_an_identifier(good: str) -> None:
    assert faults(validation.request_id, good) == []


@pytest.mark.parametrize("bad", ["", "two words", "x" * 200])
def test_request_id_refuses(bad: str) -> None:
    assert len(faults(validation.request_id, bad)) == 1


def test_text_limits() -> None:
    assert faults(validation.text, "fine") == []
    assert faults(validation.text, "   ") == ["is required"]
    assert faults(validation.text, "", required=False) == []
    assert faults(validation.text, "x" * 201) == ["must be at most 200 characters"]
    assert faults(validation.text, "x" * 10, max_len=5) == ["must be at most 5 characters"]


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (10**6, True), (0, False), (-3, False), (10**6 + 1, False)]
)
def test_positive_quantity(value: int, ok: bool) -> None:
    assert (faults(validation.positive_quantity, value) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [(0, True), (10**6, True), (-1, False), (10**7, False)])
def test_non_negative(value: int, ok: bool) -> None:
    assert (faults(validation.non_negative, value) == []) is ok


def test_violations_report_every_field_at_once() -> None:
    v = Violations()
    validation.store_code(v, "store_id", "")
    validation.identifier(v, "part_number", "bad part!")
    validation.positive_quantity(v, "quantity", 0)
    with pytest.raises(InvalidArgument) as refused:
        v.raise_if_any()
    assert [x.field for x in refused.value.violations] == ["store_id", "part_number", "quantity"]
    assert "store_id: is required" in refused.value.message


def test_no_violations_raise_nothing() -> None:
    v = Violations()
    validation.store_code(v, "store_id", "SZ01")
    v.raise_if_any()


@pytest.mark.parametrize("raw", ["20261201", "2026-W49-1", "2026-12-1", "2026-02-30", "0001-01-15"])
def test_a_day_is_strictly_yyyy_mm_dd_inside_the_computable_calendar(raw: str) -> None:
    from kernel.errors import Violations
    from kernel.validation import day

    v = Violations()
    assert day(v, "to_date", raw) is None
    assert [item.field for item in v.items] == ["to_date"]


def test_a_timestamp_at_the_end_of_the_calendar_is_refused_not_overflowed() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp
    from storemesh.capacity.v1 import capacity_pb2 as pb

    from kernel.errors import Violations
    from kernel.validation import moment

    last = Timestamp(seconds=253402300799)  # 9999-12-31T23:59:59Z
    v = Violations()
    assert moment(v, pb.BookAppointmentRequest(requested_at=last), "requested_at") is None
    assert [item.field for item in v.items] == ["requested_at"]


def test_an_enum_choice_is_the_value_its_number_stands_for_or_a_refusal_naming_the_rest() -> None:
    from storemesh.collab.v1 import collab_pb2 as collab

    choices = {collab.URGENCY_NORMAL: "normal", collab.URGENCY_CRITICAL: "critical"}
    v = Violations()
    assert (
        validation.enum_choice(v, "urgency", collab.URGENCY_CRITICAL, choices, collab.Urgency.Name)
        == "critical"
    )
    assert (
        validation.enum_choice(v, "urgency", collab.URGENCY_URGENT, choices, collab.Urgency.Name)
        is None
    )
    assert validation.enum_choice(v, "urgency", 0, choices, collab.Urgency.Name) is None
    assert validation.enum_choice(v, "urgency", 99, choices, collab.Urgency.Name) is None
    assert [(x.field, x.description) for x in v.items] == [
        ("urgency", "must be one of URGENCY_NORMAL, URGENCY_CRITICAL")
    ] * 3
    defaulted = {0: "emergency", collab.TRANSFER_REASON_EMERGENCY: "emergency"}
    assert (
        validation.enum_choice(Violations(), "reason", 0, defaulted, collab.TransferReason.Name)
        == "emergency"
    )


def test_enum_choices_take_each_item_and_name_the_refused_ones_by_index() -> None:
    from storemesh.capacity.v1 import capacity_pb2 as capacity

    choices = {capacity.PEER_FACET_SIZE: "size", capacity.PEER_FACET_AGE: "age"}
    v = Violations()
    raws = [capacity.PEER_FACET_AGE, 0, capacity.PEER_FACET_SIZE, 42]
    found = validation.enum_choices(v, "facets", raws, choices, capacity.PeerFacet.Name)
    assert found == ["age", "size"]
    assert [(x.field, x.description) for x in v.items] == [
        ("facets[1]", "must be one of PEER_FACET_SIZE, PEER_FACET_AGE"),
        ("facets[3]", "must be one of PEER_FACET_SIZE, PEER_FACET_AGE"),
    ]
    assert validation.enum_choices(Violations(), "facets", [], choices, str) == []


def test_add_unnamed_adds_only_fields_not_named_yet_and_reports_renamed_ones_as_sent() -> None:
    v = Violations()
    v.add("request_id", "is required")
    v.add("transfer_id", "is required")
    command = Violations()
    command.add("transfer_id", "is required")  # named by the request's checks already
    command.add("reservation_id", "is required")  # filled from request_id: named too
    command.add("quantity", "must be greater than zero")
    command.add("quantity", "must be at most 100000")  # a field once

    v.add_unnamed(command, {"reservation_id": "request_id"})

    assert [(f.field, f.description) for f in v.items] == [
        ("request_id", "is required"),
        ("transfer_id", "is required"),
        ("quantity", "must be greater than zero"),
    ]
