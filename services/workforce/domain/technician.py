"""The technician aggregate: one stream per technician, the boundary of "no double booking"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from kernel.clock import check_aware
from kernel.decider import Decider
from kernel.errors import AlreadyExists, InvalidArgument, NotFound, RuleViolated, Violations
from kernel.validation import identifier, store_code, text
from services.workforce.domain import reasons
from services.workforce.domain.availability import check_window, utc_window
from services.workforce.domain.capability import (
    REPORTED_STATUSES,
    Certification,
    TechnicianStatus,
    specialty_code,
)
from services.workforce.domain.commands import (
    AddSpecialty,
    CancelLeave,
    CancelSupport,
    ChangeLevel,
    ChangeStatus,
    ExpireSupportHold,
    LeaveCompany,
    LogProductiveHours,
    PlanShift,
    ProfileCommand,
    RateSupport,
    RecordCertification,
    RegisterTechnician,
    RemoveSpecialty,
    ScheduleLeave,
    TechnicianCommand,
    TransferTechnician,
)
from services.workforce.domain.events import (
    CertificationRecorded,
    LeaveCancelled,
    LeaveScheduled,
    ProductiveHoursLogged,
    ShiftPlanned,
    SpecialtyAdded,
    SpecialtyRemoved,
    TechnicianEvent,
    TechnicianLeft,
    TechnicianLevelChanged,
    TechnicianRegistered,
    TechnicianStatusChanged,
    TechnicianTransferred,
)
from services.workforce.domain.lead_time import LeadTimePolicy
from services.workforce.domain.state import SupportStatus, TechnicianState, evolve
from services.workforce.domain.support_booking import decide_booking
from services.workforce.domain.support_lifecycle import cancellation

HOURS_IN_A_DAY = 24.0
# Hours add up as floats: 240 logs of 0.1 h make a day, not a refusal.
_ROUNDING = 1e-9
SPECIALTY_FORMAT = "must be a specialty code of 2-40 letters, digits or '_', such as hv_ev"

# After a technician has left, only what closes their history is still accepted.
_AFTER_LEAVING = (RateSupport, ExpireSupportHold, CancelSupport, LeaveCompany)

TechnicianDecider = Decider[TechnicianState | None, TechnicianCommand, TechnicianEvent]


def technician_decider(lead_time: LeadTimePolicy | None = None) -> TechnicianDecider:
    """The aggregate, configured with the lead-time policy the service runs with."""
    policy = lead_time or LeadTimePolicy()

    def decide(
        command: TechnicianCommand, state: TechnicianState | None
    ) -> Sequence[TechnicianEvent]:
        v = Violations()
        identifier(v, "technician_id", command.technician_id)
        check_aware(v, "at", command.at)
        v.raise_if_any()
        if isinstance(command, RegisterTechnician):
            return _register(command, state)
        if state is None:
            raise NotFound("technician", command.technician_id)
        if state.has_left and not isinstance(command, _AFTER_LEAVING):
            raise RuleViolated(
                reason=reasons.TECHNICIAN_LEFT,
                message=f"technician {state.technician_id} has left the company",
                subject=state.subject,
            )
        if isinstance(command, ProfileCommand):
            return _decide_profile(command, state)
        return decide_booking(command, state, policy)

    return Decider(initial_state=_unregistered, decide=decide, evolve=evolve)


def _unregistered() -> TechnicianState | None:
    return None


def _register(command: RegisterTechnician, state: TechnicianState | None) -> list[TechnicianEvent]:
    v = Violations()
    store_code(v, "store_id", command.store_id)
    text(v, "name", command.name)
    specialties: list[str] = []
    for index, raw in enumerate(command.specialties):
        code = specialty_code(raw)
        if code is None:
            v.add(f"specialties[{index}]", SPECIALTY_FORMAT)
        elif code not in specialties:
            specialties.append(code)
    for index, certification in enumerate(command.certifications):
        _check_certification(v, f"certifications[{index}].", certification)
    v.raise_if_any()
    if state is not None:
        raise AlreadyExists("technician", command.technician_id)
    return [
        TechnicianRegistered(
            store_id=command.store_id,
            technician_id=command.technician_id,
            occurred_at=command.at,
            name=command.name.strip(),
            level=command.level,
            specialties=tuple(specialties),
            certifications=command.certifications,
        )
    ]


def _decide_profile(command: ProfileCommand, state: TechnicianState) -> list[TechnicianEvent]:
    match command:
        case RegisterTechnician():
            raise AlreadyExists("technician", command.technician_id)
        case ChangeLevel():
            if command.level == state.level:
                return []
            return [
                TechnicianLevelChanged(
                    **_about(state, command.at), level=command.level, previous_level=state.level
                )
            ]
        case AddSpecialty():
            code = _specialty(command.specialty)
            if code in state.specialties:
                return []
            return [SpecialtyAdded(**_about(state, command.at), specialty=code)]
        case RemoveSpecialty():
            code = _specialty(command.specialty)
            if code not in state.specialties:
                return []
            return [SpecialtyRemoved(**_about(state, command.at), specialty=code)]
        case RecordCertification():
            v = Violations()
            _check_certification(v, "certification.", command.certification)
            v.raise_if_any()
            if command.certification in state.certifications:
                return []
            return [
                CertificationRecorded(
                    **_about(state, command.at), certification=command.certification
                )
            ]
        case TransferTechnician():
            return _transfer(command, state)
        case ChangeStatus():
            return _change_status(command, state)
        case LeaveCompany():
            return _leave_company(command, state)
        case ScheduleLeave():
            return _schedule_leave(command, state)
        case CancelLeave():
            if state.leave(command.leave_id) is None:
                raise NotFound("leave", command.leave_id)
            return [LeaveCancelled(**_about(state, command.at), leave_id=command.leave_id)]
        case PlanShift():
            if not _is_hours(command.available_hours, allow_zero=True):
                raise InvalidArgument.of("available_hours", "must be from 0 to 24 hours")
            return [
                ShiftPlanned(
                    **_about(state, command.at),
                    day=command.day,
                    available_hours=command.available_hours,
                )
            ]
        case LogProductiveHours():
            v = Violations()
            identifier(v, "job_id", command.job_id)
            if not _is_hours(command.hours, allow_zero=False):
                v.add("hours", "must be more than 0 and at most 24 hours")
            v.raise_if_any()
            if command.logged_that_day + command.hours > HOURS_IN_A_DAY + _ROUNDING:
                raise RuleViolated(
                    reason=reasons.PRODUCTIVE_HOURS_EXCEED_DAY,
                    message=f"{command.logged_that_day:g} h are logged on "
                    f"{command.day.isoformat()} already: {command.hours:g} h more would make "
                    f"more than {HOURS_IN_A_DAY:g} h in a day",
                    subject=state.subject,
                    metadata={
                        "day": command.day.isoformat(),
                        "logged_hours": f"{command.logged_that_day:g}",
                    },
                )
            return [
                ProductiveHoursLogged(
                    **_about(state, command.at),
                    job_id=command.job_id,
                    day=command.day,
                    hours=command.hours,
                )
            ]


def _transfer(command: TransferTechnician, state: TechnicianState) -> list[TechnicianEvent]:
    v = Violations()
    store_code(v, "to_store_id", command.to_store_id)
    v.raise_if_any()
    if command.to_store_id == state.store_id:
        return []
    _refuse_while_on_loan(state, "transferred")
    # Support at the new home store would no longer be support: it is cancelled, not kept.
    cancelled = [
        cancellation(support, state, command.at, reasons.HOST_BECAME_HOME_STORE)
        for support in state.supports_booking(command.at)
        if support.host_store_id == command.to_store_id
    ]
    return [
        *cancelled,
        TechnicianTransferred(
            store_id=command.to_store_id,
            technician_id=state.technician_id,
            occurred_at=command.at,
            from_store_id=state.store_id,
        ),
    ]


def _change_status(command: ChangeStatus, state: TechnicianState) -> list[TechnicianEvent]:
    if command.status not in REPORTED_STATUSES:
        raise InvalidArgument.of(
            "status",
            "must be ON_DUTY, OFF_DUTY or ON_LEAVE; ON_LOAN follows a support check-in and "
            "LEFT a departure",
        )
    if command.status == state.status:
        return []
    _refuse_while_on_loan(state, "given another status")
    return [
        TechnicianStatusChanged(
            **_about(state, command.at), status=command.status, previous_status=state.status
        )
    ]


def _leave_company(command: LeaveCompany, state: TechnicianState) -> list[TechnicianEvent]:
    if state.has_left:
        return []
    _refuse_while_on_loan(state, "recorded as leaving")
    return [
        *(
            cancellation(support, state, command.at, reasons.TECHNICIAN_LEFT)
            for support in state.supports_booking(command.at)
        ),
        TechnicianLeft(**_about(state, command.at)),
    ]


def _schedule_leave(command: ScheduleLeave, state: TechnicianState) -> list[TechnicianEvent]:
    v = Violations()
    identifier(v, "leave_id", command.leave_id)
    check_window(v, command.starts_at, command.ends_at)
    v.raise_if_any()
    window = utc_window(command.starts_at, command.ends_at)
    existing = state.leave(command.leave_id)
    if existing is not None:
        if existing.window == window:
            return []
        raise AlreadyExists("leave", command.leave_id)
    # Leave is a fact the DMS reports, so it is recorded even over a booked support; the
    # clash is named so that collab can find a replacement.
    clashes = tuple(
        s.support_id for s in state.supports_booking(command.at) if s.window.overlaps(window)
    )
    return [
        LeaveScheduled(
            **_about(state, command.at),
            leave_id=command.leave_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            conflicting_support_ids=clashes,
        )
    ]


class _About(TypedDict):
    store_id: str
    technician_id: str
    occurred_at: datetime


def _about(state: TechnicianState, at: datetime) -> _About:
    return {"store_id": state.store_id, "technician_id": state.technician_id, "occurred_at": at}


def _refuse_while_on_loan(state: TechnicianState, what: str) -> None:
    if state.status is TechnicianStatus.ON_LOAN:
        on_loan = next(
            (s.support_id for s in state.supports if s.status is SupportStatus.CHECKED_IN), ""
        )
        raise RuleViolated(
            reason=reasons.TECHNICIAN_ON_LOAN,
            message=f"technician {state.technician_id} is on loan (support {on_loan}) and "
            f"cannot be {what} until that support is completed",
            subject=state.subject,
            metadata={"support_id": on_loan},
        )


def _specialty(raw: str) -> str:
    code = specialty_code(raw)
    if code is None:
        raise InvalidArgument.of("specialty", SPECIALTY_FORMAT)
    return code


def _check_certification(v: Violations, prefix: str, certification: Certification) -> None:
    text(v, f"{prefix}name", certification.name)
    expires_on = certification.expires_on
    if expires_on is not None and expires_on < certification.issued_on:
        v.add(f"{prefix}expires_on", "must not be before issued_on")


def _is_hours(value: float, *, allow_zero: bool) -> bool:
    if not math.isfinite(value):
        return False
    return (value >= 0 if allow_zero else value > 0) and value <= HOURS_IN_A_DAY


technician = technician_decider()
