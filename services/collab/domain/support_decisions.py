"""SOP 2's commands into events: the request, the lending store's answer, the day's
reports, the ratings, the settlement on completion, and the rules a request must meet."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kernel.errors import RuleViolated
from services.collab.domain import reasons
from services.collab.domain.commands import (
    ApproveSupport,
    RateSupport,
    RejectSupport,
    ReportSupportProgress,
    RequestSupport,
    SupportProgress,
)
from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.settlement import settlement_month
from services.collab.domain.support import (
    CHECK_IN_OPENS,
    LEAD_TIME,
    SAGA,
    SUBSIDY,
    SUPPORT_ACT,
    SUPPORT_POINTS,
    TRAVEL_AND_LODGING,
    Deadlines,
    Support,
)
from services.collab.domain.support_day_events import (
    SupportCalledOff,
    SupportRated,
    SupportWorkAbandoned,
    SupportWorkFinished,
    TechnicianArrived,
)
from services.collab.domain.support_events import (
    SupportApproved,
    SupportRejected,
    SupportRequested,
    SupportWithdrawn,
)

# Commands into events.


def requested(
    command: RequestSupport, candidates: tuple[tuple[str, str], ...], deadlines: Deadlines
) -> SupportRequested:
    """`candidates`: (technician, home store), best first, as workforce matched them."""
    return SupportRequested(
        command.support_id,
        command.store_id,
        command.store_id,
        command.specialty,
        command.minimum_level,
        command.starts_at,
        command.ends_at,
        command.fault,
        command.urgent,
        tuple(t for t, _ in candidates),
        tuple(s for _, s in candidates),
        int(deadlines.approval.total_seconds()),
        command.at,
    )


def _ids(s: Support) -> tuple[str, str, str, str]:
    return s.support_id, s.lending_store_id, s.technician_id, s.lending_store_id


def approved(s: Support, command: ApproveSupport) -> SupportApproved:
    return SupportApproved(*_ids(s), command.approved_by, command.at)


def rejected(s: Support, command: RejectSupport) -> SupportRejected:
    return SupportRejected(*_ids(s), command.reason, command.rejected_by, command.at)


def progress_reported(s: Support, step: str, command: ReportSupportProgress) -> Any:
    """The event a store's report is at the step the support waits in; a report that fits
    no waiting step is the saga's to refuse (SUPPORT_NOT_AWAITING)."""
    ids = (s.support_id, s.requesting_store_id, s.technician_id, s.lending_store_id)
    by, at = command.reported_by, command.at
    match command.progress:
        case SupportProgress.CHECKED_IN:
            if step == "arrival":
                check_in_window(s, at)
            return TechnicianArrived(*ids, by, at)
        case SupportProgress.COMPLETED:
            if command.travel_and_lodging_fen and not s.travel_and_lodging_paid:
                raise RuleViolated(
                    reasons.TRAVEL_NOT_COVERED,
                    "HQ pays travel and lodging from 50 km only (this support's band: "
                    f"{s.subsidy_tier or 'distance unknown'})",
                    subject=f"support/{s.support_id}",
                    metadata={"distance_km": f"{s.distance_km:.1f}"},
                )
            if step == "work":
                check_hours_on_site(s, command.hours_worked, at)
            return SupportWorkFinished(
                *ids,
                command.hours_worked,
                command.fault_solved,
                command.travel_and_lodging_fen,
                by,
                at,
            )
        case _:
            # A note of blanks is none: it is the cancellation's reason, which workforce
            # requires.
            called_off = command.note.strip() or "called off"
            if step == "work":
                return SupportWorkAbandoned(*ids, called_off, by, at)
            if step == "order_day":
                return SupportWithdrawn(*ids, called_off, by, at)
            return SupportCalledOff(*ids, called_off, by, at)


