"""SOP 2 on one technician: availability windows, holds, bookings and the no-double-booking rule."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.clock import check_aware
from kernel.errors import AlreadyExists, NotFound, RuleViolated, Violations
from kernel.validation import identifier, store_code
from services.workforce.domain import reasons
from services.workforce.domain.availability import (
    TimeWindow,
    check_window,
    covers,
    utc_window,
)
from services.workforce.domain.capability import Level, specialty_code
from services.workforce.domain.commands import (
    BookingCommand,
    CancelSupport,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    ExpireSupportHold,
    HoldSupport,
    PublishAvailability,
    RateSupport,
    WithdrawAvailability,
)
from services.workforce.domain.events import (
    AvailabilityPublished,
    AvailabilityWithdrawn,
    SupportHeld,
    SupportHoldExpired,
    TechnicianEvent,
)
from services.workforce.domain.lead_time import CLOCK_SKEW, LeadTimePolicy
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.support_lifecycle import (
    cancel,
    check_in,
    complete,
    confirm,
    expire,
    rate,
    support_event,
)


def refusal_to_hold(
    state: TechnicianState,
    *,
    host_store_id: str,
    specialty: str,
    minimum_level: Level,
    window: TimeWindow,
    at: datetime,
) -> RuleViolated | None:
    """Why this technician cannot be held for this support need, or None if they can.

    The one rule set behind both a hold and the match query; the lead time is the
    booking's own rule and is checked apart.
    """
    subject = state.subject
    if state.has_left:
        return RuleViolated(
            reason=reasons.TECHNICIAN_LEFT,
            message=f"technician {state.technician_id} has left the company",
            subject=subject,
        )
    if host_store_id == state.store_id:
        return RuleViolated(
            reason=reasons.SUPPORT_AT_HOME_STORE,
            message=f"support is lent to another store; {host_store_id} is the home store",
            subject=subject,
            metadata={"host_store_id": host_store_id},
        )
    if not state.level.satisfies(minimum_level):
        return RuleViolated(
            reason=reasons.LEVEL_TOO_LOW,
            message=f"the need is {minimum_level.name} or above; "
            f"technician {state.technician_id} is {state.level.name}",
            subject=subject,
            metadata={"level": state.level.name, "minimum_level": minimum_level.name},
        )
    if specialty not in state.specialties:
        return RuleViolated(
            reason=reasons.SPECIALTY_MISSING,
            message=f"technician {state.technician_id} has no specialty {specialty!r}",
            subject=subject,
            metadata={"specialty": specialty, "specialties": ",".join(sorted(state.specialties))},
        )
    return refusal_for_window(state, window, at)


def refusal_for_window(
    state: TechnicianState, window: TimeWindow, at: datetime
) -> RuleViolated | None:
    """Why the technician's time in `window` cannot be lent: leave, availability, bookings."""
    subject = state.subject
    leave = state.leave_during(window)
    if leave is not None:
        return RuleViolated(
            reason=reasons.TECHNICIAN_ON_LEAVE,
            message=f"technician {state.technician_id} is on leave from {leave.window.describe()}",
            subject=subject,
            metadata={
                "leave_id": leave.leave_id,
                "leave_starts_at": leave.window.starts_at.isoformat(),
                "leave_ends_at": leave.window.ends_at.isoformat(),
            },
        )
    if not covers((w.window for w in state.availability), window):
        return RuleViolated(
            reason=reasons.OUTSIDE_AVAILABILITY,
            message=f"technician {state.technician_id} has published no availability "
            f"covering {window.describe()}",
            subject=subject,
            metadata={
                "starts_at": window.starts_at.isoformat(),
                "ends_at": window.ends_at.isoformat(),
            },
        )
    conflict = next((s for s in state.supports_booking(at) if s.window.overlaps(window)), None)
    if conflict is not None:
        return RuleViolated(
            reason=reasons.SUPPORT_OVERLAP,
            message=f"technician {state.technician_id} is already "
            f"{conflict.status.name.lower()} for support {conflict.support_id} at "
            f"{conflict.host_store_id} from {conflict.window.describe()}",
            subject=subject,
            metadata={
                "conflicting_support_id": conflict.support_id,
                "conflicting_status": conflict.status.name,
                "conflicting_host_store_id": conflict.host_store_id,
                "conflicting_starts_at": conflict.window.starts_at.isoformat(),
                "conflicting_ends_at": conflict.window.ends_at.isoformat(),
            },
        )
    return None


