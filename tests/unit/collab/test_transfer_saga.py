"""SOP 1 as the transfer saga decides it, branch by branch (given / when / then, no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Call, Status
from kernel.testing.saga import SagaScenario
from services.collab.domain.commands import (
    ApproveTransfer,
    CourierProgress,
    RejectTransfer,
    ReportCourierProgress,
    RequestTransfer,
    Urgency,
)
from services.collab.domain.events import (
    ApprovalExpired,
    ApprovalRequested,
    DeliveryOverdue,
    NextSourceChosen,
    NoSourceLeft,
    PickupRequested,
    ReceiptRefused,
    ReservationReleased,
    ShipmentLossReported,
    ShipmentLost,
    ShipmentPickedUp,
    SourceRefused,
    SourceReserved,
    TransferApproved,
    TransferArriving,
    TransferCancelled,
    TransferCompleted,
    TransferReceived,
    TransferRejected,
    TransferResolvedByHand,
    TransferShipped,
    TransferStepRetried,
    TransferStuck,
)
from services.collab.domain.transfer import (
    Deadlines,
    Transfer,
    approved,
    courier_reported,
    rejected,
    requested,
    settled,
    transfer,
    transfer_saga,
)
from services.collab.read_model import stage

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
GZ, SZ, DG, PART = "GZ01", "SZ01", "DG01", "HL-200"
SAGA = transfer_saga()
REQUEST = RequestTransfer("T-1", GZ, PART, 1, Urgency.URGENT, True, "RO-7", START)
REQUESTED = requested(REQUEST, (SZ, DG), Deadlines())


def inventory(method: str, **fields: Any) -> Call:
    return Call("inventory", method, fields)


def reserve(store: str) -> Call:
    return inventory(
        "ReserveStock",
        store_id=store,
        part_number=PART,
        reservation_id="T-1",
        quantity=1,
        ttl_seconds=3 * 3600,
        reference="T-1",
    )


def release(store: str) -> Call:
    return inventory("ReleaseReservation", store_id=store, part_number=PART, reservation_id="T-1")


def data(s: SagaScenario[Transfer]) -> Transfer:
    assert s.state.data is not None
    return s.state.data


def scenario() -> SagaScenario[Transfer]:
    return SagaScenario(SAGA, saga_id="T-1", clock=ManualClock(START))


def awaiting_approval() -> SagaScenario[Transfer]:
    return scenario().when_started(REQUESTED).when_replied("reserve")


def approve(s: SagaScenario[Transfer]) -> SagaScenario[Transfer]:
    return s.when_signalled(approved(data(s), ApproveTransfer("T-1", "mgr-sz", s.clock.now())))


def courier(s: SagaScenario[Transfer], progress: CourierProgress, **kw: Any) -> Any:
    command = ReportCourierProgress(
        "T-1", progress, kw.get("freight_fen", 0), kw.get("note", ""), s.clock.now()
    )
    return s.when_signalled(courier_reported(data(s), s.saga.steps[s.state.step].name, command))


def in_transit() -> SagaScenario[Transfer]:
    s = courier(approve(awaiting_approval()), CourierProgress.PICKED_UP)
    return s.when_replied("ship")


def test_a_request_reserves_at_the_best_source_then_asks_it_to_approve_within_10_minutes() -> None:
    s = scenario().when_started(REQUESTED).then_calls(reserve(SZ)).then_status(Status.RUNNING)
    s.when_replied("reserve").then_event_types(SourceReserved, ApprovalRequested)
    asked = s.last.events[1]
    assert (asked.store_id, asked.requesting_store_id, asked.customer_waiting) == (
        GZ and SZ,
        GZ,
        True,
    )
    assert asked.due_at == START + timedelta(minutes=10)
    s.then_deadline("approval", START + timedelta(minutes=10))


def test_approved_it_waits_for_the_courier_and_ships_only_when_picked_up() -> None:
    s = approve(awaiting_approval()).then_event_types(TransferApproved, PickupRequested)
    s.then_no_calls().then_deadline("approval", None).then_deadline(
        "pickup", START + timedelta(hours=1)
    )
    courier(s, CourierProgress.PICKED_UP).then_event_types(ShipmentPickedUp).then_calls(
        inventory(
            "ShipTransfer",
            store_id=SZ,
            part_number=PART,
            transfer_id="T-1",
            reservation_id="T-1",
            destination_store_id=GZ,
        )
    )


def test_delivered_it_is_received_into_stock_and_settled_with_a_point_and_the_freight() -> None:
    s = in_transit().then_event_types(TransferShipped, TransferArriving)
    s.clock.advance(timedelta(minutes=50))
    courier(s, CourierProgress.DELIVERED, freight_fen=3_500).then_calls(
        inventory("ReceiveTransfer", store_id=GZ, part_number=PART, transfer_id="T-1")
    )
    s.when_replied("receive").then_event_types(TransferReceived, TransferCompleted)
    s.then_status(Status.COMPLETED)
    completed = s.last.events[1]
    assert (completed.store_id, completed.source_store_id) == (GZ, SZ)
    assert (completed.response_seconds, completed.within_sla, completed.freight_fen) == (
        3000,
        True,
        3_500,
    )
    point, freight = settled(data(s), completed.occurred_at)
    assert (point.store_id, point.act, point.points, point.saga_id) == (SZ, "transfer", 1, "T-1")
    assert (freight.store_id, freight.kind, freight.amount_fen, freight.month) == (
        GZ,
        "freight",
        3_500,
        "2026-11",
    )


def test_received_after_two_hours_misses_the_sla() -> None:
    s = in_transit()
    s.clock.advance(timedelta(hours=2, minutes=1))
    courier(s, CourierProgress.DELIVERED, freight_fen=0)
    s.when_replied("receive")
    completed = s.last.events[1]
    assert not completed.within_sla
    assert settled(data(s), completed.occurred_at)[1:] == []  # no freight, no ledger entry


def test_a_rejection_releases_the_reservation_and_asks_the_next_source() -> None:
    s = awaiting_approval()
    s.when_signalled(rejected(data(s), RejectTransfer("T-1", "needed here", "mgr-sz", START)))
    s.then_event_types(TransferRejected).then_calls(release(SZ)).then_deadline("approval", None)
    s.when_replied("reserve.undo").then_event_types(ReservationReleased, NextSourceChosen)
    s.then_calls(reserve(DG))
    chosen = s.last.events[1]
    assert (chosen.store_id, chosen.previous_store_id, chosen.reason) == (DG, SZ, "needed here")
    assert data(s).source_store_id == DG


def test_silence_past_the_approval_deadline_releases_and_asks_the_next_source() -> None:
    s = awaiting_approval()
    s.when_time_passes(timedelta(minutes=9, seconds=59)).then_no_calls()
    s.when_time_passes(timedelta(seconds=1)).then_event_types(ApprovalExpired)
    s.then_calls(release(SZ))
    s.when_replied("reserve.undo").then_calls(reserve(DG))
    assert data(s).reason == ""
    assert s.last.events[1].reason == "APPROVAL_EXPIRED"


def test_the_approval_deadline_is_configurable() -> None:
    quick = transfer_saga(Deadlines(approval=timedelta(minutes=3)))
    s = SagaScenario(quick, saga_id="T-1", clock=ManualClock(START))
    s.when_started(requested(REQUEST, (SZ,), Deadlines(approval=timedelta(minutes=3))))
    s.when_replied("reserve").then_deadline("approval", START + timedelta(minutes=3))
    assert s.last.events[1].due_at == START + timedelta(minutes=3)


def test_with_no_source_left_the_transfer_fails_with_the_shortage_recorded() -> None:
    s = scenario().when_started(requested(REQUEST, (SZ,), Deadlines()))
    s.when_refused("reserve", "INSUFFICIENT_AVAILABLE_STOCK")
    s.then_event_types(SourceRefused, NoSourceLeft).then_no_calls()
    s.then_status(Status.COMPENSATED)
    shortage = s.last.events[1]
    assert (shortage.store_id, shortage.part_number, shortage.quantity) == (GZ, PART, 1)
    assert (shortage.repair_order, shortage.reason) == ("RO-7", "INSUFFICIENT_AVAILABLE_STOCK")


def test_the_second_source_failing_too_ends_with_no_source_left() -> None:
    s = scenario().when_started(REQUESTED).when_refused("reserve", "INSUFFICIENT_AVAILABLE_STOCK")
    s.then_calls(reserve(DG))
    s.when_refused("reserve#1", "STORE_CLOSED").then_event_types(SourceRefused, NoSourceLeft)
    s.then_status(Status.COMPENSATED)


def test_a_lost_shipment_is_reported_to_inventory_then_the_next_source_is_asked() -> None:
    s = in_transit()
    courier(s, CourierProgress.LOST, note="courier crash")
    s.then_event_types(ShipmentLost).then_calls(
        inventory(
            "ReportShipmentLost",
            store_id=SZ,
            part_number=PART,
            transfer_id="T-1",
            reason="courier crash",
        )
    )
    s.when_replied("ship.undo").then_event_types(ShipmentLossReported).then_calls(release(SZ))
    # The shipment consumed the reservation: nothing left to release is fine.
    s.when_refused("reserve.undo", "NOT_FOUND").then_event_types(
        ReservationReleased, NextSourceChosen
    )
    s.then_calls(reserve(DG))


def test_a_loss_with_a_blank_note_is_written_off_for_a_reason_inventory_takes() -> None:
    # Inventory requires the write-off's reason: blanks would have the undo refused.
    s = in_transit()
    courier(s, CourierProgress.LOST, note=" \n\t ").then_event_types(ShipmentLost)
    assert s.last.events[0].reason == "lost in transit"
    assert s.outbox["ship.undo"].fields["reason"] == "lost in transit"


def test_a_receipt_inventory_never_answered_is_left_to_an_operator_not_written_off() -> None:
    # The part is at the requester: an outage past the retries must not have it reported
    # lost and asked of the next source. Stuck, the operator's retry receives it.
    operated = dataclasses.replace(SAGA, operator_retried=TransferStepRetried)
    s = SagaScenario(operated, saga_id="T-1", clock=ManualClock(START))
    s.when_started(REQUESTED).when_replied("reserve")
    courier(approve(s), CourierProgress.PICKED_UP).when_replied("ship")
    courier(s, CourierProgress.DELIVERED, freight_fen=4_500)
    s.when_exhausted("receive").then_event_types(TransferStuck).then_no_calls()
    s.then_status(Status.FAILED)
    assert s.state.reason == "receive failed"
    s.when_operator_retries().then_event_types(TransferStepRetried)
    s.then_calls(inventory("ReceiveTransfer", store_id=GZ, part_number=PART, transfer_id="T-1"))
    s.when_replied("receive").then_event_types(TransferReceived, TransferCompleted)
    s.then_status(Status.COMPLETED)


def test_a_receipt_inventory_refuses_stops_the_transfer_instead_of_writing_the_part_off() -> None:
    s = in_transit()
    courier(s, CourierProgress.DELIVERED)
    s.when_refused("receive", "STORE_CLOSED")
    s.then_event_types(ReceiptRefused, TransferStuck).then_no_calls()
    assert (s.state.status, s.last.events[1].reason) == (Status.FAILED, "STORE_CLOSED")


def operated() -> SagaScenario[Transfer]:
    """The transfer saga as collab runs it: with the operator's retry, cancel and resolve."""
    saga = dataclasses.replace(
        SAGA,
        operator_retried=TransferStepRetried,
        operator_cancelled=TransferCancelled,
        operator_resolved=TransferResolvedByHand,
    )
    return SagaScenario(saga, saga_id="T-1", clock=ManualClock(START))


