"""SOP 2, technician support, as a saga: the steps read as domain.md tells them.

    hold the best technician            (workforce HoldSupport, undone by CancelSupport)
    ask the lending store to approve    (1 hour, configurable)
    wait for the day before             (at once for an urgent support)
    confirm: the work order goes out    (workforce ConfirmSupport)
    the technician arrives              (ReportSupportProgress CHECKED_IN, by 2 h after start)
    check in at the host                (workforce CheckInSupport: the technician is on loan)
    the job is done                     (ReportSupportProgress COMPLETED, by a day after end)
    record the work                     (workforce CompleteSupport)

A refusal or silence before the confirmation cancels the hold and asks the next matched
technician; with none left the support ends NoTechnicianLeft. A support the host calls
off, or one missed after the confirmation, is cancelled and ends there: a support day
that has come is not re-booked with someone else. A completion workforce refuses or never
answers stops the support for an operator (retry, or resolve: the work was done and is
credited), as a transfer's receipt does. Completion settles in the same
transaction: the subsidy (and travel and lodging where the distance band pays them) on
HQ's ledger, 5 contribution points to the technician's home store. Ratings come after,
one per store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.saga.definition import Saga
from kernel.saga.steps import Await, Call, Invoke, Retry, Wait
from services.collab.domain import reasons
from services.collab.domain.support_day_events import (
    CheckInRefused,
    CompletionRefused,
    SupportCalledOff,
    SupportCheckedIn,
    SupportRated,
    SupportUnderway,
    SupportWorkAbandoned,
    SupportWorkFinished,
    SupportWorkRecorded,
    SupportWorkUnreported,
    TechnicianArrived,
    TechnicianExpected,
    TechnicianNoShow,
)
from services.collab.domain.support_events import (
    ConfirmRefused,
    ConfirmUnanswered,
    HoldRefused,
    HoldReleased,
    HoldUnanswered,
    NextTechnicianChosen,
    NoTechnicianLeft,
    SupportApprovalExpired,
    SupportApprovalRequested,
    SupportApproved,
    SupportCancelled,
    SupportCompleted,
    SupportConfirmed,
    SupportRejected,
    SupportRequested,
    SupportResolvedByHand,
    SupportStepRetried,
    SupportStuck,
    SupportWithdrawn,
    TechnicianHeld,
    WorkOrderDue,
)

SAGA = "support"
WORKFORCE = "workforce"
# domain.md's contribution table: 5 points per support, to the technician's home store.
SUPPORT_POINTS = 5
SUPPORT_ACT = "support"
SUBSIDY = "subsidy"
TRAVEL_AND_LODGING = "travel_lodging"
# domain.md: booked 3 days ahead unless urgent (workforce enforces its 72 h lead time),
# confirmed with the work order 1 day ahead.
LEAD_TIME = timedelta(hours=72)
WORK_ORDER_AHEAD = timedelta(days=1)
# As workforce's CheckInSupport: a check-in is taken from 4 h before the start until the
# end; one workforce refuses would call the day off, so collab refuses it first.
CHECK_IN_OPENS = timedelta(hours=4)
MIN_RATING, MAX_RATING = 1, 5


@dataclass(frozen=True)
class Deadlines:
    hold: timedelta = timedelta(minutes=5)
    approval: timedelta = timedelta(hours=1)
    # Counted from the support's start: the technician checks in by then.
    check_in: timedelta = timedelta(hours=2)
    # Counted from the support's end: the host reports the job done by then.
    completion: timedelta = timedelta(days=1)


DEFAULT_DEADLINES = Deadlines()


@dataclass(frozen=True)
class Support:
    """What the saga knows of one support: a fold of its stream."""

    support_id: str
    requesting_store_id: str
    specialty: str
    minimum_level: str
    starts_at: datetime
    ends_at: datetime
    fault: str
    urgent: bool
    candidate_technician_ids: tuple[str, ...]
    candidate_store_ids: tuple[str, ...]
    approval_deadline_seconds: int
    requested_at: datetime
    check_in_grace: timedelta = DEFAULT_DEADLINES.check_in
    candidate: int = 0
    reason: str = ""
    subsidy_tier: str = ""
    subsidy_fen: int = 0
    travel_and_lodging_paid: bool = False
    distance_km: float = -1.0
    confirmed: bool = False
    called_off: bool = False
    hours_worked: float = 0.0
    fault_solved: bool = False
    travel_and_lodging_fen: int = 0
    rated_by: tuple[str, ...] = ()
    # On site from the check-in; until the support was given up (called off, unreported).
    checked_in_at: datetime | None = None
    left_at: datetime | None = None

    @property
    def technician_id(self) -> str:
        return self.candidate_technician_ids[self.candidate]

    @property
    def lending_store_id(self) -> str:
        return self.candidate_store_ids[self.candidate]

    @property
    def booking_id(self) -> str:
        """Workforce's support id for this candidate: one booking per technician asked."""
        return f"{self.support_id}:{self.candidate + 1}"

    @property
    def hours_on_site(self) -> float:
        """From the check-in until the support was given up, at most until its end."""
        assert self.checked_in_at is not None
        left = min(self.left_at or self.ends_at, self.ends_at)
        return max((left - self.checked_in_at).total_seconds() / 3600, 0.0)

    @property
    def may_ask_next(self) -> bool:
        if self.confirmed or self.called_off:
            return False  # the day has been booked, or the host no longer wants it
        return self.candidate + 1 < len(self.candidate_technician_ids)


