"""Collab's command side: start and answer transfer sagas, settle them, count demand.

Source ranking reads inventory's stock at request time over gRPC (FindStock: the freshest
available, and the stock's last movement for staleness) and the givers' recent demand
from collab's own table, kept from inventory's PartsIssued events by an exactly-once
subscription (see README.md for why the split).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from storemesh.inventory.events.v1 import events_pb2 as inventory_events

from kernel.application import Application, UnitOfWork
from kernel.codec import utc
from kernel.errors import NotFound, RuleViolated
from kernel.messaging import InboundEvent
from kernel.saga import Saga, SagaDispatcher, SagaState
from kernel.saga.definition import NOT_AWAITING
from kernel.store_directory import require_open_store
from kernel.subscriptions import PoisonMessage, Subscription
from services.collab import read_model
from services.collab.customers import PERSONAL_FIELDS, Customers
from services.collab.domain import reasons
from services.collab.domain.commands import (
    ApproveTransfer,
    RejectTransfer,
    ReportCourierProgress,
    RequestTransfer,
    TransferReason,
)
from services.collab.domain.events import (
    TransferCancelled,
    TransferRequested,
    TransferResolvedByHand,
    TransferStepRetried,
)
from services.collab.domain.resolved import part_given
from services.collab.domain.revitalisation import (
    StaleLot,
    revitalised,
)
from services.collab.domain.sourcing import (
    DEMAND_WINDOW_DAYS,
    Candidate,
    Holding,
    rank_sources,
)
from services.collab.domain.transfer import (
    DEFAULT_DEADLINES,
    Deadlines,
    Transfer,
    approved,
    courier_reported,
    rejected,
    requested,
    settled,
    transfer_saga,
)
from services.collab.pilot import PilotCopy
from services.collab.queries import CollabQueries
from services.collab.revitalisation import Revitalisation
from services.collab.settling import SettlingRuntime

if TYPE_CHECKING:
    from services.collab.application_diversion import Diversions
    from services.collab.application_support import Supports

PARTS_ISSUED = "storemesh.inventory.events.v1.PartsIssued"
# Every candidate is ranked, so a refusal or silence still has a next source to ask.
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class StockHolder:
    store_id: str
    available: int
    last_movement_at: datetime | None


class StockLookup(Protocol):
    """Who holds a part now (inventory's FindStock), and what lies idle where
    (ListStaleStock)."""

    async def holders(
        self, part_number: str, min_available: int, exclude_store_id: str
    ) -> Sequence[StockHolder]: ...

    async def stale(self, store_id: str, min_idle_days: int) -> Sequence[StaleLot]: ...

    async def knows_part(self, part_number: str) -> bool: ...


class TransferRuntime(SettlingRuntime[Transfer]):
    """The transfer saga, settled in the transaction that completes it (or resolves it
    after the delivery): the giver's point and HQ's freight, a revitalisation's 10 points
    and write-down."""

    def __init__(self, saga: Saga[Transfer]) -> None:
        super().__init__(saga, settled, part_given)

    async def settlement(
        self, uow: UnitOfWork, saga_id: str, data: Transfer, at: datetime
    ) -> list[Any]:
        entries = settled(data, at)
        # Why the transfer was made is its first event's (the saga's data has no use for it).
        started = (await self.events(uow, saga_id))[0]
        assert isinstance(started, TransferRequested)
        if started.reason == TransferReason.REVITALISATION:
            entries = revitalised(entries, started.write_down_fen, at)
        return entries


class Collab:
    def __init__(
        self,
        app: Application,
        runtime: TransferRuntime,
        stock: StockLookup,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        dispatcher: SagaDispatcher | None = None,
        supports: Supports | None = None,
        diversions: Diversions | None = None,
    ) -> None:
        self.app = app
        # SOP 2 and SOP 3 (application_support.py, application_diversion.py).
        self.supports = supports
        self.diversions = diversions
        self.runtime = runtime
        self.stock = stock
        self.deadlines = deadlines
        # Performs the saga's committed calls to inventory (the host runs it).
        self.dispatcher = dispatcher
        self.queries = CollabQueries(app)
        # The waiting customer's personal data, and stale stock revitalisation.
        self.customers = Customers(app)
        # HQ's pilot: only participating stores are recommended (domain/pilot.py).
        self.pilot = PilotCopy(app)
        self.revitalisation = Revitalisation(
            app, runtime, stock, self.queries, deadlines, self.customers, self.pilot
        )

    async def recommend(
        self, store_id: str, part_number: str, quantity: int, limit: int
    ) -> list[Candidate]:
        now = self.app.clock.now()
        today = self.app.clock.business_day(now)
        holders = (await self.pilot.now()).keep(
            await self.stock.holders(part_number, quantity, store_id), lambda h: h.store_id, today
        )
        since = today - timedelta(days=DEMAND_WINDOW_DAYS - 1)
        demand, located = await self.queries.sourcing(
            part_number, since, [store_id, *(h.store_id for h in holders)]
        )
        holdings = [
            Holding(
                h.store_id,
                h.available,
                h.last_movement_at,
                demand.get(h.store_id, 0),
                located.get(h.store_id),
            )
            for h in holders
        ]
        return rank_sources(store_id, located.get(store_id), holdings, quantity, now, limit)

    async def request_transfer(self, command: RequestTransfer, request_id: str) -> str:
        if command.reason == TransferReason.REVITALISATION:
            return await self.revitalisation.request(command, request_id)
        ranked = await self.recommend(
            command.store_id, command.part_number, command.quantity, MAX_CANDIDATES
        )
        # Asked only when nobody holds it: a part no store holds may be one no catalogue has.
        unknown = not ranked and not await self.stock.knows_part(command.part_number)

        async def handler(uow: UnitOfWork) -> str:
            # Inventory ships to open stores only, and finds out after the courier's pickup.
            await require_open_store(uow.conn, command.store_id, "store_id")
            # Refused inside the handler, so a retry of a request that took the last
            # units (nobody has any left now) replays its transfer instead.
            if unknown:
                raise RuleViolated(
                    reasons.PART_UNKNOWN,
                    f"part {command.part_number} is not in inventory's catalogue",
                    subject=f"part/{command.part_number}",
                )
            if not ranked:
                raise RuleViolated(
                    reasons.NO_SOURCE_AVAILABLE,
                    f"no store has {command.quantity} of {command.part_number} available",
                    subject=f"part/{command.part_number}",
                )
            candidates = tuple(c.store_id for c in ranked)
            event = await self.customers.sealed_into(
                uow, command, requested(command, candidates, self.deadlines)
            )
            await self.runtime.start(uow, command.transfer_id, event)
            return command.transfer_id

        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=str,
            context_fields=PERSONAL_FIELDS,
        )

    async def approve(
        self, command: ApproveTransfer, request_id: str, acting_for: str | None
    ) -> str:
        return await self._answer(
            command, request_id, lambda t, step: approved(t, command), acting_for
        )

    async def reject(self, command: RejectTransfer, request_id: str, acting_for: str | None) -> str:
        return await self._answer(
            command, request_id, lambda t, step: rejected(t, command), acting_for
        )

    async def report_courier(self, command: ReportCourierProgress, request_id: str) -> str:
        return await self._answer(
            command, request_id, lambda t, step: courier_reported(t, step, command)
        )

    async def _answer(
        self, command: Any, request_id: str, event_of: Any, acting_for: str | None = None
    ) -> str:
        """Signal the saga; `acting_for` is the source store the caller answers for (None:
        HQ), refused once another source is being asked."""

        async def handler(uow: UnitOfWork) -> str:
            state = await self.runtime.state(uow, command.transfer_id)
            if state.data is None:
                raise NotFound("transfer", command.transfer_id)
            step = self.runtime.saga.steps[min(state.step, len(self.runtime.saga.steps) - 1)]
            if acting_for is not None and acting_for != state.data.source_store_id:
                raise _not_awaiting(command, state)  # another source is being asked now
            try:
                await self.runtime.signal(uow, command.transfer_id, event_of(state.data, step.name))
            except RuleViolated as refused:
                if refused.reason != NOT_AWAITING:
                    raise
                raise _not_awaiting(command, state) from refused
            return str(command.transfer_id)

        return await self.app.handle(command, handler, request_id=request_id, result_type=str)

    # Inventory's events

    async def count_issued(self, uow: UnitOfWork, event: InboundEvent) -> None:
        if event.event_type != PARTS_ISSUED:
            return
        try:
            issued = inventory_events.PartsIssued.FromString(event.payload)
        except Exception as exc:  # a payload that never decodes will not decode later
            raise PoisonMessage(f"undecodable PartsIssued: {exc}") from exc
        day = self.app.clock.business_day(utc(issued.occurred_at))
        await read_model.count_issued(
            uow, issued.store_id, issued.part_number, day, int(issued.quantity)
        )


def _not_awaiting(command: Any, state: SagaState[Transfer]) -> RuleViolated:
    stage = read_model.stage(state)
    return RuleViolated(
        reasons.TRANSFER_NOT_AWAITING,
        f"transfer {command.transfer_id} is not waiting for {type(command).__name__} "
        f"(it is at {stage})",
        subject=f"transfer/{command.transfer_id}",
        metadata={"stage": stage},
    )


def demand_subscription(collab: Collab) -> Subscription:
    return Subscription(
        name="collab-part-demand",
        stream="INVENTORY",
        subjects=("inventory.v1.*.PartsIssued",),
        handler=collab.count_issued,
    )


def build_runtime(deadlines: Deadlines) -> TransferRuntime:
    # An operator's retry, cancel and resolve (kernel/saga/admin.py) are recorded as these.
    saga = dataclasses.replace(
        transfer_saga(deadlines),
        operator_retried=TransferStepRetried,
        operator_cancelled=TransferCancelled,
        operator_resolved=TransferResolvedByHand,
    )
    return TransferRuntime(saga)
