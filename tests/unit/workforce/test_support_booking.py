"""Support bookings on one technician: holds, no double booking, and the SOP 2 life cycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from kernel.errors import AlreadyExists, InvalidArgument, RuleViolated
from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.capability import Level, TechnicianStatus
from services.workforce.domain.commands import (
    CancelSupport,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    ExpireSupportHold,
    RateSupport,
    TechnicianCommand,
)
from services.workforce.domain.events import (
    LeaveScheduled,
    SupportCancelled,
    SupportCompleted,
    SupportHeld,
    SupportHoldExpired,
    SupportRated,
    TechnicianEvent,
    TechnicianLeft,
    TechnicianStatusChanged,
    WorkforceEvent,
)
from services.workforce.domain.state import SupportStatus

from .examples import (
    FRIDAY_AFTERNOON,
    FRIDAY_ALL_DAY,
    FRIDAY_MORNING,
    HOME,
    HOST,
    NOW,
    TECHNICIAN_ID,
    checked_in,
    completed,
    confirmed,
    given,
    held,
    hold,
    published,
    registered,
    when,
)

HOLD_EXPIRES_AT = NOW + timedelta(hours=24)
ON_THE_DAY = FRIDAY_AFTERNOON.starts_at
AFTER_THE_JOB = FRIDAY_AFTERNOON.starts_at + timedelta(hours=6)


def on_loan(at: datetime) -> TechnicianStatusChanged:
    return TechnicianStatusChanged(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=at,
        status=TechnicianStatus.ON_LOAN,
        previous_status=TechnicianStatus.ON_DUTY,
    )


BOOKED: list[TechnicianEvent] = [registered(), published(FRIDAY_ALL_DAY), held(), confirmed()]
DONE: list[TechnicianEvent] = [
    *BOOKED,
    checked_in(ON_THE_DAY),
    on_loan(ON_THE_DAY),
    completed(AFTER_THE_JOB),
]


def refusal(history: Sequence[WorkforceEvent], command: TechnicianCommand) -> RuleViolated:
    with pytest.raises(RuleViolated) as refused:
        when(given(*history), command)
    return refused.value


# Holding


def test_a_hold_inside_a_published_window_is_recorded_with_its_expiry() -> None:
    events = when(given(registered(), published(FRIDAY_AFTERNOON)), hold(support_id="S-2"))

    assert events == [
        SupportHeld(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            support_id="S-2",
            host_store_id=HOST,
            specialty="hv_ev",
            minimum_level=Level.T2,
            starts_at=FRIDAY_AFTERNOON.starts_at,
            ends_at=FRIDAY_AFTERNOON.ends_at,
            hold_expires_at=HOLD_EXPIRES_AT,
            urgent=False,
        )
    ]


def test_a_hold_overlapping_another_hold_is_refused_naming_the_conflict() -> None:
    history = [registered(), published(FRIDAY_ALL_DAY), held(FRIDAY_AFTERNOON, "S-1")]
    one_hour_into_it = TimeWindow(
        FRIDAY_AFTERNOON.starts_at - timedelta(hours=1),
        FRIDAY_AFTERNOON.starts_at + timedelta(hours=1),
    )

    refused = refusal(history, hold(one_hour_into_it, "S-2"))

    assert refused.reason == "SUPPORT_OVERLAP"
    assert refused.metadata["conflicting_support_id"] == "S-1"
    assert refused.metadata["conflicting_status"] == "HELD"
    assert refused.metadata["conflicting_host_store_id"] == HOST
    assert refused.subject == f"technicians/{TECHNICIAN_ID}"


def test_a_hold_overlapping_a_confirmed_booking_is_refused() -> None:
    refused = refusal(BOOKED, hold(FRIDAY_ALL_DAY, "S-2"))

    assert refused.reason == "SUPPORT_OVERLAP"
    assert refused.metadata["conflicting_status"] == "CONFIRMED"


def test_a_hold_touching_a_booking_end_to_start_does_not_overlap() -> None:
    history = [registered(), published(FRIDAY_ALL_DAY), held(FRIDAY_AFTERNOON, "S-1"), confirmed()]

    events = when(given(*history), hold(FRIDAY_MORNING, "S-2"))

    assert [type(e) for e in events] == [SupportHeld]


def test_a_cancelled_support_no_longer_books_the_technician() -> None:
    cancelled = SupportCancelled(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=NOW,
        support_id="S-1",
        host_store_id=HOST,
        reason="customer rebooked",
    )

    events = when(given(*BOOKED, cancelled), hold(FRIDAY_AFTERNOON, "S-2"))

    assert [type(e) for e in events] == [SupportHeld]


def test_a_hold_past_its_expiry_no_longer_blocks_and_its_expiry_is_recorded_first() -> None:
    lapsed = held(FRIDAY_AFTERNOON, "S-1", hold_expires_at=NOW - timedelta(minutes=1))

    events = when(given(registered(), published(FRIDAY_ALL_DAY), lapsed), hold(support_id="S-2"))

    assert [type(e) for e in events] == [SupportHoldExpired, SupportHeld]
    assert events[0].support_id == "S-1"  # type: ignore[union-attr]


def test_a_hold_outside_every_published_window_is_refused() -> None:
    refused = refusal([registered(), published(FRIDAY_MORNING)], hold(FRIDAY_AFTERNOON))

    assert refused.reason == "OUTSIDE_AVAILABILITY"


def test_a_hold_across_a_morning_and_an_afternoon_window_is_accepted() -> None:
    across_noon = TimeWindow(
        FRIDAY_MORNING.ends_at - timedelta(hours=2), FRIDAY_AFTERNOON.starts_at + timedelta(hours=2)
    )
    state = given(
        registered(), published(FRIDAY_MORNING, "W-1"), published(FRIDAY_AFTERNOON, "W-2")
    )

    assert [type(e) for e in when(state, hold(across_noon))] == [SupportHeld]


def test_support_at_the_technicians_own_home_store_is_refused() -> None:
    refused = refusal([registered(), published(FRIDAY_AFTERNOON)], hold(host_store_id=HOME))

    assert refused.reason == "SUPPORT_AT_HOME_STORE"


def test_a_technician_on_planned_leave_during_the_window_cannot_be_held() -> None:
    leave = LeaveScheduled(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=NOW,
        leave_id="L-1",
        starts_at=FRIDAY_AFTERNOON.ends_at - timedelta(hours=1),
        ends_at=FRIDAY_AFTERNOON.ends_at + timedelta(days=3),
        conflicting_support_ids=(),
    )

    refused = refusal([registered(), published(FRIDAY_AFTERNOON), leave], hold())

    assert refused.reason == "TECHNICIAN_ON_LEAVE"
    assert refused.metadata["leave_id"] == "L-1"


def test_a_technician_who_left_cannot_be_held() -> None:
    left = TechnicianLeft(store_id=HOME, technician_id=TECHNICIAN_ID, occurred_at=NOW)

    refused = refusal([registered(), published(FRIDAY_AFTERNOON), left], hold())

    assert refused.reason == "TECHNICIAN_LEFT"


def test_a_t2_cannot_be_held_for_a_t3_need() -> None:
    refused = refusal(
        [registered(level=Level.T2), published(FRIDAY_AFTERNOON)], hold(minimum_level=Level.T3)
    )

    assert refused.reason == "LEVEL_TOO_LOW"
    assert refused.metadata == {"level": "T2", "minimum_level": "T3"}


def test_a_t3_can_be_held_for_a_t2_need() -> None:
    state = given(registered(level=Level.T3), published(FRIDAY_AFTERNOON))

    events = when(state, hold(minimum_level=Level.T2))

    assert [type(e) for e in events] == [SupportHeld]


def test_a_technician_without_the_needed_specialty_cannot_be_held() -> None:
    refused = refusal(
        [registered(specialties=("hv_ev",)), published(FRIDAY_AFTERNOON)],
        hold(specialty="Body Paint"),
    )

    assert refused.reason == "SPECIALTY_MISSING"
    assert refused.metadata["specialty"] == "body_paint"


def test_a_hold_that_would_outlive_the_start_of_the_support_is_malformed() -> None:
    command = hold(hold_expires_at=FRIDAY_AFTERNOON.starts_at + timedelta(minutes=1))

    with pytest.raises(InvalidArgument) as refused:
        when(given(registered(), published(FRIDAY_AFTERNOON)), command)

    assert [v.field for v in refused.value.violations] == ["hold_expires_at"]


def test_a_support_id_is_used_once() -> None:
    with pytest.raises(AlreadyExists):
        when(given(*BOOKED), hold(FRIDAY_MORNING, "S-1"))


# Confirming and expiring


def test_confirming_a_hold_books_the_technician() -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held()]

    events = when(
        given(*history), ConfirmSupport(technician_id=TECHNICIAN_ID, at=NOW, support_id="S-1")
    )

    assert events == [confirmed()]
    state = given(*history, *events)
    assert state is not None and state.supports[0].status is SupportStatus.CONFIRMED


def test_confirming_a_confirmed_support_again_records_nothing() -> None:
    command = ConfirmSupport(technician_id=TECHNICIAN_ID, at=NOW, support_id="S-1")

    assert when(given(*BOOKED), command) == []


def test_a_hold_cannot_be_confirmed_from_the_moment_it_expires() -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held()]
    command = ConfirmSupport(technician_id=TECHNICIAN_ID, at=HOLD_EXPIRES_AT, support_id="S-1")

    refused = refusal(history, command)

    assert refused.reason == "SUPPORT_HOLD_EXPIRED"


def test_an_unconfirmed_hold_expires_when_its_timer_fires() -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held()]
    command = ExpireSupportHold(technician_id=TECHNICIAN_ID, at=HOLD_EXPIRES_AT, support_id="S-1")

    events = when(given(*history), command)

    assert [type(e) for e in events] == [SupportHoldExpired]
    state = given(*history, *events)
    assert state is not None and state.supports[0].status is SupportStatus.EXPIRED


def test_a_timer_firing_before_the_expiry_does_nothing() -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held()]
    early = HOLD_EXPIRES_AT - timedelta(seconds=1)

    events = when(
        given(*history), ExpireSupportHold(technician_id=TECHNICIAN_ID, at=early, support_id="S-1")
    )

    assert events == []


@pytest.mark.parametrize(
    "outcome",
    [
        confirmed(),
        SupportCancelled(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            support_id="S-1",
            host_store_id=HOST,
            reason="no longer needed",
        ),
    ],
    ids=["confirmed", "cancelled"],
)
def test_expiring_a_hold_that_was_confirmed_or_cancelled_does_nothing(
    outcome: TechnicianEvent,
) -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held(), outcome]
    command = ExpireSupportHold(technician_id=TECHNICIAN_ID, at=HOLD_EXPIRES_AT, support_id="S-1")

    assert when(given(*history), command) == []


# On the day and after


def test_checking_in_on_the_day_puts_the_technician_on_loan() -> None:
    command = CheckInSupport(technician_id=TECHNICIAN_ID, at=ON_THE_DAY, support_id="S-1")

    events = when(given(*BOOKED), command)

    assert events == [checked_in(ON_THE_DAY), on_loan(ON_THE_DAY)]
    state = given(*BOOKED, *events)
    assert state is not None and state.status is TechnicianStatus.ON_LOAN


def test_checking_in_a_day_early_is_refused() -> None:
    a_day_early = ON_THE_DAY - timedelta(days=1)

    refused = refusal(
        BOOKED, CheckInSupport(technician_id=TECHNICIAN_ID, at=a_day_early, support_id="S-1")
    )

    assert refused.reason == "CHECK_IN_OUTSIDE_SUPPORT_WINDOW"


def test_checking_in_a_support_that_is_only_held_is_refused() -> None:
    history = [registered(), published(FRIDAY_AFTERNOON), held()]

    refused = refusal(
        history, CheckInSupport(technician_id=TECHNICIAN_ID, at=ON_THE_DAY, support_id="S-1")
    )

    assert refused.reason == "SUPPORT_NOT_CONFIRMED"


def test_completing_records_the_hours_worked_and_brings_the_technician_back_on_duty() -> None:
    history = [*BOOKED, checked_in(ON_THE_DAY), on_loan(ON_THE_DAY)]
    command = CompleteSupport(
        technician_id=TECHNICIAN_ID,
        at=AFTER_THE_JOB,
        support_id="S-1",
        hours_worked=5.5,
        fault_solved=True,
    )

    events = when(given(*history), command)

    assert [type(e) for e in events] == [SupportCompleted, TechnicianStatusChanged]
    assert events[0].hours_worked == 5.5  # type: ignore[union-attr]
    state = given(*history, *events)
    assert state is not None and state.status is TechnicianStatus.ON_DUTY
    assert state.supports[0].status is SupportStatus.COMPLETED


def test_more_hours_than_spent_on_site_are_refused() -> None:
    history = [*BOOKED, checked_in(ON_THE_DAY), on_loan(ON_THE_DAY)]
    command = CompleteSupport(
        technician_id=TECHNICIAN_ID,
        at=ON_THE_DAY + timedelta(hours=3),
        support_id="S-1",
        hours_worked=3.5,
        fault_solved=True,
    )

    refused = refusal(history, command)

    assert refused.reason == "HOURS_EXCEED_TIME_ON_SITE"


def test_cancelling_a_confirmed_support_frees_the_technician() -> None:
    command = CancelSupport(
        technician_id=TECHNICIAN_ID, at=NOW, support_id="S-1", reason="fault solved remotely"
    )

    events = when(given(*BOOKED), command)

    assert [type(e) for e in events] == [SupportCancelled]
    state = given(*BOOKED, *events)
    assert state is not None and state.supports_booking(NOW) == ()


def test_a_support_called_off_after_check_in_is_cancelled_and_ends_the_loan() -> None:
    """The collab saga undoes its hold with CancelSupport when the host calls the work off
    or never reports it: a refusal would end the saga stuck and the technician on loan for
    good (no transfer, status change or departure), with no completion ever to come."""
    history = [*BOOKED, checked_in(ON_THE_DAY), on_loan(ON_THE_DAY)]
    later = ON_THE_DAY + timedelta(hours=1)
    command = CancelSupport(
        technician_id=TECHNICIAN_ID, at=later, support_id="S-1", reason="work abandoned"
    )

    events = when(given(*history), command)

    assert events == [
        SupportCancelled(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=later,
            support_id="S-1",
            host_store_id=HOST,
            reason="work abandoned",
        ),
        TechnicianStatusChanged(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=later,
            status=TechnicianStatus.ON_DUTY,
            previous_status=TechnicianStatus.ON_LOAN,
        ),
    ]
    state = given(*history, *events)
    assert state is not None and state.status is TechnicianStatus.ON_DUTY
    assert state.supports_booking(later) == ()
    assert when(state, command) == []  # the saga's retry changes nothing


def test_a_completed_support_cannot_be_cancelled() -> None:
    command = CancelSupport(
        technician_id=TECHNICIAN_ID, at=AFTER_THE_JOB, support_id="S-1", reason="x"
    )

    assert refusal(DONE, command).reason == "SUPPORT_ALREADY_STARTED"


# Ratings


def rate(by: str, rating: int = 5) -> RateSupport:
    return RateSupport(
        technician_id=TECHNICIAN_ID,
        at=AFTER_THE_JOB,
        support_id="S-1",
        rated_by_store_id=by,
        rating=rating,
        comment="found the BMS fault in an hour",
    )


def test_the_host_store_rates_the_support_once_it_is_completed() -> None:
    events = when(given(*DONE), rate(HOST, 5))

    assert events == [
        SupportRated(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=AFTER_THE_JOB,
            support_id="S-1",
            host_store_id=HOST,
            rated_by_store_id=HOST,
            rating=5,
            comment="found the BMS fault in an hour",
        )
    ]


def test_each_of_the_two_stores_rates_a_support_only_once() -> None:
    first = when(given(*DONE), rate(HOST))

    assert when(given(*DONE, *first), rate(HOME))
    assert refusal([*DONE, *first], rate(HOST)).reason == "SUPPORT_ALREADY_RATED"


def test_a_store_that_took_no_part_cannot_rate_the_support() -> None:
    assert refusal(DONE, rate("DG01")).reason == "RATER_NOT_PARTY_TO_SUPPORT"


def test_a_support_is_not_rated_before_it_is_completed() -> None:
    assert refusal(BOOKED, rate(HOST)).reason == "SUPPORT_NOT_COMPLETED"


@pytest.mark.parametrize("rating", [0, 6])
def test_a_rating_outside_one_to_five_is_malformed(rating: int) -> None:
    with pytest.raises(InvalidArgument):
        when(given(*DONE), rate(HOST, rating))
