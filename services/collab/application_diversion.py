"""Collab's command side for SOP 3: a diversion requested by the origin store's DMS or by
capacity's WaitThresholdExceeded, and the customer's answer.

Receivers are looked up at request time over gRPC (capacity's nearest stores, today's day
view, bays in use now): places and bays must be fresh, and the saga's hold a moment later
is checked by capacity again. Which customer a WaitThresholdExceeded offers the choice to
comes from collab's copy of the origin's open appointments (capacity's events, the same
exactly-once subscription, in stream order): the one booked latest, who would wait longest.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from storemesh.capacity.events.v1 import events_pb2 as capacity_events

from kernel.application import Application, UnitOfWork
from kernel.codec import utc
from kernel.db import lock_for_transaction, upsert
from kernel.errors import NotFound, RuleViolated
from kernel.messaging import InboundEvent
from kernel.saga import SagaState
from kernel.saga.definition import NOT_AWAITING
from kernel.subscriptions import PoisonMessage, Subscription
from services.collab.domain import reasons
from services.collab.domain.commands import AnswerDiversion, RequestDiversion
from services.collab.domain.diversion import (
    DEFAULT_DEADLINES,
    WAIT_TRIGGER,
    Deadlines,
    Diversion,
    Terms,
    answered,
    check_same_day,
    diversion_saga,
    requested,
    settled,
)
from services.collab.domain.receivers import Nearby, rank_receivers
from services.collab.domain.resolved import customer_received
from services.collab.pilot import PilotCopy
from services.collab.read_model_sops import diversion_stage, diversions, open_appointments
from services.collab.settling import SettlingRuntime

log = structlog.get_logger("storemesh.collab.diversion")

_EVENTS = "storemesh.capacity.events.v1."
# A wait warning older than this offers no one: the customers it was about are served.
STALE_TRIGGER = timedelta(minutes=30)
_WAIT_NAMESPACE = uuid.UUID("0c5b8f7e-2d7a-4f43-9a51-7d2f3c4e5a61")


class NearbyCapacity(Protocol):
    async def nearby(self, store_id: str) -> Sequence[Nearby]: ...


def build_diversion_runtime(deadlines: Deadlines) -> SettlingRuntime[Diversion]:
    return SettlingRuntime(diversion_saga(deadlines), settled, customer_received)


class Diversions:
    def __init__(
        self,
        app: Application,
        runtime: SettlingRuntime[Diversion],
        capacity: NearbyCapacity,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        terms: Terms | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.capacity = capacity
        self.deadlines = deadlines
        self.terms = terms or Terms()
        self.pilot = PilotCopy(app)

    async def receivers(
        self, store_id: str, conn: AsyncConnection | None = None
    ) -> tuple[tuple[str, float], ...]:
        """The nearest stores able to take the car today that take part in the pilot
        (domain/pilot.py: only participating stores receive)."""
        pilot = await self.pilot.now(conn)
        today = self.app.clock.business_day(self.app.clock.now())
        nearby = pilot.keep(await self.capacity.nearby(store_id), lambda n: n.store_id, today)
        ranked, _ = rank_receivers(store_id, nearby)
        return tuple((r.store_id, r.distance_km) for r in ranked)

    async def request(self, command: RequestDiversion, request_id: str) -> str:
        receivers = await self.receivers(command.store_id)

        async def handler(uow: UnitOfWork) -> str:
            # Inside the handler: a retry after midnight replays the diversion it made.
            check_same_day(command, self.app.clock.business_day(command.at))
            await self._one_at_a_time(uow, command)
            await self._start(uow, command, receivers)
            return command.diversion_id

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)

    async def _one_at_a_time(self, uow: UnitOfWork, command: RequestDiversion) -> None:
        """One diversion of an appointment at a time: a second would hold a second bay and
        offer the customer twice. After one that moved nobody, the store may ask again
        (one resolved by hand too: it was stuck giving the receiver's bay back).
        Requests for one appointment take its lock first, so of two at once the second
        sees the first."""
        key = f"diversion|{command.store_id}|{command.day}|{command.appointment_id}"
        await lock_for_transaction(uow.conn, key)
        query = select(diversions.c.diversion_id).where(
            diversions.c.origin_store_id == command.store_id,
            diversions.c.origin_day == command.day,
            diversions.c.origin_appointment_id == command.appointment_id,
            diversions.c.stage.not_in(("NOT_MADE", "RESOLVED_BY_HAND")),
            diversions.c.diversion_id != command.diversion_id,
        )
        other = (await uow.conn.execute(query.limit(1))).scalar()
        if other is not None:
            raise RuleViolated(
                reasons.DIVERSION_ALREADY_REQUESTED,
                f"appointment {command.appointment_id} is already diverted or offered "
                f"(diversion {other})",
                subject=f"diversion/{other}",
                metadata={"diversion_id": str(other)},
            )

    async def _start(
        self, uow: UnitOfWork, command: RequestDiversion, receivers: tuple[tuple[str, float], ...]
    ) -> None:
        if not receivers:
            raise RuleViolated(
                reasons.NO_RECEIVER_AVAILABLE,
                f"no store near {command.store_id} has a place today and a free bay",
                subject=f"store/{command.store_id}",
            )
        event = requested(command, receivers, self.deadlines, self.terms)
        await self.runtime.start(uow, command.diversion_id, event)

    async def answer(self, command: AnswerDiversion, request_id: str) -> str:
        async def handler(uow: UnitOfWork) -> str:
            state = await self.runtime.state(uow, command.diversion_id)
            if state.data is None:
                raise NotFound("diversion", command.diversion_id)
            try:
                await self.runtime.signal(uow, command.diversion_id, answered(state.data, command))
            except RuleViolated as refused:
                if refused.reason != NOT_AWAITING:
                    raise
                raise not_awaiting(command, state) from refused
            return command.diversion_id

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)

    # Capacity's events

    async def on_capacity_event(self, uow: UnitOfWork, event: InboundEvent) -> None:
        name = event.event_type.removeprefix(_EVENTS)
        message_type = getattr(capacity_events, name, None)
        if message_type is None:
            return
        try:
            message = message_type.FromString(event.payload)
        except Exception as exc:  # a payload that never decodes will not decode later
            raise PoisonMessage(f"undecodable {name}: {exc}") from exc
        if name == "AppointmentBooked":
            if message.HasField("diverted_from_store_id"):
                return  # already diverted here: not offered onwards
            await upsert(
                uow.conn,
                open_appointments,
                {
                    "store_id": message.store_id,
                    "day": message.day,
                    "appointment_id": message.appointment_id,
                    "customer_ref": message.customer_ref,
                    "vehicle": message.vehicle,
                    "service_type": message.service_type,
                    "expected_labour_hours": message.expected_labour_hours,
                    "requested_at": utc(message.requested_at),
                },
                ["store_id", "day", "appointment_id"],
            )
        elif name in ("AppointmentCancelled", "CustomerCheckedIn", "AppointmentNoShow"):
            await uow.conn.execute(
                delete(open_appointments).where(
                    open_appointments.c.store_id == message.store_id,
                    open_appointments.c.day == message.day,
                    open_appointments.c.appointment_id == message.appointment_id,
                )
            )
        elif name == "WaitThresholdExceeded":
            await self._divert_one(uow, event.event_id, message)

    async def _divert_one(self, uow: UnitOfWork, event_id: str, exceeded: Any) -> None:
        now = uow.clock.now()
        if now - utc(exceeded.occurred_at) > STALE_TRIGGER:
            # Read late (a consumer catching up on history): the queue it saw is gone.
            log.info("diversion.stale_trigger", store_id=exceeded.store_id, day=exceeded.day)
            return
        offered = select(diversions.c.origin_appointment_id).where(
            diversions.c.origin_store_id == exceeded.store_id
        )
        query = (
            select(open_appointments)
            .where(
                open_appointments.c.store_id == exceeded.store_id,
                open_appointments.c.day == exceeded.day,
                # Still to come: a customer whose time has passed is no one to move.
                open_appointments.c.requested_at > now,
                open_appointments.c.appointment_id.not_in(offered),
            )
            .order_by(open_appointments.c.requested_at.desc(), open_appointments.c.appointment_id)
            .limit(1)
        )
        row = (await uow.conn.execute(query)).first()
        if row is None:
            log.info("diversion.nobody_to_offer", store_id=exceeded.store_id, day=exceeded.day)
            return
        receivers = await self.receivers(exceeded.store_id, uow.conn)
        if not receivers:
            log.info("diversion.no_receiver", store_id=exceeded.store_id, day=exceeded.day)
            return
        command = RequestDiversion(
            str(uuid.uuid5(_WAIT_NAMESPACE, event_id)),
            row.store_id,
            row.appointment_id,
            row.day,
            row.customer_ref,
            row.vehicle,
            row.service_type,
            row.expected_labour_hours,
            WAIT_TRIGGER,
            now,
        )
        await self._start(uow, command, receivers)


def not_awaiting(command: Any, state: SagaState[Diversion]) -> RuleViolated:
    stage = diversion_stage(state)
    return RuleViolated(
        reasons.DIVERSION_NOT_AWAITING,
        f"diversion {command.diversion_id} is not waiting for the customer's answer "
        f"(it is at {stage})",
        subject=f"diversion/{command.diversion_id}",
        metadata={"stage": stage},
    )


def capacity_subscription(diversions: Diversions) -> Subscription:
    return Subscription(
        name="collab-diversion-triggers",
        stream="CAPACITY",
        subjects=tuple(
            f"capacity.v1.*.{t}"
            for t in (
                "AppointmentBooked",
                "AppointmentCancelled",
                "CustomerCheckedIn",
                "AppointmentNoShow",
                "WaitThresholdExceeded",
            )
        ),
        handler=diversions.on_capacity_event,
    )
