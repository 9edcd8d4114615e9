"""Support availability windows: how they are expressed, published and withdrawn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.errors import AlreadyExists, NotFound, RuleViolated
from services.workforce.domain.availability import PartOfDay, TimeWindow, covers, window_on
from services.workforce.domain.commands import PublishAvailability, WithdrawAvailability
from services.workforce.domain.events import AvailabilityPublished, AvailabilityWithdrawn

from .examples import (
    CHINA,
    FRIDAY,
    FRIDAY_AFTERNOON,
    FRIDAY_ALL_DAY,
    FRIDAY_MORNING,
    HOME,
    NOW,
    TECHNICIAN_ID,
    WEDNESDAY,
    confirmed,
    given,
    held,
    published,
    registered,
    when,
)


def publish(window: TimeWindow, window_id: str = "W-1") -> PublishAvailability:
    return PublishAvailability(
        technician_id=TECHNICIAN_ID,
        at=NOW,
        window_id=window_id,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
    )


def test_wednesday_all_day_is_the_stores_working_day_in_utc() -> None:
    window = window_on(WEDNESDAY, PartOfDay.ALL_DAY, CHINA)

    assert window == TimeWindow(
        datetime(2026, 11, 4, 0, 0, tzinfo=UTC), datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    )


def test_friday_afternoon_runs_from_noon_to_six_in_the_store() -> None:
    window = window_on(FRIDAY, PartOfDay.AFTERNOON, CHINA)

    assert window.starts_at == datetime(2026, 11, 6, 12, 0, tzinfo=CHINA)
    assert window.ends_at == datetime(2026, 11, 6, 18, 0, tzinfo=CHINA)


def test_touching_windows_do_not_overlap() -> None:
    assert not FRIDAY_MORNING.overlaps(FRIDAY_AFTERNOON)
    assert not FRIDAY_AFTERNOON.overlaps(FRIDAY_MORNING)
    assert FRIDAY_ALL_DAY.overlaps(FRIDAY_AFTERNOON)


def test_a_morning_and_an_afternoon_together_cover_a_span_across_noon() -> None:
    across_noon = TimeWindow(
        FRIDAY_MORNING.ends_at - timedelta(hours=2), FRIDAY_AFTERNOON.starts_at + timedelta(hours=2)
    )

    assert covers([FRIDAY_AFTERNOON, FRIDAY_MORNING], across_noon)
    assert not covers([FRIDAY_MORNING], across_noon)


def test_a_window_with_a_gap_does_not_cover_the_span_across_the_gap() -> None:
    late_afternoon = TimeWindow(
        FRIDAY_AFTERNOON.starts_at + timedelta(hours=1), FRIDAY_AFTERNOON.ends_at
    )
    across_gap = TimeWindow(FRIDAY_MORNING.starts_at, late_afternoon.ends_at)

    assert not covers([FRIDAY_MORNING, late_afternoon], across_gap)


def test_publishing_a_window_records_it_in_utc() -> None:
    local = PublishAvailability(
        technician_id=TECHNICIAN_ID,
        at=NOW,
        window_id="W-1",
        starts_at=datetime(2026, 11, 6, 12, 0, tzinfo=CHINA),
        ends_at=datetime(2026, 11, 6, 18, 0, tzinfo=CHINA),
    )

    events = when(given(registered()), local)

    assert events == [
        AvailabilityPublished(
            store_id=HOME,
            technician_id=TECHNICIAN_ID,
            occurred_at=NOW,
            window_id="W-1",
            starts_at=datetime(2026, 11, 6, 4, 0, tzinfo=UTC),
            ends_at=datetime(2026, 11, 6, 10, 0, tzinfo=UTC),
        )
    ]
    assert isinstance(events[0], AvailabilityPublished) and events[0].starts_at.tzinfo is UTC


def test_publishing_the_same_window_again_records_nothing() -> None:
    assert when(given(registered(), published(FRIDAY_AFTERNOON)), publish(FRIDAY_AFTERNOON)) == []


def test_reusing_a_window_id_for_other_times_is_refused() -> None:
    with pytest.raises(AlreadyExists):
        when(given(registered(), published(FRIDAY_AFTERNOON)), publish(FRIDAY_MORNING))


def test_a_window_that_has_already_ended_is_refused() -> None:
    past = TimeWindow(NOW - timedelta(hours=5), NOW)

    with pytest.raises(RuleViolated) as refused:
        when(given(registered()), publish(past))

    assert refused.value.reason == "AVAILABILITY_IN_PAST"


def test_withdrawing_a_window_records_it() -> None:
    events = when(
        given(registered(), published(FRIDAY_AFTERNOON)),
        WithdrawAvailability(technician_id=TECHNICIAN_ID, at=NOW, window_id="W-1"),
    )

    assert events == [
        AvailabilityWithdrawn(
            store_id=HOME, technician_id=TECHNICIAN_ID, occurred_at=NOW, window_id="W-1"
        )
    ]


def test_withdrawing_a_window_a_booked_support_relies_on_is_refused_naming_it() -> None:
    state = given(registered(), published(FRIDAY_AFTERNOON), held(), confirmed())

    with pytest.raises(RuleViolated) as refused:
        when(state, WithdrawAvailability(technician_id=TECHNICIAN_ID, at=NOW, window_id="W-1"))

    assert refused.value.reason == "AVAILABILITY_BOOKED"
    assert refused.value.metadata["support_id"] == "S-1"


def test_withdrawing_a_window_is_allowed_when_another_still_covers_the_support() -> None:
    state = given(
        registered(),
        published(FRIDAY_AFTERNOON, "W-1"),
        published(FRIDAY_ALL_DAY, "W-2"),
        held(),
    )

    events = when(state, WithdrawAvailability(technician_id=TECHNICIAN_ID, at=NOW, window_id="W-1"))

    assert [type(e) for e in events] == [AvailabilityWithdrawn]


def test_withdrawing_an_unknown_window_is_not_found() -> None:
    with pytest.raises(NotFound):
        when(
            given(registered()),
            WithdrawAvailability(technician_id=TECHNICIAN_ID, at=NOW, window_id="W-9"),
        )
