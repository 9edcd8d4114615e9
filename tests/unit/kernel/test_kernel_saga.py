"""The saga definition's decisions, branch by branch, with the scenario helper (no I/O)."""

from __future__ import annotations

import dataclasses
from dataclasses import make_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Await, Call, Invoke, Reply, Saga, Status, Wait
from kernel.saga.decisions import DeadlinePassed, Decision, Replied
from kernel.saga.steps import Outcome
from kernel.testing.saga import SagaScenario
from tests.unit.kernel.saga_toy import (
    TRANSFER,
    ApprovalExpired,
    ApprovalRequested,
    NextSourceChosen,
    ReservationReleased,
    ShipmentRefused,
    SourceRefused,
    SourceReserved,
    SourceUnanswered,
    TransferApproved,
    TransferCompensated,
    TransferCompleted,
    TransferFailed,
    TransferRejected,
    TransferRequested,
    TransferShipped,
    release_reservation,
    reserve_at_source,
    ship_to_requester,
    transfer,
)

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
REQUESTED = TransferRequested("T-1", "GZ01", ("SZ01",), "P-100", 2, START)
DATA = transfer(None, REQUESTED)


def scenario() -> SagaScenario[Any]:
    return SagaScenario(TRANSFER, saga_id="T-1", clock=ManualClock(START))


def reserved() -> SagaScenario[Any]:
    return scenario().when_started(REQUESTED).when_replied("reserve", reservation_id="T-1")


def test_a_started_transfer_reserves_at_the_source_first() -> None:
    (
        scenario()
        .when_started(REQUESTED)
        .then_events(REQUESTED)
        .then_calls(reserve_at_source(DATA))
        .then_status(Status.RUNNING)
    )


def test_a_reservation_asks_the_source_for_approval_with_a_ten_minute_deadline() -> None:
    (
        scenario()
        .when_started(REQUESTED)
        .then_deadline("reserve", START + timedelta(minutes=5))
        .when_replied("reserve")
        .then_events(SourceReserved("T-1", "SZ01", START), ApprovalRequested("T-1", "SZ01", START))
        .then_no_calls()
        .then_deadline("approval", START + timedelta(minutes=10))
        .then_deadline("reserve", None)
    )


def test_a_source_silent_past_its_deadline_is_released_in_case_it_reserved_late() -> None:
    run = scenario().when_started(REQUESTED).when_time_passes(timedelta(minutes=5))
    run.then_event_types(SourceUnanswered).then_calls(release_reservation(DATA))
    assert run.last.cancelled_calls == ("reserve",)
    run.when_replied("reserve.undo").then_status(Status.COMPENSATED)


def test_a_reservation_unanswered_within_the_retries_is_released_too() -> None:
    (
        scenario()
        .when_started(REQUESTED)
        .when_exhausted("reserve")
        .then_event_types(SourceUnanswered)
        .then_calls(release_reservation(DATA))
        .when_refused("reserve.undo", "NOT_FOUND")
        .then_event_types(ReservationReleased, TransferCompensated)
        .then_status(Status.COMPENSATED)
    )


def test_an_approval_ships_and_the_shipment_completes_the_saga() -> None:
    run = (
        reserved()
        .when_signalled(TransferApproved("T-1", "SZ01", START))
        .then_events(TransferApproved("T-1", "SZ01", START))
        .then_calls(ship_to_requester(DATA))
    )
    assert run.deadlines == {}, "the approval deadline is cancelled once answered"
    (
        run.when_replied("ship")
        .then_event_types(TransferShipped, TransferCompleted)
        .then_no_calls()
        .then_status(Status.COMPLETED)
    )


def test_a_source_refusing_the_reservation_ends_compensated_with_nothing_to_undo() -> None:
    (
        scenario()
        .when_started(REQUESTED)
        .when_refused("reserve", "INSUFFICIENT_AVAILABLE_STOCK")
        .then_events(
            SourceRefused("T-1", "SZ01", "INSUFFICIENT_AVAILABLE_STOCK", START),
            TransferCompensated("T-1", "SZ01", "INSUFFICIENT_AVAILABLE_STOCK", START),
        )
        .then_no_calls()
        .then_status(Status.COMPENSATED)
    )