def decide_booking(
    command: BookingCommand, state: TechnicianState, lead_time: LeadTimePolicy
) -> list[TechnicianEvent]:
    match command:
        case PublishAvailability():
            return _publish(command, state)
        case WithdrawAvailability():
            return _withdraw(command, state)
        case HoldSupport():
            return _hold(command, state, lead_time)
        case ConfirmSupport():
            return confirm(command, state)
        case CheckInSupport():
            return check_in(command, state)
        case CompleteSupport():
            return complete(command, state)
        case CancelSupport():
            return cancel(command, state)
        case ExpireSupportHold():
            return expire(command, state)
        case RateSupport():
            return rate(command, state)


def _publish(command: PublishAvailability, state: TechnicianState) -> list[TechnicianEvent]:
    v = Violations()
    identifier(v, "window_id", command.window_id)
    check_window(v, command.starts_at, command.ends_at)
    v.raise_if_any()
    window = utc_window(command.starts_at, command.ends_at)
    existing = state.published_window(command.window_id)
    if existing is not None:
        if existing.window == window:
            return []
        raise AlreadyExists("availability window", command.window_id)
    if window.ends_at <= command.at:
        raise RuleViolated(
            reason=reasons.AVAILABILITY_IN_PAST,
            message=f"the window ended at {window.ends_at.isoformat()}, before now",
            subject=state.subject,
        )
    return [
        AvailabilityPublished(
            store_id=state.store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            window_id=command.window_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
        )
    ]


def _withdraw(command: WithdrawAvailability, state: TechnicianState) -> list[TechnicianEvent]:
    withdrawn = state.published_window(command.window_id)
    if withdrawn is None:
        raise NotFound("availability window", command.window_id)
    remaining = [w.window for w in state.availability if w.window_id != command.window_id]
    for support in state.supports_booking(command.at):
        if support.window.overlaps(withdrawn.window) and not covers(remaining, support.window):
            raise RuleViolated(
                reason=reasons.AVAILABILITY_BOOKED,
                message=f"support {support.support_id} at {support.host_store_id} relies on "
                f"this window: cancel it first",
                subject=state.subject,
                metadata={"support_id": support.support_id, "window_id": command.window_id},
            )
    return [
        AvailabilityWithdrawn(
            store_id=state.store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            window_id=command.window_id,
        )
    ]


def _hold(
    command: HoldSupport, state: TechnicianState, lead_time: LeadTimePolicy
) -> list[TechnicianEvent]:
    v = Violations()
    identifier(v, "support_id", command.support_id)
    store_code(v, "host_store_id", command.host_store_id)
    specialty = specialty_code(command.specialty)
    if specialty is None:
        v.add("specialty", "must be a specialty code such as hv_ev, body_paint or adas")
    check_window(v, command.starts_at, command.ends_at)
    if check_aware(v, "hold_expires_at", command.hold_expires_at):
        expires_at = command.hold_expires_at
        if expires_at <= command.at:
            v.add("hold_expires_at", "must be after the time of the request")
        elif (
            # A start in the past is the lead-time rule's to report, not this field's.
            command.starts_at.utcoffset() is not None
            and command.at <= command.starts_at < expires_at
        ):
            v.add("hold_expires_at", "must be no later than starts_at")
    asked = command.requested_at
    if (
        asked is not None
        and check_aware(v, "requested_at", asked)
        and asked > command.at + CLOCK_SKEW
    ):
        v.add("requested_at", "must not be after the time of the call")
    v.raise_if_any()
    assert specialty is not None
    if state.support(command.support_id) is not None:
        raise AlreadyExists("support", command.support_id)
    window = utc_window(command.starts_at, command.ends_at)
    refusal = refusal_to_hold(
        state,
        host_store_id=command.host_store_id,
        specialty=specialty,
        minimum_level=command.minimum_level,
        window=window,
        at=command.at,
    ) or lead_time.refusal(
        at=command.at,
        starts_at=window.starts_at,
        urgent=command.urgent,
        subject=state.subject,
        requested_at=command.requested_at,
    )
    if refusal is not None:
        raise refusal
    # Holds past their expiry no longer count; record the expiry of those this one displaces.
    displaced = [
        s for s in state.supports if s.hold_lapsed(command.at) and s.window.overlaps(window)
    ]
    return [
        *(support_event(SupportHoldExpired, s, state, command.at) for s in displaced),
        SupportHeld(
            store_id=state.store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            support_id=command.support_id,
            host_store_id=command.host_store_id,
            specialty=specialty,
            minimum_level=command.minimum_level,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            hold_expires_at=command.hold_expires_at.astimezone(UTC),
            urgent=command.urgent,
        ),
    ]
