"""Stale stock revitalisation at work: the recommendation over inventory's stale stock and
collab's demand and shortages, and the transfer that moves it (the SOP 1 saga, with the
stale store as its only source). The rules are in domain/revitalisation.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from storemesh.inventory.events.v1 import events_pb2 as inventory_events

from kernel.application import Application, UnitOfWork
from kernel.codec import utc
from kernel.errors import RuleViolated
from kernel.messaging import InboundEvent
from kernel.store_directory import require_open_store
from kernel.subscriptions import PoisonMessage, Subscription
from services.collab import read_model
from services.collab.customers import PERSONAL_FIELDS, Customers
from services.collab.domain import reasons
from services.collab.domain.commands import RequestTransfer, TransferReason
from services.collab.domain.revitalisation import (
    DEFAULT_MIN_IDLE_DAYS,
    Receiver,
    StaleLot,
    Use,
    rank_receivers,
)
from services.collab.domain.sourcing import DEMAND_WINDOW_DAYS
from services.collab.domain.transfer import Deadlines, requested
from services.collab.pilot import PilotCopy
from services.collab.queries import CollabQueries

if TYPE_CHECKING:
    from services.collab.application import StockLookup, TransferRuntime

SHORTAGE_RECORDED = "storemesh.inventory.events.v1.ShortageRecorded"


class Revitalisation:
    def __init__(
        self,
        app: Application,
        runtime: TransferRuntime,
        stock: StockLookup,
        queries: CollabQueries,
        deadlines: Deadlines,
        customers: Customers,
        pilot: PilotCopy,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.stock = stock
        self.queries = queries
        self.deadlines = deadlines
        self.customers = customers
        self.pilot = pilot

    async def recommend(
        self, store_id: str, part_number: str, min_idle_days: int, limit: int
    ) -> list[tuple[StaleLot, list[Receiver]]]:
        """The store's stale lots (one part, or all) and who would use each, best first."""
        lots = [
            lot
            for lot in await self.stock.stale(store_id, min_idle_days)
            if not part_number or lot.part_number == part_number
        ]
        today = self.app.clock.business_day(self.app.clock.now())
        since = today - timedelta(days=DEMAND_WINDOW_DAYS - 1)
        pilot = await self.pilot.now()
        ranked = []
        for lot in lots:
            demand = await self.queries.demand(lot.part_number, since)
            short = await self.queries.shortages(lot.part_number, since)
            located = await self.queries.locations([store_id, *demand, *short])
            uses = [
                Use(s, demand.get(s, 0), short.get(s, 0), located.get(s))
                for s in sorted({*demand, *short})
                if pilot.recommendable(s, today)  # only pilot stores receive
            ]
            ranked.append((lot, rank_receivers(lot, located.get(store_id), uses, limit)))
        return ranked

    async def request(self, command: RequestTransfer, request_id: str) -> str:
        """A transfer of stale stock from the store that holds it: that store is the only
        source, and the quantity must be stale there (the 10 points are for moving stale
        stock, not for any transfer): an idle lot whole, an overstocked one's excess
        only (its cover is what the store itself uses)."""
        source = command.source_store_id
        lots = [
            lot
            for lot in await self.stock.stale(source, DEFAULT_MIN_IDLE_DAYS)
            if lot.part_number == command.part_number
        ]
        stale_units = max((lot.stale_quantity for lot in lots), default=0)
        holders = await self.stock.holders(command.part_number, command.quantity, command.store_id)
        available = any(h.store_id == source for h in holders)

        async def handler(uow: UnitOfWork) -> str:
            # Inventory ships to open stores only, and finds out after the courier's pickup.
            await require_open_store(uow.conn, command.store_id, "store_id")
            # Refused inside the handler, so a retry of a request that took the stock
            # replays its transfer instead.
            if stale_units < command.quantity:
                raise RuleViolated(
                    reasons.NOT_STALE_STOCK,
                    f"{source} holds {stale_units} of {command.part_number} stale (idle "
                    f"{DEFAULT_MIN_IDLE_DAYS} days or more, or beyond its own cover), "
                    f"not {command.quantity}",
                    subject=f"stock/{source}/{command.part_number}",
                    metadata={"stale_quantity": str(stale_units)},
                )
            if not available:
                raise RuleViolated(
                    reasons.NO_SOURCE_AVAILABLE,
                    f"{source} has not {command.quantity} of {command.part_number} available",
                    subject=f"stock/{source}/{command.part_number}",
                )
            event = dataclasses.replace(
                requested(command, (source,), self.deadlines),
                reason=TransferReason.REVITALISATION.value,
                write_down_fen=command.write_down_fen,
            )
            event = await self.customers.sealed_into(uow, command, event)
            await self.runtime.start(uow, command.transfer_id, event)
            return command.transfer_id

        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=str,
            context_fields=PERSONAL_FIELDS,
        )

    async def count_short(self, uow: UnitOfWork, event: InboundEvent) -> None:
        """Inventory's ShortageRecorded: the units a store's repair order went without."""
        if event.event_type != SHORTAGE_RECORDED:
            return
        try:
            short = inventory_events.ShortageRecorded.FromString(event.payload)
        except Exception as exc:  # a payload that never decodes will not decode later
            raise PoisonMessage(f"undecodable ShortageRecorded: {exc}") from exc
        day = self.app.clock.business_day(utc(short.occurred_at))
        missing = max(int(short.requested) - int(short.available), 0)
        await read_model.count_short(uow, short.store_id, short.part_number, day, missing)


def shortage_subscription(revitalisation: Revitalisation) -> Subscription:
    return Subscription(
        name="collab-part-shortage",
        stream="INVENTORY",
        subjects=("inventory.v1.*.ShortageRecorded",),
        handler=revitalisation.count_short,
    )