def test_a_rejection_releases_the_reservation_then_ends_compensated() -> None:
    (
        reserved()
        .when_signalled(TransferRejected("T-1", "SZ01", "needed here", START))
        .then_event_types(TransferRejected)
        .then_calls(release_reservation(DATA))
        .then_status(Status.COMPENSATING)
        .when_replied("reserve.undo")
        .then_event_types(ReservationReleased, TransferCompensated)
        .then_status(Status.COMPENSATED)
    )


def test_silence_past_the_deadline_releases_the_reservation() -> None:
    run = reserved().when_time_passes(timedelta(minutes=9, seconds=59)).then_no_calls()
    assert run.last.events == ()
    (
        run.when_time_passes(timedelta(seconds=1))
        .then_events(ApprovalExpired("T-1", "SZ01", START + timedelta(minutes=10)))
        .then_calls(release_reservation(DATA))
        .when_replied("reserve.undo")
        .then_event_types(ReservationReleased, TransferCompensated)
        .then_status(Status.COMPENSATED)
    )


def test_an_approval_after_the_deadline_is_refused() -> None:
    run = reserved().when_time_passes(timedelta(minutes=10))
    with pytest.raises(RuleViolated) as refused:
        run.when_signalled(TransferApproved("T-1", "SZ01", run.clock.now()))
    assert refused.value.reason == "SAGA_NOT_AWAITING"
    assert run.state.status is Status.COMPENSATING


def test_a_refused_shipment_releases_the_reservation() -> None:
    (
        reserved()
        .when_signalled(TransferApproved("T-1", "SZ01", START))
        .when_refused("ship", "RESERVATION_TOO_SMALL")
        .then_event_types(ShipmentRefused)
        .then_calls(release_reservation(DATA))
        .when_replied("reserve.undo")
        .then_status(Status.COMPENSATED)
    )


def test_a_release_finding_nothing_to_release_counts_as_undone() -> None:
    (
        reserved()
        .when_signalled(TransferRejected("T-1", "SZ01", "no", START))
        .when_refused("reserve.undo", "NOT_FOUND")
        .then_event_types(ReservationReleased, TransferCompensated)
        .then_status(Status.COMPENSATED)
    )


@pytest.mark.parametrize("how", ["refused", "exhausted"])
def test_a_compensation_that_cannot_be_done_ends_failed(how: str) -> None:
    run = reserved().when_signalled(TransferRejected("T-1", "SZ01", "no", START))
    if how == "refused":
        run.when_refused("reserve.undo", "PERMISSION_DENIED")
    else:
        run.when_exhausted("reserve.undo")
    run.then_event_types(TransferFailed).then_no_calls().then_status(Status.FAILED)


def test_a_saga_starts_once() -> None:
    with pytest.raises(RuleViolated) as refused:
        reserved().when_started(REQUESTED)
    assert refused.value.reason == "SAGA_ALREADY_STARTED"


def test_a_saga_resumed_after_a_crash_makes_the_same_call_with_the_same_request_id() -> None:
    before_crash = reserved()
    resumed_twice = [
        SagaScenario(TRANSFER, saga_id="T-1", clock=ManualClock(START))
        .given(*before_crash.recorded)
        .when_signalled(TransferApproved("T-1", "SZ01", START))
        .then_calls(ship_to_requester(DATA))
        for _ in range(2)
    ]
    ids = {run.request_id("ship") for run in resumed_twice}
    assert len(ids) == 1
    assert before_crash.request_id("reserve") not in ids
    assert SagaScenario(TRANSFER, saga_id="T-2").request_id("ship") not in ids


def test_a_reply_the_saga_no_longer_waits_for_changes_nothing() -> None:
    run = reserved()
    late = TRANSFER.decide(run.state, Replied("reserve", Reply(START, Outcome.OK)))
    assert late.events == () and late.calls == ()


