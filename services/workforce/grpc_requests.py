"""Reading workforce requests: the fields many RPCs share, each fault added to a Violations."""

from __future__ import annotations

from datetime import timedelta
from enum import IntEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel import validation
from kernel.errors import Violations
from services.workforce.domain.availability import PartOfDay, TimeWindow, utc_window, window_on
from services.workforce.domain.capability import Certification, specialty_code

# The store directory carries no time zone yet: every store keeps China Standard Time.
STORE_TIME_ZONE = ZoneInfo("Asia/Shanghai")
SPECIALTY_FORMAT = "must be a specialty code such as hv_ev, body_paint or adas"

E = TypeVar("E", bound=IntEnum)


def certification(v: Violations, prefix: str, c: pb.Certification) -> Certification | None:
    issued = validation.day(v, f"{prefix}.issued_on", c.issued_on)
    expires = validation.day(v, f"{prefix}.expires_on", c.expires_on, required=False)
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
    starts_at = validation.moment(v, request, starts)
    ends_at = validation.moment(v, request, ends)
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
    week_of = validation.day(v, "week_of", request.week_of)
    weekday = request.weekday
    if not 1 <= weekday <= 7:
        v.add("weekday", "is required (MONDAY to SUNDAY)")
    part = validation.enum_member(v, "part_of_day", request.part_of_day, PartOfDay)
    if week_of is None or part is None or not 1 <= weekday <= 7:
        return None
    monday = week_of - timedelta(days=week_of.weekday())
    return window_on(monday + timedelta(days=weekday - 1), part, STORE_TIME_ZONE)