def test_a_receipt_booked_in_by_hand_is_resolved_to_the_requester_without_settling() -> None:
    s = operated().when_started(REQUESTED).when_replied("reserve")
    courier(approve(s), CourierProgress.PICKED_UP).when_replied("ship")
    courier(s, CourierProgress.DELIVERED, freight_fen=4_500)
    s.when_refused("receive", "STORE_CLOSED").then_status(Status.FAILED)
    s.when_operator_resolves("ops@hq", "booked in at the counter")
    # Its end, and nothing else: no completion, no point, no freight settled.
    s.then_events(
        TransferResolvedByHand(
            "T-1", GZ, SZ, "ops@hq", "resolved by ops@hq: booked in at the counter", START
        )
    ).then_no_calls()
    s.then_status(Status.RESOLVED)
    assert data(s).reason == "resolved by ops@hq: booked in at the counter"
    assert stage(s.state) == "RESOLVED_BY_HAND"


def test_an_operators_cancel_says_who_and_why_to_the_end() -> None:
    # The cancel was recorded, but the transfer's data never took its reason: it ended
    # NoSourceLeft with none, and the read model showed no reason.
    s = operated().when_started(REQUESTED).when_replied("reserve")
    s.when_operator_cancels("ops@hq", "the customer bought elsewhere")
    s.then_event_types(TransferCancelled).then_calls(release(SZ))
    s.when_replied("reserve.undo").then_event_types(ReservationReleased, NoSourceLeft)
    said = "cancelled by ops@hq: the customer bought elsewhere"
    assert s.last.events[-1].reason == said


