"""A saga runtime that settles in the transaction that ends the saga: the points and HQ's
costs are recorded with the completion, or not at all. An operator's resolve of a stuck
saga settles in its transaction too, when the saga's own events show the collaboration
happened before it got stuck (domain/resolved.py): the same points and costs, dated the
resolve, and no completion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from kernel.application import UnitOfWork
from kernel.eventstore import EventStore
from kernel.saga import Saga, SagaRuntime, SagaState
from kernel.saga.decisions import Trigger

D = TypeVar("D")

Settle = Callable[[D, datetime], list[Any]]
# Whether the saga's events show the collaboration happened (a resolve credits it then).
Achieved = Callable[[Sequence[Any]], bool]


class SettlingRuntime(SagaRuntime[D]):
    def __init__(self, saga: Saga[D], settle: Settle[D], achieved: Achieved) -> None:
        super().__init__(saga, store_of=lambda e: e.store_id)
        self.settle = settle
        self.achieved = achieved

    async def feed(self, uow: UnitOfWork, saga_id: str, trigger: Trigger) -> SagaState[D]:
        already = len(uow.recorded)
        state = await super().feed(uow, saga_id, trigger)
        ends = [
            event
            for event in (
                uow.registry.decode(r.event_type, r.payload) for r in uow.recorded[already:]
            )
            if isinstance(event, self.saga.completed)
            or (
                self.saga.operator_resolved is not None
                and isinstance(event, self.saga.operator_resolved)
            )
        ]
        if not ends or state.data is None:
            return state
        end = ends[0]
        if not isinstance(end, self.saga.completed) and not self.achieved(
            await self.events(uow, saga_id)
        ):
            return state  # stuck undoing what it had begun: nothing was given
        entries = await self.settlement(uow, saga_id, state.data, end.occurred_at)
        loaded = await uow.load(self.aggregate, self.stream_id(saga_id))
        return await uow.record(self.aggregate, loaded, entries)

    async def settlement(self, uow: UnitOfWork, saga_id: str, data: D, at: datetime) -> list[Any]:
        return self.settle(data, at)

    async def events(self, uow: UnitOfWork, saga_id: str) -> list[Any]:
        """The saga's stream as the store holds it (this transaction's own appends may not
        be in it yet: none of them is what the saga achieved)."""
        recorded = await EventStore().read_stream(uow.conn, self.stream_id(saga_id))
        return [uow.registry.decode(r.event_type, r.payload) for r in recorded]

    async def append(self, uow: UnitOfWork, saga_id: str, events: list[Any]) -> SagaState[D]:
        """Facts recorded after the saga's steps (a rating): folded into its data only."""
        loaded = await uow.load(self.aggregate, self.stream_id(saga_id))
        return await uow.record(self.aggregate, loaded, events)
