"""A command's fingerprint: what it asks for, not when; the basis of request-id reuse checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.application import fingerprint

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Receive:
    store_id: str
    part_number: str
    quantity: int
    at: datetime


@dataclass(frozen=True)
class Return:
    store_id: str
    part_number: str
    quantity: int
    at: datetime


@dataclass(frozen=True)
class Reserve:
    store_id: str
    quantity: int
    expires_at: datetime
    available_then: int
    at: datetime


def test_a_retry_later_in_time_is_the_same_command() -> None:
    first = fingerprint(Receive("SZ01", "P-1", 5, AT))
    assert fingerprint(Receive("SZ01", "P-1", 5, AT + timedelta(hours=3))) == first
    assert len(first) == 64 and int(first, 16) >= 0


def test_any_other_field_makes_another_command() -> None:
    first = fingerprint(Receive("SZ01", "P-1", 5, AT))
    assert fingerprint(Receive("SZ01", "P-1", 6, AT)) != first
    assert fingerprint(Receive("SZ02", "P-1", 5, AT)) != first
    assert fingerprint(Receive("SZ01", "P-2", 5, AT)) != first


def test_the_command_type_is_part_of_it() -> None:
    assert fingerprint(Receive("SZ01", "P-1", 5, AT)) != fingerprint(Return("SZ01", "P-1", 5, AT))


def test_times_other_than_at_count() -> None:
    one = fingerprint(Reserve("SZ01", 1, AT + timedelta(hours=1), 9, AT))
    assert fingerprint(Reserve("SZ01", 1, AT + timedelta(hours=2), 9, AT)) != one


def test_context_fields_the_service_filled_in_are_left_out() -> None:
    one = fingerprint(Reserve("SZ01", 1, AT, 9, AT), ("available_then",))
    assert fingerprint(Reserve("SZ01", 1, AT, 3, AT), ("available_then",)) == one
    assert fingerprint(Reserve("SZ01", 2, AT, 3, AT), ("available_then",)) != one


def test_plain_values_fingerprint_by_content() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint(("schedule", "t-1")) != fingerprint(("schedule", "t-2"))
