"""Lead time: planned support is booked at least 72 hours ahead; urgent support may be shorter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel.errors import InvalidArgument, RuleViolated
from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.events import SupportHeld
from services.workforce.domain.lead_time import LeadTimePolicy
from services.workforce.domain.technician import technician_decider

from .examples import NOW, given, hold, published, registered, when

SEVENTY_TWO_HOURS = timedelta(hours=72)


def starting_in(lead: timedelta) -> TimeWindow:
    return TimeWindow(NOW + lead, NOW + lead + timedelta(hours=4))


def test_planned_support_starting_exactly_72_hours_ahead_is_held() -> None:
    window = starting_in(SEVENTY_TWO_HOURS)
    state = given(registered(), published(window))

    events = when(state, hold(window))

    assert [type(e) for e in events] == [SupportHeld]
    assert isinstance(events[0], SupportHeld) and events[0].urgent is False


def test_planned_support_starting_a_second_short_of_72_hours_is_refused() -> None:
    window = starting_in(SEVENTY_TWO_HOURS - timedelta(seconds=1))
    state = given(registered(), published(window))

    with pytest.raises(RuleViolated) as refused:
        when(state, hold(window))

    assert refused.value.reason == "LEAD_TIME_TOO_SHORT"
    assert refused.value.metadata["minimum_lead_hours"] == "72"
    assert refused.value.metadata["earliest_planned_start"] == (NOW + SEVENTY_TWO_HOURS).isoformat()


def test_urgent_support_may_start_sooner_and_is_marked_urgent() -> None:
    window = starting_in(timedelta(hours=3))
    state = given(registered(), published(window))

    events = when(state, hold(window, urgent=True, hold_expires_at=NOW + timedelta(hours=1)))

    assert len(events) == 1 and isinstance(events[0], SupportHeld)
    assert events[0].urgent is True


def test_urgent_support_cannot_start_in_the_past() -> None:
    window = starting_in(timedelta(hours=-1))
    state = given(registered(), published(window))

    with pytest.raises(RuleViolated) as refused:
        when(state, hold(window, urgent=True, hold_expires_at=NOW + timedelta(minutes=30)))

    assert refused.value.reason == "SUPPORT_STARTS_IN_PAST"


def test_the_minimum_lead_time_is_a_policy_the_service_configures() -> None:
    two_days = technician_decider(LeadTimePolicy(minimum=timedelta(hours=48)))
    window = starting_in(timedelta(hours=50))
    state = given(registered(), published(window))

    events = when(state, hold(window), two_days)

    assert [type(e) for e in events] == [SupportHeld]
    with pytest.raises(RuleViolated):
        when(state, hold(window))


def test_a_support_asked_for_in_time_keeps_its_lead_when_a_later_technician_is_held() -> None:
    """SOP 2: the host books 3 days ahead; when the first lender declines, the next one is
    held later, and the lead is still counted from when the host asked."""
    window = starting_in(timedelta(hours=40))
    state = given(registered(), published(window))

    events = when(state, hold(window, requested_at=NOW - timedelta(hours=32)))

    assert [type(e) for e in events] == [SupportHeld]
    with pytest.raises(RuleViolated) as late:
        when(state, hold(window, requested_at=NOW - timedelta(hours=31)))
    assert late.value.reason == "LEAD_TIME_TOO_SHORT"
    assert late.value.metadata["lead_hours"] == "71"


def test_a_request_time_in_the_future_is_refused() -> None:
    window = starting_in(timedelta(hours=80))
    state = given(registered(), published(window))

    with pytest.raises(InvalidArgument) as bad:
        when(state, hold(window, requested_at=NOW + timedelta(minutes=6)))

    assert [f.field for f in bad.value.violations] == ["requested_at"]
    # A few minutes of clock skew between the caller and workforce are allowed.
    assert when(state, hold(window, requested_at=NOW + timedelta(minutes=4)))


def test_a_support_that_starts_in_the_past_is_refused_however_early_it_was_asked_for() -> None:
    window = starting_in(timedelta(hours=-1))
    state = given(registered(), published(window))

    with pytest.raises(RuleViolated) as refused:
        when(
            state,
            hold(
                window,
                requested_at=NOW - timedelta(days=5),
                hold_expires_at=NOW + timedelta(minutes=30),
            ),
        )

    assert refused.value.reason == "SUPPORT_STARTS_IN_PAST"
