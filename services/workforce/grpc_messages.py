"""Proto <-> domain for the workforce API: requests parsed into commands (each fault added
to a Violations), views built into replies."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel import validation
from kernel.codec import timestamp
from kernel.errors import InvalidArgument, Violations
from services.workforce.domain.availability import PartOfDay, TimeWindow, utc_window, window_on
from services.workforce.domain.capability import (
    Certification,
    Level,
    TechnicianStatus,
    specialty_code,
)
from services.workforce.domain.commands import HoldSupport, RegisterTechnician
from services.workforce.domain.lead_time import default_hold_expiry
from services.workforce.domain.subsidy import Subsidy
from services.workforce.queries import MapFilter, MatchedCandidate
from services.workforce.read_model import SupportView, TechnicianView
from services.workforce.read_model.lookups import HistoryTotals, SupportRecordView

E = TypeVar("E", bound=IntEnum)


def subsidy_message(subsidy: Subsidy | None) -> pb.Subsidy | None:
    if subsidy is None:
        return None
    return pb.Subsidy(
        tier=int(subsidy.tier),  # type: ignore[arg-type]
        amount_fen=subsidy.amount_fen,
        travel_and_lodging_paid=subsidy.travel_and_lodging_paid,
    )


def support_message(s: SupportView) -> pb.Support:
    return pb.Support(
        support_id=s.support_id,
        technician_id=s.technician_id,
        home_store_id=s.home_store_id,
        host_store_id=s.host_store_id,
        specialty=s.specialty,
        minimum_level=int(s.minimum_level),  # type: ignore[arg-type]
        starts_at=timestamp(s.starts_at),
        ends_at=timestamp(s.ends_at),
        hold_expires_at=timestamp(s.hold_expires_at),
        urgent=s.urgent,
        status=int(s.status),  # type: ignore[arg-type]
        checked_in_at=timestamp(s.checked_in_at),
        hours_worked=s.hours_worked,
        fault_solved=s.fault_solved,
        rated_by_store_ids=list(s.rated_by),
        distance_km=s.distance_km,
        subsidy=subsidy_message(s.subsidy),
    )


def certification_message(c: Certification) -> pb.Certification:
    return pb.Certification(
        name=c.name,
        issued_on=c.issued_on.isoformat(),
        expires_on=c.expires_on.isoformat() if c.expires_on else "",
    )


def technician_message(t: TechnicianView) -> pb.Technician:
    return pb.Technician(
        technician_id=t.technician_id,
        store_id=t.store_id,
        region=t.region,
        name=t.name,
        level=int(t.level),  # type: ignore[arg-type]
        specialties=list(t.specialties),
        certifications=[certification_message(c) for c in t.certifications],
        status=int(t.status),  # type: ignore[arg-type]
        availability=[
            pb.AvailabilityWindow(
                window_id=w.window_id,
                starts_at=timestamp(w.window.starts_at),
                ends_at=timestamp(w.window.ends_at),
            )
            for w in t.availability
        ],
        leaves=[
            pb.Leave(
                leave_id=x.leave_id,
                starts_at=timestamp(x.window.starts_at),
                ends_at=timestamp(x.window.ends_at),
            )
            for x in t.leaves
        ],
        bookings=[support_message(s) for s in t.bookings],
    )


def candidate_message(m: MatchedCandidate) -> pb.SupportCandidate:
    r = m.ranked
    return pb.SupportCandidate(
        technician_id=r.technician_id,
        store_id=r.store_id,
        name=r.name,
        level=int(r.level),  # type: ignore[arg-type]
        distance_km=r.distance_km,
        subsidy=subsidy_message(r.subsidy),
        score=r.score,
        level_fit=r.level_fit,
        proximity=r.proximity,
        fairness=r.fairness,
        recent_supports=m.recent_supports,
        reason=r.reason,
    )


def history_message(
    technician_id: str,
    totals: HistoryTotals,
    records: list[SupportRecordView],
    next_page_token: str,
) -> pb.TechnicianHistory:
    return pb.TechnicianHistory(
        technician_id=technician_id,
        supports_given=totals.supports_given,
        hours_worked=totals.hours_worked,
        faults_solved=totals.faults_solved,
        ratings_received=totals.ratings_received,
        average_rating=totals.average_rating,
        supports=[
            pb.SupportRecord(
                support=support_message(r.support),
                ratings=[
                    pb.Rating(
                        rated_by_store_id=x.rated_by_store_id,
                        rating=x.rating,
                        comment=x.comment,
                        rated_at=timestamp(x.rated_at),
                    )
                    for x in r.ratings
                ],
                completed_at=timestamp(r.completed_at),
                cancel_reason=r.cancel_reason,
            )
            for r in records
        ],
        next_page_token=next_page_token,
    )


# Requests

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


def registration(request: pb.RegisterTechnicianRequest, now: datetime) -> RegisterTechnician:
    v = technician_request(request)
    validation.store_code(v, "store_id", request.store_id)
    level = validation.enum_member(v, "level", request.level, Level)
    certifications = [
        certification(v, f"certifications[{i}]", c) for i, c in enumerate(request.certifications)
    ]
    v.raise_if_any()
    assert level is not None
    return RegisterTechnician(
        technician_id=request.technician_id,
        at=now,
        store_id=request.store_id,
        name=request.name,
        level=level,
        specialties=tuple(request.specialties),
        certifications=tuple(c for c in certifications if c is not None),
    )


def hold(request: pb.HoldSupportRequest, now: datetime) -> tuple[HoldSupport, bool]:
    """The hold, and whether its expiry was defaulted from the time of the request."""
    v = technician_request(request)
    validation.store_code(v, "host_store_id", request.host_store_id)
    code = specialty(v, "specialty", request.specialty)
    level = validation.enum_member(v, "minimum_level", request.minimum_level, Level)
    span = window(v, request, "starts_at", "ends_at")
    expires_at = validation.moment(v, request, "hold_expires_at", required=False)
    requested_at = validation.moment(v, request, "requested_at", required=False)
    v.raise_if_any()
    assert level is not None and span is not None
    command = HoldSupport(
        technician_id=request.technician_id,
        at=now,
        support_id=request.support_id or request.request_id,
        host_store_id=request.host_store_id,
        specialty=code,
        minimum_level=level,
        starts_at=span.starts_at,
        ends_at=span.ends_at,
        hold_expires_at=expires_at or default_hold_expiry(span.starts_at, request.urgent, now),
        urgent=request.urgent,
        requested_at=requested_at,
    )
    return command, expires_at is None


def map_filter(request: pb.ListTechniciansRequest) -> MapFilter:
    v = Violations()
    if request.store_id:
        validation.store_code(v, "store_id", request.store_id)
    validation.text(v, "region", request.region, required=False)
    code = specialty(v, "specialty", request.specialty, required=False)
    level = validation.enum_member(v, "minimum_level", request.minimum_level, Level, required=False)
    status = validation.enum_member(v, "status", request.status, TechnicianStatus, required=False)
    free = None
    if request.HasField("available_from") or request.HasField("available_to"):
        free = window(v, request, "available_from", "available_to")
    v.raise_if_any()
    return MapFilter(request.store_id, request.region, code, level, status, free)


def utilisation_period(request: pb.GetUtilisationRequest, today: date) -> tuple[date, date]:
    """The days asked for: the 30 days to today unless given; one subject of the two."""
    v = Violations()
    if bool(request.technician_id) == bool(request.store_id):
        v.add("technician_id", "give exactly one of technician_id and store_id")
    elif request.technician_id:
        validation.identifier(v, "technician_id", request.technician_id)
    else:
        validation.store_code(v, "store_id", request.store_id)
    to_date = validation.day(v, "to_date", request.to_date, required=False)
    from_date = validation.day(v, "from_date", request.from_date, required=False)
    v.raise_if_any()
    last = to_date or today
    first = from_date or last - timedelta(days=29)
    if first > last:
        raise InvalidArgument.of("from_date", "must not be after to_date")
    return first, last