def test_an_operators_cancel_in_transit_writes_the_part_off_with_its_reason() -> None:
    s = operated().when_started(REQUESTED).when_replied("reserve")
    courier(approve(s), CourierProgress.PICKED_UP).when_replied("ship")
    s.when_operator_cancels("ops@hq", "courier firm bankrupt").then_event_types(TransferCancelled)
    assert s.outbox["ship.undo"].fields["reason"] == "cancelled by ops@hq: courier firm bankrupt"


def test_an_operators_cancel_while_undoing_keeps_the_reason_given_first() -> None:
    s = operated().when_started(REQUESTED).when_replied("reserve")
    s.when_signalled(rejected(data(s), RejectTransfer("T-1", "shelf empty", "mgr-sz", START)))
    s.when_operator_cancels("ops@hq", "enough").then_event_types(TransferCancelled)
    assert data(s).reason == "shelf empty"


def test_a_delivery_unreported_past_its_deadline_is_treated_as_lost() -> None:
    s = in_transit()
    s.when_time_passes(timedelta(hours=2)).then_event_types(DeliveryOverdue)
    s.then_calls(
        inventory(
            "ReportShipmentLost",
            store_id=SZ,
            part_number=PART,
            transfer_id="T-1",
            reason="DELIVERY_OVERDUE",
        )
    )


