"""Workforce's timer handler on a fake unit of work: no database, only the handler's logic."""

from __future__ import annotations

from datetime import timedelta

from kernel.clock import ManualClock
from kernel.testing.fakes import FakeApplication, ScheduledTimer
from kernel.testing.scenario import event_types
from services.workforce.application import EXPIRE_SUPPORT_HOLD, Workforce

from .examples import FRIDAY_AFTERNOON, NOW, TECHNICIAN_ID, confirmed, held, published, registered

STREAM = f"technician/{TECHNICIAN_ID}"
TIMER = f"support-hold/{TECHNICIAN_ID}/S-1"
PAYLOAD = {"technician_id": TECHNICIAN_ID, "support_id": "S-1"}


def workforce_after_expiry() -> tuple[Workforce, FakeApplication]:
    app = FakeApplication(ManualClock(NOW + timedelta(days=2)))
    app.uow.given(STREAM, registered(), published(FRIDAY_AFTERNOON), held())
    app.uow.timers[TIMER] = ScheduledTimer(EXPIRE_SUPPORT_HOLD, NOW, PAYLOAD)
    return Workforce(app), app  # type: ignore[arg-type]


async def test_an_unconfirmed_hold_expires_and_its_timer_is_disarmed() -> None:
    workforce, app = workforce_after_expiry()

    await workforce.expire_hold(app.uow, PAYLOAD)

    assert event_types(app.uow.streams[STREAM])[-1] == "SupportHoldExpired"
    assert TIMER not in app.uow.timers


async def test_a_confirmed_support_does_not_expire() -> None:
    workforce, app = workforce_after_expiry()
    app.uow.given(STREAM, confirmed())

    await workforce.expire_hold(app.uow, PAYLOAD)

    assert event_types(app.uow.streams[STREAM])[-1] == "SupportConfirmed"
