"""Capacity's command handlers on a fake unit of work: no database, only the handler's logic."""

from __future__ import annotations

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.testing.fakes import FakeApplication
from kernel.testing.scenario import event_types
from services.capacity.application import EXPIRE_SLOT_HOLD, Capacity
from services.capacity.domain.appointments import BookAppointment, RescheduleAppointment
from services.capacity.domain.holds import ConfirmSlotHold, HoldSlot
from services.capacity.domain.stores import CloseStore, RegisterStore

from .examples import MONDAY, PROFILE, STORE, STORE_ID, TUESDAY, local

REGISTER = RegisterStore(store_id=STORE_ID, profile=PROFILE, at=local(9))


def capacity_at(hour: int) -> tuple[Capacity, FakeApplication]:
    app = FakeApplication(ManualClock(local(hour)))
    return Capacity(app), app  # type: ignore[arg-type]


async def test_registering_a_store_records_it_on_its_stream() -> None:
    capacity, app = capacity_at(9)

    state = await capacity.change_store(
        RegisterStore(store_id=STORE_ID, profile=PROFILE, at=local(9)), "R-1"
    )

    assert state.profile == PROFILE
    assert event_types(app.uow.streams[f"store/{STORE_ID}"]) == ["StoreRegistered"]


async def test_a_slot_hold_arms_its_expiry_timer_with_the_hold() -> None:
    capacity, app = capacity_at(9)
    await capacity.change_store(
        RegisterStore(store_id=STORE_ID, profile=PROFILE, at=local(9)), "R-1"
    )
    expires = local(9, 15)

    await capacity.hold_slot(
        HoldSlot(
            store=STORE,
            day=MONDAY,
            hold_id="H-1",
            diverted_from_store_id="GZ01",
            customer_ref="C-1",
            vehicle="粤B12345",
            service_type="maintenance",
            expected_labour_hours=1.0,
            slot_at=local(11),
            expires_at=expires,
            at=local(9),
        ),
        "R-2",
    )

    (timer,) = app.uow.timers.values()
    assert (timer.kind, timer.due_at, timer.payload["hold_id"]) == (
        EXPIRE_SLOT_HOLD,
        expires,
        "H-1",
    )


async def test_a_repeated_request_id_answers_the_first_result_and_records_nothing_more() -> None:
    capacity, app = capacity_at(9)
    command = RegisterStore(store_id=STORE_ID, profile=PROFILE, at=local(9))

    first = await capacity.change_store(command, "R-1")
    again = await capacity.change_store(command, "R-1")

    assert again == first and len(app.uow.streams[f"store/{STORE_ID}"]) == 1


async def test_a_book_command_decides_on_the_store_facts_loaded_in_its_own_transaction() -> None:
    capacity, app = capacity_at(9)
    await capacity.change_store(
        RegisterStore(store_id=STORE_ID, profile=PROFILE, at=local(9)), "R-1"
    )
    await capacity.change_store(CloseStore(store_id=STORE_ID, reason="lease", at=local(9)), "R-2")
    stale = BookAppointment(
        store=STORE,  # the caller's copy still says open
        day=MONDAY,
        appointment_id="A-1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=local(11),
        at=local(9),
    )

    with pytest.raises(RuleViolated) as refused:
        await capacity.appointment(stale, "R-3")

    assert refused.value.reason == "STORE_CLOSED"
    assert f"book/{STORE_ID}/{MONDAY.isoformat()}" not in app.uow.streams


async def test_a_diverted_appointment_rescheduled_to_another_day_stays_diverted() -> None:
    """Regression: the move to another day's book dropped diverted_from_store_id, so the
    visit no longer counted for the receiving store (SOP 3)."""
    capacity, app = capacity_at(9)
    await capacity.change_store(REGISTER, "R-1")
    hold = HoldSlot(
        store=STORE,
        day=MONDAY,
        hold_id="H-1",
        diverted_from_store_id="GZ01",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.0,
        slot_at=local(11),
        expires_at=local(9, 15),
        at=local(9),
    )
    await capacity.hold_slot(hold, "R-2")
    await capacity.confirm_hold(
        ConfirmSlotHold(store=STORE, day=MONDAY, hold_id="H-1", appointment_id="A-1", at=local(9)),
        "R-3",
    )

    moved = await capacity.reschedule(
        RescheduleAppointment(
            store=STORE,
            day=MONDAY,
            appointment_id="A-1",
            requested_at=local(10, day=TUESDAY),
            at=local(9, 30),
        ),
        "R-4",
    )

    tuesday = app.uow.streams[f"book/{STORE_ID}/{TUESDAY.isoformat()}"]
    rebooked = [e for e in tuesday if type(e).__name__ == "AppointmentBooked"]
    assert [e.diverted_from_store_id for e in rebooked] == ["GZ01"]
    assert moved.day == TUESDAY
