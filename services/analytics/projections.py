"""Analytics' subscriptions to the four contexts' events, projected into network_model's
tables. Each event is handled once (the kernel's inbox, in the handler's transaction), so
a counter is incremented once whatever the redeliveries; a rebuild replays the streams
into empty tables through the same handlers (rebuild.py).

The subscriptions are batched (kernel.subscriptions): a fetched batch is one transaction,
and the day counters (`add_facts`, `add_service_line`) are written once per row and batch,
at its end; rows a handler reads back (visit types, transfers, supports, diversions) are
written at once.

A fact counts on the business day of its `day` field (capacity, workforce) or of its
`occurred_at` (inventory, collab) in the business zone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date
from typing import Any

from google.protobuf.message import DecodeError, Message
from sqlalchemy import update
from storemesh.capacity.events.v1 import events_pb2 as capacity
from storemesh.collab.events.v1 import events_pb2 as collab
from storemesh.inventory.events.v1 import events_pb2 as inventory
from storemesh.workforce.events.v1 import events_pb2 as workforce

from kernel.application import UnitOfWork
from kernel.clock import Clock
from kernel.db import upsert
from kernel.messaging import InboundEvent
from kernel.subscriptions import PoisonMessage, Subscription
from services.analytics import network_model as model
from services.analytics.customers import customer_counters

Handler = Callable[[UnitOfWork, Any], Awaitable[None]]

# Messages fetched (and handled in one transaction) at a time.
BATCH = 256


class Projections:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.handlers: dict[str, tuple[type[Message], Handler]] = {}
        for message_type, handler in (
            (inventory.PartsIssued, self.parts_issued),
            (inventory.ShortageRecorded, self.shortage),
            (inventory.StaleStockValued, self.stale_stock_valued),
            (collab.TransferRequested, self.transfer_requested),
            (collab.TransferCompleted, self.transfer_completed),
            (collab.ContributionRecorded, self.contribution),
            (collab.CollaborationCostRecorded, self.cost),
            (capacity.StoreRegistered, self.store_profile),
            (capacity.StoreUpdated, self.store_profile),
            (capacity.StoreClosed, self.store_closed),
            (capacity.DayCapacitySet, self.day_capacity),
            (capacity.AppointmentBooked, self.booked),
            (capacity.AppointmentCancelled, self.cancelled),
            (capacity.CustomerCheckedIn, self.checked_in),
            (capacity.WalkInArrived, self.walked_in),
            (capacity.VisitCompleted, self.visit_completed),
            (capacity.QuoteAbandoned, self.quote_abandoned),
            (capacity.SlotHeld, self.diversion_offered),
            (capacity.SlotHoldConfirmed, self.diversion_accepted),
            (workforce.ShiftPlanned, self.shift_planned),
            (workforce.ProductiveHoursLogged, self.productive_hours),
            (workforce.SupportCompleted, self.support_completed),
            (workforce.SupportRated, self.support_rated),
        ):
            self.handlers[message_type.DESCRIPTOR.full_name] = (message_type, handler)

    def subscriptions(self) -> list[Subscription]:
        return [
            self._subscription("analytics-inventory", "INVENTORY", "inventory", inventory),
            self._subscription("analytics-collab", "COLLAB", "collab", collab),
            self._subscription("analytics-capacity", "CAPACITY", "capacity", capacity),
            self._subscription("analytics-workforce", "WORKFORCE", "workforce", workforce),
        ]

    def _subscription(self, name: str, stream: str, context: str, module: Any) -> Subscription:
        package = module.DESCRIPTOR.package
        subjects = tuple(
            f"{context}.v1.*.{full.rsplit('.', 1)[-1]}"
            for full in self.handlers
            if full.startswith(f"{package}.")
        )
        # Batched: a fetched batch in one transaction, its counters added once per row.
        return Subscription(
            name=name,
            stream=stream,
            subjects=subjects,
            handler=self.handle,
            batch=BATCH,
            batched=True,
        )

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> None:
        found = self.handlers.get(event.event_type)
        if found is None:
            return  # a type this projection does not read
        message_type, handler = found
        try:
            message = message_type.FromString(event.payload)
        except DecodeError as exc:  # a payload that never decodes will not decode later
            raise PoisonMessage(f"undecodable {event.event_type}: {exc}") from exc
        if event.event_type in _PROFILE_EVENTS:
            # A profile is replaced only by a newer one of the store's stream.
            await self.store_profile(uow, message, _stream_version(event))
            return
        await handler(uow, message)

    def _day(self, moment: Any) -> date:
        return self.clock.business_day(moment.ToDatetime(tzinfo=UTC))

    # inventory

    async def parts_issued(self, uow: UnitOfWork, e: Any) -> None:
        await model.add_facts(uow, e.store_id, self._day(e.occurred_at), part_issues=1)

    async def shortage(self, uow: UnitOfWork, e: Any) -> None:
        await model.add_facts(uow, e.store_id, self._day(e.occurred_at), shortages=1)

    async def stale_stock_valued(self, uow: UnitOfWork, e: Any) -> None:
        """The store's stale stock as its day ended; a later valuation of the day replaces."""
        day = _iso_day(e.day)
        if day is None or not e.store_id:
            raise PoisonMessage(f"StaleStockValued without a store or day: {e.day!r}")
        await upsert(
            uow.conn,
            model.stale_stock,
            {
                "store_id": e.store_id,
                "day": day,
                "value_fen": e.value_fen,
                "positions": e.positions,
                "units": e.units,
            },
            ["store_id", "day"],
        )

    # collab

    async def transfer_requested(self, uow: UnitOfWork, e: Any) -> None:
        await _update_or_insert(
            uow,
            e.transfer_id,
            {"customer_waiting": e.customer_waiting, "requested_day": self._day(e.occurred_at)},
            {"requesting_store_id": e.requesting_store_id, "source_store_id": e.source_store_id},
        )

    async def transfer_completed(self, uow: UnitOfWork, e: Any) -> None:
        day = self._day(e.occurred_at)
        requester = e.store_id
        await _update_or_insert(
            uow,
            e.transfer_id,
            {
                "source_store_id": e.source_store_id,
                "completed_day": day,
                "response_seconds": e.response_seconds,
                "within_sla": e.within_sla,
            },
            {"requesting_store_id": requester, "customer_waiting": False},
        )
        await model.add_facts(
            uow,
            requester,
            day,
            transfers_received=1,
            transfers_in_sla=1 if e.within_sla else 0,
            transfer_response_seconds=e.response_seconds,
        )
        await model.add_facts(uow, e.source_store_id, day, transfers_given=1)

    async def contribution(self, uow: UnitOfWork, e: Any) -> None:
        day = self._day(e.occurred_at)
        await upsert(
            uow.conn,
            model.contributions,
            {
                "saga": e.saga,
                "saga_id": e.saga_id,
                "store_id": e.store_id,
                "act": e.act,
                "points": e.points,
                "day": day,
                "occurred_at": e.occurred_at.ToDatetime(tzinfo=UTC),
            },
            ["saga", "saga_id", "store_id"],
        )
        await model.add_facts(uow, e.store_id, day, contribution_points=e.points)

    async def cost(self, uow: UnitOfWork, e: Any) -> None:
        day = self._day(e.occurred_at)
        await upsert(
            uow.conn,
            model.costs,
            {
                "saga": e.saga,
                "saga_id": e.saga_id,
                "kind": e.kind,
                "store_id": e.store_id,
                "amount_fen": e.amount_fen,
                "day": day,
            },
            ["saga", "saga_id", "kind"],
        )
        await model.add_facts(uow, e.store_id, day, collaboration_cost_fen=e.amount_fen)

    # capacity

    async def store_profile(self, uow: UnitOfWork, e: Any, version: int = 0) -> None:
        """Capacity's whole profile of the store, unless the row holds a newer version (a
        late redelivery of an older profile never rolls it back); a close stays."""
        p = e.profile
        hours = [0.0] * 7
        for h in p.opening_hours:
            if 1 <= h.weekday <= 7:
                hours[h.weekday - 1] += max(0, h.closes_minute - h.opens_minute) / 60
        await model.keep_profile(
            uow.conn,
            {
                "store_id": e.store_id,
                "region": p.region,
                "bays": p.bays,
                "default_daily_capacity": p.default_daily_capacity,
                "availability_factor": p.availability_factor or 0.85,
                "open_hours": hours,
                "opened_on": _iso_day(p.opened_on),
                "closed": False,
                "version": version,
            },
        )

    async def store_closed(self, uow: UnitOfWork, e: Any) -> None:
        await uow.conn.execute(
            update(model.stores)
            .where(model.stores.c.store_id == e.store_id)
            .values(closed=True, closed_on=self._day(e.occurred_at))
        )

    async def day_capacity(self, uow: UnitOfWork, e: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            await model.set_capacity(uow.conn, e.store_id, day, e.capacity)

    async def booked(self, uow: UnitOfWork, e: Any) -> None:
        await self._count(uow, e, booked=1)
        await model.remember_type(
            uow.conn, e.store_id, f"appointment/{e.appointment_id}", e.service_type, e.customer_ref
        )

    async def cancelled(self, uow: UnitOfWork, e: Any) -> None:
        await self._count(uow, e, booked=-1)

    async def walked_in(self, uow: UnitOfWork, e: Any) -> None:
        await self._vehicle_in(uow, e, e.customer_ref)
        await model.remember_type(uow.conn, e.store_id, f"visit/{e.visit_id}", e.service_type)

    async def checked_in(self, uow: UnitOfWork, e: Any) -> None:
        """The booking said who the customer is (its reference), the check-in does not."""
        booked, ref = await model.type_and_customer(
            uow.conn, e.store_id, f"appointment/{e.appointment_id}"
        )
        await self._vehicle_in(uow, e, ref or "")
        await model.remember_type(
            uow.conn, e.store_id, f"visit/{e.visit_id}", booked or model.UNKNOWN_SERVICE
        )

    async def _vehicle_in(self, uow: UnitOfWork, e: Any, customer_ref: str) -> None:
        """A vehicle in, and with a customer reference a new or a returning customer."""
        day = _iso_day(e.day)
        if day is not None:
            customers = await customer_counters(uow, day, customer_ref)
            await model.add_facts(uow, e.store_id, day, vehicles_in=1, **customers)

    async def visit_completed(self, uow: UnitOfWork, e: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            service = await model.type_of(uow.conn, e.store_id, f"visit/{e.visit_id}")
            revenue = e.labour_revenue_fen + e.parts_revenue_fen + e.other_revenue_fen
            await model.add_service_line(
                uow, e.store_id, day, service or model.UNKNOWN_SERVICE, revenue
            )
        scored = e.HasField("satisfaction_score")
        await self._count(
            uow,
            e,
            visits_completed=1,
            labour_hours=e.labour_hours,
            labour_revenue_fen=e.labour_revenue_fen,
            parts_revenue_fen=e.parts_revenue_fen,
            other_revenue_fen=e.other_revenue_fen,
            satisfaction_sum=e.satisfaction_score if scored else 0,
            satisfaction_count=1 if scored else 0,
            complaints=1 if e.complaint else 0,
        )

    async def quote_abandoned(self, uow: UnitOfWork, e: Any) -> None:
        await self._count(uow, e, quotes_abandoned=1)

    async def diversion_offered(self, uow: UnitOfWork, e: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            await model.add_facts(uow, e.diverted_from_store_id, day, diversions_offered=1)
            await _diversion(uow, e, day, accepted=False)

    async def diversion_accepted(self, uow: UnitOfWork, e: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            await model.add_facts(uow, e.diverted_from_store_id, day, diversions_accepted=1)
            await model.add_facts(uow, e.store_id, day, diversions_received=1)
            await _diversion(uow, e, day, accepted=True)

    async def _count(self, uow: UnitOfWork, e: Any, **counts: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            await model.add_facts(uow, e.store_id, day, **counts)

    # workforce

    async def shift_planned(self, uow: UnitOfWork, e: Any) -> None:
        day = _iso_day(e.day)
        if day is not None:
            await upsert(
                uow.conn,
                model.shifts,
                {
                    "store_id": e.store_id,
                    "technician_id": e.technician_id,
                    "day": day,
                    "available_hours": e.available_hours,
                },
                ["store_id", "technician_id", "day"],
            )

    async def productive_hours(self, uow: UnitOfWork, e: Any) -> None:
        await self._count(uow, e, productive_hours=e.hours)

    async def support_completed(self, uow: UnitOfWork, e: Any) -> None:
        day = self._day(e.occurred_at)
        await upsert(
            uow.conn,
            model.supports,
            {
                "support_id": e.support_id,
                "technician_id": e.technician_id,
                "home_store_id": e.store_id,
                "host_store_id": e.host_store_id,
                "day": day,
                "hours": e.hours_worked,
                "fault_solved": e.fault_solved,
            },
            ["support_id"],
        )
        await model.add_facts(uow, e.store_id, day, supports_lent=1)
        await model.add_facts(uow, e.host_store_id, day, supports_received=1)

    async def support_rated(self, uow: UnitOfWork, e: Any) -> None:
        """A rating comes after the completion; one seen first (a redelivery) keeps a row
        the completion then fills in."""
        s = model.supports
        rated = await uow.conn.execute(
            update(s)
            .where(s.c.support_id == e.support_id)
            .values(rating_sum=s.c.rating_sum + e.rating, rating_count=s.c.rating_count + 1)
        )
        if not rated.rowcount:
            await uow.conn.execute(
                s.insert().values(
                    support_id=e.support_id,
                    technician_id=e.technician_id,
                    home_store_id=e.store_id,
                    host_store_id=e.host_store_id,
                    day=self._day(e.occurred_at),
                    hours=0.0,
                    fault_solved=False,
                    rating_sum=e.rating,
                    rating_count=1,
                )
            )


async def _diversion(uow: UnitOfWork, e: Any, day: date, *, accepted: bool) -> None:
    """The offer's row; an acceptance seen before its offer (a redelivery) stays accepted."""
    d = model.diversions
    found = await uow.conn.execute(
        update(d).where(d.c.hold_id == e.hold_id).values(accepted=d.c.accepted | accepted)
    )
    if not found.rowcount:
        await uow.conn.execute(
            d.insert().values(
                hold_id=e.hold_id,
                from_store_id=e.diverted_from_store_id,
                to_store_id=e.store_id,
                day=day,
                accepted=accepted,
            )
        )


def _iso_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


async def _update_or_insert(
    uow: UnitOfWork, transfer_id: str, values: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """Set `values` on the transfer's row, or make the row with `defaults` besides: the
    request and the completion may arrive in either order after a redelivery."""
    t = model.transfers
    done = await uow.conn.execute(update(t).where(t.c.transfer_id == transfer_id).values(**values))
    if not done.rowcount:
        await uow.conn.execute(t.insert().values(transfer_id=transfer_id, **defaults, **values))


_PROFILE_EVENTS = frozenset(
    m.DESCRIPTOR.full_name for m in (capacity.StoreRegistered, capacity.StoreUpdated)
)


def _stream_version(event: InboundEvent) -> int:
    """The event's version in its stream (capacity's `store/<id>`), 0 when not told."""
    try:
        return int(event.headers.get("ce-streamversion", "0"))
    except ValueError:
        return 0
