"""Reading workforce requests: the fields many RPCs share, each fault added to a Violations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel import validation
from kernel.errors import Violations
from services.workforce.domain.availability import PartOfDay, TimeWindow, utc_window, window_on
from services.workforce.domain.capability import Certification, specialty_code

# The store directory carries no time zone yet: every store keeps China Standard Time.
STORE_TIME_ZONE = ZoneInfo("Asia/Shanghai")
SPECIALTY_FORMAT = "must be a specialty code such as hv_ev, body_paint or adas"

E = TypeVar("E", bound=IntEnum)


def enum_value(
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
        v.add(field_name, f"{raw} is not a known value")
        return None


def moment(
    v: Violations, request: Any, field_name: str, *, required: bool = True
) -> datetime | None:
    if not request.HasField(field_name):
        if required:
            v.add(field_name, "is required")
        return None
    stamp: Timestamp = getattr(request, field_name)
    return stamp.ToDatetime(tzinfo=UTC)


def iso_date(v: Violations, field_name: str, raw: str, *, required: bool = True) -> date | None:
    if not raw:
        if required:
            v.add(field_name, "is required (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        v.add(field_name, "must be an ISO date YYYY-MM-DD")
        return None


def certification(v: Violations, prefix: str, c: pb.Certification) -> Certification | None:
    issued = iso_date(v, f"{prefix}.issued_on", c.issued_on)
    expires = iso_date(v, f"{prefix}.expires_on", c.expires_on, required=False)
    if issued is None:
        return None
    return Certification(name=c.name, issued_on=issued, expires_on=expires)


def technician_request(request: Any) -> Violations:
    """The faults of the fields every technician command has; more may be added."""
    v = Violations()
    validation.request_id(v, "request_id", request.request_id)
    validation.identifier(v, "technician_id", request.technician_id)
    return v


def support_request(request: Any) -> None:
    v = technician_request(request)
    validation.identifier(v, "support_id", request.support_id)
    v.raise_if_any()


def specialty(v: Violations, field_name: str, raw: str, *, required: bool = True) -> str:
    if not raw and not required:
        return ""
    code = specialty_code(raw)
    if code is None:
        v.add(field_name, SPECIALTY_FORMAT)
        return ""
    return code


def window(v: Violations, request: Any, starts: str, ends: str) -> TimeWindow | None:
    starts_at = moment(v, request, starts)
    ends_at = moment(v, request, ends)
    if starts_at is None or ends_at is None:
        return None
    if ends_at <= starts_at:
        v.add(ends, f"must be after {starts}")
        return None
    return utc_window(starts_at, ends_at)


def published_window(v: Violations, request: pb.PublishAvailabilityRequest) -> TimeWindow | None:
    """Explicit starts_at/ends_at, or weekday and part of day of the week holding week_of."""
    span = request.HasField("starts_at") or request.HasField("ends_at")
    slot = bool(request.week_of) or request.weekday != 0 or request.part_of_day != 0
    if span and slot:
        v.add("starts_at", "give either starts_at and ends_at, or week_of, weekday and part_of_day")
        return None
    if span or not slot:
        return window(v, request, "starts_at", "ends_at")
    week_of = iso_date(v, "week_of", request.week_of)
    weekday = request.weekday
    if not 1 <= weekday <= 7:
        v.add("weekday", "is required (MONDAY to SUNDAY)")
    part = enum_value(v, "part_of_day", request.part_of_day, PartOfDay)
    if week_of is None or part is None or not 1 <= weekday <= 7:
        return None
    monday = week_of - timedelta(days=week_of.weekday())
    return window_on(monday + timedelta(days=weekday - 1), part, STORE_TIME_ZONE)