def check_in_window(s: Support, at: datetime) -> None:
    """The technician checks in on the support's day: from 4 h before its start until its
    end (workforce's rule; a check-in it refused would end the support)."""
    opens = s.starts_at - CHECK_IN_OPENS
    if not opens <= at < s.ends_at:
        raise RuleViolated(
            reasons.CHECK_IN_OUTSIDE_SUPPORT_WINDOW,
            f"support {s.support_id} takes a check-in from {opens.isoformat()} until "
            f"{s.ends_at.isoformat()}",
            subject=f"support/{s.support_id}",
            metadata={"opens_at": opens.isoformat(), "closes_at": s.ends_at.isoformat()},
        )


def check_hours_on_site(s: Support, hours_worked: float, at: datetime) -> None:
    """No more hours worked than have passed since the check-in (workforce's rule; a
    completion it refused would leave the support unsettled)."""
    if s.checked_in_at is None:
        return
    on_site = (at - s.checked_in_at).total_seconds() / 3600
    if hours_worked > on_site:
        raise RuleViolated(
            reasons.HOURS_EXCEED_TIME_ON_SITE,
            f"{hours_worked:g} h worked, but only {on_site:.2f} h passed since the check-in "
            f"at {s.checked_in_at.isoformat()}",
            subject=f"support/{s.support_id}",
            metadata={"hours_on_site": f"{on_site:.2f}"},
        )


def rated(s: Support, command: RateSupport, completed: bool) -> SupportRated:
    """Each of the two stores rates the other once, after the support is completed."""
    parties = (s.requesting_store_id, s.lending_store_id)
    if not completed:
        raise RuleViolated(
            reasons.SUPPORT_NOT_COMPLETED,
            f"support {s.support_id} is rated once completed",
            subject=f"support/{s.support_id}",
        )
    if command.rated_by_store_id not in parties:
        raise RuleViolated(
            reasons.RATER_NOT_PARTY,
            f"only {parties[0]} and {parties[1]} rate support {s.support_id}",
            subject=f"support/{s.support_id}",
        )
    if command.rated_by_store_id in s.rated_by:
        raise RuleViolated(
            reasons.SUPPORT_ALREADY_RATED,
            f"{command.rated_by_store_id} rated support {s.support_id} already",
            subject=f"support/{s.support_id}",
        )
    other = parties[1] if command.rated_by_store_id == parties[0] else parties[0]
    return SupportRated(
        s.support_id, other, command.rated_by_store_id, command.rating, command.comment, command.at
    )


def settled(s: Support, at: datetime) -> list[Any]:
    """Settlement once the work is recorded (or resolved by hand after it was reported
    finished): 5 points to the lender, HQ pays the subsidy (and travel and lodging from
    50 km), attributed to the host store."""
    month = settlement_month(at)
    entries: list[Any] = [
        ContributionRecorded(
            s.lending_store_id, SUPPORT_ACT, SUPPORT_POINTS, SAGA, s.support_id, at
        )
    ]
    costs = ((SUBSIDY, s.subsidy_fen), (TRAVEL_AND_LODGING, s.travel_and_lodging_fen))
    for kind, fen in costs:
        if fen > 0:
            entries.append(
                CollaborationCostRecorded(
                    s.requesting_store_id, kind, fen, SAGA, s.support_id, month, at
                )
            )
    return entries


def check_need(command: RequestSupport, lead_time: timedelta = LEAD_TIME) -> None:
    """domain.md: support is booked 3 days ahead; urgent support may come sooner."""
    if command.starts_at <= command.at:
        raise RuleViolated(
            reasons.SUPPORT_STARTS_IN_PAST,
            f"the support would start at {command.starts_at.isoformat()}, before now",
            subject=f"store/{command.store_id}",
        )
    if not command.urgent and command.starts_at - command.at < lead_time:
        hours = int(lead_time.total_seconds() // 3600)
        raise RuleViolated(
            reasons.LEAD_TIME_TOO_SHORT,
            f"planned support is booked at least {hours} h ahead; mark it urgent otherwise",
            subject=f"store/{command.store_id}",
            metadata={"lead_time_hours": str(hours)},
        )