# SOP 1's next source: a refusal or silence moves the transfer to the next candidate.

TWO_SOURCES = TransferRequested("T-1", "GZ01", ("SZ01", "DG01"), "P-100", 2, START)


def at_source(store: str) -> Any:
    return dataclasses.replace(transfer(None, TWO_SOURCES), source=("SZ01", "DG01").index(store))


def test_a_rejection_releases_the_reservation_and_asks_the_next_source() -> None:
    run = (
        SagaScenario(TRANSFER, saga_id="T-1", clock=ManualClock(START))
        .when_started(TWO_SOURCES)
        .when_replied("reserve")
        .when_signalled(TransferRejected("T-1", "SZ01", "needed here", START))
        .then_calls(release_reservation(at_source("SZ01")))
        .when_replied("reserve.undo")
        .then_events(
            ReservationReleased("T-1", "SZ01", START),
            NextSourceChosen("T-1", "DG01", START),
        )
        .then_calls(reserve_at_source(at_source("DG01")))
        .then_status(Status.RUNNING)
    )
    assert set(run.outbox) == {"reserve#1"}, "each round's calls have keys of their own"
    assert run.request_id("reserve#1") != run.request_id("reserve")
    (
        run.when_replied("reserve#1")
        .then_event_types(SourceReserved, ApprovalRequested)
        .then_deadline("approval#1", START + timedelta(minutes=10))
        .when_signalled(TransferApproved("T-1", "DG01", START))
        .then_calls(ship_to_requester(at_source("DG01")))
    )


def test_with_no_source_left_the_transfer_ends_compensated() -> None:
    run = (
        SagaScenario(TRANSFER, saga_id="T-1", clock=ManualClock(START))
        .when_started(TWO_SOURCES)
        .when_refused("reserve", "INSUFFICIENT_AVAILABLE_STOCK")
        .then_event_types(SourceRefused, NextSourceChosen)
        .when_replied("reserve#1")
        .when_time_passes(timedelta(minutes=10))
        .then_event_types(ApprovalExpired)
        .then_calls(release_reservation(at_source("DG01")))
        .when_replied("reserve#1.undo")
        .then_event_types(ReservationReleased, TransferCompensated)
        .then_status(Status.COMPENSATED)
    )
    stale = TRANSFER.decide(run.state, DeadlinePassed("approval", START))
    assert stale == Decision()


# Compensation order, with a saga of three undoable calls.


def _events(*names: str) -> list[type[Any]]:
    def of(cls: type[Any], data: Any, reply: Reply) -> Any:
        return cls(at=reply.at)

    made = []
    for name in names:
        cls = make_dataclass(name, [("at", datetime)], frozen=True)
        cls.of = classmethod(of)  # type: ignore[attr-defined]
        made.append(cls)
    return made


(Started, ADone, ARefused, AExpired, AUndone, BDone, BRefused, BExpired, BUndone, CDone,
 CRefused, CExpired, CUndone, Completed, Compensated, Failed) = _events(
    "Started", "ADone", "ARefused", "AExpired", "AUndone", "BDone", "BRefused", "BExpired",
    "BUndone", "CDone", "CRefused", "CExpired", "CUndone", "Completed", "Compensated", "Failed",
)  # fmt: skip


def _call(name: str) -> Any:
    return lambda data: Call("p", name)


THREE = Saga(
    name="three",
    started_by=Started,
    evolve_data=lambda data, event: "data",
    steps=(
        Invoke("a", _call("A"), ADone, ARefused, _call("UndoA"), AUndone, expired=AExpired),
        Invoke("b", _call("B"), BDone, BRefused, _call("UndoB"), BUndone, expired=BExpired),
        Invoke(
            "c",
            _call("C"),
            CDone,
            CRefused,
            undo=_call("UndoC"),
            undone=CUndone,
            deadline=timedelta(minutes=1),
            expired=CExpired,
        ),
    ),
    completed=Completed,
    compensated=Compensated,
    failed=Failed,
)


