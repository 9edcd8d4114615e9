"""An operator's retry and cancel (kernel/saga/admin.py), decided by the saga definition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Reply, Status
from kernel.testing.saga import SagaScenario
from tests.unit.kernel.saga_toy import (
    TRANSFER,
    NextSourceChosen,
    ReservationReleased,
    ShipmentRefused,
    TransferApproved,
    TransferCompensated,
    TransferFailed,
    TransferRejected,
    TransferRequested,
    release_reservation,
    reserve_at_source,
    ship_to_requester,
    transfer,
)

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
# Two sources: a cancel must not go on to the second.
REQUESTED = TransferRequested("T-1", "GZ01", ("SZ01", "DG01"), "P-100", 2, START)
DATA = transfer(None, REQUESTED)


@dataclass(frozen=True)
class StepRetried:
    transfer_id: str
    reason: str

    @classmethod
    def of(cls, t: Any, reply: Reply) -> StepRetried:
        return cls(t.transfer_id, reply.reason)


@dataclass(frozen=True)
class Cancelled:
    transfer_id: str
    reason: str

    @classmethod
    def of(cls, t: Any, reply: Reply) -> Cancelled:
        return cls(t.transfer_id, reply.reason)


OPERATED = dataclasses.replace(TRANSFER, operator_retried=StepRetried, operator_cancelled=Cancelled)


def scenario() -> SagaScenario[Any]:
    return SagaScenario(OPERATED, saga_id="T-1", clock=ManualClock(START))


def reserved() -> SagaScenario[Any]:
    return scenario().when_started(REQUESTED).when_replied("reserve", reservation_id="T-1")


def stuck() -> SagaScenario[Any]:
    return (
        reserved()
        .when_signalled(TransferRejected("T-1", "SZ01", "no", START))
        .when_refused("reserve.undo", "PERMISSION_DENIED")
        .then_status(Status.FAILED)
    )


def test_a_failed_undo_retried_reissues_it_under_the_same_request_id() -> None:
    run = stuck()
    first = run.request_id("reserve.undo")
    run.when_operator_retries("ops@hq").then_event_types(StepRetried).then_calls(
        release_reservation(DATA)
    ).then_status(Status.COMPENSATING)
    assert run.recorded[-1].reason == "retried by ops@hq"
    assert run.request_id("reserve.undo") == first
    # The undo now succeeds: the saga carries on as if it never failed (the next source).
    run.when_replied("reserve.undo").then_event_types(ReservationReleased, NextSourceChosen)


def test_a_call_still_retrying_is_reissued_now() -> None:
    run = scenario().when_started(REQUESTED)
    run.when_operator_retries().then_event_types(StepRetried).then_calls(
        reserve_at_source(DATA)
    ).then_status(Status.RUNNING)


def test_a_saga_waiting_for_an_answer_has_nothing_to_retry() -> None:
    with pytest.raises(RuleViolated) as refused:
        reserved().when_operator_retries()
    assert refused.value.reason == "SAGA_NOTHING_TO_RETRY"


def test_a_cancelled_saga_undoes_its_steps_and_ends_compensated_without_a_next_round() -> None:
    run = reserved().when_operator_cancels("ops@hq", "customer left")
    run.then_event_types(Cancelled).then_calls(release_reservation(DATA))
    assert run.recorded[-1].reason == "cancelled by ops@hq: customer left"
    assert run.deadlines == {}  # the approval deadline went with it
    run.when_replied("reserve.undo").then_event_types(ReservationReleased, TransferCompensated)
    run.then_status(Status.COMPENSATED)


def test_a_cancel_while_a_call_is_in_flight_undoes_that_call_too() -> None:
    run = scenario().when_started(REQUESTED).when_operator_cancels()
    assert "reserve" not in run.outbox
    run.then_event_types(Cancelled).then_calls(release_reservation(DATA))


def test_a_step_that_cannot_be_undone_is_not_cancelled_but_retried() -> None:
    run = reserved().when_signalled(TransferApproved("T-1", "SZ01", START))
    with pytest.raises(RuleViolated) as refused:
        run.when_operator_cancels()
    assert refused.value.reason == "SAGA_CANNOT_CANCEL"
    assert "ship" in run.outbox
    run.when_operator_retries().then_calls(ship_to_requester(DATA))


def stops_at_ship() -> SagaScenario[Any]:
    """The toy saga whose ship step is past the point of no return."""
    steps = list(OPERATED.steps)
    steps[-1] = dataclasses.replace(steps[-1], stops_on_failure=True)
    saga = dataclasses.replace(OPERATED, steps=tuple(steps))
    run = SagaScenario(saga, saga_id="T-1", clock=ManualClock(START)).when_started(REQUESTED)
    run.when_replied("reserve", reservation_id="T-1")
    return run.when_signalled(TransferApproved("T-1", "SZ01", START))


@pytest.mark.parametrize("fails", ["refused", "exhausted"])
def test_a_step_that_stops_on_failure_undoes_nothing_and_an_operator_retries_it(
    fails: str,
) -> None:
    run = stops_at_ship()
    first = run.request_id("ship")
    if fails == "refused":
        run.when_refused("ship", "STORE_CLOSED")
        run.then_event_types(ShipmentRefused, TransferFailed)
    else:
        run.when_exhausted("ship")
        run.then_event_types(TransferFailed)  # no `expired` event declared
    run.then_no_calls().then_status(Status.FAILED)
    assert run.state.reason == {"refused": "ship refused", "exhausted": "ship failed"}[fails]
    with pytest.raises(RuleViolated) as refused:
        run.when_operator_cancels()
    assert refused.value.reason == "SAGA_ALREADY_ENDED"
    run.when_operator_retries().then_event_types(StepRetried).then_calls(
        ship_to_requester(DATA)
    ).then_status(Status.RUNNING)
    assert run.request_id("ship") == first
    run.when_replied("ship").then_status(Status.COMPLETED)


def stops_at_ship_when_unanswered() -> SagaScenario[Any]:
    """The toy saga whose ship step may have acted when it goes unanswered (a cancellation
    elsewhere that cannot be taken back by undoing the steps before it)."""
    steps = list(OPERATED.steps)
    steps[-1] = dataclasses.replace(steps[-1], stops_when_unanswered=True)
    saga = dataclasses.replace(OPERATED, steps=tuple(steps))
    run = SagaScenario(saga, saga_id="T-1", clock=ManualClock(START)).when_started(REQUESTED)
    run.when_replied("reserve", reservation_id="T-1")
    return run.when_signalled(TransferApproved("T-1", "SZ01", START))


def test_a_step_that_stops_when_unanswered_waits_for_an_operator_and_its_retry() -> None:
    run = stops_at_ship_when_unanswered()
    first = run.request_id("ship")
    run.when_exhausted("ship").then_event_types(TransferFailed).then_no_calls()
    run.then_status(Status.FAILED)
    assert run.state.reason == "ship failed"
    run.when_operator_retries().then_event_types(StepRetried).then_calls(
        ship_to_requester(DATA)
    ).then_status(Status.RUNNING)
    assert run.request_id("ship") == first
    run.when_replied("ship").then_status(Status.COMPLETED)


def test_a_step_that_stops_when_unanswered_still_compensates_a_refusal() -> None:
    run = stops_at_ship_when_unanswered()
    run.when_refused("ship", "STORE_CLOSED").then_status(Status.COMPENSATING)
    run.then_calls(release_reservation(DATA))


@dataclass(frozen=True)
class ShipmentUnanswered:
    transfer_id: str

    @classmethod
    def of(cls, t: Any, reply: Reply) -> ShipmentUnanswered:
        return cls(t.transfer_id)


@pytest.mark.parametrize("flag", ["stops_on_failure", "stops_when_unanswered"])
def test_a_stopping_step_whose_deadline_passes_stops_for_an_operator_too(flag: str) -> None:
    # Its deadline passing leaves its call unanswered, as retries run out do: undoing the
    # steps before it is what the step forbids, and ending without undoing them (the
    # reservation kept) is worse.
    steps = list(OPERATED.steps)
    steps[-1] = dataclasses.replace(
        steps[-1], deadline=timedelta(minutes=30), expired=ShipmentUnanswered, **{flag: True}
    )
    saga = dataclasses.replace(OPERATED, steps=tuple(steps))
    run = SagaScenario(saga, saga_id="T-1", clock=ManualClock(START)).when_started(REQUESTED)
    run.when_replied("reserve", reservation_id="T-1")
    run.when_signalled(TransferApproved("T-1", "SZ01", START))
    run.when_time_passes(timedelta(minutes=31))
    run.then_event_types(ShipmentUnanswered, TransferFailed).then_no_calls()
    run.then_status(Status.FAILED)
    assert run.state.reason == "ship expired"
    run.when_operator_retries().then_calls(ship_to_requester(DATA)).then_status(Status.RUNNING)


@pytest.mark.parametrize("end", ["compensated", "failed"])
def test_an_ended_saga_cannot_be_cancelled(end: str) -> None:
    run = stuck() if end == "failed" else reserved().when_operator_cancels()
    if end == "compensated":
        run.when_replied("reserve.undo")
    with pytest.raises(RuleViolated) as refused:
        run.when_operator_cancels()
    assert refused.value.reason == "SAGA_ALREADY_ENDED"
    assert end in str(refused.value)


def test_a_saga_type_without_operator_events_refuses_both() -> None:
    run = SagaScenario(TRANSFER, saga_id="T-1").when_started(REQUESTED)
    for act in (run.when_operator_retries, run.when_operator_cancels):
        with pytest.raises(RuleViolated) as refused:
            act()
        assert refused.value.reason == "SAGA_HAS_NO_OPERATOR_EVENTS"


@dataclass(frozen=True)
class ResolvedByHand:
    transfer_id: str
    operator: str
    reason: str

    @classmethod
    def of(cls, t: Any, reply: Reply) -> ResolvedByHand:
        return cls(t.transfer_id, reply.response["operator"], reply.reason)


RESOLVABLE = dataclasses.replace(OPERATED, operator_resolved=ResolvedByHand)


def resolvable(run: SagaScenario[Any]) -> SagaScenario[Any]:
    run.saga = RESOLVABLE
    return run


def test_a_failed_undo_resolved_by_hand_ends_resolved_and_drops_the_undo_for_good() -> None:
    run = resolvable(stuck())
    # Retried, and refused again: the undo is what an operator set right by hand.
    run.when_operator_retries().when_refused("reserve.undo", "PERMISSION_DENIED")
    run.when_operator_resolves("ops@hq", "reservation released at the counter")
    run.then_event_types(ResolvedByHand).then_no_calls().then_status(Status.RESOLVED)
    assert run.last.cancelled_calls == ("reserve.undo",)
    assert run.recorded[-1] == ResolvedByHand(
        "T-1", "ops@hq", "resolved by ops@hq: reservation released at the counter"
    )
    # Neither undone nor completed, and no next source asked: it says what was left.
    assert run.state.reason == "resolved by hand: reserve.undo failed"
    assert run.state.status.terminal


def test_a_step_that_stopped_on_failure_resolved_by_hand_drops_its_own_call() -> None:
    run = stops_at_ship()
    run.saga = dataclasses.replace(run.saga, operator_resolved=ResolvedByHand)
    run.when_refused("ship", "STORE_CLOSED").when_operator_resolves("ops@hq", "shipped by hand")
    run.then_event_types(ResolvedByHand).then_status(Status.RESOLVED)
    assert run.last.cancelled_calls == ("ship",)
    assert run.state.reason == "resolved by hand: ship refused"


@pytest.mark.parametrize("at", ["running", "waiting", "compensating"])
def test_a_saga_still_acting_on_its_own_is_not_resolved(at: str) -> None:
    run = resolvable(scenario().when_started(REQUESTED))
    if at == "waiting":
        run.when_replied("reserve", reservation_id="T-1")
    elif at == "compensating":
        run.when_replied("reserve", reservation_id="T-1").when_operator_cancels()
    status = run.state.status
    with pytest.raises(RuleViolated) as refused:
        run.when_operator_resolves("ops@hq", "fixed")
    assert refused.value.reason == "SAGA_NOT_FAILED"
    assert f"is {status.value}, not failed" in str(refused.value)
    assert run.state.status is status


@pytest.mark.parametrize("end", ["completed", "compensated", "resolved"])
def test_an_ended_saga_is_not_resolved_retried_or_cancelled(end: str) -> None:
    run = resolvable(reserved())
    if end == "completed":
        run.when_signalled(TransferApproved("T-1", "SZ01", START)).when_replied("ship")
    elif end == "compensated":
        run.when_operator_cancels().when_replied("reserve.undo")
    else:
        run = resolvable(stuck()).when_operator_resolves("ops@hq", "fixed")
    run.then_status(Status(end))
    for act in (run.when_operator_resolves, run.when_operator_retries, run.when_operator_cancels):
        with pytest.raises(RuleViolated) as refused:
            act()
        assert refused.value.reason == "SAGA_ALREADY_ENDED"
        assert f"already ended {end}" in str(refused.value)


def test_a_failed_saga_refuses_a_cancel_and_says_what_to_do_instead() -> None:
    with pytest.raises(RuleViolated) as refused:
        resolvable(stuck()).when_operator_cancels()
    assert "retry it, or resolve it by hand" in str(refused.value)


def test_a_saga_type_without_a_resolve_event_refuses_it() -> None:
    with pytest.raises(RuleViolated) as refused:
        stuck().when_operator_resolves()
    assert refused.value.reason == "SAGA_HAS_NO_OPERATOR_EVENTS"
