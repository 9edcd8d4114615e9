"""Workforce views as protobuf messages."""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel.codec import timestamp
from services.workforce.application import MatchedCandidate
from services.workforce.domain.capability import Certification
from services.workforce.domain.subsidy import Subsidy
from services.workforce.queries import HistoryTotals, SupportRecordView
from services.workforce.read_model import SupportView, TechnicianView

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