def three() -> SagaScenario[Any]:
    return (
        SagaScenario(THREE, clock=ManualClock(START))
        .when_started(Started(START))
        .when_replied("a")
        .when_replied("b")
        .then_calls(Call("p", "C"))
    )


def test_compensations_run_in_reverse_order_of_the_completed_steps() -> None:
    (
        three()
        .when_refused("c", "NO")
        .then_event_types(CRefused)
        .then_calls(Call("p", "UndoB"))
        .when_replied("b.undo")
        .then_event_types(BUndone)
        .then_calls(Call("p", "UndoA"))
        .when_replied("a.undo")
        .then_event_types(AUndone, Compensated)
        .then_status(Status.COMPENSATED)
    )


def test_a_call_expired_in_flight_is_undone_too_and_its_late_reply_ignored() -> None:
    run = three().when_time_passes(timedelta(minutes=1))
    run.then_event_types(CExpired).then_calls(Call("p", "UndoC"))
    assert run.last.cancelled_calls == ("c",)
    assert "c" not in run.outbox
    late = THREE.decide(run.state, _replied("c"))
    assert late.events == ()
    run.when_replied("c.undo").then_calls(Call("p", "UndoB"))


def _replied(key: str) -> Any:
    return Replied(key, Reply(START))


def test_one_event_class_cannot_mark_two_transitions() -> None:
    with pytest.raises(ValueError, match="two transitions"):
        Saga(
            name="bad",
            started_by=Started,
            evolve_data=lambda data, event: data,
            steps=(Invoke("a", _call("A"), ADone, ADone),),
            completed=Completed,
            compensated=Compensated,
            failed=Failed,
        )


def test_an_await_with_until_counts_its_deadline_from_that_moment_of_the_data() -> None:
    booked = START + timedelta(days=2)
    approval = TRANSFER.steps[1]
    assert isinstance(approval, Await)
    timed = dataclasses.replace(
        TRANSFER,
        steps=(
            TRANSFER.steps[0],
            dataclasses.replace(approval, until=lambda t: booked),
            TRANSFER.steps[2],
        ),
    )
    s = SagaScenario(timed, saga_id="T-1", clock=ManualClock(START)).when_started(REQUESTED)
    s.when_replied("reserve").then_deadline("approval", booked + timedelta(minutes=10))
    s.when_time_passes(timedelta(days=2)).then_event_types()
    s.when_time_passes(timedelta(minutes=10)).then_event_types(ApprovalExpired)


def _waiting_to_ship(until: datetime) -> Saga[Any]:
    """The toy with a Wait before shipping: ship no earlier than `until`."""
    steps = TRANSFER.steps
    return dataclasses.replace(
        TRANSFER,
        steps=(*steps[:2], Wait("ship_day", then=ShipDay, until=lambda t: until), steps[2]),
    )


ShipDay = make_dataclass("ShipDay", [("transfer_id", str)])
ShipDay.of = classmethod(lambda cls, t, reply: cls(t.transfer_id))  # type: ignore[attr-defined]


def test_a_wait_records_its_event_at_its_moment_then_goes_on() -> None:
    day = START + timedelta(days=1)
    s = SagaScenario(_waiting_to_ship(day), saga_id="T-1", clock=ManualClock(START))
    s.when_started(REQUESTED).when_replied("reserve")
    s.when_signalled(TransferApproved("T-1", "SZ01", START)).then_no_calls()
    s.then_deadline("ship_day", day)
    s.when_time_passes(timedelta(days=1)).then_event_types(ShipDay)
    s.then_calls(ship_to_requester(DATA))


def test_a_wait_whose_moment_has_passed_goes_on_at_once() -> None:
    s = SagaScenario(_waiting_to_ship(START), saga_id="T-1", clock=ManualClock(START))
    s.when_started(REQUESTED).when_replied("reserve")
    s.when_signalled(TransferApproved("T-1", "SZ01", START))
    s.then_event_types(TransferApproved, ShipDay).then_calls(ship_to_requester(DATA))
