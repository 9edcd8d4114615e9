"""Capacity command handlers: stores, their day books, waiting and pressure ahead.

A store is one stream (`store/<id>`), each store-local day of its appointment book another
(`book/<id>/<YYYY-MM-DD>`). Book commands carry the store's facts: the handler loads them
from the store stream in the command's own transaction, so the book decides on facts as
they are when it commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from kernel import bulk_append
from kernel.application import Aggregate, Application, Executed, UnitOfWork
from kernel.bulk_append import StreamWrite
from kernel.errors import NotFound
from kernel.load_many import load_many
from services.capacity import read_model
from services.capacity.domain import appointment_sync
from services.capacity.domain.appointment_book import BookCommand, appointment_book
from services.capacity.domain.appointment_sync import SyncAppointments, SyncedBatch
from services.capacity.domain.appointments import (
    BookAppointment,
    CancelAppointment,
    MarkNoShow,
    RescheduleAppointment,
    SetDayCapacity,
    moved_to_another_day,
)
from services.capacity.domain.book_state import (
    Appointment,
    AppointmentStatus,
    BookState,
    SlotHold,
    Visit,
    VisitStatus,
)
from services.capacity.domain.forecast import (
    LEARNING_WEEKS,
    ForecastCapacityPressure,
    PressureForecast,
    forecast_day,
    forecast_horizon,
    learn_walk_in_pattern,
)
from services.capacity.domain.holds import (
    ConfirmSlotHold,
    ExpireSlotHold,
    HoldSlot,
    ReleaseSlotHold,
)
from services.capacity.domain.opening_hours import local_day
from services.capacity.domain.stores import (
    CloseStore,
    RegisterStore,
    StoreFacts,
    StoreState,
    UpdateStore,
    require_open,
    store,
    store_facts,
)
from services.capacity.domain.utilisation import (
    DayView,
    day_view,
)
from services.capacity.domain.visits import (
    CheckInCustomer,
    CompleteVisit,
    RecordQuoteAbandoned,
    RegisterWalkIn,
    StartService,
)
from services.capacity.domain.waiting import (
    AssessWait,
    WaitThresholdExceeded,
    estimated_wait_of,
    whole_minutes,
)

R = TypeVar("R")

STORES = Aggregate("store", store, StoreState, store_of=lambda e: e.store_id)
BOOKS = Aggregate(
    "book", appointment_book, BookState, store_of=lambda e: e.store_id, snapshot_every=50
)
EXPIRE_SLOT_HOLD = "capacity.expire_slot_hold"
REASSESS_WAIT = "capacity.reassess_wait"
# While a store's wait is over its threshold, it is re-estimated this often, so the
# recovery is noticed even when nobody touches the book.
REASSESS_EVERY = timedelta(minutes=15)
# Book commands' store facts are loaded by the handler, not asked for by the caller.
STORE_FACTS = ("store",)

AppointmentCommand = BookAppointment | CancelAppointment | MarkNoShow
VisitCommand = (
    RegisterWalkIn | CheckInCustomer | StartService | CompleteVisit | RecordQuoteAbandoned
)


@dataclass(frozen=True)
class AppointmentRecord:
    store_id: str
    day: date
    appointment: Appointment


@dataclass(frozen=True)
class VisitRecord:
    store_id: str
    day: date
    visit: Visit


@dataclass(frozen=True)
class HoldRecord:
    store_id: str
    day: date
    hold: SlotHold


@dataclass(frozen=True)
class WaitEstimate:
    store_id: str
    day: date
    estimated_wait_minutes: int
    threshold_minutes: int
    threshold_exceeded: bool
    waiting_vehicles: int
    bays_in_use: int
    bays: int


@dataclass(frozen=True)
class ForecastPressure:
    """Run the 7-day pressure forecast of a store (the early warning of domain.md)."""

    store_id: str
    at: datetime


@dataclass(frozen=True)
class CapacityForecast:
    store_id: str
    days: tuple[PressureForecast, ...]


def book_stream(store_id: str, day: date) -> str:
    return BOOKS.stream_id(store_id, day.isoformat())


def _hold_timer(store_id: str, hold_id: str) -> str:
    return f"slot-hold/{store_id}/{hold_id}"


def _reassess_timer(store_id: str, day: date) -> str:
    return f"reassess-wait/{store_id}/{day.isoformat()}"


class Capacity:
    def __init__(self, app: Application) -> None:
        self.app = app

    def now(self) -> datetime:
        return self.app.clock.now()

    # Stores

    async def change_store(
        self, command: RegisterStore | UpdateStore | CloseStore, request_id: str
    ) -> StoreState:
        async def handler(uow: UnitOfWork) -> StoreState:
            done = await uow.execute(STORES, STORES.stream_id(command.store_id), command)
            return done.state

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=StoreState
        )

    # The appointment book

    async def _on_book(
        self, uow: UnitOfWork, command: BookCommand
    ) -> tuple[Executed[BookState], StoreFacts]:
        facts = await load_store_facts(uow, command.store.store_id)
        with read_model.deciding_on(facts):
            done = await uow.execute(
                BOOKS, book_stream(facts.store_id, command.day), replace(command, store=facts)
            )
        if any(isinstance(e, WaitThresholdExceeded) for e in done.events):
            await uow.schedule(
                _reassess_timer(facts.store_id, command.day),
                REASSESS_WAIT,
                command.at + REASSESS_EVERY,
                {"store_id": facts.store_id, "day": command.day.isoformat()},
            )
        return done, facts

    async def set_day_capacity(self, command: SetDayCapacity, request_id: str) -> DayView:
        async def handler(uow: UnitOfWork) -> DayView:
            done, facts = await self._on_book(uow, command)
            return day_view(facts, command.day, done.state, command.at)

        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=DayView,
            context_fields=STORE_FACTS,
        )

    async def appointment(
        self, command: AppointmentCommand, request_id: str, *, defaulted_day: bool = False
    ) -> AppointmentRecord:
        async def handler(uow: UnitOfWork) -> AppointmentRecord:
            done, _ = await self._on_book(uow, command)
            return _appointment(command.store.store_id, command.day, done, command.appointment_id)

        return await self._handle(command, handler, request_id, AppointmentRecord, defaulted_day)

    async def reschedule(
        self, command: RescheduleAppointment, request_id: str, *, defaulted_day: bool = False
    ) -> AppointmentRecord:
        """Within the day in its book; to another day as a cancel here and a booking there."""

        async def handler(uow: UnitOfWork) -> AppointmentRecord:
            facts = await load_store_facts(uow, command.store.store_id)
            new_day = local_day(command.requested_at, facts.time_zone)
            if new_day == command.day:
                done, _ = await self._on_book(uow, command)
                return _appointment(facts.store_id, command.day, done, command.appointment_id)
            old = await uow.load(BOOKS, book_stream(facts.store_id, command.day))
            booking, cancellation = moved_to_another_day(
                old.state.appointment(command.appointment_id), command, facts, new_day
            )
            booked, _ = await self._on_book(uow, booking)
            await self._on_book(uow, cancellation)
            return _appointment(facts.store_id, new_day, booked, command.appointment_id)

        return await self._handle(command, handler, request_id, AppointmentRecord, defaulted_day)

    async def sync_appointments(self, command: SyncAppointments, request_id: str) -> SyncedBatch:
        """A DMS's appointments, each booked as BookAppointment books it, in one command:
        the batch is recorded whole or not at all, and a retry gets the first reply
        (looked up before anything is decided again).

        The books of the batch's days are loaded at once (kernel/load_many.py), every
        appointment decided in memory on its book (appointment_sync.decide_all), then each
        day's events recorded in one append: on PostgreSQL every day's in one COPY and one
        statement (kernel/bulk_append.py), each day's row projected once from its last
        state; elsewhere day by day through the unit of work, projected event by event."""
        appointment_sync.validate(command)

        async def handler(uow: UnitOfWork) -> SyncedBatch:
            facts = await load_store_facts(uow, command.store_id)
            require_open(facts)
            streams = {
                day: book_stream(facts.store_id, day)
                for day in appointment_sync.days_of(command, facts)
            }
            loaded = await load_many(uow, BOOKS, list(streams.values()))
            books = {day: loaded[s].state for day, s in streams.items()}
            elsewhere = {}
            if appointment_sync.any_new(command, facts, books):
                elsewhere = await _standing_appointments(uow, facts, command.at)
            decided = appointment_sync.decide_all(command, facts, books, elsewhere)
            writes = [
                StreamWrite(loaded[streams[day]], book.events, book.state)
                for day, book in decided.books.items()
            ]
            if bulk_append.available(uow):
                recorded = await bulk_append.record_many(uow, BOOKS, writes)
                at = {r.stream_id: r.recorded_at for r in recorded}
                for w in writes:
                    await read_model.write_day_at_end(uow, facts, w.state, at[w.loaded.stream_id])
            else:
                with read_model.deciding_on(facts):
                    for w in writes:
                        await uow.record(BOOKS, w.loaded, w.events)
            return SyncedBatch(decided.results)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=SyncedBatch, look_up_first=True
        )

    async def visit(
        self, command: VisitCommand, request_id: str, *, defaulted_day: bool = False
    ) -> VisitRecord:
        async def handler(uow: UnitOfWork) -> VisitRecord:
            done, _ = await self._on_book(uow, command)
            return VisitRecord(
                command.store.store_id, command.day, done.state.visit(command.visit_id)
            )

        return await self._handle(command, handler, request_id, VisitRecord, defaulted_day)

    # Slot holds (SOP 3)

    async def hold_slot(self, command: HoldSlot, request_id: str) -> HoldRecord:
        async def handler(uow: UnitOfWork) -> HoldRecord:
            done, _ = await self._on_book(uow, command)
            await uow.schedule(
                _hold_timer(command.store.store_id, command.hold_id),
                EXPIRE_SLOT_HOLD,
                command.expires_at,
                {
                    "store_id": command.store.store_id,
                    "day": command.day.isoformat(),
                    "hold_id": command.hold_id,
                },
            )
            return HoldRecord(command.store.store_id, command.day, done.state.hold(command.hold_id))

        return await self._handle(command, handler, request_id, HoldRecord)

    async def confirm_hold(
        self, command: ConfirmSlotHold, request_id: str, *, defaulted_day: bool = False
    ) -> AppointmentRecord:
        async def handler(uow: UnitOfWork) -> AppointmentRecord:
            done, _ = await self._on_book(uow, command)
            await uow.cancel_timer(_hold_timer(command.store.store_id, command.hold_id))
            return _appointment(command.store.store_id, command.day, done, command.appointment_id)

        return await self._handle(command, handler, request_id, AppointmentRecord, defaulted_day)

    async def release_hold(
        self, command: ReleaseSlotHold, request_id: str, *, defaulted_day: bool = False
    ) -> HoldRecord:
        async def handler(uow: UnitOfWork) -> HoldRecord:
            done, _ = await self._on_book(uow, command)
            await uow.cancel_timer(_hold_timer(command.store.store_id, command.hold_id))
            return HoldRecord(command.store.store_id, command.day, done.state.hold(command.hold_id))

        return await self._handle(command, handler, request_id, HoldRecord, defaulted_day)

    async def expire_slot_hold(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The durable timer of a slot hold fired."""
        facts = await load_store_facts(uow, payload["store_id"])
        await self._on_book(
            uow,
            ExpireSlotHold(
                store=facts,
                day=date.fromisoformat(payload["day"]),
                hold_id=payload["hold_id"],
                at=uow.clock.now(),
            ),
        )

    # Waiting and pressure ahead

    async def assess_wait(
        self, command: AssessWait, request_id: str, *, defaulted_day: bool = False
    ) -> WaitEstimate:
        async def handler(uow: UnitOfWork) -> WaitEstimate:
            done, facts = await self._on_book(uow, command)
            return wait_estimate_of(facts, command.day, done.state, command.at)

        return await self._handle(command, handler, request_id, WaitEstimate, defaulted_day)

    async def reassess_wait(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The re-estimation timer of a store whose wait is over its threshold fired."""
        facts = await load_store_facts(uow, payload["store_id"])
        day, now = date.fromisoformat(payload["day"]), uow.clock.now()
        if local_day(now, facts.time_zone) != day:
            return  # the day is over: nobody arrives into it any more
        done, _ = await self._on_book(uow, AssessWait(store=facts, day=day, at=now))
        if done.state.wait_exceeded:
            await uow.schedule(
                _reassess_timer(facts.store_id, day), REASSESS_WAIT, now + REASSESS_EVERY, payload
            )

    async def forecast_pressure(
        self, command: ForecastPressure, request_id: str
    ) -> CapacityForecast:
        """Bookings so far plus each weekday's usual walk-ins, for the next 7 days; days
        above 100% raise CapacityPressureForecast (once), days that ease lower it."""

        async def handler(uow: UnitOfWork) -> CapacityForecast:
            facts = await load_store_facts(uow, command.store_id)
            today = local_day(command.at, facts.time_zone)
            history = await read_model.walk_in_history(
                uow.conn, facts, today - timedelta(weeks=LEARNING_WEEKS), today
            )
            pattern = learn_walk_in_pattern(history, as_of=today)
            days = []
            for day in forecast_horizon(today):
                expected = pattern.expected_on(day)
                done, _ = await self._on_book(
                    uow,
                    ForecastCapacityPressure(
                        store=facts, day=day, expected_walk_ins=expected, at=command.at
                    ),
                )
                days.append(
                    forecast_day(
                        day=day,
                        capacity=done.state.capacity(facts, day),
                        booked=done.state.booked,
                        expected_walk_ins=expected,
                    )
                )
            return CapacityForecast(command.store_id, tuple(days))

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=CapacityForecast
        )

    async def _handle(
        self,
        command: Any,
        handler: Callable[[UnitOfWork], Awaitable[R]],
        request_id: str,
        result_type: type[R],
        defaulted_day: bool = False,
    ) -> R:
        """`defaulted_day`: the service took the day from its clock (today), so a retry with
        the same request id after local midnight is still the same request."""
        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=result_type,
            context_fields=(*STORE_FACTS, "day") if defaulted_day else STORE_FACTS,
        )


async def load_store_facts(uow: UnitOfWork, store_id: str) -> StoreFacts:
    state = (await uow.load(STORES, STORES.stream_id(store_id))).state
    if state.profile is None:
        raise NotFound("store", store_id)
    return store_facts(state)


async def _standing_appointments(
    uow: UnitOfWork, facts: StoreFacts, at: datetime
) -> dict[str, tuple[date, Appointment]]:
    """The store's appointments still booked from its local today on, by id, with their
    day: where a DMS's appointment stands whatever day it sends it for."""
    standing: dict[str, tuple[date, Appointment]] = {}
    today = local_day(at, facts.time_zone)
    days = await read_model.days_booked(uow.conn, facts.store_id, today)
    loaded = await load_many(uow, BOOKS, [book_stream(facts.store_id, day) for day in days])
    for day in days:
        book = loaded[book_stream(facts.store_id, day)].state
        for appointment in book.appointments.values():
            if appointment.status is AppointmentStatus.BOOKED:
                standing[appointment.appointment_id] = (day, appointment)
    return standing


def _appointment(
    store_id: str, day: date, done: Executed[BookState], appointment_id: str
) -> AppointmentRecord:
    return AppointmentRecord(store_id, day, done.state.appointment(appointment_id))


def wait_estimate_of(facts: StoreFacts, day: date, book: BookState, at: datetime) -> WaitEstimate:
    wait = estimated_wait_of(book, facts, at)
    return WaitEstimate(
        store_id=facts.store_id,
        day=day,
        estimated_wait_minutes=whole_minutes(wait),
        threshold_minutes=facts.wait_threshold_minutes,
        threshold_exceeded=wait > timedelta(minutes=facts.wait_threshold_minutes),
        waiting_vehicles=len(book.waiting_queue()),
        bays_in_use=len(book.visits_in(VisitStatus.IN_SERVICE)),
        bays=facts.bays,
    )