def test_a_pickup_that_never_happens_releases_the_stock_instead_of_writing_it_off() -> None:
    s = approve(awaiting_approval())
    s.when_time_passes(timedelta(hours=1)).then_calls(release(SZ))


def test_an_undo_inventory_refuses_leaves_the_transfer_stuck_for_an_operator() -> None:
    s = awaiting_approval()
    s.when_time_passes(timedelta(minutes=10))
    s.when_refused("reserve.undo", "PERMISSION_DENIED").then_event_types(TransferStuck)
    s.then_status(Status.FAILED)
    assert s.state.reason == "reserve.undo failed"


def test_late_approval_after_the_deadline_is_refused_by_name() -> None:
    s = awaiting_approval().when_time_passes(timedelta(minutes=10))
    with pytest.raises(RuleViolated) as refused:
        approve(s)
    assert refused.value.reason == "SAGA_NOT_AWAITING"


def test_a_courier_report_out_of_order_is_refused() -> None:
    s = awaiting_approval()
    with pytest.raises(RuleViolated):
        courier(s, CourierProgress.DELIVERED)


def test_after_a_crash_between_two_steps_it_resumes_with_the_same_request_ids() -> None:
    before = awaiting_approval()
    approve(before)
    # A new process rebuilds the saga from its stream only.
    after = SagaScenario(SAGA, saga_id="T-1", clock=ManualClock(START)).given(*before.recorded)
    assert after.state == before.state
    courier(after, CourierProgress.PICKED_UP).then_calls(before.saga.steps[3].call(data(before)))
    assert after.request_id("ship") == before.request_id("ship")
    assert after.request_id("reserve") != after.request_id("reserve#1")


def test_the_fold_keeps_the_current_source_and_why_the_last_one_dropped_out() -> None:
    t = transfer(None, REQUESTED)
    assert (t.source_store_id, t.has_next_source, t.reason) == (SZ, True, "")
