"""A held support's life after the hold: confirm, check in, complete, cancel, expire, rate."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from kernel.errors import InvalidArgument, NotFound, RuleViolated, Violations
from kernel.validation import store_code, text
from services.workforce.domain import reasons
from services.workforce.domain.capability import TechnicianStatus
from services.workforce.domain.commands import (
    CancelSupport,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    ExpireSupportHold,
    RateSupport,
)
from services.workforce.domain.events import (
    SupportCancelled,
    SupportCheckedIn,
    SupportCompleted,
    SupportConfirmed,
    SupportHoldExpired,
    SupportRated,
    TechnicianEvent,
    TechnicianStatusChanged,
)
from services.workforce.domain.state import Support, SupportStatus, TechnicianState

# A technician may check in this long before the support starts (travel, tools, briefing).
CHECK_IN_ALLOWANCE = timedelta(hours=4)
RATINGS = range(1, 6)
MAX_COMMENT = 500


def confirm(command: ConfirmSupport, state: TechnicianState) -> list[TechnicianEvent]:
    support = _existing(state, command.support_id)
    if support.status is SupportStatus.CONFIRMED:
        return []
    if support.status is not SupportStatus.HELD:
        raise _wrong_status(
            state, support, reasons.SUPPORT_NOT_HELD, "only a held support is confirmed"
        )
    if support.hold_lapsed(command.at):
        raise RuleViolated(
            reason=reasons.SUPPORT_HOLD_EXPIRED,
            message=f"the hold on support {support.support_id} expired at "
            f"{support.hold_expires_at.isoformat()}",
            subject=state.subject,
            metadata={
                "support_id": support.support_id,
                "hold_expires_at": support.hold_expires_at.isoformat(),
            },
        )
    on_leave = state.leave_during(support.window)
    if on_leave is not None:
        raise RuleViolated(
            reason=reasons.TECHNICIAN_ON_LEAVE,
            message=f"technician {state.technician_id} is on leave from "
            f"{on_leave.window.describe()}",
            subject=state.subject,
            metadata={"leave_id": on_leave.leave_id, "support_id": support.support_id},
        )
    return [support_event(SupportConfirmed, support, state, command.at)]


def check_in(command: CheckInSupport, state: TechnicianState) -> list[TechnicianEvent]:
    support = _existing(state, command.support_id)
    if support.status is SupportStatus.CHECKED_IN:
        return []
    if support.status is not SupportStatus.CONFIRMED:
        raise _wrong_status(
            state, support, reasons.SUPPORT_NOT_CONFIRMED, "only a confirmed support is checked in"
        )
    earliest = support.window.starts_at - CHECK_IN_ALLOWANCE
    if not earliest <= command.at < support.window.ends_at:
        raise RuleViolated(
            reason=reasons.CHECK_IN_OUTSIDE_SUPPORT_WINDOW,
            message=f"check-in for support {support.support_id} opens at "
            f"{earliest.isoformat()} and closes at {support.window.ends_at.isoformat()}",
            subject=state.subject,
            metadata={"support_id": support.support_id, "earliest_check_in": earliest.isoformat()},
        )
    if state.status in (TechnicianStatus.ON_LEAVE, TechnicianStatus.ON_LOAN):
        raise RuleViolated(
            reason=f"TECHNICIAN_{state.status.name}",
            message=f"technician {state.technician_id} is {state.status.name.lower()}",
            subject=state.subject,
            metadata={"support_id": support.support_id},
        )
    return [
        support_event(SupportCheckedIn, support, state, command.at),
        TechnicianStatusChanged(
            store_id=state.store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            status=TechnicianStatus.ON_LOAN,
            previous_status=state.status,
        ),
    ]


def complete(command: CompleteSupport, state: TechnicianState) -> list[TechnicianEvent]:
    if not (math.isfinite(command.hours_worked) and command.hours_worked > 0):
        raise InvalidArgument.of("hours_worked", "must be a number of hours greater than zero")
    support = _existing(state, command.support_id)
    if support.status is SupportStatus.COMPLETED:
        return []
    if support.status is not SupportStatus.CHECKED_IN or support.checked_in_at is None:
        raise _wrong_status(
            state, support, reasons.SUPPORT_NOT_CHECKED_IN, "only a checked-in support is completed"
        )
    on_site = (command.at - support.checked_in_at).total_seconds() / 3600
    if command.hours_worked > on_site:
        raise RuleViolated(
            reason=reasons.HOURS_EXCEED_TIME_ON_SITE,
            message=f"{command.hours_worked:g} h worked, but only {on_site:.2f} h passed "
            f"since check-in at {support.checked_in_at.isoformat()}",
            subject=state.subject,
            metadata={"support_id": support.support_id, "hours_on_site": f"{on_site:.2f}"},
        )
    return [
        SupportCompleted(
            store_id=support.home_store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            support_id=support.support_id,
            host_store_id=support.host_store_id,
            hours_worked=command.hours_worked,
            fault_solved=command.fault_solved,
        ),
        back_on_duty(state, command.at),
    ]


def cancel(command: CancelSupport, state: TechnicianState) -> list[TechnicianEvent]:
    v = Violations()
    text(v, "reason", command.reason)
    v.raise_if_any()
    support = _existing(state, command.support_id)
    if support.status in (SupportStatus.CANCELLED, SupportStatus.EXPIRED):
        return []
    if support.status is SupportStatus.COMPLETED:
        raise _wrong_status(
            state,
            support,
            reasons.SUPPORT_ALREADY_STARTED,
            "a completed support is a record of work done, not cancelled",
        )
    if support.status is SupportStatus.CHECKED_IN:
        # Called off on the day (the host gave up, or no one reported the work): the
        # collab saga undoes it with this call, and the technician's loan ends with it.
        return [
            cancellation(support, state, command.at, command.reason),
            back_on_duty(state, command.at),
        ]
    return [cancellation(support, state, command.at, command.reason)]


def expire(command: ExpireSupportHold, state: TechnicianState) -> list[TechnicianEvent]:
    support = _existing(state, command.support_id)
    if not support.hold_lapsed(command.at):
        return []
    return [support_event(SupportHoldExpired, support, state, command.at)]


def rate(command: RateSupport, state: TechnicianState) -> list[TechnicianEvent]:
    v = Violations()
    store_code(v, "rated_by_store_id", command.rated_by_store_id)
    if command.rating not in RATINGS:
        v.add("rating", "must be a whole number from 1 to 5")
    text(v, "comment", command.comment, required=False, max_len=MAX_COMMENT)
    v.raise_if_any()
    support = _existing(state, command.support_id)
    if support.status is not SupportStatus.COMPLETED:
        raise _wrong_status(
            state, support, reasons.SUPPORT_NOT_COMPLETED, "a support is rated once it is completed"
        )
    if command.rated_by_store_id not in (support.home_store_id, support.host_store_id):
        raise RuleViolated(
            reason=reasons.RATER_NOT_PARTY_TO_SUPPORT,
            message=f"only {support.home_store_id} and {support.host_store_id} rate "
            f"support {support.support_id}",
            subject=state.subject,
            metadata={"support_id": support.support_id},
        )
    if command.rated_by_store_id in support.rated_by:
        raise RuleViolated(
            reason=reasons.SUPPORT_ALREADY_RATED,
            message=f"{command.rated_by_store_id} has already rated support {support.support_id}",
            subject=state.subject,
            metadata={"support_id": support.support_id},
        )
    return [
        SupportRated(
            store_id=support.home_store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            support_id=support.support_id,
            host_store_id=support.host_store_id,
            rated_by_store_id=command.rated_by_store_id,
            rating=command.rating,
            comment=command.comment,
        )
    ]


def back_on_duty(state: TechnicianState, at: datetime) -> TechnicianStatusChanged:
    """The technician's loan ends with the support: on duty at home again."""
    return TechnicianStatusChanged(
        store_id=state.store_id,
        technician_id=state.technician_id,
        occurred_at=at,
        status=TechnicianStatus.ON_DUTY,
        previous_status=state.status,
    )


def cancellation(
    support: Support, state: TechnicianState, at: datetime, reason: str
) -> SupportCancelled:
    return SupportCancelled(
        store_id=support.home_store_id,
        technician_id=state.technician_id,
        occurred_at=at,
        support_id=support.support_id,
        host_store_id=support.host_store_id,
        reason=reason,
    )


def support_event(
    kind: type[SupportConfirmed] | type[SupportCheckedIn] | type[SupportHoldExpired],
    support: Support,
    state: TechnicianState,
    at: datetime,
) -> TechnicianEvent:
    return kind(
        store_id=support.home_store_id,
        technician_id=state.technician_id,
        occurred_at=at,
        support_id=support.support_id,
        host_store_id=support.host_store_id,
    )


def _existing(state: TechnicianState, support_id: str) -> Support:
    support = state.support(support_id)
    if support is None:
        raise NotFound("support", support_id)
    return support


def _wrong_status(state: TechnicianState, support: Support, reason: str, rule: str) -> RuleViolated:
    return RuleViolated(
        reason=reason,
        message=f"support {support.support_id} is {support.status.name.lower()}: {rule}",
        subject=state.subject,
        metadata={"support_id": support.support_id, "status": support.status.name},
    )
