"""The technician's profile: registration, level, specialties, home store, status, leaving."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kernel.errors import AlreadyExists, InvalidArgument, NotFound, RuleViolated
from services.workforce.domain.capability import Certification, Level, TechnicianStatus
from services.workforce.domain.commands import (
    AddSpecialty,
    ChangeLevel,
    ChangeStatus,
    LeaveCompany,
    LogProductiveHours,
    PlanShift,
    RecordCertification,
    RegisterTechnician,
    RemoveSpecialty,
    ScheduleLeave,
    TransferTechnician,
)
from services.workforce.domain.events import (
    CertificationRecorded,
    LeaveScheduled,
    SpecialtyAdded,
    SpecialtyRemoved,
    SupportCancelled,
    TechnicianLeft,
    TechnicianLevelChanged,
    TechnicianRegistered,
    TechnicianStatusChanged,
    TechnicianTransferred,
)

from .examples import (
    FRIDAY_AFTERNOON,
    FRIDAY_ALL_DAY,
    FRIDAY_MORNING,
    HOME,
    HOST,
    NOW,
    TECHNICIAN_ID,
    checked_in,
    confirmed,
    given,
    held,
    published,
    registered,
    when,
)


def register(**overrides: object) -> RegisterTechnician:
    fields: dict[str, object] = {
        "technician_id": TECHNICIAN_ID,
        "at": NOW,
        "store_id": HOME,
        "name": " Li Wei ",
        "level": Level.T2,
        "specialties": ("HV-EV", "diagnostics", "三电"),
        "certifications": (Certification("HV safety", date(2025, 3, 1), date(2028, 3, 1)),),
    }
    fields.update(overrides)
    return RegisterTechnician(**fields)  # type: ignore[arg-type]


def test_registering_records_the_technician_with_normalised_specialties() -> None:
    events = when(given(), register())

    assert events == [
        TechnicianRegistered(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            name="Li Wei",
            level=Level.T2,
            specialties=("hv_ev", "diagnostics"),
            certifications=(Certification("HV safety", date(2025, 3, 1), date(2028, 3, 1)),),
        )
    ]
    state = given(*events)
    assert state is not None
    assert state.status is TechnicianStatus.ON_DUTY
    assert state.specialties == {"hv_ev", "diagnostics"}


def test_registering_a_technician_twice_is_refused_as_already_existing() -> None:
    with pytest.raises(AlreadyExists):
        when(given(registered()), register())


def test_a_malformed_registration_reports_every_faulty_field_at_once() -> None:
    bad = register(
        store_id="SZ 01",
        name="  ",
        specialties=("hv_ev", "!!"),
        certifications=(Certification("HV safety", date(2025, 3, 1), date(2024, 1, 1)),),
    )

    with pytest.raises(InvalidArgument) as refused:
        when(given(), bad)

    assert [v.field for v in refused.value.violations] == [
        "store_id",
        "name",
        "specialties[1]",
        "certifications[0].expires_on",
    ]


def test_a_command_for_an_unregistered_technician_is_not_found() -> None:
    with pytest.raises(NotFound):
        when(given(), ChangeLevel(technician_id=TECHNICIAN_ID, at=NOW, level=Level.T3))


def test_business_time_without_a_time_zone_is_refused() -> None:
    naive = NOW.replace(tzinfo=None)

    with pytest.raises(InvalidArgument) as refused:
        when(
            given(registered()), ChangeLevel(technician_id=TECHNICIAN_ID, at=naive, level=Level.T3)
        )

    assert refused.value.violations[0].field == "at"


def test_a_promotion_records_the_new_level_and_the_one_it_replaces() -> None:
    state = given(registered(level=Level.T2))

    events = when(state, ChangeLevel(technician_id=TECHNICIAN_ID, at=NOW, level=Level.T3))

    assert events == [
        TechnicianLevelChanged(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            level=Level.T3,
            previous_level=Level.T2,
        )
    ]
    promoted = given(registered(level=Level.T2), *events)
    assert promoted is not None and promoted.level is Level.T3


def test_setting_the_level_a_technician_already_has_records_nothing() -> None:
    state = given(registered(level=Level.T2))

    assert when(state, ChangeLevel(technician_id=TECHNICIAN_ID, at=NOW, level=Level.T2)) == []


def test_adding_a_specialty_records_its_code_once() -> None:
    state = given(registered(specialties=("hv_ev",)))

    added = when(state, AddSpecialty(technician_id=TECHNICIAN_ID, at=NOW, specialty="Body Paint"))
    again = when(
        given(registered(specialties=("hv_ev",)), *added),
        AddSpecialty(technician_id=TECHNICIAN_ID, at=NOW, specialty="body_paint"),
    )

    assert [type(e) for e in added] == [SpecialtyAdded]
    assert isinstance(added[0], SpecialtyAdded) and added[0].specialty == "body_paint"
    assert again == []


def test_removing_a_specialty_takes_it_off_the_capability_map() -> None:
    history = [registered(specialties=("hv_ev", "adas"))]

    events = when(
        given(*history), RemoveSpecialty(technician_id=TECHNICIAN_ID, at=NOW, specialty="adas")
    )

    assert [type(e) for e in events] == [SpecialtyRemoved]
    state = given(*history, *events)
    assert state is not None and state.specialties == {"hv_ev"}


def test_a_malformed_specialty_is_refused_as_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        when(given(registered()), AddSpecialty(technician_id=TECHNICIAN_ID, at=NOW, specialty="?"))


def test_a_certification_is_recorded_with_its_dates() -> None:
    certification = Certification("ADAS calibration", date(2026, 6, 1), None)

    events = when(
        given(registered()),
        RecordCertification(technician_id=TECHNICIAN_ID, at=NOW, certification=certification),
    )

    assert events == [
        CertificationRecorded(
            store_id=HOME, technician_id=TECHNICIAN_ID, occurred_at=NOW, certification=certification
        )
    ]


def test_a_transfer_is_published_under_the_new_home_store_and_names_the_old_one() -> None:
    events = when(
        given(registered()),
        TransferTechnician(technician_id=TECHNICIAN_ID, at=NOW, to_store_id="DG01"),
    )

    assert events == [
        TechnicianTransferred(
            store_id="DG01", technician_id=TECHNICIAN_ID, occurred_at=NOW, from_store_id=HOME
        )
    ]


def test_a_transfer_to_a_store_the_technician_supports_cancels_that_support() -> None:
    history = [
        registered(),
        published(FRIDAY_ALL_DAY),
        held(FRIDAY_MORNING, "S-1", host_store_id=HOST),
        held(FRIDAY_AFTERNOON, "S-2", host_store_id="FS01"),
    ]

    events = when(
        given(*history), TransferTechnician(technician_id=TECHNICIAN_ID, at=NOW, to_store_id=HOST)
    )

    assert [type(e) for e in events] == [SupportCancelled, TechnicianTransferred]
    cancelled = events[0]
    assert isinstance(cancelled, SupportCancelled)
    assert (cancelled.support_id, cancelled.store_id) == ("S-1", HOME)
    assert cancelled.reason == "HOST_BECAME_HOME_STORE"


def test_a_technician_on_loan_cannot_be_transferred() -> None:
    on_site = FRIDAY_AFTERNOON.starts_at
    history = [
        registered(),
        published(FRIDAY_AFTERNOON),
        held(),
        confirmed(),
        checked_in(on_site),
        TechnicianStatusChanged(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=on_site,
            status=TechnicianStatus.ON_LOAN,
            previous_status=TechnicianStatus.ON_DUTY,
        ),
    ]

    with pytest.raises(RuleViolated) as refused:
        when(
            given(*history),
            TransferTechnician(technician_id=TECHNICIAN_ID, at=on_site, to_store_id="DG01"),
        )

    assert refused.value.reason == "TECHNICIAN_ON_LOAN"
    assert refused.value.metadata["support_id"] == "S-1"


def test_a_reported_status_change_records_the_status_it_replaces() -> None:
    events = when(
        given(registered()),
        ChangeStatus(technician_id=TECHNICIAN_ID, at=NOW, status=TechnicianStatus.OFF_DUTY),
    )

    assert events == [
        TechnicianStatusChanged(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            status=TechnicianStatus.OFF_DUTY,
            previous_status=TechnicianStatus.ON_DUTY,
        )
    ]


@pytest.mark.parametrize("status", [TechnicianStatus.ON_LOAN, TechnicianStatus.LEFT])
def test_on_loan_and_left_are_not_statuses_a_store_sets_by_hand(status: TechnicianStatus) -> None:
    with pytest.raises(InvalidArgument) as refused:
        when(given(registered()), ChangeStatus(technician_id=TECHNICIAN_ID, at=NOW, status=status))

    assert refused.value.violations[0].field == "status"


def test_leaving_the_company_cancels_open_supports_and_is_recorded_last() -> None:
    history = [registered(), published(FRIDAY_ALL_DAY), held(FRIDAY_MORNING, "S-1")]

    events = when(given(*history), LeaveCompany(technician_id=TECHNICIAN_ID, at=NOW))

    assert [type(e) for e in events] == [SupportCancelled, TechnicianLeft]
    state = given(*history, *events)
    assert state is not None and state.status is TechnicianStatus.LEFT


def test_a_technician_who_left_accepts_no_further_changes() -> None:
    left = TechnicianLeft(store_id=HOME, technician_id=TECHNICIAN_ID, occurred_at=NOW)

    with pytest.raises(RuleViolated) as refused:
        when(
            given(registered(), left),
            ChangeLevel(technician_id=TECHNICIAN_ID, at=NOW, level=Level.T3),
        )

    assert refused.value.reason == "TECHNICIAN_LEFT"


def test_planned_leave_is_recorded_and_names_the_supports_it_clashes_with() -> None:
    history = [registered(), published(FRIDAY_ALL_DAY), held(FRIDAY_AFTERNOON, "S-1")]

    events = when(
        given(*history),
        ScheduleLeave(
            technician_id=TECHNICIAN_ID,
            at=NOW,
            leave_id="L-1",
            starts_at=FRIDAY_ALL_DAY.starts_at,
            ends_at=FRIDAY_ALL_DAY.ends_at + timedelta(days=2),
        ),
    )

    assert len(events) == 1 and isinstance(events[0], LeaveScheduled)
    assert events[0].conflicting_support_ids == ("S-1",)


@pytest.mark.parametrize("hours", [-1.0, 24.5, float("nan")])
def test_a_shift_of_impossible_length_is_refused(hours: float) -> None:
    with pytest.raises(InvalidArgument) as refused:
        when(
            given(registered()),
            PlanShift(
                technician_id=TECHNICIAN_ID, at=NOW, day=date(2026, 11, 3), available_hours=hours
            ),
        )

    assert refused.value.violations[0].field == "available_hours"


def log(hours: float, logged_that_day: float) -> LogProductiveHours:
    return LogProductiveHours(
        technician_id=TECHNICIAN_ID,
        at=NOW,
        job_id="RO-9",
        day=date(2026, 11, 3),
        hours=hours,
        logged_that_day=logged_that_day,
    )


def test_a_days_productive_hours_add_up_to_24_and_no_more() -> None:
    state = given(registered())

    assert len(when(state, log(4.0, 20.0))) == 1
    assert len(when(state, log(0.1, 23.9))) == 1  # float sums do not refuse a full day
    with pytest.raises(RuleViolated) as refused:
        when(state, log(4.5, 20.0))

    assert refused.value.reason == "PRODUCTIVE_HOURS_EXCEED_DAY"
    assert refused.value.metadata == {"day": "2026-11-03", "logged_hours": "20"}
