"""Edge validation shared by every service: ids, store codes, quantities, text sizes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any, TypeVar

from kernel.errors import Violations

STORE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_TEXT = 200
MAX_QUANTITY = 1_000_000


def store_code(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required")
    elif not STORE_CODE.match(value):
        v.add(
            field_name,
            "must be 1-32 letters, digits, - or _, starting with a letter or digit",
        )


def identifier(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required")
    elif not IDENTIFIER.match(value):
        v.add(field_name, "must be 1-128 characters: letters, digits and . _ : / -")


def request_id(v: Violations, field_name: str, value: str) -> None:
    if not value:
        v.add(field_name, "is required for an idempotent retry")
        return
    try:
        uuid.UUID(value)
    except ValueError:
        identifier(v, field_name, value)


def text(
    v: Violations, field_name: str, value: str, *, required: bool = True, max_len: int = MAX_TEXT
) -> None:
    if required and not value.strip():
        v.add(field_name, "is required")
    elif len(value) > max_len:
        v.add(field_name, f"must be at most {max_len} characters")


def positive_quantity(
    v: Violations, field_name: str, value: int, maximum: int = MAX_QUANTITY
) -> None:
    if value <= 0:
        v.add(field_name, "must be greater than zero")
    elif value > maximum:
        v.add(field_name, f"must be at most {maximum}")


def non_negative(v: Violations, field_name: str, value: int, maximum: int = MAX_QUANTITY) -> None:
    if value < 0:
        v.add(field_name, "must not be negative")
    elif value > maximum:
        v.add(field_name, f"must be at most {maximum}")


# Dates and moments a service can compute around in any time zone: a year of margin at
# each end of the calendar keeps "the 30 days before", "the week of" and "in China" from
# overflowing. Business ranges (how far ahead one may book) are the domain's.
EARLIEST_DAY = date(2, 1, 1)
LATEST_DAY = date(9998, 12, 31)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CALENDAR = f"must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"

E = TypeVar("E", bound=IntEnum)
T = TypeVar("T")


def day(v: Violations, field_name: str, raw: str, *, required: bool = True) -> date | None:
    """A calendar day written YYYY-MM-DD (no basic or week forms); None when absent."""
    if not raw:
        if required:
            v.add(field_name, "is required (YYYY-MM-DD)")
        return None
    try:
        if not _ISO_DAY.match(raw):
            raise ValueError(raw)
        parsed = date.fromisoformat(raw)
    except ValueError:
        v.add(field_name, "must be an ISO date YYYY-MM-DD")
        return None
    if not EARLIEST_DAY <= parsed <= LATEST_DAY:
        v.add(field_name, _CALENDAR)
        return None
    return parsed


def moment(
    v: Violations, request: Any, field_name: str, *, required: bool = True, path: str = ""
) -> datetime | None:
    """A google.protobuf.Timestamp field as an aware UTC datetime; None when absent.
    `path` names the field in a refusal when it lies in a nested message (`counts[3].x`)."""
    named = path or field_name
    if not request.HasField(field_name):
        if required:
            v.add(named, "is required")
        return None
    try:
        parsed: datetime = getattr(request, field_name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        v.add(named, "is not a valid timestamp")
        return None
    if not EARLIEST_DAY <= parsed.date() <= LATEST_DAY:
        v.add(named, _CALENDAR)
        return None
    return parsed


def enum_member(
    v: Violations, field_name: str, raw: int, kind: type[E], *, required: bool = True
) -> E | None:
    """The domain enum for a proto enum number (same numbers; 0 is UNSPECIFIED)."""
    if raw == 0:
        if required:
            v.add(field_name, "is required")
        return None
    try:
        return kind(raw)
    except ValueError:
        names = ", ".join(f"{int(m)} ({m.name})" for m in kind if int(m) != 0)
        v.add(field_name, f"must be one of {names}")
        return None


def enum_choice(
    v: Violations,
    field_name: str,
    raw: int,
    choices: Mapping[int, T],
    name_of: Callable[[int], str],
) -> T | None:
    """What a proto enum number stands for where the domain's values are not the proto's
    numbers: `choices` maps each accepted number (0 too, where it has a default meaning);
    any other is refused naming the accepted ones (`name_of`: the proto enum's Name)."""
    if raw in choices:
        return choices[raw]
    accepted = ", ".join(name_of(n) for n in choices if n != 0)
    v.add(field_name, f"must be one of {accepted}")
    return None


def enum_choices(
    v: Violations,
    field_name: str,
    raws: Iterable[int],
    choices: Mapping[int, T],
    name_of: Callable[[int], str],
) -> list[T]:
    """A repeated proto enum field as enum_choice takes each item (`field[i]` named)."""
    found = [
        enum_choice(v, f"{field_name}[{i}]", raw, choices, name_of) for i, raw in enumerate(raws)
    ]
    return [item for item in found if item is not None]


# The longest duration a request may name: longer than any business rule (which the domain
# checks), short enough that adding it to any moment the edge accepts stays computable.
MAX_DURATION = timedelta(days=36_500)


def duration_seconds(v: Violations, field_name: str, raw: int) -> timedelta | None:
    """A whole number of seconds as a duration; None for 0 (the caller's default)."""
    if raw < 0:
        v.add(field_name, "must not be negative (0 for the default)")
        return None
    if raw > MAX_DURATION.total_seconds():
        v.add(field_name, f"must be at most {int(MAX_DURATION.total_seconds())} seconds")
        return None
    return timedelta(seconds=raw) if raw else None


def require_ids(**ids: str) -> None:
    """Each keyword a required identifier; every malformed one named at once."""
    v = Violations()
    for field_name, value in ids.items():
        identifier(v, field_name, value)
    v.raise_if_any()