_SILENT = {
    HoldUnanswered: reasons.HOLD_UNANSWERED,
    SupportApprovalExpired: reasons.APPROVAL_EXPIRED,
    ConfirmUnanswered: reasons.CONFIRM_UNANSWERED,
    TechnicianNoShow: reasons.TECHNICIAN_NO_SHOW,
    SupportWorkUnreported: reasons.WORK_UNREPORTED,
}
_SAID = (
    HoldRefused,
    SupportRejected,
    SupportWithdrawn,
    ConfirmRefused,
    SupportCalledOff,
    CheckInRefused,
    SupportWorkAbandoned,
    CompletionRefused,
    SupportResolvedByHand,
)


def support(data: Support | None, event: Any) -> Support:
    if isinstance(event, SupportRequested):
        return Support(
            event.support_id,
            event.requesting_store_id,
            event.specialty,
            event.minimum_level,
            event.starts_at,
            event.ends_at,
            event.fault,
            event.urgent,
            event.candidate_technician_ids,
            event.candidate_store_ids,
            event.approval_deadline_seconds,
            event.occurred_at,
        )
    assert data is not None
    if isinstance(event, SupportWithdrawn | SupportCalledOff):
        return dataclasses.replace(data, reason=event.reason, called_off=True)
    if isinstance(event, SupportCancelled):
        # An operator's cancel gives the support up, unless it was given up already (its
        # undo under way): that reason and time on site stand, the call already went out.
        return dataclasses.replace(
            data,
            reason=data.reason or event.reason,
            left_at=data.left_at or _left(data, event),
        )
    if isinstance(event, _SAID):
        return dataclasses.replace(data, reason=event.reason, left_at=_left(data, event))
    if type(event) in _SILENT:
        return dataclasses.replace(data, reason=_SILENT[type(event)], left_at=_left(data, event))
    if isinstance(event, SupportCheckedIn):
        return dataclasses.replace(data, checked_in_at=event.occurred_at)
    if isinstance(event, TechnicianHeld):
        return dataclasses.replace(
            data,
            subsidy_tier=event.subsidy_tier,
            subsidy_fen=event.subsidy_fen,
            travel_and_lodging_paid=event.travel_and_lodging_paid,
            distance_km=event.distance_km,
        )
    if isinstance(event, NextTechnicianChosen):
        return dataclasses.replace(
            data, candidate=data.candidate + 1, reason="", subsidy_tier="", subsidy_fen=0
        )
    if isinstance(event, SupportConfirmed):
        return dataclasses.replace(data, confirmed=True)
    if isinstance(event, SupportWorkFinished):
        return dataclasses.replace(
            data,
            hours_worked=event.hours_worked,
            fault_solved=event.fault_solved,
            travel_and_lodging_fen=event.travel_and_lodging_fen,
        )
    if isinstance(event, SupportRated):
        return dataclasses.replace(data, rated_by=(*data.rated_by, event.rated_by_store_id))
    return data


