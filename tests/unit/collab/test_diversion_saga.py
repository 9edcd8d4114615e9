"""SOP 3 as the diversion saga decides it, branch by branch (given / when / then, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Call, Status
from kernel.testing.saga import SagaScenario
from services.collab.domain.commands import AnswerDiversion, RequestDiversion
from services.collab.domain.diversion import (
    Deadlines,
    Diversion,
    Terms,
    answered,
    check_same_day,
    diversion_saga,
    requested,
    settled,
)
from services.collab.domain.diversion_events import (
    DiversionAccepted,
    DiversionBooked,
    DiversionCancelled,
    DiversionCompleted,
    DiversionDeclined,
    DiversionNotMade,
    DiversionOffered,
    DiversionOfferExpired,
    DiversionResolvedByHand,
    DiversionStepRetried,
    DiversionStuck,
    NextReceiverChosen,
    OriginAppointmentCancelled,
    SlotRefused,
    SlotReleased,
    SlotReserved,
)
from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.receivers import Nearby, rank_receivers
from services.collab.read_model_sops import diversion_stage

NOW = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
SZ, DG, GZ = "SZ01", "DG01", "GZ01"
SAGA = diversion_saga()
REQUEST = RequestDiversion(
    "D-1", SZ, "A-77", "2026-11-04", "cust-9f2", "粤B12345", "maintenance", 1.5, "dms", NOW
)
REQUESTED = requested(REQUEST, ((DG, 72.4), (GZ, 105.0)), Deadlines(), Terms())
HELD = {"day": "2026-11-04", "hold_id": "D-1:1"}


def capacity(method: str, **fields: Any) -> Call:
    return Call("capacity", method, fields)


def hold(store: str, hold_id: str, at: datetime = NOW) -> Call:
    return capacity(
        "HoldSlot",
        store_id=store,
        hold_id=hold_id,
        diverted_from_store_id=SZ,
        customer_ref="cust-9f2",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=(at + timedelta(minutes=45)).isoformat(),
        expires_at=(at + timedelta(minutes=25)).isoformat(),
    )


def release(reason: str) -> Call:
    """The held bay at Dongguan, given back."""
    return capacity(
        "ReleaseSlotHold", store_id=DG, day="2026-11-04", hold_id="D-1:1", reason=reason
    )


def data(s: SagaScenario[Diversion]) -> Diversion:
    assert s.state.data is not None
    return s.state.data


def scenario() -> SagaScenario[Diversion]:
    return SagaScenario(SAGA, saga_id="D-1", clock=ManualClock(NOW))


def offered() -> SagaScenario[Diversion]:
    return scenario().when_started(REQUESTED).when_replied("hold", **HELD)


def answer(s: SagaScenario[Diversion], accepted: bool, note: str = "") -> SagaScenario[Diversion]:
    command = AnswerDiversion("D-1", accepted, note, "dms-sz", s.clock.now())
    return s.when_signalled(answered(data(s), command))


def test_a_diversion_holds_a_bay_at_the_nearest_receiver_then_offers_the_choice() -> None:
    s = scenario().when_started(REQUESTED).then_calls(hold(DG, "D-1:1"))
    s.when_replied("hold", **HELD).then_event_types(SlotReserved, DiversionOffered)
    reserved, offer = s.last.events
    assert (reserved.store_id, reserved.day) == (DG, "2026-11-04")
    assert (offer.store_id, offer.receiving_store_id, offer.customer_ref) == (SZ, DG, "cust-9f2")
    assert (offer.compensation_fen, offer.distance_km) == (20_000, 72.4)
    assert offer.due_at == NOW + timedelta(minutes=15)


def test_accepted_the_slot_becomes_a_diverted_appointment_and_the_origin_is_cancelled() -> None:
    s = answer(offered(), True).then_event_types(DiversionAccepted)
    s.then_calls(
        capacity(
            "ConfirmSlotHold", store_id=DG, day="2026-11-04", hold_id="D-1:1", appointment_id="D-1"
        )
    )
    s.when_replied("book").then_event_types(DiversionBooked)
    assert (s.last.events[0].store_id, s.last.events[0].origin_store_id) == (DG, SZ)
    s.then_calls(
        capacity(
            "CancelAppointment",
            store_id=SZ,
            day="2026-11-04",
            appointment_id="A-77",
            reason="diverted to DG01",
        )
    )
    s.when_replied("cancel_origin")
    s.then_event_types(OriginAppointmentCancelled, DiversionCompleted)
    s.then_status(Status.COMPLETED)
    assert settled(data(s), s.last.events[1].occurred_at) == [
        ContributionRecorded(DG, "diversion", 2, "diversion", "D-1", NOW),
        CollaborationCostRecorded(
            SZ, "transport_voucher", 5_000, "diversion", "D-1", "2026-11", NOW
        ),
        CollaborationCostRecorded(SZ, "compensation", 20_000, "diversion", "D-1", "2026-11", NOW),
    ]


def test_an_origin_appointment_not_cancellable_cancels_the_receivers_booking_again() -> None:
    s = answer(offered(), True).when_replied("book")
    s.when_refused("cancel_origin", "APPOINTMENT_NOT_BOOKED")
    # The hold is an appointment by now: capacity releases no confirmed hold.
    s.then_calls(
        capacity(
            "CancelAppointment",
            store_id=DG,
            day="2026-11-04",
            appointment_id="D-1",
            reason="APPOINTMENT_NOT_BOOKED",
        )
    )
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    s.then_status(Status.COMPENSATED)
    assert data(s).reason == "APPOINTMENT_NOT_BOOKED"


def test_an_origin_cancellation_never_answered_stops_for_an_operator_not_undoing_the_booking() -> (
    None
):
    """Capacity may have cancelled the origin's appointment without the answer arriving:
    cancelling the receiver's booking then would leave the customer booked nowhere. The
    diversion stops for an operator, whose retry asks again under the same request id."""
    s = answer(offered(), True).when_replied("book")
    first = s.request_id("cancel_origin")
    s.when_exhausted("cancel_origin").then_event_types(DiversionStuck).then_no_calls()
    s.then_status(Status.FAILED)
    s.when_operator_retries("ops@hq").then_event_types(DiversionStepRetried)
    assert s.request_id("cancel_origin") == first
    s.when_replied("cancel_origin")
    s.then_event_types(OriginAppointmentCancelled, DiversionCompleted)


def test_a_diversion_is_for_a_customer_of_today_only() -> None:
    # domain.md: SOP 3 is same day, for a customer who would wait today.
    check_same_day(REQUEST, date(2026, 11, 4))
    for day in ("2026-11-03", "2026-11-05", "2027-11-04"):
        other = RequestDiversion(
            "D-1", SZ, "A-77", day, "cust-9f2", "粤B12345", "maintenance", 1.5, "dms", NOW
        )
        with pytest.raises(RuleViolated) as refused:
            check_same_day(other, date(2026, 11, 4))
        assert refused.value.reason == "DIVERSION_NOT_TODAY"
        assert refused.value.metadata == {"day": day, "today": "2026-11-04"}


def test_declined_with_a_blank_note_the_reason_is_the_customers_decline() -> None:
    s = answer(offered(), False, " \t ").then_event_types(DiversionDeclined)
    assert data(s).reason == "CUSTOMER_DECLINED"


def test_declined_the_hold_is_released_and_nobody_else_is_asked() -> None:
    s = answer(offered(), False, "prefers to wait").then_event_types(DiversionDeclined)
    s.then_calls(release("prefers to wait"))
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    s.then_status(Status.COMPENSATED)
    assert s.last.events[-1].reason == "prefers to wait"


def test_silence_past_the_offer_deadline_releases_the_hold_without_moving_anyone() -> None:
    s = offered()
    s.when_time_passes(timedelta(minutes=14)).then_event_types()
    s.when_time_passes(timedelta(minutes=1)).then_event_types(DiversionOfferExpired)
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    assert s.last.events[-1].reason == "OFFER_EXPIRED"
    assert not any(isinstance(e, DiversionBooked) for e in s.recorded)


def test_the_offer_deadline_is_configurable() -> None:
    saga = diversion_saga(Deadlines(offer=timedelta(minutes=5)))
    s = SagaScenario(saga, saga_id="D-1", clock=ManualClock(NOW))
    s.when_started(
        requested(REQUEST, ((DG, 72.4),), Deadlines(offer=timedelta(minutes=5)), Terms())
    )
    s.when_replied("hold", **HELD).then_deadline("offer", NOW + timedelta(minutes=5))


def test_a_receiver_that_filled_up_meanwhile_passes_to_the_next_nearest() -> None:
    s = scenario().when_started(REQUESTED)
    s.when_refused("hold", "NO_SPARE_CAPACITY").then_event_types(SlotRefused, NextReceiverChosen)
    s.then_calls(hold(GZ, "D-1:2"))


def test_the_next_receiver_holds_its_bay_long_enough_for_the_customer_to_answer() -> None:
    s = scenario().when_started(REQUESTED)
    s.when_time_passes(timedelta(minutes=5)).then_calls(
        capacity(
            "ReleaseSlotHold",
            store_id=DG,
            day="2026-11-04",
            hold_id="D-1:1",
            reason="SLOT_UNANSWERED",
        )
    )
    s.when_replied("hold.undo").then_calls(hold(GZ, "D-1:2", at=NOW + timedelta(minutes=5)))
    assert data(s).receiving_store_id == GZ


def test_with_no_receiver_left_the_customer_stays_and_nothing_is_paid() -> None:
    s = scenario().when_started(REQUESTED)
    s.when_refused("hold", "NO_SPARE_CAPACITY")
    s.when_refused("hold#1", "NO_SPARE_CAPACITY").then_event_types(SlotRefused, DiversionNotMade)
    s.then_status(Status.COMPENSATED)


def test_an_undo_capacity_refuses_leaves_the_diversion_stuck_for_an_operator() -> None:
    s = answer(offered(), False)
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_event_types(DiversionStuck)
    s.then_status(Status.FAILED)


def test_a_stuck_diversion_resolved_by_hand_ends_with_the_origin_and_moves_no_one() -> None:
    s = answer(offered(), False, "prefers to wait")
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    s.when_operator_resolves("ops@hq", "bay freed at DG01 by hand")
    s.then_event_types(DiversionResolvedByHand).then_no_calls().then_status(Status.RESOLVED)
    resolved = s.last.events[0]
    said = "resolved by ops@hq: bay freed at DG01 by hand"
    assert (resolved.store_id, resolved.receiving_store_id, resolved.operator) == (
        SZ,
        DG,
        "ops@hq",
    )
    assert (resolved.customer_ref, resolved.reason) == ("cust-9f2", said)
    assert diversion_stage(s.state) == "RESOLVED_BY_HAND"


def test_a_stuck_diversion_retried_by_an_operator_releases_the_bay_and_ends_not_made() -> None:
    s = answer(offered(), False, "prefers to wait")
    s.when_refused("hold.undo", "UNAVAILABLE").then_status(Status.FAILED)
    s.when_operator_retries("ops@hq").then_event_types(DiversionStepRetried)
    assert (s.last.events[0].store_id, s.last.events[0].reason) == (SZ, "retried by ops@hq")
    s.then_calls(release("prefers to wait"))
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    assert s.last.events[-1].reason == "prefers to wait"


def test_an_operator_cancelling_an_offer_releases_the_bay_and_asks_no_other_store() -> None:
    s = offered().when_operator_cancels("ops@hq", "bay flooded")
    s.then_event_types(DiversionCancelled)
    assert s.last.events[0].store_id == SZ
    s.then_calls(release("cancelled by ops@hq: bay flooded"))
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    s.then_status(Status.COMPENSATED)
    assert s.last.events[-1].reason == "cancelled by ops@hq: bay flooded"


def test_an_operator_cancel_while_the_bay_is_being_released_keeps_the_customers_reason() -> None:
    s = answer(offered(), False, "prefers to wait")
    s.when_operator_cancels("ops@hq", "too slow").then_event_types(DiversionCancelled)
    s.then_no_calls()
    s.when_replied("hold.undo").then_event_types(SlotReleased, DiversionNotMade)
    assert s.last.events[-1].reason == "prefers to wait"


def test_an_answer_after_the_deadline_is_refused() -> None:
    s = offered().when_time_passes(timedelta(minutes=15))
    with pytest.raises(RuleViolated) as refused:
        answer(s, True)
    assert refused.value.reason == "SAGA_NOT_AWAITING"


def test_after_a_crash_between_two_steps_it_resumes_with_the_same_request_ids() -> None:
    before = answer(offered(), True)
    after = SagaScenario(SAGA, saga_id="D-1", clock=ManualClock(NOW)).given(*before.recorded)
    assert after.state == before.state
    assert after.request_id("book") == before.request_id("book")
    after.outbox["book"] = before.outbox["book"]
    after.when_replied("book").then_event_types(DiversionBooked)


def test_receivers_are_the_nearest_with_places_left_today_and_a_free_bay() -> None:
    ranked, why_not = rank_receivers(
        SZ,
        [
            Nearby(GZ, 105.0, 25, 20, 6, 2),
            Nearby(DG, 72.4, 20, 12, 5, 3),
            Nearby("HZ01", 60.0, 20, 20, 5, 0),
            Nearby("FS01", 50.0, 20, 10, 4, 4),
            Nearby(SZ, 0.0, 30, 32, 8, 8),
        ],
    )
    assert [(r.store_id, r.places_left, r.free_bays) for r in ranked] == [
        (DG, 8, 2),
        (GZ, 5, 4),
    ]
    assert why_not == ["HZ01: full today (20 of 20)", "FS01: no free bay (4 of 4 in use)"]
