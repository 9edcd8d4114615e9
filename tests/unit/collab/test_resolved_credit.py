"""What a stuck saga had achieved when an operator resolves it (domain/resolved.py), read from
the events each SOP's saga records on the way to getting stuck (given / when / then)."""

from __future__ import annotations

from datetime import timedelta

from kernel.saga import Status
from services.collab.domain.commands import CourierProgress, SupportProgress
from services.collab.domain.resolved import customer_received, part_given, technician_lent
from tests.unit.collab import test_diversion_saga as sop3
from tests.unit.collab import test_support_saga as sop2
from tests.unit.collab import test_transfer_saga as sop1


def test_a_transfer_stuck_receiving_a_delivered_part_gave_it() -> None:
    s = sop1.courier(sop1.in_transit(), CourierProgress.DELIVERED, freight_fen=3_500)
    s.when_refused("receive", "NOTHING_IN_TRANSIT").then_status(Status.FAILED)
    assert part_given(s.recorded)


def test_a_transfer_whose_receipt_went_unanswered_gave_the_part_too() -> None:
    s = sop1.courier(sop1.in_transit(), CourierProgress.DELIVERED, freight_fen=3_500)
    s.when_exhausted("receive").then_status(Status.FAILED)
    assert part_given(s.recorded)


def test_a_transfer_stuck_releasing_its_reservation_gave_nothing() -> None:
    s = sop1.awaiting_approval().when_time_passes(timedelta(minutes=10))
    s.when_refused("reserve.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    assert not part_given(s.recorded)


def test_a_transfer_stuck_writing_a_lost_shipment_off_gave_nothing() -> None:
    s = sop1.courier(sop1.in_transit(), CourierProgress.LOST, note="van crashed")
    s.when_refused("ship.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    assert not part_given(s.recorded)


def _work_reported(solved: bool = True) -> sop2.SagaScenario[sop2.Support]:
    s = sop2.on_site()
    s.clock.advance(timedelta(hours=4))
    return sop2.report(s, SupportProgress.COMPLETED, hours=4.0, solved=solved, travel=12_000)


def test_a_support_whose_completion_workforce_refused_lent_the_technician() -> None:
    s = _work_reported()
    s.when_refused("complete", "PERMISSION_DENIED").then_status(Status.FAILED)
    assert technician_lent(s.recorded)


def test_a_support_whose_completion_went_unanswered_lent_the_technician() -> None:
    s = _work_reported()
    s.when_exhausted("complete").then_status(Status.FAILED)
    assert technician_lent(s.recorded)


def test_a_support_called_off_on_site_with_its_end_of_loan_stuck_lent_no_one() -> None:
    s = sop2.on_site()
    s.clock.advance(timedelta(hours=1))
    sop2.report(s, SupportProgress.CALLED_OFF, note="the customer took the car away")
    s.when_exhausted("hold.undo").then_status(Status.FAILED)
    assert not technician_lent(s.recorded)


def test_a_support_stuck_cancelling_its_hold_lent_no_one() -> None:
    s = sop2.awaiting_approval().when_time_passes(timedelta(hours=1))
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    assert not technician_lent(s.recorded)


def test_a_diversion_stuck_giving_back_a_booking_the_origin_kept_moved_no_one() -> None:
    s = sop3.answer(sop3.offered(), True).when_replied("book")
    s.when_refused("cancel_origin", "APPOINTMENT_NOT_BOOKED")
    s.when_exhausted("hold.undo").then_status(Status.FAILED)
    assert not customer_received(s.recorded)


def test_a_diversion_stuck_releasing_a_declined_hold_moved_no_one() -> None:
    s = sop3.answer(sop3.offered(), False, "prefers to wait")
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    assert not customer_received(s.recorded)


def test_a_customer_booked_at_the_receiver_and_gone_from_the_origin_was_received() -> None:
    # The completion's case: no diversion fails after it (its last step is done).
    s = sop3.answer(sop3.offered(), True).when_replied("book")
    assert customer_received(s.recorded)
    s.when_replied("cancel_origin").then_status(Status.COMPLETED)
    assert customer_received(s.recorded)