def _left(data: Support, given_up: Any) -> datetime | None:
    """Given up after the check-in: the technician's time on site ends here."""
    return given_up.occurred_at if data.checked_in_at is not None else None


# The calls, as workforce's API names them.


def _booking(s: Support, **fields: Any) -> dict[str, Any]:
    return {"technician_id": s.technician_id, "support_id": s.booking_id, **fields}


def hold_technician(s: Support) -> Call:
    return Call(
        WORKFORCE,
        "HoldSupport",
        _booking(
            s,
            host_store_id=s.requesting_store_id,
            specialty=s.specialty,
            minimum_level=f"LEVEL_{s.minimum_level}",
            starts_at=s.starts_at.isoformat(),
            ends_at=s.ends_at.isoformat(),
            urgent=s.urgent,
            # Kept until the start: the confirmation comes a day ahead, not before.
            hold_expires_at=s.starts_at.isoformat(),
            # The lead time counts from the host's request, also for the next technician.
            requested_at=s.requested_at.isoformat(),
        ),
    )


def cancel_booking(s: Support) -> Call:
    if s.checked_in_at is not None:
        # Workforce cancels no support the technician checked in to (it is completed, not
        # cancelled): the loan ends with the time on site and the fault unsolved.
        return Call(
            WORKFORCE,
            "CompleteSupport",
            _booking(s, hours_worked=s.hours_on_site, fault_solved=False),
        )
    return Call(WORKFORCE, "CancelSupport", _booking(s, reason=s.reason or "support given up"))


def confirm_booking(s: Support) -> Call:
    return Call(WORKFORCE, "ConfirmSupport", _booking(s))


def check_in(s: Support) -> Call:
    return Call(WORKFORCE, "CheckInSupport", _booking(s))


def complete(s: Support) -> Call:
    return Call(
        WORKFORCE,
        "CompleteSupport",
        _booking(s, hours_worked=s.hours_worked, fault_solved=s.fault_solved),
    )


def support_saga(deadlines: Deadlines = DEFAULT_DEADLINES) -> Saga[Support]:
    return Saga(
        name=SAGA,
        started_by=SupportRequested,
        evolve_data=support,
        steps=(
            Invoke(
                "hold",
                call=hold_technician,
                done=TechnicianHeld,
                refused=HoldRefused,
                undo=cancel_booking,
                undone=HoldReleased,
                deadline=deadlines.hold,
                expired=HoldUnanswered,
            ),
            Await(
                "approval",
                ask=SupportApprovalRequested,
                done=SupportApproved,
                refused=SupportRejected,
                deadline=deadlines.approval,
                expired=SupportApprovalExpired,
            ),
            Wait(
                "order_day",
                then=WorkOrderDue,
                until=lambda s: s.starts_at - WORK_ORDER_AHEAD,
                refused=SupportWithdrawn,
            ),
            Invoke(
                "confirm",
                call=confirm_booking,
                done=SupportConfirmed,
                refused=ConfirmRefused,
                expired=ConfirmUnanswered,
            ),
            Await(
                "arrival",
                ask=TechnicianExpected,
                done=TechnicianArrived,
                refused=SupportCalledOff,
                deadline=deadlines.check_in,
                expired=TechnicianNoShow,
                until=lambda s: s.starts_at,
            ),
            Invoke("check_in", call=check_in, done=SupportCheckedIn, refused=CheckInRefused),
            Await(
                "work",
                ask=SupportUnderway,
                done=SupportWorkFinished,
                refused=SupportWorkAbandoned,
                deadline=deadlines.completion,
                expired=SupportWorkUnreported,
                until=lambda s: s.ends_at,
            ),
            Invoke(
                "complete",
                call=complete,
                done=SupportWorkRecorded,
                refused=CompletionRefused,
                # The work is done and reported: a completion refused or unanswered stops
                # the support for an operator, never ends the loan with the fault unsolved.
                stops_on_failure=True,
            ),
        ),
        completed=SupportCompleted,
        compensated=NoTechnicianLeft,
        failed=SupportStuck,
        retry=Retry(NextTechnicianChosen, when=lambda s: s.may_ask_next),
        operator_retried=SupportStepRetried,
        operator_cancelled=SupportCancelled,
        operator_resolved=SupportResolvedByHand,
    )
